"""A Keras user's own model, as a Keras Tuner build function: a functional CNN with BatchNormalization, a
residual block and Keras Dropout layers. `kreg search mnist_own` searches its regularization."""

import keras


def build(hp):
    filters = hp.Choice("filters", [16, 32])  # the model's own hyperparameter: searched and logged beside kreg's
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(inputs)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization()(h))
    branch = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(h)  # the residual block
    branch = keras.layers.Conv2D(filters, 3, padding="same")(branch)
    h = keras.layers.ReLU()(keras.layers.Add()([h, branch]))
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(2 * filters, 3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dropout(0.2)(h)
    h = keras.layers.Dense(64, activation="relu", name="head")(h)
    h = keras.layers.Dropout(0.2)(h)
    outputs = keras.layers.Dense(10, activation="softmax", name="classes")(h)
    model = keras.Model(inputs, outputs, name="mnist_resnet")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model
