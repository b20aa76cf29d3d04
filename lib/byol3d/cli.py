"""The one top-level error handler of every byol3d command line.

A user error (a bad config, a bad data file, a wrong checkpoint or run folder, a missing input, a full
disk) is printed as one line, `error: <file>: <reason>`, and the command exits with status 2. Anything
else is a bug in byol3d and keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Callable

from byol3d.config import ConfigError
from byol3d.data.errors import DataError
from byol3d.models.config import ModelConfigError
from byol3d.train.checkpoint import CheckpointError
from byol3d.train.finite import NonFiniteError
from byol3d.utils.atomic import DiskFullError

USER_ERRORS = (ConfigError, DataError, ModelConfigError, CheckpointError, NonFiniteError, DiskFullError,
               FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
USAGE_ERROR = 2  # the exit status of argparse for a bad command line, and ours for bad input


def run_cli(main: Callable[[], object]) -> int:
    """Run `main()`; a user error prints its message and returns USAGE_ERROR, an int result is the exit
    status, anything else means success (0)."""
    try:
        result = main()
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return USAGE_ERROR
    return result if isinstance(result, int) else 0
