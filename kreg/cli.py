"""`python -m kreg.cli`: the `kreg` command (`kreg_cli`, kept outside the package so that `kreg --help` imports no
Keras)."""

import sys

from kreg_cli import build_parser
from kreg_cli import main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
