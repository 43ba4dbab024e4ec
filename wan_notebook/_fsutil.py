"""Crash-safe file primitives: atomic replace, no-clobber move, streaming sha256.

After a crash at any point a reader sees either the old file or the complete new one, never a
half-written file: data goes to a temporary name in the same folder, is flushed to disk
(``fsync``), then renamed over the target, and the folder entry is flushed too.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "atomic_write_bytes",
    "folder_lock",
    "folder_writable",
    "fsync_dir",
    "move_aside",
    "move_no_clobber",
    "sha256_file",
]

_CHUNK = 1 << 20


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename) to disk; a no-op where folders cannot be opened."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one."""
    # A dot name with a random part: never mistaken for a result, never shared by two writers.
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def move_no_clobber(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` atomically; ``FileExistsError`` if ``dst`` already exists.

    ``os.replace`` would silently overwrite an existing result; a hard link fails instead
    (POSIX), and Windows' rename never overwrites.
    """
    if os.name == "nt":
        os.rename(src, dst)
    else:
        try:
            os.link(src, dst)
        except FileExistsError:
            raise
        except OSError:
            # Filesystems without hard links: check, then rename (a narrow race remains).
            if dst.exists():
                raise FileExistsError(f"{dst} already exists") from None
            os.rename(src, dst)
            fsync_dir(dst.parent)
            return
        os.unlink(src)
    fsync_dir(dst.parent)


def sha256_file(path: Path) -> str:
    """The file's SHA-256 in hex, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` across threads and processes (blocking).

    ``flock`` on the folder itself, so no lock file is needed and a read-only folder can be
    locked too; where ``flock`` is missing (Windows) only threads of this process are kept
    apart. A folder that does not exist yet is not locked (nothing to protect in it).
    """
    key = os.path.abspath(folder)
    with _THREAD_LOCKS_GUARD:
        thread_lock = _THREAD_LOCKS.setdefault(key, threading.Lock())
    with thread_lock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        try:
            fd = os.open(folder, os.O_RDONLY)
        except FileNotFoundError:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the last descriptor releases the flock


def folder_writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (False on a read-only mount, also for root).

    A folder that does not exist yet counts as writable when its nearest existing parent is.
    """
    path = Path(folder)
    while not path.exists():
        if path.parent == path:
            return False
        path = path.parent
    return os.access(path, os.W_OK)


def move_aside(path: Path, label: str) -> Path:
    """Rename ``path`` to ``<name>.<label>-<n>`` (first free ``n``), never overwriting or
    deleting anything; returns the new path."""
    for n in range(1, 100_000):
        target = path.with_name(f"{path.name}.{label}-{n}")
        try:
            move_no_clobber(path, target)
        except FileExistsError:
            continue
        return target
    raise OSError(errno.EEXIST, f"no free name to move {path} aside")
