"""Writing files so that nothing is lost: a temporary file beside the target, then a rename.

A reader (or a crash) never sees half a file: the target holds either its old content or the
new one.  The new file gets the permissions of the file it replaces, or, for a new file, what
``open()`` would have given it (``0o666`` less the umask): not ``mkstemp``'s private ``0o600``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` (durably)."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {directory} does not exist")
    tmp = _new_file(directory, path)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_directory(directory)


def _new_file(directory, path):
    """An empty file with a fresh name beside ``path``, with ``path``'s permission bits if it
    exists, else with ``open()``'s (``0o666`` less the umask, which the kernel applies: reading
    the umask would mean setting it, for every thread of the process)."""
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:                              # a new file (or one we cannot stat)
        mode = None
    for _ in range(100):
        tmp = directory / f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        if mode is not None:
            try:
                os.chmod(tmp, mode)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return tmp
    raise FileExistsError(f"cannot write {path}: no free temporary name in {directory}")


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
