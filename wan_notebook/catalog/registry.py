"""The model registry: lookups, user rows, and an open door for ids this version does not know.

The service moves faster than releases, so an unknown id is never refused: :func:`lookup` makes
a permissive row for it (sent as given, parameters checked only for type) and warns once. Its
protocol is chosen from the id (``wan2.7-`` / ``wan3`` -> new, else legacy) unless given.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import warnings
from typing import Any

from .media_rows import MEDIA_ROWS
from .models import LEGACY_ROWS, SIZES_BY_TIER, Model, Protocol
from .new_rows import NEW_ROWS, WAN3_PIXELS
from .regions import REGIONS

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "get_model",
    "guess_protocol",
    "lookup",
    "model_ids",
    "register",
    "unregister",
]

#: Every model by its canonical id, in display order (legacy rows first, as before wan2.7).
MODELS: dict[str, Model] = {m.id: m for m in (*LEGACY_ROWS, *NEW_ROWS)}
_BY_ANY_ID: dict[str, Model] = {i: m for m in MODELS.values() for i in m.ids}
# image-to-video rows (issue 14): found by id, but not listed among the text-to-video MODELS
_BY_ANY_ID.update({i: m for m in MEDIA_ROWS for i in m.ids})
_BUILTIN = frozenset(MODELS) | {m.id for m in MEDIA_ROWS}
_BUILTIN_IDS = frozenset(_BY_ANY_ID)
DEFAULT_MODEL = "wan2.6-t2v"
_lock = threading.Lock()
_warned: set[tuple[str, str]] = set()


def get_model(model_id: str) -> Model:
    """Find a model by its id or another spelling; ``KeyError`` names the allowed ids."""
    try:
        return _BY_ANY_ID[model_id]
    except (KeyError, TypeError):
        raise KeyError(
            f"unknown model {model_id!r}; text-to-video models are " + ", ".join(model_ids())
        ) from None


def model_ids(*, with_aliases: bool = False) -> tuple[str, ...]:
    """Model ids in display order (optionally with the other spellings)."""
    if with_aliases:
        return tuple(_BY_ANY_ID)
    return tuple(MODELS)


def guess_protocol(model_id: str) -> Protocol:
    """The protocol an id speaks by its name (PROTOCOL 14.1): ``wan2.7-*``/``wan3*`` -> new."""
    key = model_id.strip().lower()
    return "new" if key.startswith(("wan2.7-", "wan3")) else "legacy"


def _open_row(model_id: str, protocol: Protocol) -> Model:
    """A permissive row for an unknown id: every value of the right type passes."""
    base: dict[str, Any] = dict(
        id=model_id,
        family="unknown",
        regions=tuple(REGIONS),
        default_size="",
        durations=(),
        default_duration=0,
        prompt_max=sys.maxsize,
        audio=True,
        shot_type=protocol == "legacy",
        returns_actual_prompt=False,
        concurrency=5,
        submit_rps=5,
        fps=30,
        typical_seconds=300.0,
        negative_prompt_max=sys.maxsize,
        protocol=protocol,
        known=False,
        notes=("not in this version's catalog: parameters are checked only for type",),
    )
    if protocol == "new":
        base.update(
            tiers=("480P", "720P", "1080P"),
            usage_style="new",
            resolutions=("480P", "720P", "1080P"),
            ratios=("adaptive", "16:9", "9:16", "1:1", "4:3", "3:4"),
            pixels=WAN3_PIXELS,
            smart_duration=True,
        )
    else:
        base.update(tiers=tuple(SIZES_BY_TIER), usage_style="wan2.6")
    return Model(**base)


def lookup(model_id: str, protocol: Protocol | None = None, *, warn: bool = True) -> Model:
    """The row for ``model_id``; an unknown id gets a permissive row and ONE warning.

    ``protocol`` ("legacy" / "new") overrides the guess from the id for an unknown model; for a
    known one it must match the row (``ValueError`` otherwise).
    """
    if protocol is not None and protocol not in ("legacy", "new"):
        raise ValueError(f"protocol must be 'legacy' or 'new', got {protocol!r}")
    row = _BY_ANY_ID.get(model_id)
    if row is not None:
        if protocol is not None and protocol != row.protocol:
            raise ValueError(
                f"{row.id} speaks the {row.protocol} protocol, not {protocol!r}; "
                "leave protocol unset for catalog models"
            )
        return row
    chosen: Protocol = protocol or guess_protocol(model_id)
    if warn:
        with _lock:
            first = (model_id, chosen) not in _warned
            _warned.add((model_id, chosen))
        if first:
            how = "given" if protocol else "chosen from the id"
            warnings.warn(
                f"model {model_id!r} is not in this version's catalog: parameters are checked "
                f"only for type; it is sent as given on the {chosen} protocol ({how})",
                UserWarning,
                stacklevel=3,
            )
    return _open_row(model_id, chosen)


def register(
    row: Model | str, *, like: str | None = None, replace: bool = False, **changes: Any
) -> Model:
    """Add a user row: a :class:`Model`, or an id copied from ``like`` with ``changes``.

    ``register("wan2.7-t2v-2026-09-01", like="wan2.7-t2v")`` adds a snapshot with the same rules.
    A built-in id is never replaced; a user row only with ``replace=True``.
    """
    if isinstance(row, str):
        if like is None:
            raise ValueError("register(id, like=...) needs the id of a row to copy")
        row = dataclasses.replace(get_model(like), id=row, aliases=(), **changes)
    elif like is not None or changes:
        row = dataclasses.replace(row, **changes)
    if not isinstance(row, Model):
        raise TypeError(f"register() takes a Model or an id, got {type(row).__name__}")
    with _lock:
        for name in row.ids:
            if name in _BUILTIN_IDS:
                raise ValueError(f"{name!r} is a built-in model; register a new id instead")
            if name in _BY_ANY_ID and not replace:
                raise ValueError(f"{name!r} is already registered; pass replace=True")
        MODELS[row.id] = row
        for name in row.ids:
            _BY_ANY_ID[name] = row
    return row


def unregister(model_id: str) -> None:
    """Remove a user row (built-in rows stay)."""
    with _lock:
        row = _BY_ANY_ID.get(model_id)
        if row is None:
            raise KeyError(f"{model_id!r} is not registered")
        if row.id in _BUILTIN:
            raise ValueError(f"{model_id!r} is a built-in model")
        MODELS.pop(row.id, None)
        for name in row.ids:
            _BY_ANY_ID.pop(name, None)
