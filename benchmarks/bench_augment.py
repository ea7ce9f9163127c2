"""Throughput of kreg's augmentation policy vs the same transforms chained from Keras's layers.

A tf.data pipeline on the CPU: 32x32x3 float images in batches of 256, mapped
through each of two augmentations, with each of its candidates:

* geometry: horizontal flip (p=0.5) + rotation (up to 15 degrees) + random
  crop (zoom in up to 20%), reflect fill, bilinear. Keras: RandomFlip("horizontal"),
  RandomRotation(15/360), RandomZoom((-0.2, 0)). kreg: one Policy of RandomFlip,
  RandomRotation(15), RandomCrop(0.2), which resamples once.
* color: brightness (delta up to 0.2 of the range) + contrast (factor in
  [0.8, 1.2]) + saturation + hue (shift up to 0.05 of the circle). Keras:
  RandomBrightness(0.2), RandomContrast(0.2), RandomSaturation((0.44, 0.55))
  (HSV saturation scaled by 0.8 to 1.2), RandomHue(0.1), chained; kreg: one
  Policy of kreg's RandomBrightness(0.2), RandomContrast(0.2),
  RandomSaturation(0.2), RandomHue(0.05); and "keras in policy": Keras's four
  layers as members of one kreg Policy (`kreg.augment.RandomApply`).

Under JAX (or torch) every candidate runs on TensorFlow inside tf.data (Keras's
layers and kreg's switch their ops there). Images per second of each full
pass, passes interleaved; reported as the best pass and the median, judged by
the best; target kreg / Keras >= 1.0.

    python benchmarks/bench_augment.py [--rounds 7]
    KERAS_BACKEND=jax python benchmarks/bench_augment.py [--rounds 7]
"""

import argparse

import _timing  # sets TF's log level and the device before the backend loads
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
    _timing.add_device(parser)
    args = parser.parse_args()
    print(f"device: {_timing.device()}")
    images = np.random.default_rng(0).uniform(size=(args.images, 32, 32, 3)).astype("float32")
    keras_geometry = [
        keras.layers.RandomFlip("horizontal", seed=0),
        keras.layers.RandomRotation(15 / 360, seed=0),
        keras.layers.RandomZoom((-0.2, 0.0), seed=0),
    ]
    kreg_geometry = augment.Policy(
        [augment.RandomFlip(), augment.RandomRotation(15.0), augment.RandomCrop(0.2)], seed=0
    )

    def keras_colors():
        return [keras.layers.RandomBrightness(0.2, value_range=(0, 1), seed=0),
                keras.layers.RandomContrast(0.2, value_range=(0, 1), seed=0),
                keras.layers.RandomSaturation((0.44, 0.55), value_range=(0, 1), seed=0),
                keras.layers.RandomHue(0.1, value_range=(0, 1), seed=0)]

    kreg_colors = augment.Policy([augment.RandomBrightness(0.2), augment.RandomContrast(0.2),
                                  augment.RandomSaturation(0.2), augment.RandomHue(0.05)], seed=0)
    cases = {
        "flip + rotation + crop": {"keras": [*keras_geometry], "kreg": [kreg_geometry]},
        "brightness + contrast + saturation + hue": {"keras": keras_colors(), "kreg": [kreg_colors],
                                                     "keras in policy": [augment.Policy(keras_colors(), seed=0)]},
    }
    datasets = {(case, name): pipeline(layers, images) for case, candidates in cases.items()
                for name, layers in candidates.items()}

    def consume(ds):
        def run():
            for _ in ds:
                pass

        return run

    for ds in datasets.values():
        consume(ds)()  # trace once
    t = min_and_median({key: consume(ds) for key, ds in datasets.items()}, args.rounds)
    print(f"32x32x3, batch 256, tf.data on CPU, {keras.backend.backend()}, images/s (best / median):")
    for case, candidates in cases.items():
        best = {name: args.images / t[case, name][0] for name in candidates}
        median = {name: args.images / t[case, name][1] for name in candidates}
        figures = ", ".join(f"{name} {best[name]:,.0f} / {median[name]:,.0f}" for name in candidates)
        ratios = ", ".join(f"{name}/keras {best[name] / best['keras']:.2f} "
                           f"(median {median[name] / median['keras']:.2f})" for name in candidates if name != "keras")
        print(f"  {case}: {figures}; ratio {ratios}")


if __name__ == "__main__":
    main()
