"""``compare(results, by="seed")``: videos side by side in synchronized players.

``results`` is a :meth:`Sweep.results` table (or any DataFrame with ``path`` and the ``by``
column), a list of paths, or a list of :class:`~wan_notebook.results.VideoResult` s. One
player per video in a grid, labelled from the table; one transport drives them all: play,
pause, seek and single-frame steps apply to every player, and a player drifting more than a
frame is pulled back. It is an anywidget (the JavaScript is ``static/compare.js``), so it runs
in JupyterLab, Notebook 7 and VS Code; the videos travel as bytes over the widget's comm
(no file URL to resolve), which is why at most ``max_videos`` are shown. Without a widget
frontend (nbconvert, GitHub) the same output is a static grid of poster images.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .. import checks

__all__ = ["Compare", "compare"]

#: At most this many players (the videos travel through the kernel's comm).
MAX_VIDEOS = 16
_ESM = resources.files(__package__).joinpath("static/compare.js").read_text(encoding="utf-8")


class Compare(anywidget.AnyWidget):
    """Synchronized players in a grid; build it with :func:`compare`."""

    _esm = _ESM
    videos = traitlets.List(traitlets.Dict()).tag(sync=True)
    blobs = traitlets.List(traitlets.Bytes()).tag(sync=True)
    fps = traitlets.Float(16.0).tag(sync=True)
    cols = traitlets.Int(3).tag(sync=True)

    def __init__(self, items: Sequence[tuple[str, Path, Path | None]], *, fps: float, cols: int):
        super().__init__(
            videos=[{"label": label, "mime": "video/mp4"} for label, _, _ in items],
            blobs=[path.read_bytes() for _, path, _ in items],
            fps=fps,
            cols=cols,
        )
        self._items = list(items)

    def static_html(self) -> str:
        """The fallback: a grid of poster images with their labels (no script)."""
        cells = []
        for label, path, poster in self._items:
            img = ""
            if poster is not None and poster.is_file():
                data = base64.b64encode(_thumbnail(poster)).decode()
                img = f'<img src="data:image/jpeg;base64,{data}" style="width:100%">'
            else:
                img = f"<div>{html.escape(path.name)}</div>"
            cells.append(
                f'<figure style="margin:0">{img}<figcaption style="font:12px sans-serif">'
                f"{html.escape(label)}</figcaption></figure>"
            )
        return (
            '<div class="wan-compare-static" style="display:grid;gap:6px;'
            f'grid-template-columns:repeat({self.cols},minmax(0,1fr))">' + "".join(cells) + "</div>"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = dict(data or {})
        data["text/html"] = self.static_html()
        return data, meta


def _thumbnail(poster: Path, width: int = 320) -> bytes:
    """A small JPEG of a poster: the static fallback is stored in notebooks."""
    from PIL import Image

    with Image.open(poster) as image:
        image = image.convert("RGB")
        if image.width > width:
            image = image.resize((width, max(1, round(image.height * width / image.width))))
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def _rows(results: Any, by: str) -> list[dict[str, Any]]:
    if type(results).__name__ == "DataFrame":
        if by not in results.columns:
            raise checks.fail("by", by, "is not a column of the table",
                              "one of " + ", ".join(map(str, results.columns)))  # fmt: skip
        return results.to_dict("records")
    rows = []
    for item in results if isinstance(results, Iterable) else [results]:
        if isinstance(item, (str, os.PathLike)):
            rows.append({"path": str(item), by: Path(item).stem})
        elif hasattr(item, "path") and hasattr(item, "metadata"):
            request = item.metadata.get("request") or {}
            rows.append({**request, "path": str(item.path),
                         "poster": str(item.poster) if item.poster else None})  # fmt: skip
        else:
            raise checks.type_error(
                "results", item, "a Sweep.results() table, paths, or VideoResults"
            )
    return rows


def compare(
    results: Any,
    by: str = "seed",
    *,
    cols: int | None = None,
    max_videos: int = MAX_VIDEOS,
    fps: float | None = None,
) -> Compare:
    """Synchronized players for the saved videos in ``results``, labelled by ``by``.

    ``by`` is any column (``"seed"``, ``"model"``, ``"size"``...); rows are ordered by it and
    labelled ``by=value`` plus the prompt when the table holds more than one. ``cols``
    defaults to up to 4 per row. Rows without a saved video are left out.
    """
    checks.positive_int(max_videos, "max_videos", allow_none=False)
    rows = [r for r in _rows(results, by) if r.get("path") and Path(str(r["path"])).is_file()]
    if not rows:
        raise checks.fail("results", "no saved video", "holds no saved video to compare",
                          "a table with saved videos (state 'done')")  # fmt: skip
    if len(rows) > max_videos:
        raise checks.fail("results", f"{len(rows)} videos", f"is more than max_videos={max_videos}",
                          "filter the table (e.g. one prompt) or raise max_videos")  # fmt: skip
    rows.sort(key=lambda r: (str(r.get("prompt", "")), str(r.get(by))))
    prompts = {r.get("prompt") for r in rows}
    items = []
    for r in rows:
        label = f"{by}={r.get(by)}"
        if len(prompts) > 1:
            label += f" · {str(r.get('prompt', ''))[:40]}"
        poster = r.get("poster")
        items.append((label, Path(str(r["path"])), Path(str(poster)) if poster else None))
    rate = fps or next((float(r["fps"]) for r in rows if r.get("fps")), 16.0)
    return Compare(items, fps=rate, cols=cols or min(4, len(items)))
