"""The cells of a sweep: prompts x seeds x models x params (x repeat), each one request.

Prompts come from a list, a text file (one per line, as VBench ships them), a CSV or JSONL file
with a ``prompt`` column, or a pandas DataFrame with a ``prompt`` column; other columns are
kept as each cell's metadata. Every cell is validated before anything is sent, and all invalid
cells are reported together in one :class:`~wan_notebook.errors.ValidationError`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import checks
from ..api import check_params
from ..errors import ValidationError
from ..request import VideoRequest

__all__ = ["Cell", "build_cells", "load_prompts"]

#: How many invalid cells the one report lists by name (the rest are counted).
REPORT_LINES = 20


@dataclass(frozen=True)
class Cell:
    """One request of a sweep and where it came from."""

    index: int
    prompt_index: int
    repeat: int
    request: VideoRequest
    #: the prompt source's other columns (a DataFrame's, a CSV's, a JSONL record's)
    meta: dict[str, Any] = field(default_factory=dict)
    #: the swept parameter values of this cell (``params`` keys only)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """The request's digest: the store's key and the claim's."""
        return self.request.digest


def load_prompts(prompts: Any) -> list[tuple[str, dict[str, Any]]]:
    """``(prompt, metadata)`` pairs from any accepted prompt source (see module doc)."""
    allowed = (
        "a list of prompts, a .txt file (one per line), a .csv/.jsonl file with a 'prompt' "
        "column, or a pandas DataFrame with a 'prompt' column"
    )
    if isinstance(prompts, str) and not _looks_like_file(prompts):
        return [(prompts, {})]
    if isinstance(prompts, (str, os.PathLike)):
        return _from_file(Path(prompts), allowed)
    if _is_dataframe(prompts):
        return _from_records(prompts.to_dict("records"), "the DataFrame", allowed)
    if isinstance(prompts, (bytes, bytearray, Mapping)):
        raise checks.type_error("prompts", prompts, allowed)
    try:
        items = list(prompts)
    except TypeError:
        raise checks.type_error("prompts", prompts, allowed) from None
    if items and all(isinstance(i, Mapping) for i in items):
        return _from_records(items, "prompts", allowed)
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise checks.type_error(f"prompts[{i}]", item, allowed)
        out.append((item, {}))
    return out


def _looks_like_file(text: str) -> bool:
    return "\n" not in text and Path(text).suffix.lower() in (".txt", ".csv", ".jsonl", ".json")


def _is_dataframe(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and hasattr(value, "to_dict")


def _from_file(path: Path, allowed: str) -> list[tuple[str, dict[str, Any]]]:
    if not path.is_file():
        raise checks.fail("prompts", str(path), "is not an existing file", allowed)
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8-sig")
    if suffix == ".csv":
        return _from_records(list(csv.DictReader(text.splitlines())), path.name, allowed)
    if suffix in (".jsonl", ".json"):
        records = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise checks.fail(
                        "prompts", str(path), f"line {n} is not JSON ({exc.msg})", allowed
                    ) from None
        return _from_records(records, path.name, allowed)
    return [(line.strip(), {}) for line in text.splitlines() if line.strip()]


def _from_records(records: list[Any], where: str, allowed: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping) or not isinstance(record.get("prompt"), str):
            raise checks.fail("prompts", where, f"row {i} has no 'prompt' text", allowed)
        meta = {str(k): _plain(v) for k, v in record.items() if k != "prompt"}
        out.append((record["prompt"], meta))
    return out


def _plain(value: Any) -> Any:
    """A JSON-able scalar for metadata (numpy/pandas scalars become Python ones)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        with contextlib.suppress(TypeError, ValueError):
            value = value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return None if isinstance(value, float) and value != value else value
    return str(value)


def _values(name: str, value: Any) -> list[Any]:
    """A swept dimension as a list (a single value is a list of one)."""
    if value is None:
        return [None]
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return [value]
    items = list(value)
    if not items:
        raise checks.fail(name, items, "is empty: a sweep over nothing", "a non-empty list")
    return items


def _seeds(value: Any) -> list[Any]:
    if isinstance(value, range):
        return list(value)
    return _values("seeds", value)


def repeat_seed(prompt: str, repeat: int) -> int:
    """The seed of repeat ``repeat`` of ``prompt`` when no seeds are given: fixed by the
    prompt and the repeat number, so a re-run asks for the same videos (and resumes)."""
    h = hashlib.sha256(f"{prompt}\x00{repeat}".encode()).digest()
    return int.from_bytes(h[:4], "big") % 2**31


def build_cells(
    prompts: Any,
    *,
    seeds: Any = None,
    models: Any = None,
    params: Mapping[str, Any] | None = None,
    repeat: int = 1,
) -> list[Cell]:
    """Every cell of the product, validated; one error lists every invalid cell."""
    repeat = checks.positive_int(repeat, "repeat", allow_none=False) or 1
    params = dict(params or {})
    if not isinstance(params, dict):
        raise checks.type_error("params", params, "a dict of parameter name -> list of values")
    for reserved in ("seed", "model"):
        if reserved in params:
            raise checks.fail(
                "params", reserved, f"is swept by the {reserved}s= argument", f"{reserved}s=[...]"
            )
    check_params(params, where="params: ")
    sources = load_prompts(prompts)
    if not sources:
        raise checks.fail("prompts", [], "holds no prompt", "at least one prompt")
    seed_list, model_list = _seeds(seeds), _values("models", models)
    if repeat > 1 and seeds is not None:
        raise checks.fail(
            "repeat", repeat, "with explicit seeds would ask for the same videos again",
            "give more seeds (seeds=range(n)) or leave seeds=None so each repeat gets its own",
        )  # fmt: skip
    names = list(params)
    grids = [_values(f"params[{n!r}]", params[n]) for n in names]
    cells: list[Cell] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    combos = list(itertools.product(*grids))
    for p_i, (prompt, meta) in enumerate(sources):
        for seed, model, combo, rep in itertools.product(
            seed_list, model_list, combos, range(repeat)
        ):
            if seeds is None and repeat > 1:
                seed = repeat_seed(prompt, rep)
            kw = {k: v for k, v in zip(names, combo, strict=True) if v is not None}
            if seed is not None:
                kw["seed"] = seed
            if model is not None:
                kw["model"] = model
            index = len(cells) + len(problems)
            try:
                request = VideoRequest.create(prompt, **kw)
            except ValidationError as exc:
                problems.append(f"cell {index} (prompt {p_i} {prompt[:40]!r}, {_kw(kw)}): {exc}")
                continue
            twin = seen.setdefault(request.digest, index)
            if twin != index:
                problems.append(
                    f"cell {index} (prompt {p_i} {prompt[:40]!r}) is the same request as cell "
                    f"{twin}: remove the duplicate prompt, or use repeat= for several videos"
                )
                continue
            cells.append(Cell(index, p_i, rep, request, meta, dict(zip(names, combo, strict=True))))
    if problems:
        _report(problems, len(cells) + len(problems))
    return cells


def _kw(kw: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kw.items()) or "defaults"


def _report(problems: list[str], total: int) -> None:
    shown = problems[:REPORT_LINES]
    more = len(problems) - len(shown)
    lines = "\n  ".join(shown) + (f"\n  ... and {more} more" if more else "")
    raise ValidationError(
        f"{len(problems)} of {total} sweep cells are invalid (nothing was sent):\n  {lines}",
        param="cells",
        value=len(problems),
        allowed="every cell a valid request for its model",
    )
