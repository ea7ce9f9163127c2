"""Throughput of kreg's augmentation policy vs the same transforms chained from Keras's layers.

A tf.data pipeline on the CPU: 32x32x3 float images in batches of 256, mapped
through horizontal flip (p=0.5) + rotation (up to 15 degrees) + random crop
(zoom in up to 20%), reflect fill, bilinear. Keras: RandomFlip("horizontal"),
RandomRotation(15/360), RandomZoom((-0.2, 0)). kreg: one Policy of RandomFlip,
RandomRotation(15), RandomCrop(0.2), which resamples once. Under JAX (or torch)
both run on TensorFlow inside tf.data (Keras's layers and kreg's switch their
ops there). Images per second of each full pass, passes interleaved; reported
as the best pass and the median, judged by the best; target kreg / Keras >= 1.0.

    python benchmarks/bench_augment.py [--rounds 7]
    KERAS_BACKEND=jax python benchmarks/bench_augment.py [--rounds 7]
"""

import argparse

import _timing  # noqa: F401  (sets TF's log level before TensorFlow loads)
import keras
import numpy as np
import tensorflow as tf

from _timing import min_and_median
from kreg import augment


def pipeline(layers, images):
    ds = tf.data.Dataset.from_tensor_slices(images).batch(256)

    def apply(x):
        for layer in layers:
            x = layer(x, training=True)
        return x

    return ds.map(apply, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--images", type=int, default=10240)
    args = parser.parse_args()
    images = np.random.default_rng(0).uniform(size=(args.images, 32, 32, 3)).astype("float32")
    keras_chain = [
        keras.layers.RandomFlip("horizontal", seed=0),
        keras.layers.RandomRotation(15 / 360, seed=0),
        keras.layers.RandomZoom((-0.2, 0.0), seed=0),
    ]
    policy = augment.Policy(
        [augment.RandomFlip(), augment.RandomRotation(15.0), augment.RandomCrop(0.2)], seed=0
    )
    datasets = {"keras": pipeline(keras_chain, images), "kreg": pipeline([policy], images)}

    def consume(ds):
        def run():
            for _ in ds:
                pass

        return run

    for ds in datasets.values():
        consume(ds)()  # trace once
    t = min_and_median({name: consume(ds) for name, ds in datasets.items()}, args.rounds)
    best = {name: args.images / low for name, (low, _) in t.items()}
    median = {name: args.images / mid for name, (_, mid) in t.items()}
    print(f"flip + rotation + crop, 32x32x3, batch 256, tf.data on CPU, {keras.backend.backend()}, images/s "
          f"(best / median): keras {best['keras']:,.0f} / {median['keras']:,.0f}, kreg policy {best['kreg']:,.0f} / "
          f"{median['kreg']:,.0f}; ratio kreg/keras {best['kreg'] / best['keras']:.2f} "
          f"(median {median['kreg'] / median['keras']:.2f})")


if __name__ == "__main__":
    main()
