"""Atomic writes: a file or folder appears complete under its final name, or not at all.

Everything that a crash could leave half-written (checkpoints, preprocessed scenes, metrics, reports)
goes through these helpers: write to a temporary sibling, flush, then `os.replace` onto the final name.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator


NO_SPACE_BYTES = 1 << 20  # a failed write with less free space than this is reported as a full disk


class DiskFullError(OSError):
    """No space left on the device while writing `path`: said plainly, with the file (torch and numpy
    report a full disk as internal errors without any path)."""

    def __init__(self, path: str | os.PathLike):
        super().__init__(errno.ENOSPC, f"{path}: no space left on device while writing it; free some space "
                                       "(or write elsewhere) and run again")
        self.path = str(path)

    def __str__(self) -> str:
        return self.strerror

    def __reduce__(self):
        return (type(self), (self.path,))  # picklable: crosses process-pool boundaries intact


def _out_of_space(err: BaseException, folder: Path) -> bool:
    """True when `err` (raised by a write into `folder`) came from a full disk."""
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return True
    try:
        return isinstance(err, (OSError, RuntimeError)) and shutil.disk_usage(folder).free < NO_SPACE_BYTES
    except OSError:
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)` and then move `tmp_path` onto `path` in one step.

    The temporary file lives in the same folder (same filesystem), so the final rename is atomic.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp_path, path)
    except BaseException as err:
        full = _out_of_space(err, path.parent)  # asked before the partial file is removed and frees space
        tmp_path.unlink(missing_ok=True)
        if full:
            raise DiskFullError(path) from err
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def atomic_write_json(path: str | os.PathLike, obj: object) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json_object(path: str | os.PathLike) -> dict | None:
    """The JSON object (a dict) stored at `path` (e.g. by atomic_write_json); None when the file is missing,
    unreadable, not JSON or holds something other than an object."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def atomic_torch_save(obj: object, path: str | os.PathLike) -> Path:
    """torch.save through `atomic_write`, into an open file: given a path, torch names the archive's inner folder
    after the temporary file, so equal checkpoints got different bytes (and the probes' run keys, which hash the
    encoder file, differed between two identical pre-trainings)."""
    import torch

    def write(tmp_path: Path) -> None:
        with open(tmp_path, "wb") as f:
            torch.save(obj, f)

    return atomic_write(path, write)


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `final` whole, on error it is removed.

    An existing `final` is only removed once the new one is complete, so a crash never loses it.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual folder mode
    try:
        yield tmp
    except BaseException as err:
        full = _out_of_space(err, final.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        if full and not isinstance(err, DiskFullError):
            raise DiskFullError(final) from err
        raise
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_stale_temporaries(folder: str | os.PathLike, name: str = "*") -> list[Path]:
    """Remove what killed writes of `folder/<name>` left behind: `.<name>.*.tmp` files or folders of
    `atomic_write` / `atomic_dir`, and `.<name>.old-<pid>` folders of an interrupted replacement.

    Call it on start, from the one process that writes the folder. Returns what was removed.
    """
    folder = Path(folder)
    stale = [*folder.glob(f".{name}.*.tmp"), *folder.glob(f".{name}.old-*")] if folder.is_dir() else []
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale
