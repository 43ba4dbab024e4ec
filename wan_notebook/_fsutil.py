"""Crash-safe file primitives: atomic replace, no-clobber move, streaming sha256.

After a crash at any point a reader sees either the old file or the complete new one, never a
half-written file: data goes to a temporary name in the same folder, is flushed to disk
(``fsync``), then renamed over the target, and the folder entry is flushed too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from pathlib import Path

__all__ = ["atomic_write_bytes", "fsync_dir", "move_no_clobber", "sha256_file"]

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
