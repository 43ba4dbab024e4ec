"""Poll schedule: shape, bounds, phases, scaling, learning, fleet spacing."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from wan_notebook.polling import (
    DurationLearner,
    PollConfig,
    QueryBudget,
    TaskPoller,
    sdk_intervals,
)
from wan_notebook.protocol import Task

T0 = datetime(2025, 1, 1)


def intervals(poller: TaskPoller, until: float) -> list[tuple[float, float]]:
    out, t = [], 0.0
    while t < until:
        d = poller.next_delay(t)
        out.append((t, d))
        t += d
    return out


def test_sdk_schedule():
    assert list(itertools.islice(sdk_intervals(), 11)) == [1, 1, 2, 2, 2, 4, 4, 4, 5, 5, 5]


def test_shape_sparse_early_dense_near_expected_gentle_after():
    p = TaskPoller(180.0, now=0.0, submitted_at=0.0)
    seq = intervals(p, 600)
    early = [d for t, d in seq if t < 40]
    near = [d for t, d in seq if 150 <= t <= 260]
    late = [d for t, d in seq if t > 450]
    assert all(d == 15.0 for d in early)
    assert max(near) <= 4.5 and min(near) >= 0.5
    assert all(0.5 <= d <= 15.0 for _, d in seq)
    assert late and min(late) >= min(near)


def test_running_phase_uses_scheduled_time():
    p = TaskPoller(100.0, now=0.0, submitted_at=0.0)
    p.observe(Task("t", "PENDING", submit_time=T0), 20.0)
    sched = T0 + timedelta(seconds=30)
    p.observe(Task("t", "RUNNING", submit_time=T0, scheduled_time=sched), 40.0)
    assert p.run_start == pytest.approx(30.0)
    # the next delay is long right after the start, short near start + expected run
    assert p.next_delay(45.0) > p.next_delay(125.0)


def test_run_start_clamped_into_observed_window():
    p = TaskPoller(100.0, now=0.0, submitted_at=0.0)
    p.observe(Task("t", "PENDING"), 20.0)
    bogus = Task("t", "RUNNING", submit_time=T0, scheduled_time=T0 + timedelta(hours=5))
    p.observe(bogus, 40.0)
    assert p.run_start == 40.0
    q = TaskPoller(100.0, now=0.0, submitted_at=0.0)
    q.observe(Task("t", "PENDING"), 20.0)
    q.observe(Task("t", "RUNNING"), 40.0)
    assert q.run_start == 30.0  # no server times: middle of the window


def test_time_scale_shrinks_everything():
    cfg = PollConfig(time_scale=1 / 200)
    p = TaskPoller(180.0, now=0.0, submitted_at=0.0, config=cfg)
    seq = intervals(p, 3.0)
    assert max(d for _, d in seq) <= 15.0 / 200 + 1e-9
    assert min(d for _, d in seq) >= 0.01


def test_learned_speedup_never_goes_below_real_floor():
    p = TaskPoller(180.0, now=0.0, submitted_at=0.0, factor=1 / 200)
    seq = intervals(p, 30.0)
    assert min(d for _, d in seq) >= 0.5
    assert max(d for _, d in seq) <= 15.0 / 200 + 0.5


def test_learner():
    learner = DurationLearner(weight=0.5)
    assert learner.factor("m") == 1.0
    learner.observe("m", 0.01)
    assert learner.factor("m") == pytest.approx(0.01)
    learner.observe("m", 1.0)
    assert learner.factor("m") == pytest.approx(0.1)
    learner.observe("m", float("nan"))
    learner.observe("m", -1)
    assert learner.factor("m") == pytest.approx(0.1)
    learner.observe("x", 1e-9)
    assert learner.factor("x") == pytest.approx(1e-3)


def test_observed_ratio_after_success():
    p = TaskPoller(100.0, now=0.0, submitted_at=0.0)
    p.observe(Task("t", "RUNNING"), 10.0)
    assert p.run_start == 5.0  # between the submit (0) and the first RUNNING poll (10)
    half = p.next_delay(200.0) / 2
    ratio = p.observed_run_ratio(Task("t", "SUCCEEDED"), 210.0)
    assert ratio == pytest.approx((210.0 - half - 5.0) / 100.0)
    assert p.observed_run_ratio(Task("t", "FAILED"), 210.0) is None


def test_budget_spaces_queries():
    b = QueryBudget(qps=10)
    waits = [b.reserve(0.0) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert b.reserve(10.0) == 0.0


def test_fewer_polls_than_sdk_at_no_worse_delay_for_a_typical_task():
    # one deterministic task finishing exactly as the catalog expects
    for finish in (150.0, 180.0, 220.0):
        p = TaskPoller(170.0, now=0.0, submitted_at=0.0)
        t, polls = 0.0, 0
        while t < finish:
            t += p.next_delay(t)
            polls += 1
        ours_delay = t - finish
        sdk_t, sdk_polls, it = 0.0, 1, sdk_intervals()
        while sdk_t < finish:
            sdk_t += next(it)
            sdk_polls += 1
        assert polls < sdk_polls
        assert ours_delay <= 4.5
