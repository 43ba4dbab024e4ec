"""``SweepView``: a live view of a sweep in a notebook: counts by state, pace, ETA, the
latest results, and a grid of cells only when the sweep is small.

It stays responsive at any size: each refresh is one aggregate query on the manifest (counts
by state) and a fixed-size HTML (the grid only up to ``grid_limit`` cells), and refreshes are
throttled to one per ``every`` seconds however fast cells end; a timer draws the last changes.
Counts come from the manifest, so work done by another process on the same sweep shows too.
Inside a kernel with ipywidgets it is an ``HTML`` widget; elsewhere the same HTML is its
``_repr_html_`` (nbconvert and GitHub show the state at the time it was displayed).
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["SweepView"]

#: The colour of each cell state (the grid and the bar).
COLOURS = {
    "done": "#2e7d32",
    "running": "#1565c0",
    "pending": "#bdbdbd",
    "failed": "#c62828",
    "canceled": "#757575",
}
LATEST = 8


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class SweepView:
    """Live counts, pace, ETA and latest results of a :class:`~wan_notebook.sweeps.Sweep`.

    ``every``: the shortest time between two refreshes (seconds). ``grid_limit``: the largest
    sweep drawn as a grid of cells. ``clock``: for tests.
    """

    def __init__(
        self,
        sweep: Any,
        *,
        every: float = 0.5,
        grid_limit: int = 120,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sweep = sweep
        self.every = every
        self.grid_limit = grid_limit
        self.refreshes = 0
        self._clock = clock
        self._last = float("-inf")
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._widget: Any = None
        self.html = self.render()
        sweep.subscribe(self.on_outcome)

    # ------------------------------------------------------------------ updates

    def on_outcome(self, _outcome: Any = None) -> None:
        """A cell ended: refresh now if the last refresh is old enough, else once later."""
        with self._lock:
            wait = self._last + self.every - self._clock()
            if wait > 0:
                if self._timer is None:
                    self._timer = threading.Timer(wait, self._timed)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self.refresh()

    def _timed(self) -> None:
        with self._lock:
            self._timer = None
        self.refresh()

    def refresh(self) -> None:
        """Render the current state (and push it to the widget, if shown)."""
        with self._lock:
            self._last = self._clock()
            self.refreshes += 1
        self.html = self.render()
        if self._widget is not None:
            self._widget.value = self.html

    def close(self) -> None:
        """Stop the pending timer (the sweep keeps running)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    # ------------------------------------------------------------------ rendering

    def render(self) -> str:
        """The view as HTML (fixed size beyond ``grid_limit`` cells)."""
        status = self.sweep.status()
        total = max(status.total, 1)
        bar = "".join(
            f'<div title="{state}: {n}" style="background:{COLOURS[state]};'
            f'width:{100 * n / total:.3f}%"></div>'
            for state, n in status.counts.items()
            if n and state in COLOURS
        )
        counts = " · ".join(
            f'<span style="color:{COLOURS.get(k, "#000")}">{k} {n:,}</span>'
            for k, n in status.counts.items()
            if n
        )
        pace = ""
        if status.throughput is not None:
            pace = f" · {status.throughput:.2f} cells/s · ETA {_eta(status.eta)}"
        parts = [
            '<div class="wan-sweep-view" style="font-family:sans-serif;font-size:13px">',
            f"<b>sweep {html.escape(self.sweep.id)}</b>: {status.done:,}/{status.total:,} "
            f"done · {counts}{pace}",
            '<div style="display:flex;height:10px;margin:4px 0;background:#eee">' + bar + "</div>",
        ]
        if status.total <= self.grid_limit:
            parts.append(self._grid())
        parts.append(self._latest(status.recent))
        parts.append("</div>")
        return "".join(parts)

    def _grid(self) -> str:
        states = self.sweep.manifest.states()
        cells = []
        for cell in self.sweep.cells:
            state = states.get(cell.index, "pending")
            tip = html.escape(f"cell {cell.index}: {cell.request.prompt[:60]} · {state}", True)
            cells.append(
                f'<div title="{tip}" style="width:12px;height:12px;margin:1px;'
                f'background:{COLOURS.get(state, "#000")}"></div>'
            )
        return (
            '<div style="display:flex;flex-wrap:wrap;max-width:640px">' + "".join(cells) + "</div>"
        )

    def _latest(self, recent: Any) -> str:
        if not recent:
            return ""
        rows = []
        for outcome in list(recent)[-LATEST:][::-1]:
            req = self.sweep.cells[outcome.index].request
            what = outcome.error_code or ("cached" if outcome.cached else "saved")
            rows.append(
                f"<tr><td>{outcome.index}</td><td>{html.escape(req.prompt[:60])}</td>"
                f"<td>{req.seed if req.seed is not None else ''}</td>"
                f"<td>{html.escape(req.model)}</td>"
                f'<td style="color:{COLOURS.get(outcome.state, "#000")}">'
                f"{html.escape(outcome.state)} ({html.escape(what)})</td></tr>"
            )
        return (
            '<table style="margin-top:4px"><tr><th>cell</th><th>prompt</th><th>seed</th>'
            "<th>model</th><th>latest</th></tr>" + "".join(rows) + "</table>"
        )

    # ------------------------------------------------------------------ display

    def widget(self) -> Any:
        """The ipywidgets ``HTML`` this view keeps current."""
        if self._widget is None:
            import ipywidgets as w

            self._widget = w.HTML(self.html)
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import HTML, display

        from .panel import widgets_usable

        if widgets_usable():
            display(self.widget())
        else:
            display(HTML(self.html))

    def _repr_html_(self) -> str:
        return self.html
