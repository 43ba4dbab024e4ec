"""Re-running a finished batch: seconds and requests of the re-run vs the first run.

``generate_many`` of 10 requests against an emulator (speed 200, rate limits on), then the
very same call again into the same output folder. The re-run must answer every request from
the OutputStore (a stat of each file against the index) and make **0** requests. Baseline:
the first run, measured in the same process. A third row re-runs from a *fresh process* (the
usual case: the notebook kernel was restarted), timed from the parent.

    python benchmarks/rerun.py [--quick]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

try:
    from . import _common as common
except ImportError:  # run as a script
    import _common as common  # type: ignore[no-redef]

from wan_notebook import api
from wan_notebook.emulator import Emulator

SPEED = 200.0
PARAMS = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}

CHILD = textwrap.dedent(
    """
    import json, sys, time
    t = time.perf_counter()
    from wan_notebook import api
    out = api.generate_many(json.loads(sys.argv[1]), output_dir=sys.argv[2], api_key=sys.argv[3],
                            base_url=sys.argv[4], model="wan2.5-t2v-preview", size="832*480",
                            duration=5)
    print(sum(r.cached for r in out), time.perf_counter() - t)
    """
)


def run(quick: bool = False) -> common.Report:
    """First run, in-process re-run, fresh-process re-run; the report."""
    import json

    n = 5 if quick else 10
    prompts = [f"rerun {i}: a lantern festival over a river" for i in range(n)]
    with (
        tempfile.TemporaryDirectory(prefix="wan-bench-rerun-") as tmp,
        Emulator(speed=SPEED, rate_limits=True) as emu,
        common.env(WAN_NOTEBOOK_POLL_SCALE=str(1 / SPEED)),
    ):
        kw = {"output_dir": Path(tmp), "api_key": emu.api_key, "base_url": emu.base_url}
        t0 = time.perf_counter()
        first = api.generate_many(prompts, **kw, **PARAMS)
        t_first = time.perf_counter() - t0
        r_first = common.total_requests(emu.stats())
        t0 = time.perf_counter()
        again = api.generate_many(prompts, **kw, **PARAMS)
        t_again = time.perf_counter() - t0
        r_again = common.total_requests(emu.stats()) - r_first
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(prompts), tmp, emu.api_key, emu.base_url],
            capture_output=True,
            text=True,
            env={**os.environ},
            check=True,
        )
        t_proc = time.perf_counter() - t0
        cached_proc, t_proc_inner = proc.stdout.split()
        r_proc = common.total_requests(emu.stats()) - r_first - r_again
        tasks = emu.stats()["tasks_created"]
    same = sum(a.path == f.path and a.cached for a, f in zip(again, first, strict=True))
    rows = [
        ["wall time (s)", t_again, t_first, common.ratio(t_again, t_first)],
        ["requests", r_again, r_first, None],
        ["results served from the cache", same, 0, None],
        [
            "fresh process re-run: wall incl. interpreter (s)",
            t_proc,
            t_first,
            common.ratio(t_proc, t_first),
        ],
        ["fresh process re-run: requests", r_proc, r_first, None],
        ["fresh process re-run: results from the cache", int(cached_proc), 0, None],
    ]
    return {
        "name": "rerun",
        "title": f"rerun: the same {n} requests again (emulator speed {SPEED:g})",
        "columns": ["figure", "re-run", "first run", "re-run/first"],
        "rows": rows,
        "must_be_zero": {
            "re-run requests": r_again,
            "fresh-process re-run requests": r_proc,
            "re-run results not from the cache": n - same,
            "fresh-process results not from the cache": n - int(cached_proc),
            "tasks created beyond the first run": tasks - n,
        },
        "notes": [f"fresh-process re-run inside the child took {float(t_proc_inner):.3f} s"],
        "figures": {
            "n": n,
            "first_s": t_first,
            "rerun_s": t_again,
            "first_requests": r_first,
            "rerun_requests": r_again,
            "fresh_process_s": t_proc,
            "fresh_process_requests": r_proc,
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Print the re-run report; exit 1 if a must-be-zero figure is not 0."""
    return common.main_for(run, __doc__ or "", argv)


if __name__ == "__main__":
    raise SystemExit(main())
