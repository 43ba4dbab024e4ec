"""``Sweep.export``: the results table as parquet or CSV, a Hugging Face VideoFolder, or the
file naming VBench's evaluator reads.

``videofolder``: the saved videos copied (hard-linked when possible) into ``<path>/`` with a
``metadata.parquet`` whose ``file_name`` column names them, which ``datasets.load_dataset(
"videofolder", data_dir=path)`` reads. ``vbench``: ``<path>/{prompt}-{index}.mp4``, index
counting the videos of each prompt from 0 (VBench's ``{prompt}-{index}.mp4``), plus the
table as ``results.parquet`` so the mapping back to cells is kept.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .. import checks

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "export"]

FORMATS = ("parquet", "csv", "videofolder", "vbench")
#: VBench names a file by its prompt; these characters cannot be in a file name.
_BAD = str.maketrans({c: "_" for c in "/\\\0"})


def _format(path: Path, format: str | None) -> str:
    if format is None:
        suffix = path.suffix.lower().lstrip(".")
        format = suffix if suffix in ("parquet", "csv") else "videofolder"
    if format not in FORMATS:
        raise checks.fail(
            "format", format, "is not an export format", "one of " + ", ".join(FORMATS)
        )
    return format


def _tabular(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns parquet/CSV can hold: mixed-type objects become text."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            kinds = {type(v) for v in out[col] if v is not None}
            if len(kinds) > 1:
                out[col] = out[col].map(lambda v: None if v is None else str(v))
    return out


def _place(src: Path, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def export(frame: pd.DataFrame, path: str | os.PathLike[str], format: str | None = None) -> Path:
    """Write ``frame`` (a :meth:`Sweep.results` table) to ``path`` as ``format``."""
    path = Path(path)
    fmt = _format(path, format)
    if fmt == "parquet":
        path.parent.mkdir(parents=True, exist_ok=True)
        _tabular(frame).to_parquet(path, index=False)
        return path
    if fmt == "csv":
        path.parent.mkdir(parents=True, exist_ok=True)
        _tabular(frame).to_csv(path, index=False)
        return path
    saved = frame[frame["path"].notna()]
    path.mkdir(parents=True, exist_ok=True)
    names = []
    if fmt == "videofolder":
        for row in saved.itertuples():
            name = f"{int(row.cell):05d}-{Path(row.path).name}"
            _place(Path(row.path), path / name)
            names.append(name)
        table = _tabular(saved.assign(file_name=names))
        table = table[["file_name", *[c for c in table.columns if c != "file_name"]]]
        table.drop(columns=["path", "poster"]).to_parquet(path / "metadata.parquet", index=False)
        return path
    counts: dict[str, int] = {}
    for row in saved.itertuples():
        prompt = str(row.prompt)
        index = counts.get(prompt, 0)
        counts[prompt] = index + 1
        name = f"{prompt.translate(_BAD)}-{index}.mp4"
        _place(Path(row.path), path / name)
        names.append(name)
    _tabular(saved.assign(file_name=names)).to_parquet(path / "results.parquet", index=False)
    return path
