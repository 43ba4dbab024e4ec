"""Cost in the notebook: the magic's ``--max-cost`` / folder budget, and the panel's cost line.

The checks are :mod:`wan_notebook.budget`'s (refused before any request); a folder-budget
reservation is released when the job ends. The panel shows ``est. $0.50`` while the task runs
and ``est. $0.50 -> $0.50`` (estimate -> actual, from the sidecar's ``cost``) once saved.
"""

from __future__ import annotations

from typing import Any

from .. import budget
from ..cost import CostEstimate, estimate_cost, money, region_for_estimate, total_cost
from ..errors import ValidationError

__all__ = [
    "check_cell",
    "cost_label",
    "estimate",
    "estimate_label",
    "grid_cost_text",
    "guard_job_start",
    "release_when_done",
]


def estimate_label(est: CostEstimate | None) -> str:
    """``est. $0.50`` (a range when the estimate is one; ``est. ?`` for an unknown price)."""
    if est is None:
        return ""
    if est.unknown:
        return "est. ? (price unknown)"
    return "est. " + est.range_text()


def cost_label(state: Any) -> str:
    """The panel's cost text for its current state: only on panels that showed an estimate
    (the magic's, the form's), so a result's own view stays as it was."""
    if not getattr(state, "cost", ""):
        return ""
    result = getattr(state, "result", None)
    if result is not None:
        if getattr(result, "cached", False):
            return "saved before: no new cost"
        cost = (getattr(result, "metadata", None) or {}).get("cost") or {}
        if cost:
            cur = cost.get("currency", "")
            est = money(cost.get("estimate"), cur)
            return f"est. {est} -> {money(cost.get('actual'), cur)}"
    return str(state.cost)


def guard_job_start(
    requests: list[Any], max_cost: Any, *, folder_budget: Any, region: str | None,
    base_url: str | None, directory: Any, new: bool, param: str = "--max-cost",
    folder_param: str = "folder_budget",
) -> tuple[CostEstimate | None, Any]:  # fmt: skip
    """Check ``max_cost`` and reserve the folder budget before anything is sent; returns the
    estimate (None when no budget applies) and the reservation to release later."""
    return budget.enforce(
        requests, max_cost, region=region, base_url=base_url, output_dir=directory, new=new,
        folder_budget=folder_budget or None, param=param, folder_param=folder_param,
    )  # fmt: skip


def estimate(requests: Any, region: str | None, base_url: str | None) -> CostEstimate | None:
    """The estimate of a request or a list of them for a view (None when the region cannot be
    resolved)."""
    try:
        return estimate_cost(requests, region, base_url=base_url)
    except Exception:  # a view: an unusable region is reported by the run itself
        return None


def check_cell(magic: Any, request: Any, args: Any) -> tuple[CostEstimate | None, Any]:
    """A ``%%wanvideo`` cell's ``--max-cost`` and folder budget (``%config
    WanVideoMagic.budget``); a bad amount is a one-line UsageError. Returns the estimate for
    the panel and the reservation."""
    from IPython.core.error import UsageError

    _, base_url, region, _ = magic._settings()
    try:
        est, held = guard_job_start(
            [request], args.max_cost, folder_budget=magic.budget, region=region,
            base_url=base_url, directory=args.directory or magic.directory, new=args.new,
            folder_param="%config WanVideoMagic.budget",
        )  # fmt: skip
    except ValidationError as exc:
        raise UsageError(str(exc).replace("\n", " ")) from None
    return est or estimate([request], region, base_url), held


def release_when_done(jobs: list[Any], held: Any) -> None:
    """Release a folder-budget reservation once every job of ``jobs`` has ended."""
    if held is None:
        return
    pending = {id(j) for j in jobs}

    def done(job: Any) -> None:
        pending.discard(id(job))
        if not pending:
            budget.release(held)

    for job in jobs:
        job.add_done_callback(done)


def grid_cost_text(jobs: list[Any]) -> str:
    """``est. $0.75 · spent $0.50 (est. $0.50)`` for a batch: the estimate of every job's
    request (cached ones included at their price) and what the finished ones cost."""
    requests = [j.request for j in jobs if getattr(j, "request", None) is not None]
    if not requests:
        return ""
    store = getattr(getattr(jobs[0], "runner", None), "store", None)
    est = estimate(requests, getattr(store, "price_region", None), None)
    results = [j._future.result() for j in jobs if j.done() and j.exception() is None]
    spent = total_cost(results).short()
    return " · ".join(x for x in (estimate_label(est), spent) if x)


def price_region(region: str | None, client: Any) -> str | None:
    """The region a runner's saved videos are priced in: the given one, else the one its
    client's base URL points at (None: ``DASHSCOPE_REGION`` / the default decides)."""
    try:
        return region_for_estimate(region, getattr(client, "base_url", None))
    except Exception:  # the client reports an unusable region itself
        return None
