"""A Keras user's own data loader: `load(seed)` returns (train, validation, test), each (x, y).

Here it is 1,000 training, 1,000 validation and 3,000 test images of the real MNIST sample that kreg reads
offline (`kreg.data.mnist`); yours may read files, or return a `tf.data.Dataset` or a
`keras.utils.PyDataset` per split.
"""

import kreg


def load(seed):
    return kreg.data.mnist(train_size=1000, validation_size=1000, flat=False, seed=seed)
