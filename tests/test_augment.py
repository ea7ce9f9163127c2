import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kreg import augment

RNG = np.random.default_rng(9)
GRAY = RNG.uniform(size=(16, 8, 8, 1)).astype("float32")  # digits-sized
RGB = RNG.uniform(0.1, 0.9, size=(16, 12, 10, 3)).astype("float32")

TRANSFORMS = [
    ("flip", lambda: augment.RandomFlip(probability=1.0, seed=1), GRAY),
    ("rotation", lambda: augment.RandomRotation(20.0, seed=1), GRAY),
    ("crop", lambda: augment.RandomCrop(0.3, seed=1), GRAY),
    ("translation", lambda: augment.RandomTranslation(0.2, seed=1), GRAY),
    ("brightness", lambda: augment.RandomBrightness(0.2, seed=1), GRAY),
    ("contrast", lambda: augment.RandomContrast(0.5, seed=1), GRAY),
    ("saturation", lambda: augment.RandomSaturation(0.5, seed=1), RGB),
    ("hue", lambda: augment.RandomHue(0.2, seed=1), RGB),
    ("noise", lambda: augment.GaussianNoise(0.1, seed=1), GRAY),
    ("feature_dropout", lambda: augment.FeatureDropout(0.3, seed=1), GRAY.reshape(16, 64)),
    ("policy", lambda: augment.Policy([augment.RandomFlip(), augment.RandomRotation(10.0),
                                       augment.RandomCrop(0.2), augment.RandomContrast(0.2)], seed=1), GRAY),
    # Keras's own layers, per image with a probability (RandomApply) and as members of a policy.
    ("rand_augment", lambda: augment.RandomApply(keras.layers.RandAugment(value_range=(0, 1), factor=0.3, seed=1),
                                                 probability=0.7, seed=1), RGB),
    ("aug_mix", lambda: augment.Policy([augment.RandomFlip(), keras.layers.AugMix(value_range=(0, 1), seed=1)],
                                       seed=1), RGB),
    ("erasing", lambda: augment.Policy([augment.RandomApply(
        keras.layers.RandomErasing(factor=(1.0, 1.0), scale=(0.1, 0.3), value_range=(0, 1), seed=1),
        probability=0.5), augment.RandomRotation(10.0)], seed=1), GRAY),
]
IDS = [row[0] for row in TRANSFORMS]


@pytest.mark.parametrize(("name", "make", "x"), TRANSFORMS, ids=IDS)
def test_identity_at_inference_and_a_change_in_training(name, make, x):
    layer = make()
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    out = np.asarray(layer(x, training=True))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not np.allclose(out, x)


@pytest.mark.parametrize(("name", "make", "x"), TRANSFORMS, ids=IDS)
def test_single_examples_and_models(name, make, x):
    layer = make()
    single = np.asarray(layer(x[0], training=True))
    assert single.shape == x[0].shape
    model = keras.Sequential([keras.Input(x.shape[1:]), make(), keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((len(x), 2)), verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(("name", "make", "x"), TRANSFORMS, ids=IDS)
def test_in_a_tf_data_pipeline(name, make, x):
    tf = pytest.importorskip("tensorflow")
    layer = make()
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(len(x)))).batch(8)
    ds = ds.map(lambda images, labels: (layer(images, training=True), labels))
    images, labels = next(iter(ds))
    assert images.shape == (8, *x.shape[1:])
    np.testing.assert_array_equal(labels.numpy(), np.arange(8))  # labels untouched


def test_flip_is_exact_and_probability_zero_is_identity():
    np.testing.assert_allclose(np.asarray(augment.RandomFlip(probability=1.0)(GRAY)), GRAY[:, :, ::-1], atol=1e-6)
    np.testing.assert_allclose(np.asarray(augment.RandomFlip("vertical", probability=1.0)(GRAY)),
                               GRAY[:, ::-1], atol=1e-6)
    for layer in (augment.RandomRotation(30.0, probability=0.0), augment.GaussianNoise(1.0, probability=0.0)):
        np.testing.assert_array_equal(np.asarray(layer(GRAY)), GRAY)


