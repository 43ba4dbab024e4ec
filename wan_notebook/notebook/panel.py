"""The live status panel of one ``%%wanvideo`` job.

How it shows itself, and why this way:

* There is exactly **one output**, a display handle (``display(..., display_id=True)``) whose
  bundle always holds ``text/plain`` and ``text/html`` (:func:`render.panel_html`). While the
  job runs and ipywidgets can render (a kernel with a widget manager), the same bundle also
  carries the widget view ``application/vnd.jupyter.widget-view+json``. Frontends pick the
  richest type they can: JupyterLab/Notebook/VS Code-with-widgets show the live widget;
  nbconvert, GitHub and widget-less frontends show the HTML, which is refreshed on every
  status change and every ``refresh`` seconds through the display id.
* Showing the widget *and* a separate HTML fallback would show both in JupyterLab; updating
  one handle avoids the duplicate.
* When the job ends the handle is updated one last time to a bundle **without** the widget
  (final HTML with the video player, or the error box). The saved notebook therefore holds a
  plain, self-describing output that looks the same everywhere and never says "Error
  displaying widget: model not found" when reopened. The widget also switches to that final
  HTML, in case a frontend drops an update that arrives after its cell finished.
* Background jobs update the display after their cell has finished. ipykernel tags those
  messages with the *creating* cell (a ContextVar), which nbclient ignores once that cell is
  done; :func:`_latest_parent` re-tags them with the request being handled now so they land
  by display id (measured with nbclient: without it the saved panel stayed at QUEUED).
* Output size stays bounded: updates replace the output in place, static refreshes are
  throttled (events, download progress at most twice a second, and the ``refresh`` heartbeat)
  and the widget's per-second ticks are comm messages, not outputs.

The panel never polls the service; it only listens to the job's events (DESIGN "Jobs are
observable") and reads ``job.elapsed``/``job.progress()`` on a small asyncio timer that stops
when the job is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DetachedError
from . import render
from .render import PanelState

if TYPE_CHECKING:
    from ..jobs import Job, JobEvent
    from ..request import VideoRequest

__all__ = ["StatusPanel", "widgets_usable"]

log = logging.getLogger("wan_notebook")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: Static (HTML/text) refreshes during a download are at most this often (seconds).
DOWNLOAD_REFRESH = 0.5


def widgets_usable() -> bool:
    """True inside a Jupyter kernel with ipywidgets installed (a widget manager may render)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebook extra
        return False
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _latest_parent() -> Iterator[None]:
    """Attribute a display update to the request the kernel is handling now.

    ipykernel >= 6 keeps the parent header in a ContextVar, so an update made by a background
    task carries the header of the cell that *created* the task; nbclient (and so nbconvert,
    papermill, nbval) ignores messages of a finished cell and the saved notebook would keep a
    stale panel. Publishing under the latest parent lets the update land by its display id.
    """
    token = None
    pub = None
    try:
        from IPython import get_ipython

        shell = get_ipython()
        pub = getattr(shell, "display_pub", None)
        latest = getattr(pub, "_parent_header_global", None)
        if latest and hasattr(pub, "set_thread_parent"):
            token = pub._parent_header.set(latest)  # type: ignore[union-attr]
    except Exception:
        token = None
    try:
        yield
    finally:
        if token is not None:
            with contextlib.suppress(Exception):
                pub._parent_header.reset(token)  # type: ignore[union-attr]


class _Widgets:
    """The ipywidgets tree of a panel (built only when widgets are usable)."""

    def __init__(self, panel: StatusPanel, *, cancel_button: bool) -> None:
        import ipywidgets as w

        self.header = w.HTML()
        self.elapsed = w.Label()
        self.progress = w.FloatProgress(
            value=0.0, min=0.0, max=1.0, description="estimate", bar_style="info"
        )
        self.download = w.FloatProgress(
            value=0.0, min=0.0, max=1.0, description="download", bar_style="success"
        )
        self.download.layout.display = "none"
        self.info = w.HTML()
        self.prompt = w.HTML()
        self.note = w.HTML()
        self.final = w.HTML()
        row: list[Any] = [self.progress, self.elapsed]
        self.cancel: Any = None
        if cancel_button:
            self.cancel = w.Button(description="Cancel", tooltip="cancel while PENDING")
            self.cancel.on_click(panel._on_cancel_click)
            row.append(self.cancel)
        self.box = w.VBox(
            [self.header, w.HBox(row), self.download, self.info, self.prompt, self.note]
        )

    def update(self, state: PanelState, *, full: bool) -> None:
        self.elapsed.value = f"{state.elapsed:.0f} s"
        if state.progress is not None:
            self.progress.value = max(0.0, min(1.0, state.progress))
        if not full:
            return
        label = render.badge_label(state)
        self.header.value = (
            f"{render.badge_html(label)} <b>Wan video</b> · "
            f"{render.esc(render._params_text(state))}"
        )
        info = []
        if state.task_id:
            info.append(f"task <code>{render.esc(state.task_id)}</code>")
        if state.history:
            info.append(render.esc(render.history_text(state.history)))
        self.info.value = "<small>" + " · ".join(info) + "</small>"
        self.prompt.value = render._prompt_html(state.prompt)
        self.note.value = f"<small><i>{render.esc(state.note)}</i></small>" if state.note else ""
        if state.phase == "downloading":
            self.download.layout.display = None
            if state.bytes_total:
                self.download.value = min(1.0, state.bytes_done / state.bytes_total)
        if self.cancel is not None:
            self.cancel.disabled = state.done or state.status not in (None, "PENDING")


