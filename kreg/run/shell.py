"""How to print a command so that it works when pasted."""

import os
import shlex
import shutil
import sys


def command(program, module):
    """How to run `program`, as it works when printed: its name where `PATH` finds it, else its full path.

    After the Quickstart, `kreg` and `tensorboard` are in the virtual
    environment's `bin/`, next to `sys.executable`, which need not be on `PATH`;
    failing that, `python -m module`.
    """
    if shutil.which(program):
        return program
    beside = os.path.join(os.path.dirname(sys.executable), program)
    if os.access(beside, os.X_OK):
        return shlex.quote(beside)
    return f"{shlex.quote(sys.executable)} -m {module}"