@pytest.mark.parametrize("shape", [(2000,), (2000, 4), (2000, 5, 4), (2000, 3, 3, 2), (2000, 2, 2, 2, 2)])
@pytest.mark.parametrize("make", [lambda: augment.GaussianNoise(1.0, probability=0.3, seed=0),
                                  lambda: augment.FeatureDropout(0.5, probability=0.3, seed=0),
                                  lambda: augment.Policy([augment.GaussianNoise(1.0, probability=0.3)], seed=0)],
                         ids=["noise", "feature_dropout", "policy"])
def test_probability_is_per_example_along_axis_0_for_every_rank(make, shape):
    # issue 12, item 6: a rank-3 batch (batch, time, features) was taken for one image, so `probability`
    # applied to the whole batch (every example changed, or none).
    x = np.ones(shape, "float32")
    changed = (np.asarray(make()(x)) != 1).reshape(len(x), -1).any(axis=1)
    # 2000 Bernoulli(0.3) examples: standard error 0.0102; tolerance 4 of them.
    assert changed.mean() == pytest.approx(0.3, abs=0.041)


def test_image_transforms_need_images():
    for layer in (augment.RandomRotation(10.0), augment.RandomBrightness(0.1),
                  augment.Policy([augment.GaussianNoise(0.1), augment.RandomFlip()])):
        with pytest.raises(ValueError, match=r"needs images \(batch, height, width, channels\) or one image.*"
                                             r"Received shape \(4, 8\)"):
            layer(np.zeros((4, 8), "float32"))


def test_zero_magnitude_geometry_is_identity_and_magnitude_can_change():
    layer = augment.Policy([augment.RandomRotation(0.0), augment.RandomCrop(0.0), augment.RandomTranslation(0.0)])
    np.testing.assert_allclose(np.asarray(layer(GRAY)), GRAY, atol=1e-5)
    rotation = augment.RandomRotation(45.0, seed=0)
    assert not np.allclose(np.asarray(rotation(GRAY)), GRAY, atol=1e-3)
    rotation.magnitude = 0.0
    np.testing.assert_allclose(np.asarray(rotation(GRAY)), GRAY, atol=1e-5)
    assert rotation.get_config()["magnitude"] == 0.0


def test_crop_invents_no_pixels():
    # A crop stays inside the image: with constant fill of -1, none appears.
    policy = augment.Policy([augment.RandomCrop(1.0)], fill_mode="constant", seed=0)
    assert np.asarray(policy(GRAY + 1.0)).min() >= 1.0 - 1e-6
    shifted = augment.Policy([augment.RandomTranslation(0.4)], fill_mode="constant", seed=0)
    assert np.asarray(shifted(GRAY + 1.0)).min() == 0.0


def test_color_transforms_keep_what_they_should():
    bright = np.asarray(augment.RandomBrightness(0.05, seed=0)(RGB))
    delta = bright - RGB
    assert np.allclose(delta, delta[:, :1, :1, :1], atol=1e-6) and np.abs(delta).max() <= 0.05 + 1e-6
    contrast = np.asarray(augment.RandomContrast(0.1, seed=0)(RGB))
    np.testing.assert_allclose(contrast.mean(axis=(1, 2)), RGB.mean(axis=(1, 2)), atol=1e-5)
    gray = np.asarray(keras.ops.image.rgb_to_grayscale(RGB))
    saturated = np.asarray(augment.RandomSaturation(0.1, seed=0)(RGB))
    np.testing.assert_allclose(np.asarray(keras.ops.image.rgb_to_grayscale(saturated)), gray, atol=1e-5)
    hue = np.asarray(augment.RandomHue(0.3, seed=0)(RGB))
    np.testing.assert_allclose(hue.max(axis=-1), RGB.max(axis=-1), atol=1e-5)  # HSV value is kept
    with pytest.raises(ValueError, match="needs RGB images"):
        augment.RandomHue(0.1)(GRAY)


