"""The index is a cache of the folder: rebuilt from the sidecars when it is missing or unusable.

Every saved result has its sidecar next to its video, so ``index.sqlite`` can always be
recreated from them. Before a store first uses its index, :func:`ensure_index` checks it under
the folder lock (so two processes never both rebuild, and nobody reads a half-built index): a
missing file is rebuilt when sidecars exist; an empty, schema-less, damaged or foreign file is
moved aside (``index.sqlite.corrupt-<n>``, with its ``-wal``/``-shm``; kept, never deleted) and
rebuilt, with a one-line warning. A file of a newer wan-notebook is left alone (it is refused
when used). A read-only folder is used as it is.

What a rebuild cannot bring back: open intents and unfinished tasks (they have no sidecar yet);
those live only in the journal.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import warnings
from pathlib import Path

from .._fsutil import folder_lock, move_aside
from . import journal as _journal
from . import spending as _spending
from .index import Index, StoreError, StoreWriteError
from .records import RebuildReport

__all__ = ["IndexRebuiltWarning", "ensure_index", "has_sidecars", "rebuild_from_sidecars"]

log = logging.getLogger("wan_notebook.store")


class IndexRebuiltWarning(UserWarning):
    """``index.sqlite`` was missing or unusable and was rebuilt from the sidecars."""


def sidecar_paths(root: Path) -> list[Path]:
    """The candidate result sidecars in ``root`` (dot files are temporaries, never results)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("*.json") if not p.name.startswith("."))


def has_sidecars(root: Path) -> bool:
    """Whether ``root`` holds at least one candidate sidecar."""
    if not root.is_dir():
        return False
    return any(not p.name.startswith(".") for p in root.glob("*.json"))


def rebuild_from_sidecars(index: Index, root: Path) -> RebuildReport:
    """Insert or complete one index row per readable sidecar (see ``OutputStore.rebuild_index``)."""
    added = updated = 0
    skipped: list[tuple[str, str]] = []
    for path in sidecar_paths(root):
        try:
            row = _journal.row_from_sidecar(path, root)
        except (StoreError, ValueError, TypeError, KeyError) as exc:
            skipped.append((path.name, str(exc)))
            continue
        try:
            with index.write() as conn:
                was_added = _journal.upsert_saved(conn, row)
                _spending.restore(conn, row, path)  # issue 15: the sidecar's cost
        except (sqlite3.IntegrityError, ValueError) as exc:
            skipped.append((path.name, f"conflicts with another row: {exc}"))
            continue
        if was_added:
            added += 1
        else:
            updated += 1
    return RebuildReport(added, updated, tuple(skipped))


def _move_index_aside(index: Index) -> Path:
    """Move the index file and its WAL companions aside together (a WAL must never meet
    another database file)."""
    aside = move_aside(index.path, "corrupt")
    for suffix in ("-wal", "-shm"):
        companion = index.path.with_name(index.path.name + suffix)
        if companion.exists():
            target = aside.with_name(aside.name + suffix)
            if not target.exists():
                os.rename(companion, target)
    index.reset()
    return aside


def _warn(message: str) -> None:
    log.warning("%s", message)
    warnings.warn(message, IndexRebuiltWarning, stacklevel=4)


def ensure_index(
    index: Index, root: Path, *, create: bool, rebuild: bool = False
) -> tuple[bool, RebuildReport | None]:
    """Make the index usable before first use: (whether there is an index to read, the
    report of the rebuild done, if any).

    ``create``: also create a fresh index when there is none and nothing to rebuild (before
    a write), under the same lock, so no other process ever sees it half-made. ``rebuild``:
    run the rebuild pass over the sidecars in any case (``OutputStore.rebuild_index``).
    """
    if index.read_only:
        return index.exists(), None
    if not root.is_dir():
        if not create:
            return False, None
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False, None  # the write that follows reports why, clearly
    with folder_lock(root):
        try:
            reason = "it is missing" if not index.exists() else index.inspect()
        except StoreWriteError:  # e.g. a full disk: use the file as it is (reads still work)
            return index.exists(), None
        if reason is None:
            with index.read():  # creates the schema or migrates, under the lock
                pass
            return True, rebuild_from_sidecars(index, root) if rebuild else None
        if not index.exists() and not has_sidecars(root):
            if create:
                with index.read():
                    pass
            return create, RebuildReport(0, 0, ()) if rebuild else None
        if index.exists():
            aside = _move_index_aside(index)
            what = f"could not be used ({reason}); moved it to {aside.name} and rebuilt it"
        else:
            what = "was missing; rebuilt it"
        report = rebuild_from_sidecars(index, root)
        with index.read():
            pass
        _warn(
            f"{index.path} {what} from the sidecars in {root} ({report.added} results, "
            f"{len(report.skipped)} unreadable sidecars skipped)"
        )
        return True, report
