"""Shared plumbing of the end-to-end benchmarks: the report shape, printing, small helpers.

Every benchmark exposes ``run(quick: bool) -> dict`` returning a *report*::

    {"name": "batch", "title": "...", "columns": ["figure", "ours", "baseline", "ratio"],
     "rows": [["wall time (s)", 70.1, 95.2, 0.74], ...],
     "must_be_zero": {"lost": 0, ...},      # main() exits 1 when one of these is not 0
     "notes": ["..."], "figures": {...}}    # raw numbers for BENCHMARKS.md

and ``main(argv=None) -> int`` that parses ``--quick``, prints the report and returns the exit
status. ``benchmarks/run_all.py`` imports the modules and calls ``run``/``main``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
from collections.abc import Callable, Iterator, Sequence
from typing import Any

Report = dict[str, Any]


def fmt(value: Any) -> str:
    """A table cell: floats with 3 significant digits (2 decimals below 100), ints as is."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        if abs(value) >= 1 or value == 0:
            return f"{value:.2f}"
        return f"{value:.2g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def ratio(ours: float | None, base: float | None) -> float | None:
    """ours / baseline, or None when undefined."""
    if ours is None or base is None or base == 0:
        return None
    return ours / base


def render(report: Report) -> str:
    """The report as a plain-text table plus its checks and notes."""
    cols: Sequence[str] = report["columns"]
    rows = [[fmt(c) for c in row] for row in report["rows"]]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) for i, h in enumerate(cols)]
    lines = [report["title"], ""]
    header = "  ".join(
        (h.ljust(w) if i == 0 else h.rjust(w))
        for i, (h, w) in enumerate(zip(cols, widths, strict=True))
    )
    lines += [header, "-" * len(header)]
    for r in rows:
        lines.append(
            "  ".join(
                (c.ljust(w) if i == 0 else c.rjust(w))
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    zero = report.get("must_be_zero", {})
    if zero:
        lines.append("")
        lines.append(
            "must be 0: "
            + ", ".join(f"{k} = {v}" + ("" if v == 0 else "  <-- FAIL") for k, v in zero.items())
        )
    for note in report.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)


def failed_checks(report: Report) -> list[str]:
    """Names of must-be-zero figures that are not zero."""
    return [k for k, v in report.get("must_be_zero", {}).items() if v != 0]


def main_for(run: Callable[[bool], Report], doc: str, argv: Sequence[str] | None) -> int:
    """The shared ``main``: ``--quick``, print, exit 1 if a must-be-zero figure is not 0."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args(argv)
    report = run(args.quick)
    print(render(report), flush=True)
    bad = failed_checks(report)
    if bad:
        print(f"FAILED: {', '.join(bad)} not zero", flush=True)
        return 1
    return 0


@contextlib.contextmanager
def env(**values: str | None) -> Iterator[None]:
    """Set (or with None, remove) environment variables for the duration of a block."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def mean(values: Sequence[float]) -> float | None:
    """Arithmetic mean, None for no values."""
    return statistics.fmean(values) if values else None


def status_requests(stats: dict[str, Any]) -> int:
    """Requests that only ask about task status: query + list."""
    return int(stats["requests"]["query"] + stats["requests"]["list"])


def total_requests(stats: dict[str, Any]) -> int:
    """Every request the emulator counted except its admin endpoints."""
    return int(sum(v for k, v in stats["requests"].items() if k != "admin"))