def test_feature_dropout_and_noise_statistics():
    x = np.ones((500, 400), "float32")
    out = np.asarray(augment.FeatureDropout(0.25, seed=0)(x))
    assert (out == 0).mean() == pytest.approx(0.25, abs=0.005)
    np.testing.assert_allclose(out[out != 0], 1 / 0.75, rtol=1e-5)
    noise = np.asarray(augment.GaussianNoise(0.2, seed=0)(x)) - 1
    assert noise.std() == pytest.approx(0.2, rel=0.02) and abs(noise.mean()) < 0.005


SEED_SCRIPT = """
import sys, numpy as np
from kreg import augment
x = np.load(sys.argv[1])
policy = augment.Policy([augment.RandomFlip(), augment.RandomRotation(15.0), augment.RandomCrop(0.2),
                         augment.RandomBrightness(0.1), augment.GaussianNoise(0.05)], seed=3)
mix = augment.MixUpCutMix(mixup_alpha=0.4, cutmix_alpha=1.0, mode="sample", num_classes=10, seed=3)
images, labels = mix(x, np.arange(len(x)) % 10)
np.save(sys.argv[2], np.stack([np.asarray(policy(x)), np.asarray(images)]))
np.save(sys.argv[3], np.asarray(labels))
"""


def test_same_seed_same_output_across_processes(tmp_path):
    np.save(tmp_path / "x.npy", GRAY)
    out, labels = tmp_path / "out.npy", tmp_path / "labels.npy"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", SEED_SCRIPT, str(tmp_path / "x.npy"), str(out), str(labels)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    policy = lambda seed: augment.Policy([augment.RandomFlip(), augment.RandomRotation(15.0),  # noqa: E731
                                          augment.RandomCrop(0.2), augment.RandomBrightness(0.1),
                                          augment.GaussianNoise(0.05)], seed=seed)
    mix = augment.MixUpCutMix(mixup_alpha=0.4, cutmix_alpha=1.0, mode="sample", num_classes=10, seed=3)
    images, mixed_labels = mix(GRAY, np.arange(len(GRAY)) % 10)
    other = np.load(out)
    np.testing.assert_array_equal(other[0], np.asarray(policy(3)(GRAY)))
    np.testing.assert_array_equal(other[1], np.asarray(images))
    np.testing.assert_array_equal(np.load(labels), np.asarray(mixed_labels))
    assert not np.array_equal(np.asarray(policy(4)(GRAY)), np.asarray(policy(3)(GRAY)))


def constant_images(n=16, size=8):
    """Example i is the constant i + 1, so each output pixel tells whose it is."""
    return np.broadcast_to(np.arange(1, n + 1, dtype="float32")[:, None, None, None], (n, size, size, 1)).copy()


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_mixup_labels_are_the_image_combination(mode):
    x = constant_images()
    mix = augment.MixUpCutMix(mixup_alpha=0.8, cutmix_alpha=0.0, label_smoothing=0.0, mode=mode,
                              num_classes=16, seed=0)
    images, labels = mix(x, np.arange(16))
    images, labels = np.asarray(images), np.asarray(labels)
    partner = x[::-1]
    lam = (images[:, 0, 0, 0] - partner[:, 0, 0, 0]) / (x[:, 0, 0, 0] - partner[:, 0, 0, 0])
    np.testing.assert_allclose(labels[np.arange(16), np.arange(16)], lam, atol=1e-5)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-6)
    assert (len(np.unique(lam.round(5))) == 1) == (mode == "batch")


@pytest.mark.parametrize("mode", ["batch", "sample"])
def test_cutmix_labels_are_the_area_ratio(mode):
    x = constant_images(size=10)
    mix = augment.MixUpCutMix(mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.1, mode=mode,
                              num_classes=16, seed=5)
    images, labels = mix(x, np.arange(16))
    images, labels = np.asarray(images), np.asarray(labels)
    own = (images == x).mean(axis=(1, 2, 3))
    partner_share = (images == x[::-1]).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(own + partner_share, 1.0)
    smooth = 0.1 / 16
    np.testing.assert_allclose(labels[np.arange(16), np.arange(16)], own * 0.9 + smooth, atol=1e-5)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-5)
    assert (partner_share > 0).any()


