"""``BatchGrid``: many jobs as one table (status, progress, result), live from job events.

Use it with :func:`wan_notebook.generate_many` (``on_job=grid.add``), or let it start the
jobs itself:

* ``BatchGrid.run(prompts, **kw)`` - blocking, like ``generate_many`` (the grid updates while
  the cell runs; returns the results, errors included). It has no "Cancel all pending" button:
  a kernel busy with a cell does not process widget clicks until the cell ends, so the button
  would do nothing while it matters (measured in JupyterLab: all jobs still ran);
* ``grid = BatchGrid.start(prompts, **kw)`` - background jobs on the kernel's loop: the cell
  returns at once, "Cancel all pending" works, ``await grid`` collects the results.

The grid only listens to job events (it never polls the service). Inside a kernel with
ipywidgets it is a widget table; everywhere it is also static HTML and text, kept current
through ``display(..., display_id=True)`` so nbconvert and GitHub show the final table.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import WaitTimeoutError
from . import costing as _costing
from . import render
from .job_slot import WIDGET_MIME
from .runner_source import RunnerSource

if TYPE_CHECKING:
    from ..jobs import Job, JobEvent
    from ..request import VideoRequest

__all__ = ["BatchGrid"]

#: Static (HTML) updates are at most this often, except when a job ends (seconds).
STATIC_REFRESH = 0.5
PROMPT_CLIP = 70
_ENDED = ("saved", "cached", "failed", "canceled")
#: What a blocking grid says instead of offering a button that could not work.
BLOCKING_NOTE = (
    "this cell blocks the kernel until every job ends, so nothing here can be canceled; "
    "use BatchGrid.start() to be able to cancel pending jobs"
)


def _label(job: Job) -> str:
    """The status word of a job (the service status, or what the job does around it)."""
    if job.phase == "cached":
        return "CACHED"
    if job.phase == "canceled":
        return "CANCELED"
    if job.phase == "detached":
        return "DETACHED"
    if job.phase == "failed":
        if isinstance(_outcome(job)[1], WaitTimeoutError):
            return "TIMED OUT"  # the task keeps running on the service
        return job.status if job.status in ("FAILED", "CANCELED", "UNKNOWN") else "ERROR"
    if job.phase == "saved":
        return "SUCCEEDED"
    if job.phase == "downloading":
        return "DOWNLOADING"
    return job.status or job.phase.upper()


def _prompt(job: Job) -> str:
    return job.request.prompt if job.request is not None else f"(task {job.task_id})"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PROMPT_CLIP else text[: PROMPT_CLIP - 1] + "…"


def _progress(job: Job) -> float | None:
    with contextlib.suppress(Exception):
        return job.progress()
    return None


def _outcome(job: Job) -> tuple[Any, BaseException | None]:
    """``(result, error)`` of an ended job, from its last event (the event comes before the
    job's own future is set), else ``(None, None)``."""
    for event in reversed(job.events):
        if event.kind in ("saved", "cached"):
            return event.result, None
        if event.kind == "failed":
            return None, event.error
    return None, None


def _outcome_text(job: Job) -> str:
    result, exc = _outcome(job)
    if result is not None:
        return render.result_summary(result)
    if exc is not None:
        return f"{type(exc).__name__}: {exc}"
    return ""


def _ended(job: Job) -> bool:
    return job.done() or any(e.kind in ("saved", "cached", "failed") for e in job.events)


class _Row:
    """The widget row of one job."""

    def __init__(self, grid: BatchGrid, job: Job, number: int) -> None:
        import ipywidgets as w

        self.job = job
        self.number = number
        self.status = w.HTML(layout={"width": "110px"})
        self.progress = w.FloatProgress(
            min=0.0, max=1.0, description=f"#{number}", description_allow_html=False,
            tooltip=f"estimated progress of job {number}", layout={"width": "190px"},
            style={"description_width": "30px"},
        )  # fmt: skip
        self.elapsed = w.Label(layout={"width": "60px"})
        self.prompt = w.HTML(layout={"width": "300px"})
        # an Output renders through the notebook, which resolves the video's relative path
        self.result = w.Output(layout={"width": "260px"})
        self.box = w.HBox([self.status, self.progress, self.elapsed, self.prompt, self.result])
        self._shown_result = False
        self.update(full=True)

    def update(self, *, full: bool) -> None:
        job = self.job
        self.elapsed.value = f"{job.elapsed:.0f} s"
        progress = _progress(job)
        if progress is not None:
            self.progress.value = max(0.0, min(1.0, progress))
        if not full:
            return
        ended = job.phase in _ENDED
        if job.phase in ("saved", "cached"):
            self.progress.bar_style = "success"
        else:
            self.progress.bar_style = "danger" if ended else "info"
        self.status.value = render.badge_html(_label(job))
        tid = (
            f"<br><small>task <code>{render.esc(job.task_id)}</code></small>" if job.task_id else ""
        )
        self.prompt.value = (
            f'<span title="{render.esc(_prompt(job))}">{render.esc(_short(_prompt(job)))}</span>'
            + tid
        )
        result, exc = _outcome(job)
        if (result is not None or exc is not None) and not self._shown_result:
            self._shown_result = True
            if result is not None:
                html = result.video_html(width=240)
            else:
                html = render.error_box_html(exc, job.task_id)  # type: ignore[arg-type]
            text = _outcome_text(job)
            data = {"text/html": html, "text/plain": text}
            self.result.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)


