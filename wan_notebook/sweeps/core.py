"""``sweep()`` and :class:`Sweep`: a journaled, resumable product of requests.

A sweep is the product prompts x seeds x models x params (x repeat); each cell is one
:class:`~wan_notebook.request.VideoRequest`. All cells are validated when the sweep is made
(one report of every invalid cell); the cells are journaled in the outputs folder's
``sweeps.sqlite`` (:mod:`.manifest`) under an id that is a hash of the cells, so the same call
in a new kernel, after a crash, or from ``wanvideo sweep`` resumes the same sweep. Saved
videos are never asked for again (the store answers them), and a request another process is
working on is followed, not paid twice (the store's claims).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import budget, checks
from ..api import check_call
from ..cost import CostEstimate, estimate_cost
from ..jobs import Runner
from ..loops import run_sync
from ..store import OutputStore
from .cells import Cell, build_cells
from .execute import CellOutcome, execute
from .manifest import STATES, Manifest, sweep_id
from .pacing import PacedClient

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Sweep", "SweepStatus", "sweep"]

log = logging.getLogger("wan_notebook")

#: How many latest outcomes :meth:`Sweep.status` keeps (the live view shows them).
RECENT = 12


@dataclass(frozen=True)
class SweepStatus:
    """Counts by state (from the manifest: every process's work), and this process's pace."""

    total: int
    counts: dict[str, int]
    #: cells this process finished in the current run, and over how many seconds
    finished_here: int = 0
    elapsed: float = 0.0
    running_here: bool = False
    recent: tuple[CellOutcome, ...] = field(default=(), repr=False)

    @property
    def done(self) -> int:
        """Cells with a saved video."""
        return self.counts.get("done", 0)

    @property
    def remaining(self) -> int:
        """Cells still pending or running."""
        return self.counts.get("pending", 0) + self.counts.get("running", 0)

    @property
    def throughput(self) -> float | None:
        """Cells per second finished by this process (None before the first)."""
        if self.finished_here == 0 or self.elapsed <= 0:
            return None
        return self.finished_here / self.elapsed

    @property
    def eta(self) -> float | None:
        """Seconds to the end at the current pace (None when unknown)."""
        rate = self.throughput
        return None if rate is None else self.remaining / rate


class Sweep:
    """A sweep of cells over one outputs folder; see :func:`sweep`."""

    def __init__(
        self,
        cells: list[Cell],
        *,
        output_dir: str | os.PathLike[str],
        concurrency: int | None,
        connection: Mapping[str, Any],
        spec: Mapping[str, Any],
        max_cost: float | str | None = None,
    ) -> None:
        self.cells = cells
        self.output_dir = Path(output_dir)
        self.concurrency = concurrency
        self.id = sweep_id(cells)
        self.manifest = Manifest(self.output_dir, self.id)
        self._connection = dict(connection)  # api_key stays here: never in repr or manifest
        self._spec = dict(spec)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._recent: deque[CellOutcome] = deque(maxlen=RECENT)
        self._finished_here = 0
        self._t0: float | None = None
        self._t_end: float | None = None
        self._running = False
        self._error: BaseException | None = None
        self._listeners: list[Any] = []
        self._held: Any = None  # a folder-budget reservation while running (issue 15)
        self.max_cost = max_cost
        if max_cost is not None:  # a bad budget is refused now, not at run time
            budget.parse_budget(max_cost, self.estimate(all_cells=True).currency)
        self.manifest.ensure(cells, self._spec)

    def __len__(self) -> int:
        return len(self.cells)

    def __repr__(self) -> str:
        s = self.status()
        counts = ", ".join(f"{k}={v}" for k, v in s.counts.items() if v)
        return f"<Sweep {self.id} cells={s.total} {counts} output_dir={str(self.output_dir)!r}>"

    # ------------------------------------------------------------------ cost

    def estimate(self, *, all_cells: bool = False) -> CostEstimate:
        """What the cells not saved yet will cost (``all_cells``: as if nothing were saved).

        Videos the folder already holds cost nothing; see :func:`wan_notebook.estimate_cost`.
        """
        requests = [c.request for c in self.cells]
        saved: set[int] = set()
        if not all_cells:
            saved = budget.saved_indexes(requests, OutputStore(self.output_dir))
        c = self._connection
        return estimate_cost(requests, c.get("region"), base_url=c.get("base_url"), saved=saved)

    # ------------------------------------------------------------------ running

    def _check_before_run(self, todo: list[Cell]) -> None:
        """Checks on the cells about to run, before the first request (budgets go here).

        The outputs folder must be writable, and the cells to run must fit ``max_cost`` and
        the folder budget (``WAN_NOTEBOOK_BUDGET``; the reservation is held until the run
        ends). Nothing is sent before this returns.
        """
        if todo and OutputStore(self.output_dir).read_only:
            raise checks.fail(
                "output_dir", str(self.output_dir), "is read-only: no video could be saved",
                "a folder this process can write",
            )  # fmt: skip
        if todo:
            c = self._connection
            _, self._held = budget.enforce(
                [cell.request for cell in todo], self.max_cost, region=c.get("region"),
                base_url=c.get("base_url"), output_dir=self.output_dir, new=False,
            )  # fmt: skip

    def _todo(self, retry_failed: bool) -> list[Cell]:
        reopen = ["canceled", *(["failed"] if retry_failed else [])]
        self.manifest.reopen(reopen)
        states = self.manifest.states()
        return [c for c in self.cells if states.get(c.index) in ("pending", "running")]

    async def arun(self, *, retry_failed: bool = False) -> SweepStatus:
        """Run every cell not done yet (resuming a journaled sweep); returns the status.

        Cells that failed before are left alone unless ``retry_failed``; canceled cells are
        taken up again. Errors of single cells are journaled, not raised.
        """
        checks.flag(retry_failed, "retry_failed")
        self._stop.clear()
        todo = self._todo(retry_failed)
        self._check_before_run(todo)
        with self._lock:
            self._running, self._t0, self._t_end = True, time.monotonic(), None
            self._finished_here = 0
        try:
            if todo:
                runner = self._runner()
                try:
                    await execute(
                        runner, self.manifest, todo, stop=self._stop, on_outcome=self._outcome
                    )
                finally:
                    await runner.aclose()
        finally:
            budget.release(self._held)
            self._held = None
            with self._lock:
                self._running, self._t_end = False, time.monotonic()
            if self._stop.is_set():
                self.manifest.cancel_pending(c.index for c in self.cells)
        return self.status()

    def _runner(self) -> Runner:
        """A runner on this loop whose client keeps to the submit rate (:mod:`.pacing`)."""
        c = self._connection
        client = PacedClient(c.get("api_key"), base_url=c.get("base_url"), region=c.get("region"))
        return Runner(
            store=OutputStore(self.output_dir), client=client, timeout=c.get("timeout"),
            concurrency=self.concurrency,
        )  # fmt: skip

    def run(self, *, retry_failed: bool = False) -> SweepStatus:
        """Synchronous :meth:`arun`; also works inside a running notebook kernel."""
        return run_sync(lambda: self.arun(retry_failed=retry_failed))

    def start(self, *, retry_failed: bool = False) -> Sweep:
        """Run in a background thread (its own event loop) and return at once."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError(f"sweep {self.id} is already running in the background")
        self._error = None

        def main() -> None:
            try:
                asyncio.run(self.arun(retry_failed=retry_failed))
            except BaseException as exc:  # kept for wait(): a thread cannot raise to the caller
                self._error = exc

        self._thread = threading.Thread(target=main, name=f"wan-sweep-{self.id}", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> SweepStatus:
        """Wait for a background run (:meth:`start`) to end; re-raises its error."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"sweep {self.id} is still running after {timeout} s")
        if self._error is not None:
            raise self._error
        return self.status()

    def cancel(self) -> int:
        """Stop taking up cells; those not started yet become ``canceled`` (a later run takes
        them up again). Cells already running finish (the service bills started tasks).
        Returns how many cells were canceled."""
        self._stop.set()
        return self.manifest.cancel_pending(c.index for c in self.cells)

    def _outcome(self, outcome: CellOutcome) -> None:
        with self._lock:
            self._recent.append(outcome)
            self._finished_here += 1
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(outcome)
            except Exception:  # a broken view never breaks the sweep
                log.exception("sweep listener failed")

    def subscribe(self, listener: Any) -> None:
        """Call ``listener(outcome)`` (from the sweep's loop thread) as each cell ends."""
        with self._lock:
            self._listeners.append(listener)

    # ------------------------------------------------------------------ views

    def status(self) -> SweepStatus:
        """Counts by state over every process working on this sweep, and this one's pace."""
        counts = Counter({s: 0 for s in STATES})
        counts.update(self.manifest.counts())
        with self._lock:
            end = self._t_end if self._t_end is not None else time.monotonic()
            elapsed = end - self._t0 if self._t0 is not None else 0.0
            return SweepStatus(
                total=len(self.cells), counts=dict(counts), finished_here=self._finished_here,
                elapsed=elapsed, running_here=self._running, recent=tuple(self._recent),
            )  # fmt: skip

    def results(self) -> pd.DataFrame:
        """One row per cell: request, task, files, timings (see :mod:`.table`)."""
        from .table import results_frame

        return results_frame(self.manifest, self.output_dir, self._connection.get("region"))

    def export(self, path: str | os.PathLike[str], format: str | None = None) -> Path:
        """Write the results as ``parquet``, ``csv``, ``videofolder`` or ``vbench`` (see
        :mod:`.export`); the format defaults from the suffix (a folder: ``videofolder``)."""
        from .export import export

        return export(self.results(), path, format)


def sweep(
    prompts: Any,
    *,
    seeds: Any = None,
    models: Any = None,
    params: Mapping[str, Any] | None = None,
    repeat: int = 1,
    output_dir: str | os.PathLike[str] = "wan_outputs",
    concurrency: int | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    region: str | None = None,
    timeout: float | None = None,
    max_cost: float | str | None = None,
) -> Sweep:
    """A sweep of ``prompts`` x ``seeds`` x ``models`` x ``params`` (x ``repeat``).

    ``prompts``: a list, a ``.txt`` file (one per line), a ``.csv``/``.jsonl`` file or a
    pandas DataFrame with a ``prompt`` column (other columns are kept as metadata).
    ``seeds``/``models``: lists (None: the service's random seed / the default model).
    ``params``: a dict of :func:`~wan_notebook.generate` parameters to lists of values.
    ``repeat``: videos per cell; without ``seeds`` each repeat gets a fixed seed of its own.
    Everything is validated here, before any request; nothing runs until :meth:`Sweep.run`,
    :meth:`Sweep.arun` or :meth:`Sweep.start`. The same call later resumes the same sweep.
    ``max_cost`` (a number in the region's currency, or ``"20 USD"``): a run is refused
    before any request when the estimate of its cells still to make exceeds it
    (:class:`~wan_notebook.errors.BudgetExceededError`); :meth:`Sweep.estimate` tells it first.
    """
    check_call(
        output_dir=output_dir, api_key=api_key, base_url=base_url, region=region,
        timeout=timeout, concurrency=concurrency,
    )  # fmt: skip
    cells = build_cells(prompts, seeds=seeds, models=models, params=params, repeat=repeat)
    spec = {
        "seeds": list(seeds) if isinstance(seeds, (range, list, tuple)) else seeds,
        "models": models,
        "params": dict(params or {}),
        "repeat": repeat,
    }
    connection = {"api_key": api_key, "base_url": base_url, "region": region, "timeout": timeout}
    return Sweep(
        cells, output_dir=output_dir, concurrency=concurrency, connection=connection, spec=spec,
        max_cost=max_cost,
    )  # fmt: skip