def test_prob_zero_mixes_nothing_but_smooths():
    x = constant_images()
    images, labels = augment.MixUpCutMix(prob=0.0, label_smoothing=0.2, num_classes=16)(x, np.arange(16))
    np.testing.assert_array_equal(np.asarray(images), x)
    np.testing.assert_allclose(np.asarray(labels).max(axis=1), 0.8 + 0.2 / 16, rtol=1e-6)
    images, labels = augment.MixUpCutMix()(x, np.eye(16)[np.arange(16)], training=False)
    np.testing.assert_array_equal(np.asarray(images), x)


def test_expand_puts_originals_first_and_is_deterministic():
    policy = augment.Policy([augment.RandomRotation(15.0), augment.GaussianNoise(0.05)])
    y = np.arange(16)
    xe, ye = augment.expand(GRAY, y, copies=3, policy=policy, seed=7)
    assert xe.shape == (64, 8, 8, 1) and ye.shape == (64,)
    np.testing.assert_array_equal(xe[:16], GRAY)
    np.testing.assert_array_equal(ye, np.tile(y, 4))
    assert not np.allclose(xe[16:32], GRAY)
    again, _ = augment.expand(GRAY, y, copies=3, policy=policy, seed=7)
    np.testing.assert_array_equal(again, xe)
    other, _ = augment.expand(GRAY, y, copies=3, policy=policy, seed=8)
    assert not np.array_equal(other, xe)


def test_expand_copies_depend_only_on_the_example_the_seed_and_its_place():
    # issue 12, item 7: the copies changed with `batch_size` (the random stream followed the batching).
    x = RNG.uniform(size=(300, 4, 4, 1)).astype("float32")  # two blocks of 256
    policy = augment.Policy([augment.RandomRotation(30.0), augment.GaussianNoise(0.1, probability=0.5)])
    full, _ = augment.expand(x, np.arange(300), copies=2, policy=policy, seed=3)
    part, _ = augment.expand(x[:200], np.arange(200), copies=2, policy=policy, seed=3)
    for c in (1, 2):
        np.testing.assert_array_equal(part[c * 200 : (c + 1) * 200], full[c * 300 : c * 300 + 200])
    assert not np.array_equal(full[300:600], full[600:900])  # the copies differ from each other


def test_expand_takes_a_keras_layer_through_random_apply():
    erase = augment.RandomApply(keras.layers.RandomErasing(factor=(1.0, 1.0), value_range=(0, 1), seed=4),
                                probability=1.0, seed=5)
    xe, _ = augment.expand(GRAY, np.arange(16), copies=1, policy=erase, seed=7)
    again, _ = augment.expand(GRAY, np.arange(16), copies=1, policy=erase, seed=7)
    np.testing.assert_array_equal(again, xe)
    assert not np.allclose(xe[16:], GRAY)
    with pytest.raises(ValueError, match="a kreg.augment Policy, transform or RandomApply"):
        augment.expand(GRAY, np.arange(16), copies=1, policy=keras.layers.RandomErasing(), seed=7)


def test_policy_trains_under_mixed_float16(mixed_float16):
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        augment.Policy([augment.RandomFlip(), augment.RandomRotation(10.0), augment.RandomBrightness(0.1),
                        augment.GaussianNoise(0.05)], seed=0),
        keras.layers.Flatten(), keras.layers.Dense(2, dtype="float32"),
    ])
    model.compile("sgd", "mse")
    history = model.fit(GRAY, np.zeros((16, 2)), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_mixup_cutmix_config_round_trip_and_both_alphas_zero():
    kwargs = {"mixup_alpha": 0.3, "cutmix_alpha": 0.7, "prob": 0.8, "switch_prob": 0.25, "label_smoothing": 0.05,
              "mode": "sample", "num_classes": 7, "seed": 0}
    layer = augment.MixUpCutMix(**kwargs)
    config = layer.get_config()
    assert {key: config[key] for key in kwargs} == kwargs
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer), safe_mode=True)
    assert isinstance(again, augment.MixUpCutMix) and again.get_config() == config
    with pytest.raises(ValueError, match="Received: mixup_alpha=0.0, cutmix_alpha=0"):
        augment.MixUpCutMix(mixup_alpha=0.0, cutmix_alpha=0)


