"""Data augmentation: image transforms and Keras's layers in a seeded policy, MixUp/CutMix, noise, offline expansion."""

from kreg.augment._base import Transform
from kreg.augment.expand import expand
from kreg.augment.image import Policy
from kreg.augment.image import RandomApply
from kreg.augment.image import RandomBrightness
from kreg.augment.image import RandomContrast
from kreg.augment.image import RandomCrop
from kreg.augment.image import RandomFlip
from kreg.augment.image import RandomHue
from kreg.augment.image import RandomRotation
from kreg.augment.image import RandomSaturation
from kreg.augment.image import RandomTranslation
from kreg.augment.mix import MixUpCutMix
from kreg.augment.noise import FeatureDropout
from kreg.augment.noise import GaussianNoise

__all__ = [
    "FeatureDropout",
    "GaussianNoise",
    "MixUpCutMix",
    "Policy",
    "RandomApply",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomHue",
    "RandomRotation",
    "RandomSaturation",
    "RandomTranslation",
    "Transform",
    "expand",
]
