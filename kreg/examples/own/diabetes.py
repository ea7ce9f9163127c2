"""A regression, as a Keras user writes it: scikit-learn's diabetes data (442 patients, 10 features, shipped with
scikit-learn: no download) and a small network whose objective is the validation mean absolute error."""

import keras
import numpy as np
from sklearn import datasets
from sklearn import model_selection


def load(seed):
    x, y = datasets.load_diabetes(return_X_y=True)
    x, y = x.astype("float32"), (y / 100).astype("float32")  # the target in hundreds: a scale Adam starts at
    x_rest, x_test, y_rest, y_test = model_selection.train_test_split(x, y, test_size=0.3, random_state=seed)
    x_train, x_val, y_train, y_val = model_selection.train_test_split(x_rest, y_rest, test_size=0.3,
                                                                      random_state=seed)
    mean, std = x_train.mean(0), x_train.std(0)
    return tuple(((a - mean) / std, b) for a, b in ((x_train, y_train), (x_val, y_val), (x_test, y_test)))


def build(hp):
    inputs = keras.Input((10,))
    h = keras.layers.Dense(128, activation="relu")(inputs)
    h = keras.layers.Dropout(0.0)(h)
    h = keras.layers.Dense(128, activation="relu")(h)
    h = keras.layers.Dropout(0.0)(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h), name="diabetes_mlp")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse", metrics=["mae"])
    return model


if __name__ == "__main__":
    print([np.shape(a) for split in load(0) for a in split])