def test_tf_data_reads_a_magnitude_set_after_the_pipeline_is_built():
    tf = pytest.importorskip("tensorflow")
    # issue 13: under JAX the layers failed inside tf.data; there they now run on TensorFlow, reading a
    # TensorFlow twin of each magnitude that `magnitude = ...` keeps equal (a constant would go stale).
    rotation = augment.RandomRotation(0.0, seed=0)
    ds = tf.data.Dataset.from_tensor_slices(GRAY).batch(16).map(rotation)
    np.testing.assert_allclose(next(iter(ds)).numpy(), GRAY, atol=1e-5)
    rotation.magnitude = 45.0
    assert not np.allclose(next(iter(ds)).numpy(), GRAY, atol=1e-3)
    rotation.magnitude = 0.0
    np.testing.assert_allclose(next(iter(ds)).numpy(), GRAY, atol=1e-5)


def test_tf_data_draws_a_fresh_stream_each_batch_and_keeps_the_statistics():
    tf = pytest.importorskip("tensorflow")
    noise = augment.Policy([augment.GaussianNoise(0.5, probability=0.5)], seed=0)
    ds = tf.data.Dataset.from_tensor_slices(np.zeros((4000, 10), "float32")).batch(2000).map(noise)
    first, second = (b.numpy() for b in ds)
    assert not np.array_equal(first, second)
    changed = (np.concatenate([first, second]) != 0).any(axis=1)
    assert changed.mean() == pytest.approx(0.5, abs=0.03)  # 4000 examples: standard error 0.008


def erasing(probability, seed=None):
    """Erases one rectangle of 10% to 30% of every image it gets, filled with 0 (Keras's RandomErasing)."""
    return augment.RandomApply(keras.layers.RandomErasing(factor=(1.0, 1.0), scale=(0.1, 0.3), fill_value=0.0,
                                                          value_range=(0, 1), seed=seed),
                               probability=probability, seed=seed)


def test_keras_layers_apply_per_example_with_the_probability():
    x = np.full((2000, 8, 8, 1), 0.5, "float32")
    out = np.asarray(erasing(0.3, seed=0)(x))
    changed = (out != x).any(axis=(1, 2, 3))
    # 2000 Bernoulli(0.3) images: standard error 0.0102; tolerance 4 of them.
    assert changed.mean() == pytest.approx(0.3, abs=0.041)
    assert set(np.unique(out[changed])) == {0.0, 0.5}  # an erased rectangle, the rest untouched
    np.testing.assert_array_equal(np.asarray(erasing(0.0, seed=0)(x)), x)
    # In a policy, the policy's seed draws which images change; the Keras layer's seed its rectangles.
    policy = lambda seed: augment.Policy([erasing(0.5, seed=0)], seed=seed)  # noqa: E731
    np.testing.assert_array_equal(np.asarray(policy(3)(x[:64])), np.asarray(policy(3)(x[:64])))
    assert not np.array_equal(np.asarray(policy(3)(x[:64])), np.asarray(policy(4)(x[:64])))


