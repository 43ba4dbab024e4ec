"""The outputs folder next to the notebook: the toolkit's memory.

One room, several parts::

    outputs.py   OutputStore: lookup, intents, tasks, saving, rebuilding (the public face)
    index.py     index.sqlite: WAL, busy timeout, BEGIN IMMEDIATE, migrations, read-only
                 opening, clear errors for a full disk or a read-only folder
    rebuild.py   the index is a cache of the folder: checked before first use, an unusable
                 one moved aside and rebuilt from the sidecars (under a folder lock)
    verify.py    a saved result is hashed once per process before it is served; corrupt
                 videos quarantined, missing or garbled sidecars rewritten from the journal
    saving.py    probe, hash, poster, sidecar and index row of a downloaded video
    rows.py      index rows to value types (and journaled requests back to VideoRequest)
    journal.py   SQL of the tasks / events / intents tables, status rules
    records.py   value types (Paths, TaskRecord, SavedResult, Lookup, Intent)
    sidecar.py   the versioned JSON sidecar (never the key, never the signed URL)
    naming.py    file names from prompt + task id, confined to the folder

Atomic file writes live one floor down, in ``wan_notebook._fsutil``, because the client and
``media`` use them too.
"""

from __future__ import annotations

from .index import CorruptIndexError, ReadOnlyStoreError, StoreError, StoreWriteError
from .outputs import INDEX_NAME, OutputStore, load_sidecar, paths_for
from .records import (
    Event,
    Intent,
    Lookup,
    LookupKind,
    Paths,
    RebuildReport,
    SavedResult,
    TaskRecord,
)

__all__ = [
    "INDEX_NAME",
    "CorruptIndexError",
    "Event",
    "Intent",
    "Lookup",
    "LookupKind",
    "OutputStore",
    "Paths",
    "ReadOnlyStoreError",
    "RebuildReport",
    "SavedResult",
    "StoreError",
    "StoreWriteError",
    "TaskRecord",
    "load_sidecar",
    "paths_for",
]
