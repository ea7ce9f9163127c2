"""kreg's layers."""

from kreg.layers.dropout import Dropout

__all__ = ["Dropout"]
