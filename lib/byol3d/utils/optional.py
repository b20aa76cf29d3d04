"""Optional pieces (open3d, a display, tensorboard) that only some commands need: a missing one fails
when it is used, with what to do, instead of breaking `import byol3d` for everyone.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class NotAvailable(RuntimeError):
    """A module or a facility a command needs is not available here; the message says how to get it."""


def import_optional(name: str, hint: str) -> ModuleType:
    """Import module `name`, or raise NotAvailable naming it, the import's own reason and `hint` (what
    to install). open3d, for one, fails at import time when a system library (libusb) is missing."""
    try:
        return importlib.import_module(name)
    except ImportError as err:  # ModuleNotFoundError, or a shared library that cannot be loaded
        raise NotAvailable(f"{name}: cannot be imported ({err}); {hint}") from None
