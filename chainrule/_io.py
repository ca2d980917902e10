"""Writing files so that nothing is lost: a temporary file beside the target, then a rename.

A reader (or a crash) never sees half a file: the target holds either its old content or the
new one.  The new file gets the permissions of the file it replaces, or, for a new file, what
``open()`` would have given it (``0o666`` less the umask): not ``mkstemp``'s private ``0o600``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` (durably)."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp" + path.suffix)
    os.close(fd)
    try:
        os.chmod(tmp, _mode_for(path))
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_directory(directory)


def _mode_for(path):
    """The permission bits the replacement of ``path`` should carry."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:                              # a new file (or one we cannot stat)
        return 0o666 & ~_umask()


def _umask():
    # the only portable way to read the umask is to set it and put it back
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path, payload):
    """Write ``payload`` (bytes or str) to ``path`` atomically."""
    data = payload.encode() if isinstance(payload, str) else payload
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _sync_directory(directory):
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
