"""Run every benchmark and write BENCHMARKS.md: one section per benchmark, each with our figure,
the baseline measured in the same run, and the ratio.

    python benchmarks/run_all.py            # full runs (about 10-12 minutes on 2 cores)
    python benchmarks/run_all.py --quick    # short runs (about 2 minutes)

The end-to-end benchmarks (batch, rerun, download, chaos, crash) return structured reports
that become Markdown tables; the others print their own side-by-side tables, which are kept
verbatim. The exit status is 1 when a benchmark fails or a must-be-zero figure is not zero.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _common import fmt  # noqa: E402

#: benchmarks with run(quick) -> report, in the order of the issues they prove
STRUCTURED = ("batch", "rerun", "download", "chaos", "crash", "inputs", "estimate", "sweep")
#: benchmarks that print their own table: (script, arguments for a full run, for a quick run)
PRINTED = (
    ("polling", [], ["--tasks", "2000"]),
    ("emulator", [], ["--repeats", "1", "--requests", "10"]),
    ("render", [], ["--repeat", "1"]),
    ("store_lookup", [], []),
    ("notebook", [], []),
)


def markdown_table(report: dict[str, Any]) -> list[str]:
    cols = report["columns"]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in report["rows"]:
        out.append("| " + " | ".join(fmt(c) for c in row) + " |")
    zero = report.get("must_be_zero") or {}
    if zero:
        out += ["", "Must be zero: " + ", ".join(f"{k} **{v}**" for k, v in zero.items()) + "."]
    for note in report.get("notes", []):
        out.append(f"- {note}")
    return out


def run_structured(name: str, quick: bool) -> tuple[list[str], bool]:
    module = importlib.import_module(name)
    t0 = time.monotonic()
    report = module.run(quick=quick)
    took = time.monotonic() - t0
    ok = all(v == 0 for v in (report.get("must_be_zero") or {}).values())
    lines = [f"## {report['title']}", "", *markdown_table(report), ""]
    lines.append(f"_{took:.0f} s{', quick run' if quick else ''}._")
    return lines, ok


def run_printed(script: str, args: list[str]) -> tuple[list[str], bool]:
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(HERE / f"{script}.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=900,
    )
    took = time.monotonic() - t0
    doc = (HERE / f"{script}.py").read_text().split('"""')[1].strip().splitlines()[0]
    body = proc.stdout.strip() or "(no output)"
    lines = [f"## {script}: {doc}", "", "```", body, "```", ""]
    if proc.returncode != 0:
        lines += ["**failed**:", "```", proc.stderr.strip()[-3000:], "```", ""]
    lines.append(f"_{took:.0f} s._")
    return lines, proc.returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (about 2 minutes)")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"), help="report file")
    args = parser.parse_args(argv)

    wanted = set(args.only or [*STRUCTURED, *(p[0] for p in PRINTED)])
    started = time.monotonic()
    sections: list[list[str]] = []
    failed: list[str] = []
    for name in STRUCTURED:
        if name in wanted:
            print(f"[run_all] {name} ...", flush=True)
            try:
                lines, ok = run_structured(name, args.quick)
            except Exception as exc:  # a crashing benchmark is reported, not hidden
                lines, ok = [f"## {name}", "", f"**crashed**: {type(exc).__name__}: {exc}"], False
            sections.append(lines)
            if not ok:
                failed.append(name)
    for script, full, quick in PRINTED:
        if script in wanted:
            print(f"[run_all] {script} ...", flush=True)
            lines, ok = run_printed(script, quick if args.quick else full)
            sections.append(lines)
            if not ok:
                failed.append(script)
    total = time.monotonic() - started

    head = [
        "# Benchmarks",
        "",
        "Written by `python benchmarks/run_all.py`"
        + (" --quick" if args.quick else "")
        + f" on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{total / 60:.1f} minutes in all. Every figure sits beside a baseline measured in "
        "the same run; the emulator stands in for the service (sped up, so times are "
        "relative). Re-run the script to refresh this file.",
        "",
    ]
    if failed:
        head += [f"**Failed or non-zero where zero is required:** {', '.join(failed)}", ""]
    text = "\n".join(head + [line for s in sections for line in (*s, "")])
    Path(args.out).write_text(text.rstrip() + "\n")
    print(f"[run_all] wrote {args.out} in {total / 60:.1f} min; failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
