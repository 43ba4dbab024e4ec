"""Cost on the command line: ``--max-cost``, ``--dry-run``, ``--yes`` and ``wanvideo spend``.

Before ``wanvideo generate`` sends anything it estimates the request (:mod:`.cost`):

- ``--dry-run`` prints the estimate and sends nothing (exit 0);
- ``--max-cost X`` (or ``"5 USD"``) refuses when the estimate's high exceeds it, and the
  folder budget (``WAN_NOTEBOOK_BUDGET``) is reserved as in the Python API (:mod:`.budget`);
- above ``WAN_NOTEBOOK_CONFIRM_OVER`` (default 5, in the region's currency), or when a price
  is unknown, it asks for confirmation, but only on a terminal (stdin a tty); otherwise it
  refuses with a message naming ``--yes``, which skips the question.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from . import budget
from .cost import CostEstimate, estimate_cost, money
from .errors import ValidationError
from .store import OutputStore

__all__ = ["CONFIRM_OVER_DEFAULT", "add_cost_options", "add_spend_parser", "cmd_spend", "guard"]

CONFIRM_OVER_DEFAULT = 5.0


def add_cost_options(parser: argparse.ArgumentParser) -> None:
    """``--max-cost``, ``--dry-run`` and ``--yes`` on ``wanvideo generate``."""
    g = parser.add_argument_group("cost")
    g.add_argument(
        "--max-cost",
        default=None,
        metavar="AMOUNT",
        help="refuse unless the estimate's high is at most this: a number in the region's "
        'currency (Beijing CNY, else USD) or "5 USD" / "35 CNY"',
    )
    g.add_argument(
        "--dry-run", action="store_true", help="print the cost estimate and send nothing"
    )
    g.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="do not ask before a run estimated above WAN_NOTEBOOK_CONFIRM_OVER (default 5)",
    )


def _confirm_over(currency: str) -> float:
    text = os.environ.get("WAN_NOTEBOOK_CONFIRM_OVER", "")
    if not text:
        return CONFIRM_OVER_DEFAULT
    value = budget.parse_budget(text, currency, "WAN_NOTEBOOK_CONFIRM_OVER")
    return CONFIRM_OVER_DEFAULT if value is None else value


def _needs_confirmation(est: CostEstimate, over: float) -> bool:
    return bool(est.unknown) or est.high > over


def _ask(est: CostEstimate, over: float) -> bool:
    what = "has an unknown price" if est.unknown else f"is above {money(over, est.currency)}"
    sys.stderr.write(f"Estimated cost {est.range_text()} {what}. Generate? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


@contextlib.contextmanager
def guard(args: argparse.Namespace, requests: list[Any]) -> Iterator[bool]:
    """Estimate, print (dry run), cap, confirm and reserve; yields False when nothing is to
    be sent (a dry run, or the user said no). Raises before any request otherwise."""
    region, base_url = getattr(args, "region", None), getattr(args, "base_url", None)
    directory = getattr(args, "directory", None) or "wan_outputs"
    new = bool(getattr(args, "new", False))
    saved = budget.saved_indexes(requests, OutputStore(directory), new)  # saved: free
    if getattr(args, "dry_run", False):
        est = estimate_cost(requests, region, base_url=base_url, saved=saved)
        budget.parse_budget(args.max_cost, est.currency, "--max-cost")  # still a usage check
        print(str(est))
        yield False
        return
    est, held = budget.enforce(
        requests, args.max_cost, region=region, base_url=base_url, output_dir=directory,
        new=new, param="--max-cost",
    )  # fmt: skip
    try:
        est = est or estimate_cost(requests, region, base_url=base_url, saved=saved)
        over = _confirm_over(est.currency)
        if not getattr(args, "yes", False) and _needs_confirmation(est, over):
            if not sys.stdin.isatty():
                threshold = f"the confirmation threshold {money(over, est.currency)}"
                reason = (
                    f"includes {len(est.unknown)} request(s) of unknown price, so it may be "
                    f"above {threshold}"
                    if est.unknown
                    else f"is above {threshold}"
                )
                raise ValidationError(
                    f"estimated cost {est.range_text()} {reason} (WAN_NOTEBOOK_CONFIRM_OVER); "
                    "stdin is not a terminal, so no question was asked: pass --yes to go ahead",
                    param="--yes",
                    value=None,
                    allowed="--yes, or a run estimated at or below the threshold",
                )
            if not _ask(est, over):
                print("not generated (nothing was sent)", file=sys.stderr)
                yield False
                return
        yield True
    finally:
        budget.release(held)


def add_spend_parser(sub: Any) -> None:
    """``wanvideo spend``: what a folder spent, by day and model."""
    p = sub.add_parser("spend", help="what the videos saved in a folder cost, by day and model")
    p.add_argument("--dir", dest="directory", default=None, help="folder (default wan_outputs)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")


def cmd_spend(args: argparse.Namespace) -> int:
    """Print the folder's spend table (and totals per currency)."""
    import json

    from .store import OutputStore

    rows = OutputStore(args.directory or "wan_outputs").spend()
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("nothing spent in this folder")
        return 0
    totals: dict[str, float] = {}
    print(f"{'day':<10}  {'model':<24} {'videos':>6} {'seconds':>8} {'cost':>10}")
    for r in rows:
        amount = r["actual"] if r["actual"] is not None else r["estimate"]
        totals[r["currency"]] = totals.get(r["currency"], 0.0) + (amount or 0.0)
        print(
            f"{r['day']:<10}  {r['model']:<24} {r['videos']:>6} {r['seconds']:>8g} "
            f"{money(amount, r['currency']):>10}"
        )
    for cur, total in sorted(totals.items()):
        print(f"total {cur}: {money(total, cur)}")
    return 0