class BatchGrid:
    """A live table of jobs: one row each with status, progress and the result.

    ``jobs`` are shown at once; :meth:`add` adds more (pass it as ``on_job=`` to
    :func:`wan_notebook.generate_many`). ``widgets`` forces the widget view on or off
    (default: inside a kernel with ipywidgets); ``tick`` is how often running rows update
    their elapsed time and progress estimate (seconds, 0 disables); ``cancel_button=False``
    leaves out "Cancel all pending" (for a grid whose cell blocks the kernel, see :meth:`run`).
    """

    def __init__(
        self,
        jobs: Iterable[Job] = (),
        *,
        title: str = "Wan batch",
        widgets: bool | None = None,
        tick: float = 1.0,
        cancel_button: bool = True,
    ) -> None:
        from .panel import widgets_usable

        self.title = title
        self.tick = tick
        self.jobs: list[Job] = []
        #: what the last "cancel all pending" did, in words
        self.note = ""
        self.source: RunnerSource | None = None
        self._rows: list[_Row] = []
        self._handle: Any = None
        self._last_static = 0.0
        self._ticker: asyncio.Task[None] | None = None
        self._cancel_task: asyncio.Task[Any] | None = None
        use_widgets = widgets_usable() if widgets is None else widgets
        self._w: Any = None
        if use_widgets:
            import ipywidgets as w

            cancel = w.Button(
                description="Cancel all pending", icon="stop",
                tooltip="cancel every job not running yet (queued here or PENDING on the "
                "service); running tasks finish and are billed",
                layout={"width": "auto", "min_width": "170px", "flex": "0 0 auto"},
            )  # fmt: skip
            cancel.on_click(self._on_cancel_click)
            self._w = {
                "header": w.HTML(),
                "cancel": cancel if cancel_button else None,
                "note": w.HTML(),
                "rows": w.VBox(),
            }
            head = [self._w["header"], cancel] if cancel_button else [self._w["header"]]
            self._w["box"] = w.VBox([w.HBox(head), self._w["note"], self._w["rows"]])
        for job in jobs:
            self.add(job)

    # ------------------------------------------------------------------ jobs

    def add(self, job: Job) -> None:
        """Show ``job`` as a new row and follow its events (usable as ``on_job=``)."""
        from .tracking import track_job

        self.jobs.append(job)
        track_job(job)
        row: _Row | None = None
        if self._w is not None:
            row = _Row(self, job, len(self.jobs))
            self._rows.append(row)
            self._w["rows"].children = (*self._w["rows"].children, row.box)
        job.subscribe(lambda event: self._on_event(event, row))
        self._refresh_header()
        self._publish(force=True)
        self._start_ticker(job)

    def _on_event(self, event: JobEvent, row: _Row | None) -> None:
        if row is not None:
            row.update(full=True)
        self._refresh_header()
        ended = event.kind in ("saved", "cached", "failed")
        self._publish(force=ended)
        if self.done() and self._ticker is not None:
            self._ticker.cancel()

    def counts(self) -> dict[str, int]:
        """How many jobs show each status word (``{"SUCCEEDED": 2, "RUNNING": 1}``)."""
        return dict(Counter(_label(j) for j in self.jobs))

    def done(self) -> bool:
        """True when every job has ended."""
        return all(_ended(j) for j in self.jobs)

    def outcomes(self) -> list[Any]:
        """Each job's VideoResult or exception (None while it runs), in row order."""
        out = []
        for job in self.jobs:
            result, exc = _outcome(job)
            out.append(result if exc is None else exc)
        return out

    async def wait(self) -> list[Any]:
        """Wait for every job; each job's VideoResult or exception, in row order."""
        for job in list(self.jobs):
            with contextlib.suppress(BaseException):
                await job
        return self.outcomes()

    def __await__(self) -> Generator[Any, None, list[Any]]:
        return self.wait().__await__()

    def results(self, timeout: float | None = None) -> list[Any]:
        """Sync :meth:`wait` (drives a kernel's loop the way ``Job.result`` does)."""
        for job in list(self.jobs):
            with contextlib.suppress(Exception):
                job.result(timeout)
        return self.outcomes()

    # ------------------------------------------------------------------ cancel

    async def cancel_pending(self) -> int:
        """Cancel every job that is not running yet: queued here (canceled locally, nothing
        was sent) or PENDING on the service. Running tasks go on (the service cannot stop
        them). Returns how many were canceled; :attr:`note` says it in words."""
        canceled = skipped = 0
        for job in list(self.jobs):
            if _ended(job):
                continue
            deadline = time.monotonic() + 10.0
            # a create request in flight: wait for its task id rather than orphan the task
            while job.phase == "submitting" and not job.done() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            if job.done() or job.status not in (None, "PENDING"):
                skipped += 1
                continue
            if await job.cancel():
                canceled += 1
            else:
                skipped += 1
        self.note = f"canceled {canceled} pending job(s)" + (
            f"; {skipped} already running or ended go on" if skipped else ""
        )
        if self._w is not None:
            self._w["note"].value = f"<small>{render.esc(self.note)}</small>"
        self._publish(force=True)
        return canceled

    def _on_cancel_click(self, _button: Any = None) -> None:
        live = [j for j in self.jobs if not _ended(j)]
        if not live:
            self.note = "every job has ended; nothing to cancel"
            if self._w is not None:
                self._w["note"].value = f"<small>{render.esc(self.note)}</small>"
            return
        if self._w is not None:
            self._w["note"].value = "<small>canceling…</small>"
        self._cancel_task = live[0].runner.loop.create_task(self.cancel_pending())

    # ------------------------------------------------------------------ views

    def _refresh_header(self) -> None:
        if self._w is None:
            return
        self._w["header"].value = f"<b>{render.esc(self.title)}</b> · {render.esc(self.summary())}"
        if self._w["cancel"] is not None:
            self._w["cancel"].disabled = self.done()

    def summary(self) -> str:
        """``3 jobs: 2 SUCCEEDED, 1 RUNNING``."""
        counts = ", ".join(f"{n} {label}" for label, n in sorted(self.counts().items()))
        n = len(self.jobs)
        text = f"{n} job{'s' if n != 1 else ''}" + (f": {counts}" if counts else "")
        money = _costing.grid_cost_text(self.jobs)  # issue 15: the batch's totals
        return text + (f" · {money}" if money else "")

    def html(self) -> str:
        """The grid as a static HTML table (escaped; players reference the saved files)."""
        th = "".join(
            f'<th style="text-align:left;padding:2px 6px">{h}</th>'
            for h in ("#", "status", "progress", "elapsed", "prompt", "result")
        )
        rows = []
        for i, job in enumerate(self.jobs, 1):
            progress = _progress(job)
            pct = "" if progress is None else f"{progress * 100:.0f}%"
            result, exc = _outcome(job)
            if result is not None:
                outcome = result.video_html(width=200) + (
                    f"<div><small>{render.esc(render.result_summary(result))}</small></div>"
                )
            elif exc is not None:
                outcome = render.error_box_html(exc, job.task_id)
            else:
                outcome = ""
            tid = (
                f"<br><small><code>{render.esc(job.task_id)}</code></small>" if job.task_id else ""
            )
            rows.append(
                f'<tr style="vertical-align:top"><td>{i}</td>'
                f"<td>{render.badge_html(_label(job))}</td><td>{pct}</td>"
                f"<td>{job.elapsed:.0f} s</td>"
                f'<td style="white-space:pre-wrap">{render.esc(_short(_prompt(job)))}{tid}</td>'
                f"<td>{outcome}</td></tr>"
            )
        note = f"<div><small>{render.esc(self.note)}</small></div>" if self.note else ""
        return (
            '<div class="wan-batch" style="font-family:sans-serif;font-size:13px">'
            f"<div><b>{render.esc(self.title)}</b> · {render.esc(self.summary())}</div>{note}"
            f'<table style="border-collapse:collapse"><thead><tr>{th}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )

    def text_view(self) -> str:
        """The grid as plain text, one line per job."""
        lines = [f"{self.title} · {self.summary()}"]
        for i, job in enumerate(self.jobs, 1):
            progress = _progress(job)
            pct = "" if progress is None else f" {progress * 100:3.0f}%"
            outcome = _outcome_text(job)
            lines.append(
                f"  {i:>2} {_label(job):<11}{pct} {job.elapsed:5.0f} s  {_short(_prompt(job))!r}"
                + (f"  -> {outcome}" if outcome else "")
            )
        if self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text_view()

    def _repr_html_(self) -> str:
        return self.html()

    def bundle(self) -> dict[str, Any]:
        """The mime bundle: text, HTML and (with widgets) the widget view."""
        data: dict[str, Any] = {"text/plain": self.text_view(), "text/html": self.html()}
        if self._w is not None:
            data[WIDGET_MIME] = {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self._w["box"].model_id,
            }
        return data

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return self.bundle()

    @property
    def widget(self) -> Any:
        """The widget view (None when built without widgets)."""
        return None if self._w is None else self._w["box"]

    def show(self) -> BatchGrid:
        """Display the grid once; job events then update that output in place."""
        from IPython.display import display

        self._handle = display(self.bundle(), raw=True, display_id=True)
        self._last_static = time.monotonic()
        return self

    def _publish(self, *, force: bool) -> None:
        if self._handle is None:
            return
        now = time.monotonic()
        if not force and now - self._last_static < STATIC_REFRESH:
            return
        self._last_static = now
        from .panel import _latest_parent

        with _latest_parent():
            self._handle.update(self.bundle(), raw=True)

    def _start_ticker(self, job: Job) -> None:
        if self.tick <= 0 or (self._ticker is not None and not self._ticker.done()):
            return
        with contextlib.suppress(RuntimeError):
            self._ticker = job.runner.loop.create_task(self._tick())

    async def _tick(self) -> None:
        while not self.done():
            await asyncio.sleep(self.tick)
            for row in self._rows:
                if not _ended(row.job):
                    row.update(full=False)

    # ------------------------------------------------------------------ starting jobs

    @classmethod
    def start(
        cls,
        requests: Iterable[str | Mapping[str, Any] | VideoRequest],
        *,
        output_dir: str | os.PathLike[str] | None = None,
        new: bool = False,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        poll_scale: float | None = None,
        timeout: float | None = None,
        concurrency: int | None = None,
        show: bool = True,
        title: str = "Wan batch",
        widgets: bool | None = None,
        max_cost: float | str | None = None,
        **defaults: Any,
    ) -> BatchGrid:
        """Validate every request, then start them as background jobs and return the grid.

        Items are prompts, dicts of parameters or :class:`VideoRequest` s, with ``defaults``
        for every item (as :func:`wan_notebook.generate_many`). Jobs run on the kernel's loop
        (the magic's runner and settings when the extension is loaded and no connection
        setting is given), under the per-model quota. ``show`` displays the grid.
        ``max_cost`` (and a folder budget) refuse the batch before any request.
        """
        from .. import checks
        from ..api import requests_from

        checks.flag(new, "new")
        reqs = requests_from(requests, defaults)  # all valid before any I/O
        source = RunnerSource(
            output_dir=output_dir, api_key=api_key, base_url=base_url, region=region,
            poll_scale=poll_scale, timeout=timeout, concurrency=concurrency,
        )  # fmt: skip
        magic = source.magic
        _, held = _costing.guard_job_start(  # issue 15: refused before any request
            reqs, max_cost, folder_budget=getattr(magic, "budget", None),
            region=region or getattr(magic, "region", None),
            base_url=base_url or getattr(magic, "base_url", None),
            directory=source.directory, new=new, param="max_cost",
        )  # fmt: skip
        runner = source.runner()
        grid = cls(title=title, widgets=widgets)
        grid.source = source
        if show:
            grid.show()
        for request in reqs:
            job = runner.submit(request, new=new)
            if source.magic is not None:
                source.magic.jobs.append(job)
            grid.add(job)
        _costing.release_when_done(grid.jobs, held)
        return grid

    @classmethod
    def run(
        cls,
        requests: Iterable[str | Mapping[str, Any] | VideoRequest],
        *,
        show: bool = True,
        title: str = "Wan batch",
        widgets: bool | None = None,
        return_exceptions: bool = True,
        **kwargs: Any,
    ) -> list[Any]:
        """:func:`wan_notebook.generate_many` with a live grid; returns its results (errors
        in place when ``return_exceptions``, the default). The cell blocks the kernel, which
        then cannot process a click: this grid has no cancel button (use :meth:`start` to be
        able to cancel, or Kernel > Interrupt to stop following)."""
        from ..api import generate_many

        grid = cls(title=title, widgets=widgets, cancel_button=False)
        grid.note = BLOCKING_NOTE
        if grid._w is not None:
            grid._w["note"].value = f"<small>{render.esc(BLOCKING_NOTE)}</small>"
        if show:
            grid.show()
        try:
            return generate_many(
                requests, on_job=grid.add, return_exceptions=return_exceptions, **kwargs
            )
        finally:
            grid._publish(force=True)

    async def aclose(self) -> None:
        """Close the runner :meth:`start` made (not the magic's)."""
        if self.source is not None:
            await self.source.aclose()
