"""Poll schedules on a virtual clock: polls per task and detection delay.

Simulates 10,000 tasks and, for each, runs three schedules against the same drawn durations:
ours (:class:`wan_notebook.polling.TaskPoller`), the official SDK's (first poll immediately,
then 1, 1, 2, 2, 2, 4, 4, 4, 5, 5, ... s) and a fixed 15 s interval (the docs' advice).
Detection delay = time of the first poll that sees the task finished - the finish time.

The draw (documented here, shaped like the emulator's): model uniformly from the catalog,
``size`` and ``duration`` uniformly from what that model allows; queue time ~ lognormal
(median 10 s, sigma 0.7); run time ~ ``expected_seconds(size, duration)`` x lognormal
(median 1, sigma 0.3). A second scenario draws run times 1.6x slower than the catalog says
(a mis-calibrated catalog) to show how the schedule degrades. No learning is used here (each
task starts from the catalog), so the numbers are what a fresh client gets.

Run: ``python benchmarks/polling.py [--tasks N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from collections.abc import Callable
from datetime import datetime, timedelta

from wan_notebook import catalog
from wan_notebook.polling import TaskPoller, sdk_intervals
from wan_notebook.protocol import Task

EPOCH = datetime(2025, 1, 1)


def draw(rng: random.Random, slowdown: float) -> tuple[float, float, float]:
    """(expected run from the catalog, queue, run) for one task."""
    model = rng.choice(list(catalog.MODELS.values()))
    size = rng.choice(model.sizes)
    duration = rng.choice(model.durations)
    expected = model.expected_seconds(size, duration)
    queue = 10.0 * math.exp(rng.gauss(0.0, 0.7))
    run = expected * slowdown * math.exp(rng.gauss(0.0, 0.3))
    return expected, queue, run


def status_at(t: float, queue: float, run: float) -> Task:
    """The task as a poll at time t would see it (server times included)."""
    submit = EPOCH
    if t < queue:
        return Task("t", "PENDING", submit_time=submit)
    sched = EPOCH + timedelta(seconds=queue)
    if t < queue + run:
        return Task("t", "RUNNING", submit_time=submit, scheduled_time=sched)
    end = sched + timedelta(seconds=run)
    return Task("t", "SUCCEEDED", submit_time=submit, scheduled_time=sched, end_time=end)


def ours(expected: float, queue: float, run: float) -> tuple[int, float]:
    poller = TaskPoller(expected, now=0.0, submitted_at=0.0)
    t, polls = 0.0, 0
    while True:
        t += poller.next_delay(t)
        polls += 1
        task = status_at(t, queue, run)
        if task.is_terminal:
            return polls, t - (queue + run)
        poller.observe(task, t)


def from_intervals(first: float, intervals: Callable[[], object]) -> Callable[..., tuple]:
    def schedule(expected: float, queue: float, run: float) -> tuple[int, float]:
        t, polls, it = first, 1, iter(intervals())  # type: ignore[call-overload]
        while t < queue + run:
            t += next(it)
            polls += 1
        return polls, t - (queue + run)

    return schedule


def fixed(interval: float) -> Callable[[], object]:
    def gen():
        while True:
            yield interval

    return gen


SCHEDULES = {
    "ours": ours,
    "sdk (1,1,2,2,2,4,4,4,5..)": from_intervals(0.0, sdk_intervals),
    "fixed 15 s": from_intervals(15.0, fixed(15.0)),
}


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[94]


def run_scenario(n: int, seed: int, slowdown: float) -> None:
    rng = random.Random(seed)
    tasks = [draw(rng, slowdown) for _ in range(n)]
    mean_total = statistics.fmean(q + r for _, q, r in tasks)
    print(f"\n{n} tasks, run time = catalog x {slowdown:g}; mean submit->finish {mean_total:.0f} s")
    print(f"{'schedule':<28}{'polls/task':>11}{'delay mean':>12}{'delay p95':>11}{'max':>8}")
    for name, fn in SCHEDULES.items():
        polls, delays = [], []
        for expected, queue, run in tasks:
            p, d = fn(expected, queue, run)
            polls.append(p)
            delays.append(d)
        print(
            f"{name:<28}{statistics.fmean(polls):>11.1f}{statistics.fmean(delays):>11.2f}s"
            f"{p95(delays):>10.2f}s{max(delays):>7.1f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for slowdown in (1.0, 1.6):
        run_scenario(args.tasks, args.seed, slowdown)


if __name__ == "__main__":
    main()
