"""The one error type for bad data on disk: it names the file and says what is wrong with it."""

from __future__ import annotations

import os


class DataError(ValueError):
    """A dataset file is missing, malformed or inconsistent.

    `path` is the offending file (or folder), `reason` says what is wrong; the message is
    "<path>: <reason>" so a user can go straight to the file.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        # Keep the two-argument constructor picklable, so errors cross process-pool boundaries intact.
        return (type(self), (self.path, self.reason))
