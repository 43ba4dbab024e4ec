"""Budgets that hold: a per-call ``max_cost`` and a folder budget, both checked before sending.

How a budget carries its currency: a plain number is in the currency of the region the
requests go to (Beijing CNY, elsewhere USD); a string may name it: ``"5 USD"``, ``"USD 5"``,
``"$5"``, ``"35 CNY"``, ``"¥35"``. A budget in the other currency is an error, never a
conversion. Negative, NaN, infinite, boolean and non-numeric budgets are refused
(:class:`~wan_notebook.errors.ValidationError` naming the parameter).

A call is refused with :class:`~wan_notebook.errors.BudgetExceededError` when its estimate's
``high`` exceeds the cap, or when a price is unknown (no cap can hold then). Requests already
saved in the folder cost nothing.

The folder budget (``WAN_NOTEBOOK_BUDGET``, ``%config WanVideoMagic.budget``, or
``folder_budget=``) caps what the folder has spent (:mod:`wan_notebook.store.spending`: actual
costs of saved tasks) plus what is in flight (reservations of running calls, in the same
SQLite index, taken in one ``BEGIN IMMEDIATE`` transaction, so two processes cannot both
spend the last dollar).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable
from typing import Any

from . import checks
from .cost import CostEstimate, estimate_cost, money
from .errors import BudgetExceededError
from .store import OutputStore, spending

__all__ = [
    "check_budget",
    "enforce",
    "folder_budget_from_env",
    "parse_budget",
    "release",
    "saved_indexes",
]

#: Give a folder-budget reservation back when a call ends.
release = spending.release

_CURRENCY_WORDS = {"usd": "USD", "$": "USD", "us$": "USD", "cny": "CNY", "rmb": "CNY",
                   "¥": "CNY", "yuan": "CNY", "元": "CNY"}  # fmt: skip
_TEXT = re.compile(r"^\s*(?P<pre>[A-Za-z$¥]+\$?)?\s*(?P<num>[-+]?[0-9.]+(?:e[-+]?\d+)?)\s*"
                   r"(?P<post>[A-Za-z¥元]+)?\s*$", re.IGNORECASE)  # fmt: skip
_ALLOWED = 'a number >= 0 in the region\'s currency, or "5 USD" / "35 CNY" / "$5" / "¥35"'


def parse_budget(value: Any, currency: str, param: str = "max_cost") -> float | None:
    """The cap as a number in ``currency`` (None: no cap). See the module docstring."""
    if value is None:
        return None
    named: str | None = None
    if isinstance(value, str):
        m = _TEXT.match(value)
        if m is None:
            raise checks.fail(param, value, "is not an amount", _ALLOWED)
        words = [w for w in (m.group("pre"), m.group("post")) if w]
        if len(words) > 1:
            raise checks.fail(param, value, "names two currencies", _ALLOWED)
        if words:
            named = _CURRENCY_WORDS.get(words[0].lower())
            if named is None:
                raise checks.fail(param, value, f"has an unknown currency {words[0]!r}", _ALLOWED)
        try:
            amount = float(m.group("num"))
        except ValueError:
            raise checks.fail(param, value, "is not an amount", _ALLOWED) from None
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise checks.type_error(param, value, _ALLOWED)
    else:
        amount = float(value)
    if math.isnan(amount) or math.isinf(amount):
        raise checks.fail(param, value, "is not a finite amount", _ALLOWED)
    if amount < 0:
        raise checks.fail(param, value, "is negative", _ALLOWED)
    if named is not None and named != currency:
        raise checks.fail(
            param, value, f"is in {named}, but these requests are billed in {currency}",
            f"give the budget in {currency} (no conversion is made)",
        )  # fmt: skip
    return amount


def check_budget(estimate: CostEstimate, cap: float, what: str = "max_cost") -> None:
    """Raise :class:`BudgetExceededError` unless ``estimate`` surely stays within ``cap``."""
    cur = estimate.currency
    if estimate.unknown:
        models = sorted({m for _, m, _ in estimate.unknown})
        raise BudgetExceededError(
            f"{what} {money(cap, cur)} cannot be checked: no price is known for "
            f"{', '.join(models)} in {estimate.region}; add one with "
            "wan_notebook.catalog.pricing.set_price(...) or WAN_NOTEBOOK_PRICES=prices.json. "
            "Nothing was sent.",
            estimate=estimate, cap=cap, currency=cur,
        )  # fmt: skip
    if estimate.high > cap + 1e-9:
        raise BudgetExceededError(
            f"estimated cost {estimate.range_text()} (high {money(estimate.high, cur)}) "
            f"exceeds {what} {money(cap, cur)}; nothing was sent. Lower the resolution or "
            f"duration, send fewer requests, or raise {what}.",
            estimate=estimate, cap=cap, currency=cur,
        )  # fmt: skip


def folder_budget_from_env() -> str | None:
    """``WAN_NOTEBOOK_BUDGET`` (unset or empty: no folder budget)."""
    return os.environ.get("WAN_NOTEBOOK_BUDGET") or None


def enforce(
    requests: Iterable[Any], max_cost: Any, *, region: str | None, base_url: str | None,
    output_dir: Any, new: bool, folder_budget: Any = None, param: str = "max_cost",
    folder_param: str = "folder_budget",
) -> tuple[CostEstimate | None, Any]:  # fmt: skip
    """Check the per-call cap and reserve against the folder budget, before any request.

    Returns ``(estimate, reservation)``; the reservation (None without a folder budget) must
    be released with :func:`release` when the call ends.
    """
    folder = folder_budget if folder_budget is not None else folder_budget_from_env()
    if max_cost is None and folder is None:
        return None, None
    reqs = list(requests)
    store = OutputStore(output_dir)
    est = estimate_cost(reqs, region, base_url=base_url, saved=saved_indexes(reqs, store, new))
    cap = parse_budget(max_cost, est.currency, param)
    if cap is not None:
        check_budget(est, cap, param)
    if folder is None:
        return est, None
    where = folder_param if folder_budget is not None else "WAN_NOTEBOOK_BUDGET"
    fcap = parse_budget(folder, est.currency, where)
    assert fcap is not None
    return est, spending.reserve(store, est, fcap, where)


def saved_indexes(requests: list[Any], store: OutputStore, new: bool = False) -> set[int]:
    """Indexes of the requests whose video the folder already holds or is making (free)."""
    return set() if new else {i for i, r in enumerate(requests) if _is_saved(store, r)}


def _is_saved(store: OutputStore, request: Any) -> bool:
    """The folder already holds (or is making) this request's video: it costs nothing."""
    if not hasattr(request, "digest"):
        return False
    return store.lookup(request).kind in ("saved", "redownload", "in_flight")
