"""Static views: HTML and text for the status panel, error boxes and saved videos.

Pure functions of plain values (no IPython, no widgets), so every frontend - JupyterLab,
nbconvert's saved output, GitHub, a terminal - gets the same content, and tests can read it.

Rules:

* Everything user- or server-supplied (prompts, messages, codes, task ids, file names) goes
  through :func:`esc`; a prompt ``<img src=x onerror=...>`` renders as text.
* Styles are inline (static renderers drop ``<style>`` blocks); the HTML still reads well when
  a sanitizer drops the styles too.
* A video is referenced by its path relative to the working directory (the notebook's folder
  in Jupyter): the notebook stays small. ``embed=True`` inlines it as base64 (for Colab and
  for sharing one file). A small JPEG thumbnail of the poster is inlined as the ``<video
  poster>`` and as an ``<img>`` inside the ``<video>`` element, which renderers that block
  ``<video>`` (GitHub) show instead; a missing file (a fresh clone) shows that poster and
  "run the cell to make this video" instead of a dead player.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from .. import errors
from .costing import cost_label


class VideoResult(Protocol):
    """What these views read of a :class:`wan_notebook.results.VideoResult` (a protocol, so
    this module does not import ``results``, which imports it to show itself)."""

    path: Path
    task_id: str
    metadata: Mapping[str, Any]
    request: Any
    cached: bool
    poster: Path | None

    @property
    def prompt(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...
    @property
    def duration(self) -> float | None: ...
    @property
    def size_bytes(self) -> int: ...


__all__ = [
    "PanelState",
    "badge_html",
    "badge_label",
    "clip",
    "error_box_html",
    "error_text",
    "esc",
    "missing_video_html",
    "panel_html",
    "panel_text",
    "poster_uri",
    "result_html",
    "src_for",
    "video_html",
    "what_to_do",
]

BADGE_COLOURS = {
    "QUEUED": "#6b7280",
    "SUBMITTING": "#6b7280",
    "PENDING": "#a16207",
    "RUNNING": "#1d4ed8",
    "DOWNLOADING": "#0e7490",
    "SUCCEEDED": "#15803d",
    "CACHED": "#7e22ce",
    "FAILED": "#b91c1c",
    "ERROR": "#b91c1c",
    "CANCELED": "#c2410c",
    "DETACHED": "#4b5563",
    "TIMED OUT": "#4b5563",
    "UNKNOWN": "#4b5563",
}
PROMPT_PREVIEW = 80
TEXT_PROMPT_MAX = 160


def esc(value: Any) -> str:
    """HTML-escape any value (quotes too, so it is safe inside attributes)."""
    return html.escape(str(value), quote=True)


def src_for(path: Path, base: Path | None = None) -> str:
    """``path`` as a URL relative to ``base`` (default: the working directory), quoted.

    Jupyter resolves a relative ``src`` against the notebook's folder (the kernel's working
    directory); an absolute path would not be served. Another drive (Windows) gives a
    ``file:`` URI, which at least works in a local browser.
    """
    try:
        rel = os.path.relpath(path, base or Path.cwd())
    except ValueError:
        return Path(path).resolve().as_uri()
    return quote(Path(rel).as_posix(), safe="/._-~")


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis when cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def poster_uri(poster: Path | None) -> str | None:
    """A small inlined thumbnail of the poster PNG (a ``data:`` URI), or None.

    Inlined because relative ``poster`` attributes are not rewritten by JupyterLab (a 404)
    and because a fresh clone or GitHub has no ``wan_outputs/``: the player still shows the
    first frame, and the HTML export carries it. Small: a JPEG at most
    ``POSTER_THUMB_WIDTH`` wide (a few KB); without Pillow, a small PNG as it is.
    """
    if poster is None:
        return None
    try:
        st = Path(poster).stat()
    except OSError:
        return None
    return _poster_thumb(str(poster), st.st_mtime_ns, st.st_size)


POSTER_THUMB_WIDTH = 256
POSTER_PNG_MAX = 48_000


@functools.lru_cache(maxsize=256)
def _poster_thumb(path: str, _mtime_ns: int, size: int) -> str | None:
    try:
        from PIL import Image
    except ImportError:
        return _data_uri(Path(path), "image/png") if size <= POSTER_PNG_MAX else None
    try:
        with Image.open(path) as img:
            thumb = img.convert("RGB")
            thumb.thumbnail((POSTER_THUMB_WIDTH, POSTER_THUMB_WIDTH))
            buf = io.BytesIO()
            thumb.save(buf, "JPEG", quality=65, optimize=True)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


MISSING_TEXT = "run the cell to make this video"


def missing_video_html(path: Path | str, *, poster_src: str | None, width: int, alt: str) -> str:
    """What stands in for a player whose file is not here (a fresh clone, GitHub): the
    inlined poster and "run the cell to make this video". ``alt`` is already escaped."""
    name = src_for(Path(path)) if isinstance(path, Path) else str(path)
    picture = (
        f'<img src="{esc(poster_src)}" width="{width}" alt="{alt}" '
        'style="max-width:100%;height:auto;opacity:.8">'
        if poster_src
        else f'<div style="width:{width}px;max-width:100%;height:{width * 9 // 16}px;'
        'background:#e5e7eb"></div>'
    )
    return (
        f'<figure class="wan-missing" style="display:inline-block;margin:0">{picture}'
        f"<figcaption><small>▶ {MISSING_TEXT} (<code>{esc(name)}</code> is not in this "
        "folder)</small></figcaption></figure>"
    )


def video_html(
    path: Path,
    *,
    poster: Path | None = None,
    embed: bool = False,
    width: int | None = None,
    label: str = "",
    autoplay: bool = False,
) -> str:
    """A ``<video controls>`` for a saved file (reference or base64) with an inlined poster
    thumbnail (also the ``<img>`` fallback for renderers that block ``<video>``); when the
    file is missing, the poster and "run the cell to make this video" instead."""
    w = int(width) if width else 640
    alt = esc(clip(label, 200)) if label else "generated video"
    poster_src = poster_uri(poster)
    if not Path(path).is_file():
        return missing_video_html(path, poster_src=poster_src, width=w, alt=alt)
    src = _data_uri(path, "video/mp4") if embed else src_for(path)
    fallback = (
        f'<img src="{esc(poster_src)}" width="{w}" alt="{alt}" style="max-width:100%">'
        if poster_src
        else f'<a href="{esc(src)}">{esc(path.name)}</a>'
    )
    poster_attr = f' poster="{esc(poster_src)}"' if poster_src else ""
    play = " autoplay" if autoplay else ""
    return (
        f'<video class="wan-video" src="{esc(src)}"{poster_attr} controls playsinline{play}'
        f' preload="metadata" width="{w}" style="max-width:100%;height:auto"'
        f' aria-label="{alt}">{fallback}</video>'
    )


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def _seconds(s: float) -> str:
    s = max(0.0, s)
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(s), 60)
    return f"{m} min {sec:02d} s"


# ------------------------------------------------------------------------------ errors


def what_to_do(exc: BaseException, task_id: str | None = None) -> str:
    """One sentence: the next step for this error (plain text; may contain a magic call)."""
    tid = task_id or getattr(exc, "task_id", None) or ""
    if isinstance(exc, (errors.WaitTimeoutError, errors.DetachedError)):
        return (
            f"The task keeps running on the service: `%wanvideo attach {tid}` picks it up "
            f"later (`%wanvideo cancel {tid}` while it is PENDING)."
        )
    if isinstance(exc, errors.ContentModerationError):
        return "Rephrase the prompt; flagged content is not billed."
    if isinstance(exc, errors.TaskCanceledError):
        return "Nothing was billed; run the cell again to submit a new task."
    if isinstance(exc, errors.TaskExpiredError):
        return (
            "Task ids live 24 hours and belong to one region and account; run the cell "
            "again with --new to generate a new video."
        )
    if isinstance(exc, errors.TaskFailedError):
        return "Failed tasks are not billed; fix the cause and run the cell again."
    if isinstance(exc, errors.VideoExpiredError):
        return "Video URLs live 24 hours; this one cannot be fetched again: use --new."
    if isinstance(exc, errors.DownloadError):
        return f"Run `%wanvideo attach {tid}` to download it again (URLs live 24 hours)."
    if isinstance(exc, errors.SubmitUncertainError):
        return (
            "The service may have created the task: `%wanvideo list` shows it, and running "
            "the cell again adopts it instead of paying twice."
        )
    if isinstance(exc, errors.ConfigurationError):
        return (
            "Set DASHSCOPE_API_KEY, or run `%wanvideo key` (this session only), or "
            "`%wanvideo emulator` to try the local emulator."
        )
    if isinstance(exc, errors.APIError) and exc.hint:
        return exc.hint
    if isinstance(exc, errors.WanConnectionError):
        return "Check the network and the base URL (`%wanvideo config`), then run it again."
    return "See the traceback of the cell for details."


def error_code(exc: BaseException) -> str:
    """The service's error code if there is one, else the exception's class name."""
    return str(getattr(exc, "code", None) or type(exc).__name__)


def _title(exc: BaseException) -> str:
    """``ClassName`` or ``ClassName [Code]``: the class name is never printed twice."""
    code = error_code(exc)
    name = type(exc).__name__
    return name if code == name else f"{name} [{code}]"


def still_running(exc: BaseException) -> bool:
    """True for the errors that leave the task running on the service (detach, timeout)."""
    return isinstance(exc, (errors.DetachedError, errors.WaitTimeoutError))


def still_running_text(exc: BaseException, task_id: str | None = None) -> str:
    """The notebook's words for a task this kernel stopped following (Ctrl-C, a timeout)."""
    tid = task_id or getattr(exc, "task_id", None)
    status = getattr(exc, "status", None)
    if not tid:
        return "Stopped before the service returned a task id; nothing to follow."
    state = f"still {status}" if status else "still running"
    why = "the wait timed out" if isinstance(exc, errors.WaitTimeoutError) else "interrupted"
    return (
        f"Task {tid} is {state} on the service ({why} here); `%wanvideo attach {tid}` "
        f"follows it and saves the video."
    )


