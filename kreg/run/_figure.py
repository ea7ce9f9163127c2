"""Matplotlib for kreg's figures: headless (Agg), and each PNG written atomically."""

import io

from kreg import _io


def pyplot():
    """`matplotlib.pyplot` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def save(figure, path):
    """Writes `figure` as a PNG at `path`, atomically, and closes it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    pyplot().close(figure)
    _io.write_bytes(path, buffer.getvalue())
