"""Crash and re-run: SIGKILL a generating process at a random moment, then run it again.

30 rounds (``--quick``: 6), one output folder for all of them (as a notebook's folder is).
Each round starts ``python -c "api.generate(...)"`` against an emulator running in this
process (speed 200), kills it with SIGKILL at a seeded random moment in a seeded random
phase, then re-runs the same request in this process to completion. Phases:

* ``create in flight``: a ``slow`` fault delays the create *before* the service makes the
  task; the kill lands during the delay. The service still makes the task afterwards (the
  request had arrived), so the re-run starts once it exists: a re-run racing a create that
  is still in flight on the service cannot know about it (see the notes).
* ``answer lost`` (the hard case): ``slow`` with ``after=True``: the task is made at once
  and only the answer waits; the kill lands after the service created the task but before
  the child could journal its id. Only the journaled intent remains; the re-run must find
  the task through the list call (``Runner._reconcile``) and adopt it.
* ``polling``: killed at a random moment after the create, before the download;
* ``downloading``: a ``slow`` fault on the video holds the download open; killed during it;
* ``saving``: killed 0-300 ms after the download started (verify, rename, poster, sidecar,
  index).

Must be 0: duplicate tasks (tasks the emulator made - rounds), lost tasks (a task on the
emulator the folder does not know), mismatched results (a result whose task was made for
another prompt), half files (a video ``.part`` left behind, or an ``.mp4`` that does not
verify), failed re-runs. Reported, not failed: hidden temporaries of an atomic write that
the kill interrupted (``.<name>.png.<random>.part``; never mistaken for a result).
Baseline: the same ``generate()`` with no kill (3 clean rounds, timed first), for what a
crash costs the re-run in seconds.

    python benchmarks/crash.py [--quick]

``--claims`` (issue 11 case 3, kills while creates are unfinished): 50 rounds (``--quick``:
10). Each round a child runs ``generate_many`` of 8 new prompts of one model whose creates
make their task at once and answer only after a second; the child is killed at a random
moment among those creates; then the same 8 are re-run here. The killed child's claims are
taken over once their lease (1 s here, ``WAN_NOTEBOOK_CLAIM_LEASE``) ran out and its pid is
gone. Must be 0: duplicates, lost, swapped (a result made for another prompt), stuck (a
re-run that fails).

    python benchmarks/crash.py --claims [--quick]
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    from . import _claims as claims
    from . import _common as common
except ImportError:  # run as a script
    import _claims as claims  # type: ignore[no-redef]
    import _common as common  # type: ignore[no-redef]

from wan_notebook import api, media
from wan_notebook.emulator import Emulator
from wan_notebook.store import OutputStore

SPEED = 200.0
SEED = 3
DELAY = 1.0  # seconds a slow fault holds the create or the download
PARAMS = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}
PHASES = ("create in flight", "answer lost", "polling", "downloading", "saving")

CHILD = textwrap.dedent(
    """
    import sys
    from wan_notebook import api
    api.generate(sys.argv[1], output_dir=sys.argv[2], api_key=sys.argv[3], base_url=sys.argv[4],
                 model="wan2.5-t2v-preview", size="832*480", duration=5)
    """
)


def _wait(predicate: Callable[[], bool], timeout: float, step: float = 0.002) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class _Round:
    """One kill-and-re-run round."""

    def __init__(self, emu: Emulator, folder: Path, n: int, phase: str, rng: random.Random):
        self.emu, self.folder, self.phase, self.rng = emu, folder, phase, rng
        self.prompt = f"crash round {n} [{phase}]: a kite over a windy beach"
        self.killed_in: str | None = None

    def _count(self, kind: str) -> int:
        stats = self.emu.stats()
        return stats["tasks_created"] if kind == "tasks" else stats["requests"][kind]

    def kill_and_rerun(self) -> dict[str, Any]:
        emu, rng, phase = self.emu, self.rng, self.phase
        tasks0, videos0 = self._count("tasks"), self._count("video")
        creates0 = self._count("create")
        tag = self.prompt
        if phase == "create in flight":
            emu.faults.add("create", "slow", delay=DELAY, match=tag, times=1)
        elif phase == "answer lost":
            emu.faults.add("create", "slow", delay=DELAY, after=True, match=tag, times=1)
        elif phase == "downloading":
            emu.faults.add("video", "slow", delay=DELAY, match=tag, times=1)
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, self.prompt, str(self.folder), emu.api_key, emu.base_url],
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            if phase in ("create in flight", "answer lost"):
                _wait(lambda: self._count("create") > creates0, 20)
                time.sleep(rng.uniform(0.05, DELAY - 0.1))
            elif phase == "polling":
                _wait(lambda: self._count("tasks") > tasks0, 20)
                time.sleep(rng.uniform(0.0, 0.6))
            else:
                _wait(lambda: self._count("video") > videos0, 30)
                time.sleep(rng.uniform(0.05, DELAY - 0.1) if phase == "downloading" else
                           rng.uniform(0.0, 0.3))  # fmt: skip
            self.killed_in = self._observed(tasks0, videos0, child)
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait()
        emu.faults.clear()
        hard = False
        if phase == "create in flight":
            # the request had reached the service: it makes the task after the delay
            _wait(lambda: self._count("tasks") > tasks0, DELAY + 2)
        if self.killed_in == "answer lost":
            store = OutputStore(self.folder)
            hard = bool(store.dangling_intents()) and not _journaled(store, self.prompt)
        t0 = time.perf_counter()
        result = api.generate(
            self.prompt,
            output_dir=self.folder,
            api_key=emu.api_key,
            base_url=emu.base_url,
            **PARAMS,
        )
        rerun = time.perf_counter() - t0
        snap = emu.task(result.task_id)
        return {
            "phase": phase,
            "killed_in": self.killed_in,
            "hard_case": hard,
            "tasks_made": self._count("tasks") - tasks0,
            "mismatch": snap is None or snap["prompt"] != self.prompt,
            "rerun_s": rerun,
            "task_id": result.task_id,
        }

    def _observed(self, tasks0: int, videos0: int, child: subprocess.Popen[bytes]) -> str:
        """Where the child really was when the kill was sent."""
        if child.poll() is not None:
            return "already done"
        if self._count("tasks") == tasks0:
            return "create in flight"
        store = OutputStore(self.folder)
        if not _journaled(store, self.prompt):
            return "answer lost"
        if self._count("video") == videos0:
            return "polling"
        return "downloading/saving"


def _journaled(store: OutputStore, prompt: str) -> bool:
    """Whether the folder's journal holds a task for this prompt (read-only: a lookup()
    could finish an interrupted save itself and disturb the experiment)."""
    if not store.index_path.exists():
        return False
    conn = sqlite3.connect(f"file:{store.index_path}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT 1 FROM tasks WHERE prompt = ?", (prompt,)).fetchone()
    finally:
        conn.close()
    return row is not None


def _clean_round(emu: Emulator, folder: Path, n: int) -> float:
    """A round with no kill (the baseline): seconds for generate() in this process."""
    t0 = time.perf_counter()
    api.generate(
        f"clean round {n}: a kite over a windy beach",
        output_dir=folder,
        api_key=emu.api_key,
        base_url=emu.base_url,
        **PARAMS,
    )
    return time.perf_counter() - t0


def run(quick: bool = False) -> common.Report:
    """All rounds; the report."""
    rounds = 6 if quick else 30
    rng = random.Random(SEED)
    phases = [PHASES[i % len(PHASES)] for i in range(rounds)]
    rng.shuffle(phases)
    outcomes: list[dict[str, Any]] = []
    failed_reruns: list[str] = []
    quiet = logging.getLogger("wan_notebook")
    old_level = quiet.level
    quiet.setLevel(logging.ERROR)  # "adopted task ..." warnings are the expected path here
    try:
        return _rounds(rounds, phases, rng, outcomes, failed_reruns)
    finally:
        quiet.setLevel(old_level)


def _rounds(
    rounds: int,
    phases: list[str],
    rng: random.Random,
    outcomes: list[dict[str, Any]],
    failed_reruns: list[str],
) -> common.Report:
    with (
        tempfile.TemporaryDirectory(prefix="wan-bench-crash-") as tmp,
        Emulator(speed=SPEED, seed=SEED, rate_limits=True) as emu,
        common.env(WAN_NOTEBOOK_POLL_SCALE=str(1 / SPEED)),
    ):
        folder = Path(tmp) / "out"
        clean = [_clean_round(emu, Path(tmp) / "clean", i) for i in range(3)]
        t0 = time.perf_counter()
        for n, phase in enumerate(phases):
            try:
                outcomes.append(_Round(emu, folder, n, phase, rng).kill_and_rerun())
            except Exception as exc:
                failed_reruns.append(f"round {n} ({phase}): {type(exc).__name__}: {exc}")
        wall = time.perf_counter() - t0
        store = OutputStore(folder)
        all_tasks = _all_tasks(emu)
        ours = [t for t, p in all_tasks.items() if p.startswith("crash round ")]
        lost = sum(1 for t in ours if store.get(t) is None)
        unsaved = sum(1 for t in ours if (r := store.get(t)) is not None and r.saved_at is None)
        leftovers = list(folder.glob("*.part"))
        parts = sum(1 for p in leftovers if not p.name.startswith("."))  # <name>.mp4.part
        litter = len(leftovers) - parts  # hidden temp files of an interrupted atomic write
        bad = 0
        for mp4 in folder.glob("*.mp4"):
            try:
                media.verify_mp4(mp4)
            except Exception:
                bad += 1
        dangling = len(store.dangling_intents())
        videos = len(list(folder.glob("*.mp4")))
    duplicates = sum(o["tasks_made"] - 1 for o in outcomes if o["tasks_made"] > 1)
    none_made = sum(1 for o in outcomes if o["tasks_made"] < 1)
    mismatched = sum(o["mismatch"] for o in outcomes)
    killed_in = Counter(o["killed_in"] for o in outcomes)
    hard = sum(o["hard_case"] for o in outcomes)
    rerun_by_phase: dict[str, list[float]] = {}
    for o in outcomes:
        rerun_by_phase.setdefault(o["phase"], []).append(o["rerun_s"])
    clean_s = common.mean(clean)
    rows: list[list[Any]] = [["rounds", rounds, None, None]]
    rows += [[f"  killed in: {k}", v, None, None] for k, v in sorted(killed_in.items())]
    rows += [["  of which the hard case (task made, id not journaled)", hard, None, None]]
    for phase in PHASES:
        times = rerun_by_phase.get(phase)
        if times:
            m = common.mean(times)
            rows.append([f"re-run after a kill, {phase} (s)", m, clean_s, common.ratio(m, clean_s)])
    rows += [
        ["videos in the folder", videos, None, None],
        ["duplicate tasks", duplicates, None, None],
        ["lost tasks (made on the service, unknown to the folder)", lost, None, None],
        ["mismatched results", mismatched, None, None],
        ["video .part files left (half downloads)", parts, None, None],
        ["hidden temp files left (killed mid atomic write)", litter, None, None],
        [".mp4 files that do not verify", bad, None, None],
        ["failed re-runs", len(failed_reruns), None, None],
        ["tasks known but unsaved at the end", unsaved, None, None],
        ["dangling intents at the end", dangling, None, None],
        ["wall time of the rounds (s)", wall, None, None],
    ]
    notes = [
        "baseline: the same generate() with no kill (3 clean rounds, mean)",
        "a re-run that starts while a killed process's create is still being processed by the "
        "service cannot see that task yet and would submit again; rounds of the first phase "
        "wait until the service has made the task (as a kernel restart would)",
    ]
    if litter:
        notes.append(
            "hidden temp files are the poster's/sidecar's atomic-write temporaries of a process "
            "killed mid-write: never taken for a result, but nothing removes them yet"
        )
    if none_made:
        notes.append(f"{none_made} rounds made no task at all")
    notes += failed_reruns[:3]
    return {
        "name": "crash",
        "title": f"crash: {rounds} rounds of SIGKILL at a random moment + re-run "
        f"(emulator speed {SPEED:g}, one folder)",
        "columns": ["figure", "value", "no-kill baseline", "ratio"],
        "rows": rows,
        "must_be_zero": {
            "duplicate tasks": duplicates,
            "lost tasks": lost,
            "mismatched results": mismatched,
            "half files (video .part left + .mp4 not verifying)": parts + bad,
            "failed re-runs": len(failed_reruns),
            "unsaved at the end": unsaved,
        },
        "notes": notes,
        "figures": {
            "rounds": rounds,
            "killed_in": dict(killed_in),
            "hard_cases": hard,
            "outcomes": outcomes,
            "clean_s": clean_s,
        },
    }


def _all_tasks(emu: Emulator) -> dict[str, str]:
    """task id -> prompt of every task the emulator knows (last 24 h)."""
    from wan_notebook.client import WanClient

    out: dict[str, str] = {}
    with WanClient(emu.api_key, base_url=emu.base_url) as client:
        for item in client.list(page_size=100):
            snap = emu.task(item.task_id)
            if snap is not None:
                out[item.task_id] = snap["prompt"]
    return out


CHILD_MANY = textwrap.dedent(
    """
    import json, sys
    from wan_notebook import api
    api.generate_many(json.loads(sys.argv[1]), output_dir=sys.argv[2], api_key=sys.argv[3],
                      base_url=sys.argv[4], model="wan2.5-t2v-preview", size="832*480",
                      duration=5)
    """
)


def _claims_round(emu: Emulator, folder: Path, n: int, rng: random.Random) -> dict[str, int]:
    import json

    prefix = f"claims crash round {n}:"
    prompts = [f"{prefix} a kite number {k}" for k in range(8)]
    emu.faults.add("create", "slow", delay=DELAY, after=True, match=prefix)
    creates0 = emu.stats()["requests"]["create"]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_MANY, json.dumps(prompts), str(folder), emu.api_key,
         emu.base_url],
        env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait(lambda: emu.stats()["requests"]["create"] > creates0, 30)
        time.sleep(rng.uniform(0.0, DELAY - 0.05))
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    emu.faults.clear()
    results: list[Any] = api.generate_many(
        prompts,
        output_dir=folder,
        return_exceptions=True,
        api_key=emu.api_key,
        base_url=emu.base_url,
        **PARAMS,
    )
    return claims.audit(emu, folder, prefix, prompts, results)


def run_claims(quick: bool = False) -> common.Report:
    """Issue 11 case 3: kills while the creates of many requests are unfinished."""
    rounds = 10 if quick else 50
    rng = random.Random(SEED)
    totals: Counter[str] = Counter()
    quiet = logging.getLogger("wan_notebook")
    old_level = quiet.level
    quiet.setLevel(logging.ERROR)
    t0 = time.perf_counter()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="wan-bench-crash-claims-") as tmp,
            Emulator(speed=SPEED, seed=SEED, rate_limits=False) as emu,
            common.env(WAN_NOTEBOOK_POLL_SCALE=str(1 / SPEED), WAN_NOTEBOOK_CLAIM_LEASE="1"),
        ):
            for n in range(rounds):
                totals.update(_claims_round(emu, Path(tmp) / "out", n, rng))
                print(f"round {n + 1}/{rounds}: {dict(totals)}", file=sys.stderr, flush=True)
            dangling = len(OutputStore(Path(tmp) / "out").dangling_intents())
    finally:
        quiet.setLevel(old_level)
    wall = time.perf_counter() - t0
    keys = ("duplicates", "lost", "swapped", "stuck")
    rows: list[list[Any]] = [["rounds (8 requests each, killed mid-creates)", rounds]]
    rows += [[k, totals[k]] for k in keys]
    rows += [["dangling intents at the end", dangling], ["wall time (s)", wall]]
    return {
        "name": "crash-claims",
        "title": f"crash --claims: {rounds} rounds of SIGKILL while 8 creates are unfinished "
        f"+ re-run (emulator speed {SPEED:g}, one folder)",
        "columns": ["figure", "value"],
        "rows": rows,
        "must_be_zero": {k: totals[k] for k in keys},
        "notes": [],
        "figures": {"rounds": rounds, **{k: totals[k] for k in keys}},
    }


def main(argv: list[str] | None = None) -> int:
    """Print the crash report (``--claims``: the claim scenario); exit 1 if a must-be-zero
    figure is not 0."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--claims" in args:
        args.remove("--claims")
        return common.main_for(run_claims, __doc__ or "", args)
    return common.main_for(run, __doc__ or "", args)


if __name__ == "__main__":
    raise SystemExit(main())
