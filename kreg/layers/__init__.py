"""kreg's layers: dropout with kreg's two scalings, and its family."""

from kreg.layers.drop_block import DropBlock
from kreg.layers.drop_path import DropPath
from kreg.layers.dropout import BaseDropout
from kreg.layers.dropout import Dropout
from kreg.layers.spatial_dropout import SpatialDropout1D
from kreg.layers.spatial_dropout import SpatialDropout2D
from kreg.layers.spatial_dropout import SpatialDropout3D

__all__ = [
    "BaseDropout",
    "DropBlock",
    "DropPath",
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
]
