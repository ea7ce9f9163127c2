"""MixUp and CutMix on a batch of images and labels, with the options of timm's `Mixup`.

MixUp: `x = lam x_i + (1 - lam) x_j` and the labels likewise, `lam ~ Beta(a, a)`.
CutMix: a box of `x_j` pasted into `x_i`, its area `1 - lam` of the image
(`lam ~ Beta(a, a)` sets the box's size; the label weight is the box's real
area after clipping at the border). The partner `j` of example `i` is the
example at the mirrored place in the batch, as in timm. Labels are smoothed
first, `y (1 - s) + s / C`, so mixed labels still sum to 1.

References:
    Zhang, Cisse, Dauphin, Lopez-Paz. mixup: Beyond empirical risk
    minimization (2018).
    Yun et al. CutMix: Regularization strategy to train strong classifiers
    with localizable features (2019).
"""

import keras

from kreg import _scalar_state
from kreg.augment import _backend
from kreg.augment._backend import ops
from kreg.augment._backend import random
from kreg import _validation as v

MODES = ("batch", "sample")


@keras.saving.register_keras_serializable(package="kreg")
class MixUpCutMix(_backend.TFData, keras.layers.Layer):
    """MixUp and/or CutMix of images with their labels, per batch or per sample.

    Args:
        mixup_alpha: Beta parameter of MixUp, >= 0 (0: no MixUp).
        cutmix_alpha: Beta parameter of CutMix, >= 0 (0: no CutMix).
        prob: the chance that a batch (or a sample) is mixed at all, in [0, 1].
        switch_prob: with both alphas > 0, the chance of CutMix rather than
            MixUp, in [0, 1].
        label_smoothing: `s` in [0, 1): labels become `y (1 - s) + s / C`.
        mode: `"batch"` (one `lam` and one choice for the batch; timm's
            `"batch"`) or `"sample"` (each example its own; timm's `"elem"`).
        num_classes: `None` for one-hot labels, or the number of classes for
            integer labels (which come back one-hot).
        seed: `None` or an int >= 0.

    Call arguments:
        images: `(batch, height, width, channels)`.
        labels: `(batch, classes)` one-hot, or `(batch,)` integers with
            `num_classes`.
        training: mix when True (the default); return the inputs unchanged
            when False.

    Returns:
        `(images, labels)`, labels as float32 rows that sum to 1.

    Example, on a batch (in a `tf.data` pipeline: `dataset.batch(32).map(mix)`):

    >>> import numpy as np
    >>> mix = MixUpCutMix(mixup_alpha=0.2, cutmix_alpha=1.0, label_smoothing=0.1, num_classes=10, seed=0)
    >>> images = np.random.default_rng(0).uniform(size=(32, 8, 8, 1)).astype("float32")
    >>> x, y = mix(images, np.arange(32) % 10)
    >>> tuple(x.shape), tuple(y.shape), bool(np.allclose(np.asarray(y).sum(axis=1), 1.0))
    ((32, 8, 8, 1), (32, 10), True)
    """

    def __init__(self, *, mixup_alpha=1.0, cutmix_alpha=0.0, prob=1.0, switch_prob=0.5, label_smoothing=0.1,
                 mode="batch", num_classes=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        owner = "MixUpCutMix"
        self.mixup_alpha = v.non_negative_float(owner, "mixup_alpha", mixup_alpha)
        self.cutmix_alpha = v.non_negative_float(owner, "cutmix_alpha", cutmix_alpha)
        if self.mixup_alpha == 0 and self.cutmix_alpha == 0:
            raise ValueError(
                f"Invalid value for arguments `mixup_alpha` and `cutmix_alpha` of {owner}: expected at least "
                f"one > 0. Received: mixup_alpha={mixup_alpha!r}, cutmix_alpha={cutmix_alpha!r}"
            )
        self.prob = v.fraction(owner, "prob", prob)
        self.switch_prob = v.fraction(owner, "switch_prob", switch_prob)
        self.label_smoothing = v.fraction(owner, "label_smoothing", label_smoothing, 1.0, include_high=False)
        self.mode = v.one_of(owner, "mode", mode, MODES)
        self.num_classes = v.positive_int(owner, "num_classes", num_classes, allow_none=True)
        self.seed = v.seed(owner, seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        _scalar_state.build_at_init(self)

    def call(self, images, labels, training=True):
        if not training:
            return images, labels
        if len(images.shape) != 4:
            raise ValueError(f"MixUpCutMix needs a batch of images (batch, height, width, channels). "
                             f"Received shape {tuple(images.shape)}")
        x = ops.cast(images, "float32")
        y = ops.one_hot(ops.cast(labels, "int32"), self.num_classes) if self.num_classes else labels
        y = ops.cast(y, "float32")
        y = y * (1 - self.label_smoothing) + self.label_smoothing / y.shape[-1]
        lam, box = self._draw(ops.shape(x))
        partner_x, partner_y = ops.flip(x, axis=0), ops.flip(y, axis=0)
        blend = ops.where(ops.any(box, axis=(1, 2), keepdims=True), 1.0, lam[:, None, None, None])
        mixed = ops.where(box, partner_x, x * blend + partner_x * (1 - blend))
        mixed_y = y * lam[:, None] + partner_y * (1 - lam[:, None])
        return ops.cast(mixed, images.dtype), mixed_y

    def _draw(self, shape):
        """`lam` per draw (1 where nothing is mixed) and the CutMix boxes `[n, H, W, 1]`.

        One draw for the batch in mode "batch", one per example in mode "sample".
        """
        n = 1 if self.mode == "batch" else shape[0]
        height, width = shape[1], shape[2]
        seed = _backend.seed_generator(self.seed_generator)
        applied = random.uniform((n,), seed=seed) < self.prob
        if self.mixup_alpha > 0 and self.cutmix_alpha > 0:
            use_cutmix = random.uniform((n,), seed=seed) < self.switch_prob
        else:
            use_cutmix = ops.full((n,), self.cutmix_alpha > 0, dtype="bool")
        lam_mix = self._beta(n, self.mixup_alpha)
        ratio = ops.sqrt(1 - self._beta(n, self.cutmix_alpha))
        h, w = ops.cast(height, "float32"), ops.cast(width, "float32")
        half_h, half_w = ops.floor(ops.floor(h * ratio) / 2), ops.floor(ops.floor(w * ratio) / 2)
        cy = ops.floor(random.uniform((n,), seed=seed) * h)
        cx = ops.floor(random.uniform((n,), seed=seed) * w)
        top, bottom = ops.clip(cy - half_h, 0, h), ops.clip(cy + half_h, 0, h)
        left, right = ops.clip(cx - half_w, 0, w), ops.clip(cx + half_w, 0, w)
        rows = ops.cast(ops.arange(height), "float32")[None, :]
        cols = ops.cast(ops.arange(width), "float32")[None, :]
        in_rows = (rows >= top[:, None]) & (rows < bottom[:, None])
        in_cols = (cols >= left[:, None]) & (cols < right[:, None])
        cut = use_cutmix & applied
        box = in_rows[:, :, None] & in_cols[:, None, :] & cut[:, None, None]
        lam_cut = 1 - (bottom - top) * (right - left) / (h * w)
        lam = ops.where(applied, ops.where(use_cutmix, lam_cut, lam_mix), 1.0)
        if self.mode == "batch":
            lam = ops.broadcast_to(lam, (shape[0],))
            box = ops.broadcast_to(box, (shape[0], height, width))
        return lam, box[..., None]

    def _beta(self, n, alpha):
        if alpha == 0:
            return ops.ones((n,))
        return random.beta((n,), alpha, alpha, seed=_backend.seed_generator(self.seed_generator))

    def compute_output_shape(self, images_shape, labels_shape):
        classes = self.num_classes or labels_shape[-1]
        return images_shape, (labels_shape[0], classes)

    def get_config(self):
        return {
            **super().get_config(),
            "mixup_alpha": self.mixup_alpha,
            "cutmix_alpha": self.cutmix_alpha,
            "prob": self.prob,
            "switch_prob": self.switch_prob,
            "label_smoothing": self.label_smoothing,
            "mode": self.mode,
            "num_classes": self.num_classes,
            "seed": self.seed,
        }