def error_text(exc: BaseException, task_id: str | None = None) -> str:
    """The error as plain lines: class and code, message, what to do."""
    if still_running(exc):
        return "stopped following: " + still_running_text(exc, task_id)
    return f"error: {_title(exc)}\n  {exc}\n  what to do: {what_to_do(exc, task_id)}"


def error_box_html(exc: BaseException, task_id: str | None = None) -> str:
    """A red box with the error's class (and code), its message and the next step; a grey
    one-line note for a task that keeps running (detached, timed out)."""
    if still_running(exc):
        return (
            '<div class="wan-detached" style="border:1px solid #9ca3af;background:#f3f4f6;'
            'color:#111;padding:4px 8px;margin:4px 0;border-radius:4px">'
            f"{esc(still_running_text(exc, task_id))}</div>"
        )
    code = error_code(exc)
    name = type(exc).__name__
    head = f"<b>{esc(name)}</b>" + ("" if code == name else f" <code>{esc(code)}</code>")
    return (
        '<div class="wan-error" style="border:1px solid #b91c1c;background:#fef2f2;'
        'color:#111;padding:6px 8px;margin:4px 0;border-radius:4px">'
        f"{head}<br>"
        f'<span style="white-space:pre-wrap">{esc(exc)}</span><br>'
        f"<i>What to do:</i> {esc(what_to_do(exc, task_id))}</div>"
    )