class StatusPanel:
    """One job's live view. ``show()`` puts it in the output; ``follow(job)`` drives it.

    ``embed``/``width`` shape the final video; ``cancel_button`` adds a Cancel button (for
    background jobs); ``widgets`` forces widgets on or off (default: when usable); ``tick`` is
    the widget's elapsed-time interval and ``refresh`` the static view's heartbeat (seconds,
    0 disables; only inside a kernel, where updates replace the output in place).
    """

    def __init__(
        self,
        request: VideoRequest | None = None,
        *,
        prompt: str | None = None,
        embed: bool = False,
        embed_warn_bytes: int | None = 10 * 1024 * 1024,
        width: int | None = None,
        cancel_button: bool = False,
        widgets: bool | None = None,
        tick: float = 1.0,
        refresh: float = 10.0,
    ) -> None:
        text = prompt if prompt is not None else (request.prompt if request else "")
        self.state = PanelState(
            prompt=text,
            model=request.model if request else "",
            size=request.display_size if request else "",
            duration=request.duration if request else None,
            seed=request.seed if request else None,
            embed=embed,
            width=width,
        )
        self.embed_warn_bytes = embed_warn_bytes
        use_widgets = widgets_usable() if widgets is None else widgets
        self._widgets = _Widgets(self, cancel_button=cancel_button) if use_widgets else None
        self._in_kernel = widgets_usable() if widgets is None else use_widgets
        self.tick = tick
        self.refresh = refresh
        self.job: Job | None = None
        self.updates = 0
        self._handle: Any = None
        self._last_static = 0.0
        self._unsubscribe: Any = None
        self._ticker: asyncio.Task[None] | None = None
        self._cancel_task: asyncio.Task[None] | None = None
        self._final = False

    # ------------------------------------------------------------------ output

    @property
    def history(self) -> list[str]:
        """Every status the panel saw, in order (``["PENDING", "RUNNING", "SUCCEEDED"]``)."""
        return [status for status, _ in self.state.history]

    @property
    def display_id(self) -> str | None:
        """The display id of the panel's output (None before :meth:`show`)."""
        return getattr(self._handle, "display_id", None)

    def bundle(self) -> dict[str, Any]:
        """The current mime bundle: text, HTML and (while live) the widget view."""
        data: dict[str, Any] = {
            "text/plain": render.panel_text(self.state),
            "text/html": render.panel_html(self.state),
        }
        if self._widgets is not None and not self._final:
            data[WIDGET_MIME] = {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self._widgets.box.model_id,
            }
        return data

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return self.bundle()

    def show(self) -> None:
        """Display the panel (once); later updates replace this output."""
        from IPython.display import display

        if self._widgets is not None:
            self._widgets.update(self.state, full=True)
        self._handle = display(self.bundle(), raw=True, display_id=True)
        self._last_static = time.monotonic()

    def _publish(self) -> None:
        self._last_static = time.monotonic()
        if self._handle is None:
            return
        self.updates += 1
        with _latest_parent():
            self._handle.update(self.bundle(), raw=True)

    # ------------------------------------------------------------------ job

    def follow(self, job: Job) -> None:
        """Listen to ``job``'s events (replaying those already emitted) and start the timer."""
        self.job = job
        self._sync_from_job()
        for event in list(job.events):
            self._apply(event)
        self._unsubscribe = job.subscribe(self.on_event)
        if job.done() or self.state.done:
            self._finish()
            return
        self._refresh(full=True, static=True)
        if self.tick > 0:
            with contextlib.suppress(RuntimeError):
                self._ticker = job.runner.loop.create_task(self._tick())

    def on_event(self, event: JobEvent) -> None:
        """Job subscriber: update the state and the views."""
        if self._final:
            return
        self._sync_from_job()
        self._apply(event)
        if self.state.done:
            self._finish()
            return
        static = event.kind != "downloading" or (
            time.monotonic() - self._last_static >= DOWNLOAD_REFRESH or event.bytes_done == 0
        )
        self._refresh(full=True, static=static)

    def _sync_from_job(self) -> None:
        job, st = self.job, self.state
        if job is None:
            return
        st.elapsed = job.elapsed
        st.task_id = job.task_id or st.task_id
        st.phase = job.phase
        st.status = job.status
        with contextlib.suppress(Exception):
            st.progress = job.progress()

    def _apply(self, event: JobEvent) -> None:
        st = self.state
        if event.kind in ("submitted", "status"):
            st.attached = st.attached or bool(getattr(event, "attached", False))
            if event.status:
                st.status = event.status
            if event.task is not None and event.task.task_id:
                st.task_id = event.task.task_id
            st.record(event.status or (st.status if event.kind == "submitted" else None))
        elif event.kind == "downloading":
            st.phase = "downloading"
            st.bytes_done, st.bytes_total = event.bytes_done, event.bytes_total
        elif event.kind in ("saved", "cached"):
            if event.kind == "cached":
                st.phase = "cached"
            st.record("SUCCEEDED")
            st.result = event.result
            st.progress = 1.0
        elif event.kind == "failed":
            st.error = event.error
            if isinstance(event.error, DetachedError):
                st.phase = "detached"
            elif st.phase not in ("canceled", "failed"):
                st.phase = "failed"
            if event.status in ("FAILED", "CANCELED", "UNKNOWN"):
                st.record(event.status)

    def _refresh(self, *, full: bool, static: bool) -> None:
        if self._final:
            return
        if self._widgets is not None:
            try:
                self._widgets.update(self.state, full=full)
            except Exception:  # a widget glitch must not break the job
                log.exception("panel widget update failed")
        if static:
            self._publish()

    def _finish(self) -> None:
        if self._final:
            return
        self._sync_from_job()
        st = self.state
        if st.result is not None and st.embed:
            self._check_embed_size(st.result.path)
        if self._widgets is not None:
            # the widget shows the final view too, in case a frontend drops the late update
            with contextlib.suppress(Exception):
                self._widgets.update(st, full=True)
                self._widgets.final.value = render.panel_html(st)
                self._widgets.box.children = (self._widgets.final,)
        self._final = True
        if self._handle is not None:
            self.updates += 1
            with _latest_parent():
                self._handle.update(self.bundle(), raw=True)
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._ticker is not None and not self._ticker.done():
            self._ticker.cancel()

    def _check_embed_size(self, path: Path) -> None:
        limit = self.embed_warn_bytes
        try:
            size = Path(path).stat().st_size
        except OSError:
            return
        if limit is not None and size > limit:
            message = (
                f"--embed put {size / 1e6:.1f} MB of video into the notebook (over "
                f"{limit / 1e6:.1f} MB); without --embed the notebook references "
                f"{render.src_for(Path(path))} instead"
            )
            self.state.note = message
            warnings.warn(message, UserWarning, stacklevel=2)

    async def _tick(self) -> None:
        job = self.job
        assert job is not None
        while not self._final and not job.done():
            await asyncio.sleep(self.tick)
            if self._final:
                break
            self._sync_from_job()
            heartbeat = (
                self._in_kernel
                and self.refresh > 0
                and time.monotonic() - self._last_static >= self.refresh
            )
            self._refresh(full=False, static=heartbeat)

    # ------------------------------------------------------------------ cancel

    def _on_cancel_click(self, _button: Any = None) -> None:
        """The Cancel button: cancel on the service while PENDING, else say why not."""
        job = self.job
        if job is None:
            self.state.note = "nothing to cancel yet"
        elif job.done():
            self.state.note = f"the job already ended ({job.phase})"
        elif job.status not in (None, "PENDING"):
            self.state.note = (
                f"Cancel works only while a task is PENDING; this one is {job.status}, so it "
                "will finish (and is billed if it succeeds)."
            )
        else:
            self.state.note = "canceling…"
            self._cancel_task = job.runner.loop.create_task(self._cancel(job))
        self._refresh(full=True, static=True)

    async def _cancel(self, job: Job) -> None:
        try:
            ok = await job.cancel()
        except Exception as exc:  # shown in the panel; the job itself goes on
            self.state.note = f"cancel failed: {exc}"
        else:
            self.state.note = job.cancel_message or ("canceled" if ok else "not canceled")
        self._refresh(full=True, static=True)