def test_policy_takes_keras_layers_as_members_and_saves_them(tmp_path):
    policy = augment.Policy([augment.RandomFlip(), keras.layers.RandAugment(value_range=(0, 1), seed=2),
                             erasing(0.5, seed=1)], seed=0)
    wrapped = policy.transforms[1]
    assert isinstance(wrapped, augment.RandomApply) and wrapped.probability == 1.0
    assert isinstance(wrapped.layer, keras.layers.RandAugment)
    config = json.loads(json.dumps(policy.get_config()))
    again = augment.Policy.from_config(config)
    assert [type(t) for t in again.transforms] == [augment.RandomFlip, augment.RandomApply, augment.RandomApply]
    assert json.loads(json.dumps(again.get_config())) == config  # Keras's layers keep tuples: JSON makes lists
    assert isinstance(again.transforms[1].layer, keras.layers.RandAugment)
    model = keras.Sequential([keras.Input((12, 10, 3)), policy, keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    model.fit(RGB, np.zeros((16, 2)), epochs=1, verbose=0)
    path = str(tmp_path / "policy.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(RGB, verbose=0), model.predict(RGB, verbose=0), rtol=1e-6)
    assert isinstance(loaded.layers[0].transforms[2].layer, keras.layers.RandomErasing)


def test_random_apply_and_policy_validate_their_members():
    with pytest.raises(ValueError, match=r"argument `layer` of RandomApply: expected a Keras layer .*"
                                         r"Received: layer=<RandomFlip"):
        augment.RandomApply(augment.RandomFlip())
    with pytest.raises(ValueError, match="argument `layer` of RandomApply.*Received: layer='erase'"):
        augment.RandomApply("erase")
    with pytest.raises(ValueError, match="argument `probability` of RandomApply.*Received: probability=1.5"):
        augment.RandomApply(keras.layers.RandomErasing(), probability=1.5)
    crop = augment.RandomApply(keras.layers.RandomCrop(4, 4, seed=0))  # changes every image's shape
    for policy in (crop, augment.Policy([augment.RandomFlip(), crop], seed=0)):
        with pytest.raises(ValueError, match=r"keeps the shape of the images: 'random_crop.*' maps \(2, 12, 10, 3\) "
                                             r"to \(2, 4, 4, 3\)"):
            policy(RGB[:2])
    with pytest.raises(ValueError, match="argument `transforms` of Policy.*Received: transforms=\\['flip'\\]"):
        augment.Policy(["flip"])


def test_color_magnitudes_change_without_retrace_where_keras_factors_are_traced():
    # Why kreg keeps its color transforms beside Keras's RandomBrightness/Contrast/Saturation/Hue: a kreg magnitude
    # is a variable (RegularizationSchedule's augment_scale ramps it between epochs), a Keras factor a constant
    # of the traced function, so a compiled step or a tf.data map keeps the factor it was traced with.
    tf = pytest.importorskip("tensorflow")
    x = np.full((64, 4, 4, 3), 0.5, "float32")
    ours, theirs = augment.RandomBrightness(0.0, seed=0), keras.layers.RandomBrightness(0.0, value_range=(0, 1))
    traces = []

    def step(layer):
        def fn(images):
            traces.append(layer)
            return layer(images, training=True)

        return tf.function(fn)

    run_ours, run_theirs = step(ours), step(theirs)
    for run in (run_ours, run_theirs):
        np.testing.assert_array_equal(run(x).numpy(), x)
    traced = len(traces)  # 2, or 4 under another backend (a first trace that creates TensorFlow twins runs twice)
    ours.magnitude = 0.3
    theirs.factor = (-0.3, 0.3)  # what Keras's constructor sets from factor=0.3
    assert np.abs(run_ours(x).numpy() - x).max() > 0.1  # changed, not retraced
    np.testing.assert_array_equal(run_theirs(x).numpy(), x)  # the traced factor, 0
    assert len(traces) == traced
    assert np.abs(np.asarray(theirs(x, training=True)) - x).max() > 0.1  # eagerly Keras reads the new factor


def test_mixupcutmix_in_a_tf_data_pipeline():
    tf = pytest.importorskip("tensorflow")
    mix = augment.MixUpCutMix(mixup_alpha=0.2, cutmix_alpha=1.0, label_smoothing=0.1, num_classes=10, seed=0)
    images = np.random.default_rng(0).uniform(size=(64, 8, 8, 1)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((images, np.arange(64) % 10)).batch(32).map(mix)
    (x, y), (x2, _) = list(ds)
    assert x.shape == (32, 8, 8, 1) and y.shape == (32, 10)
    np.testing.assert_allclose(y.numpy().sum(axis=1), 1.0, rtol=1e-6)
    assert not np.allclose(x.numpy(), images[:32]) and not np.allclose(x2.numpy(), images[32:])  # mixed