# ------------------------------------------------------------------------------ panel


@dataclass
class PanelState:
    """What the status panel shows; the panel updates it from job events."""

    prompt: str
    model: str = ""
    size: str = ""
    duration: int | float | None = None
    seed: int | None = None
    task_id: str | None = None
    status: str | None = None
    phase: str = "queued"
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0
    progress: float | None = 0.0
    #: (status, seconds since start) for every status the panel saw, in order.
    history: list[tuple[str, float]] = field(default_factory=list)
    bytes_done: int = 0
    bytes_total: int | None = None
    error: BaseException | None = None
    result: VideoResult | None = None
    note: str = ""
    attached: bool = False
    embed: bool = False
    width: int | None = None
    #: The estimate before the run ("est. $0.50"); the actual cost is read from the result.
    cost: str = ""

    @property
    def done(self) -> bool:
        return self.error is not None or self.result is not None

    def record(self, status: str | None) -> None:
        """Add ``status`` to the history if it is new."""
        if status and (not self.history or self.history[-1][0] != status):
            self.history.append((status, self.elapsed))


def badge_label(state: PanelState) -> str:
    """The word on the badge: the service status, or what the job is doing around it."""
    if state.phase == "cached":
        return "CACHED"
    if state.phase == "canceled":
        return "CANCELED"
    if state.phase == "detached" or isinstance(state.error, errors.DetachedError):
        return "DETACHED"
    if isinstance(state.error, errors.WaitTimeoutError):
        return "TIMED OUT"  # not an error of the task: it keeps running on the service
    if state.phase == "failed" or state.error is not None:
        return state.status if state.status in ("FAILED", "CANCELED", "UNKNOWN") else "ERROR"
    if state.phase == "downloading":
        return "DOWNLOADING"
    if state.status:
        return state.status
    return state.phase.upper()


def badge_html(label: str) -> str:
    """A coloured status badge."""
    colour = BADGE_COLOURS.get(label, "#4b5563")
    return (
        f'<span class="wan-badge" style="background:{colour};color:#fff;padding:1px 7px;'
        f'border-radius:9px;font:600 11px/18px monospace">{esc(label)}</span>'
    )


def _params_text(state: PanelState) -> str:
    parts = [state.model or "?", state.size or "?"]
    if state.duration is not None:
        parts.append(f"{state.duration:g} s")
    parts.append(f"seed {state.seed}" if state.seed is not None else "seed random")
    return " · ".join(parts)


def history_text(history: Sequence[tuple[str, float]]) -> str:
    """``PENDING 0.0 s → RUNNING 0.4 s → SUCCEEDED 1.2 s``."""
    return " → ".join(f"{status} {at:.1f} s" for status, at in history)


def _progress_text(state: PanelState) -> str:
    if state.phase == "downloading":
        total = f" of {_human_bytes(state.bytes_total)}" if state.bytes_total else ""
        return f"downloading {_human_bytes(state.bytes_done)}{total}"
    if state.progress is None or state.done:
        return ""
    return f"~{state.progress * 100:.0f}% (estimate)"


def _prompt_html(prompt: str, *, open_: bool = False) -> str:
    preview = prompt if len(prompt) <= PROMPT_PREVIEW else prompt[: PROMPT_PREVIEW - 1] + "…"
    return (
        f"<details{' open' if open_ else ''}><summary>"
        f'<span style="white-space:pre-wrap">{esc(preview)}</span></summary>'
        f'<div style="white-space:pre-wrap;margin:2px 0 4px 12px">{esc(prompt)}</div></details>'
    )


def _show_elapsed(state: PanelState) -> bool:
    # a result shown on its own (no job behind it) has no meaningful elapsed time
    return bool(state.history) or not state.done or state.elapsed > 0


def panel_html(state: PanelState) -> str:
    """The whole panel as static HTML (the live view for frontends without widgets, and the
    final view everywhere)."""
    label = badge_label(state)
    timing = f" · {esc(_seconds(state.elapsed))}" if _show_elapsed(state) else ""
    rows = [f"{badge_html(label)} <b>Wan video</b> · {esc(_params_text(state))}{timing}"]
    progress = _progress_text(state)
    if progress and state.progress is not None and state.phase != "downloading":
        pct = max(0.0, min(1.0, state.progress)) * 100
        rows.append(
            '<div style="width:240px;height:6px;background:#e5e7eb;border-radius:3px;'
            f'display:inline-block;vertical-align:middle"><div style="width:{pct:.0f}%;'
            'height:6px;background:#1d4ed8;border-radius:3px"></div></div> '
            f"<small>{esc(progress)}</small>"
        )
    elif progress:
        rows.append(f"<small>{esc(progress)}</small>")
    meta = []
    if state.task_id:
        meta.append(f"task <code>{esc(state.task_id)}</code>")
    if state.attached:
        meta.append("re-attached")
    if state.history:
        meta.append(esc(history_text(state.history)))
    if cost_label(state):
        meta.append(esc(cost_label(state)))
    if meta:
        rows.append("<small>" + " · ".join(meta) + "</small>")
    rows.append(_prompt_html(state.prompt))
    if state.note:
        rows.append(f"<small><i>{esc(state.note)}</i></small>")
    if state.error is not None:
        rows.append(error_box_html(state.error, state.task_id))
    if state.result is not None:
        rows.append(result_body_html(state.result, embed=state.embed, width=state.width))
    inner = "".join(f"<div>{row}</div>" for row in rows)
    return (
        '<div class="wan-panel" style="font-family:sans-serif;font-size:13px;'
        f'line-height:1.5">{inner}</div>'
    )


def panel_text(state: PanelState) -> str:
    """The panel as a few lines of plain text (terminals, text-only renderers)."""
    prompt = " ".join(state.prompt.split())
    if len(prompt) > TEXT_PROMPT_MAX:
        prompt = prompt[: TEXT_PROMPT_MAX - 1] + "…"
    timing = f" · {_seconds(state.elapsed)}" if _show_elapsed(state) else ""
    lines = [f"Wan video [{badge_label(state)}] {_params_text(state)}{timing}"]
    extra = []
    if state.task_id:
        extra.append(f"task {state.task_id}")
    progress = _progress_text(state)
    if progress:
        extra.append(progress)
    if state.history:
        extra.append(history_text(state.history))
    if cost_label(state):
        extra.append(cost_label(state))
    if extra:
        lines.append("  " + " · ".join(extra))
    lines.append(f"  prompt: {prompt}")
    if state.note:
        lines.append(f"  note: {state.note}")
    if state.error is not None:
        lines.append("  " + error_text(state.error, state.task_id).replace("\n", "\n  "))
    if state.result is not None:
        lines.append("  " + result_summary(state.result))
    return "\n".join(lines)


# ------------------------------------------------------------------------------ results


def _result_size(result: VideoResult) -> int | None:
    try:
        return int(result.size_bytes)
    except (OSError, TypeError, ValueError):
        return None


def result_summary(result: VideoResult) -> str:
    """``saved wan_outputs/x.mp4 (374.0 KB, 832x480, 5.0 s)`` (``cached`` when reused)."""
    bits = []
    size = _result_size(result)
    if size is not None:
        bits.append(_human_bytes(size))
    if result.width and result.height:
        bits.append(f"{result.width}x{result.height}")
    if result.duration:
        bits.append(f"{float(result.duration):.1f} s")
    verb = "cached" if result.cached else "saved"
    where = src_for(result.path)
    return f"{verb} {where}" + (f" ({', '.join(bits)})" if bits else "")


def result_body_html(result: VideoResult, *, embed: bool = False, width: int | None = None) -> str:
    """The video player and one line saying where the file is."""
    w = width or min(int(result.width or 640), 640)
    player = video_html(
        result.path, poster=result.poster, embed=embed, width=w, label=result.prompt
    )
    return f"{player}<div><small>{esc(result_summary(result))}</small></div>"


def result_html(result: VideoResult, *, embed: bool = False, width: int | None = None) -> str:
    """A saved result on its own (``VideoResult._repr_html_``): header, prompt, player."""
    meta: Mapping[str, Any] = result.metadata or {}
    request = meta.get("request") if isinstance(meta.get("request"), Mapping) else {}
    req = result.request
    state = PanelState(
        prompt=result.prompt,
        model=result.model,
        size=(req.display_size if req else str(request.get("size", ""))),
        duration=(req.duration if req else request.get("duration")),
        seed=(req.seed if req else request.get("seed")),
        task_id=result.task_id,
        status="SUCCEEDED",
        phase="cached" if result.cached else "saved",
        progress=1.0,
        result=result,
        embed=embed,
        width=width,
    )
    return panel_html(state)
