"""Chaos: 200 generations through ``generate_many`` with faults injected on every route.

One emulator (speed 200, rate limits on, seeded) and one ``generate_many`` call of 200
requests (wan2.5-t2v-preview, 832*480, 5 s; every 20th with a local WAV, so the upload routes
are used too). Faults, all seeded:

* 429 bursts with ``Retry-After`` on every route: every few seconds, every request gets a
  429 for half a second; on top of the emulator's real rate limits;
* per route, with small probabilities: 500 and 503, dropped connections (on create also
  *after* the task was created: the ambiguous case), slow answers;
* video: truncated bodies, drops, 503; a known subset whose URL is expired (403) from the
  first attempt. The real service's URL is fixed per task (a re-query returns the same
  URL), so ``VideoExpiredError`` is the expected outcome there; the benchmark re-fetches
  those URLs afterwards to prove they really cannot be fetched.
* moderation on known subsets through ``match=``: input moderation at submit (400
  DataInspectionFailed) and output moderation (task FAILED, DataInspectionFailed);
* a subset is canceled right after submit (``TaskCanceledError`` if it was still PENDING,
  else it finishes and is saved: both are expected).

Figures (from ``generate_many(..., return_exceptions=True)``, the output folder and the
emulator's own task list):

* saved; failed as expected (the subsets above);
* submit uncertain: a create that failed ambiguously (500, a drop before or after the task
  was made) is never resent; the jobs layer looks for the task through the list call and
  adopts it, or, when that finds nothing, raises ``SubmitUncertainError`` ("a task may
  exist") and keeps the intent. The benchmark re-runs those requests once: each must be
  saved, and the re-run must adopt a task that exists instead of making a second one.
* must be 0: lost (a task the emulator created that the caller neither got as a result nor
  was told about), unexpected failures (any other typed error), mismatched results (a
  saved video whose task was made for another prompt), duplicate tasks (tasks created -
  requests that reached the service), files that do not decode (``media.verify_mp4`` over
  the folder), ``.part`` files left, unhandled exceptions (not a ``WanError``, or logged at
  ERROR level).

    python benchmarks/chaos.py [--quick]      (--quick: 30 requests)

``--claims`` runs the scenarios of issue 11 cases 1-3 instead, 50 rounds each (``--quick``: 10):

* two processes on one folder: each round both start ``generate_many`` of the same 5 new
  prompts at the same instant (half the creates answer late, after the task is made);
* all create answers of one model dropped at once: each round 10 requests whose every
  create makes its task and loses the answer; then a re-run of the same 10.

Must be 0: duplicates (tasks beyond one per prompt), lost (a task the folder does not know),
swapped (a result whose task was made for another prompt), stuck (an error, in either
process or in the re-run).

    python benchmarks/chaos.py --claims [--quick]
"""

from __future__ import annotations

import asyncio
import logging
import random
import tempfile
import threading
import time
import wave
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

try:
    from . import _claims as claims
    from . import _common as common
except ImportError:  # run as a script
    import _claims as claims  # type: ignore[no-redef]
    import _common as common  # type: ignore[no-redef]

from wan_notebook import api, media
from wan_notebook.client import WanClient
from wan_notebook.emulator import Emulator
from wan_notebook.errors import (
    ContentModerationError,
    SubmitUncertainError,
    TaskCanceledError,
    TaskFailedError,
    VideoExpiredError,
    WanError,
)
from wan_notebook.store import OutputStore

SPEED = 200.0
SEED = 5
PARAMS = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}
TAGS = ("[blocked]", "[flagged]", "[expired-url]", "[cancel-me]")
BURST = 0.5  # seconds of 429s (Retry-After says the same)


def _wav(path: Path, seconds: float = 3.0) -> Path:
    rate = 16000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(int(seconds * rate) * 2))
    return path


def _requests(n: int, wav: Path, rng: random.Random) -> list[dict[str, Any]]:
    """n request dicts; a seeded ~4 % of them in each tagged subset."""
    k = max(1, n // 25)
    order = list(range(n))
    rng.shuffle(order)
    tag_of = {}
    for t, tag in enumerate(TAGS):
        for i in order[t * k : (t + 1) * k]:
            tag_of[i] = tag
    out = []
    for i in range(n):
        req: dict[str, Any] = {"prompt": f"chaos {i} {tag_of.get(i, '')}: a heron on one leg"}
        if i % 20 == 7:
            req["audio_url"] = str(wav)
        out.append(req)
    return out


def _install_faults(emu: Emulator) -> None:
    f = emu.faults
    # the known subsets
    f.add("create", "moderate_input", match="[blocked]")
    f.add("create", "fail_task", match="[flagged]", code="DataInspectionFailed")
    f.add("video", "expire_url", match="[expired-url]")
    # create: the safe (429/503) and the ambiguous (500, drop, drop after creating) failures
    f.add("create", "error", status=429, retry_after=0.2, probability=0.05)
    f.add("create", "error", status=503, probability=0.04)
    f.add("create", "error", status=500, probability=0.02)
    f.add("create", "drop", probability=0.02)
    f.add("create", "drop", after=True, probability=0.04)
    f.add("create", "slow", delay=0.3, probability=0.08)
    for route in ("query", "list", "cancel", "upload_policy", "upload"):
        f.add(route, "error", status=429, retry_after=0.2, probability=0.04)
        f.add(route, "error", status=500, probability=0.04)
        f.add(route, "error", status=503, probability=0.04)
        f.add(route, "drop", probability=0.03)
        f.add(route, "slow", delay=0.3, probability=0.04)
    f.add("video", "truncate", probability=0.15)
    f.add("video", "drop", probability=0.05)
    f.add("video", "error", status=503, probability=0.05)
    f.add("video", "slow", delay=0.3, probability=0.05)


class _Bursts(threading.Thread):
    """Every ``period`` s, every request on every route gets 429 for BURST seconds."""

    def __init__(self, emu: Emulator, period: float) -> None:
        super().__init__(daemon=True)
        self.emu, self.period, self.bursts, self.answers = emu, period, 0, 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.period):
            rule = self.emu.faults.add("*", "error", status=429, retry_after=BURST)
            self.stop.wait(BURST)
            fired = [r["fired"] for r in self.emu.faults.rules() if r["id"] == rule]
            self.emu.faults.remove(rule)
            self.bursts += 1
            self.answers += fired[0] if fired else 0


class _ErrorLog(logging.Handler):
    """Counts ERROR records (e.g. 'Task exception was never retrieved')."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()[:200]}")


def _tag(prompt: str) -> str | None:
    return next((t for t in TAGS if t in prompt), None)


def _expected(tag: str | None, exc: BaseException) -> bool:
    if tag == "[blocked]":
        return isinstance(exc, ContentModerationError) and not isinstance(exc, TaskFailedError)
    if tag == "[flagged]":
        return isinstance(exc, TaskFailedError) and isinstance(exc, ContentModerationError)
    if tag == "[expired-url]":
        return isinstance(exc, VideoExpiredError)
    if tag == "[cancel-me]":
        return isinstance(exc, TaskCanceledError)
    return False


def _emulator_tasks(emu: Emulator, since: float) -> dict[str, list[str]]:
    """prompt -> ids of the tasks the emulator created for it (faults cleared first)."""
    from datetime import datetime

    by_prompt: dict[str, list[str]] = {}
    with WanClient(emu.api_key, base_url=emu.base_url) as client:
        start = datetime.fromtimestamp(since - 60)
        for item in client.list(start_time=start, end_time=datetime.now(), page_size=100):
            snap = emu.task(item.task_id)
            if snap is not None:
                by_prompt.setdefault(snap["prompt"], []).append(item.task_id)
    return by_prompt


def run(quick: bool = False) -> common.Report:
    """Run the chaos batch; the report."""
    n = 30 if quick else 200
    rng = random.Random(SEED)
    errors_log = _ErrorLog()
    logging.getLogger().addHandler(errors_log)
    quiet = logging.getLogger("wan_notebook")
    old_level = quiet.level
    quiet.setLevel(logging.ERROR)  # the retries log warnings by design
    try:
        with (
            tempfile.TemporaryDirectory(prefix="wan-bench-chaos-") as tmp,
            Emulator(speed=SPEED, seed=SEED, rate_limits=True) as emu,
            common.env(WAN_NOTEBOOK_POLL_SCALE=str(1 / SPEED)),
        ):
            out_dir = Path(tmp) / "out"
            reqs = _requests(n, _wav(Path(tmp) / "voice.wav"), rng)
            prompts = [r["prompt"] for r in reqs]
            _install_faults(emu)
            bursts = _Bursts(emu, 2.0 if quick else 5.0)

            pending: set[asyncio.Future[bool]] = set()  # keeps the cancel calls alive

            def on_job(job: Any) -> None:
                if "[cancel-me]" not in job.request.prompt:
                    return

                def on_event(event: Any) -> None:
                    if event.kind == "submitted":
                        pending.add(asyncio.ensure_future(job.cancel()))

                job.subscribe(on_event)

            t_start = time.time()
            bursts.start()
            t0 = time.perf_counter()
            outcomes = api.generate_many(
                reqs,
                output_dir=out_dir,
                api_key=emu.api_key,
                base_url=emu.base_url,
                return_exceptions=True,
                on_job=on_job,
                **PARAMS,
            )
            wall = time.perf_counter() - t0
            bursts.stop.set()
            bursts.join()
            stats = emu.stats()
            emu.faults.clear()
            # the subset's URLs must really be unfetchable: put its rule back and try them
            emu.faults.add("video", "expire_url", match="[expired-url]")
            tasks_by_prompt = _emulator_tasks(emu, t_start)
            store = OutputStore(out_dir)
            refetchable = 0
            for outcome in outcomes:
                if isinstance(outcome, VideoExpiredError) and outcome.task_id:
                    record = store.get(outcome.task_id)
                    url = record.video_url if record else None
                    if url and httpx.get(url).status_code == 200:
                        refetchable += 1
            figures = _account(prompts, outcomes, tasks_by_prompt, out_dir)
            # re-run what failed only because a create was ambiguous: the re-run must adopt a
            # task that exists (no new one) and submit the others
            retry = [
                r
                for r, o in zip(reqs, outcomes, strict=True)
                if isinstance(o, SubmitUncertainError)
            ]
            had_task = sum(1 for r in retry if tasks_by_prompt.get(r["prompt"]))
            recovered = 0
            before = emu.stats()["tasks_created"]
            if retry:
                again = api.generate_many(
                    retry,
                    output_dir=out_dir,
                    api_key=emu.api_key,
                    base_url=emu.base_url,
                    return_exceptions=True,
                    **PARAMS,
                )
                recovered = sum(1 for o in again if not isinstance(o, BaseException))
            recovery_dups = (emu.stats()["tasks_created"] - before) - (len(retry) - had_task)
    finally:
        logging.getLogger().removeHandler(errors_log)
        quiet.setLevel(old_level)
    figures["unhandled"] += len(errors_log.records)
    figures["refetchable_expired"] = refetchable
    figures["recovered"] = recovered
    figures["uncertain_with_task"] = had_task
    figures["recovery_duplicates"] = recovery_dups
    fired = stats["faults_fired"]
    codes = stats["status_codes"]
    rows = [
        ["requests", n, None],
        ["saved (file verified)", figures["saved"], None],
        ["failed as expected (moderated / expired URL / canceled)", figures["expected"], None],
        ["cancel-me requests saved (ran before the cancel)", figures["cancel_saved"], None],
        ["submit uncertain (not resent; SubmitUncertainError)", figures["uncertain"], None],
        ["  of those, a task existed on the service", had_task, None],
        ["  saved by one re-run (adopting, not resubmitting)", recovered, None],
        ["  duplicate tasks made by that re-run", recovery_dups, 0],
        ["lost", figures["lost"], 0],
        ["unexpected failures (typed)", figures["unexpected"], 0],
        ["mismatched results", figures["mismatched"], 0],
        ["duplicate tasks", figures["duplicates"], 0],
        ["files that do not decode", figures["bad_files"], 0],
        [".part files left", figures["parts"], 0],
        ["unhandled exceptions", figures["unhandled"], 0],
        ["expired-URL failures whose URL still works", refetchable, 0],
        ["faults fired (rules; real rate-limit 429s not included)", fired, None],
        ["429 / 500 / 503 answers, dropped", _codes(codes, stats["dropped"]), None],
        ["tasks created on the emulator", stats["tasks_created"], None],
        ["wall time (s)", wall, None],
    ]
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(figures["expected_kinds"].items()))
    notes = [
        f"expected failures by type: {kinds}",
        f"{bursts.bursts} bursts: every request on every route answered 429 (Retry-After "
        f"{BURST:g} s) for {BURST:g} s; {bursts.answers} such answers in all",
    ]
    if figures["samples"]:
        notes.append(f"first problems: {figures['samples'][:4]}")
    if errors_log.records:
        notes.append(f"ERROR log records: {errors_log.records[:3]}")
    return {
        "name": "chaos",
        "title": f"chaos: {n} x generate_many, faults on every route, emulator speed {SPEED:g}",
        "columns": ["figure", "value", "must be"],
        "rows": rows,
        "must_be_zero": {
            "lost": figures["lost"],
            "unexpected failures": figures["unexpected"],
            "mismatched results": figures["mismatched"],
            "duplicate tasks": figures["duplicates"],
            "files not decoding": figures["bad_files"],
            ".part left": figures["parts"],
            "unhandled exceptions": figures["unhandled"],
            "expired URLs still fetchable": refetchable,
            "uncertain not recovered by a re-run": figures["uncertain"] - recovered,
            "duplicates made by the re-run": recovery_dups,
        },
        "notes": notes,
        "figures": {**figures, "wall_s": wall, "n": n, "stats": stats},
    }


def _codes(codes: dict[str, int], dropped: int) -> str:
    return f"{codes.get('429', 0)} / {codes.get('500', 0)} / {codes.get('503', 0)}, {dropped}"


def _account(
    prompts: list[str],
    outcomes: list[Any],
    tasks_by_prompt: dict[str, list[str]],
    out_dir: Path,
) -> dict[str, Any]:
    saved = expected = uncertain = lost = unexpected = mismatched = unhandled = 0
    cancel_saved = 0
    kinds: Counter[str] = Counter()
    samples: list[str] = []
    for prompt, outcome in zip(prompts, outcomes, strict=True):
        tasks = tasks_by_prompt.get(prompt, [])
        tag = _tag(prompt)
        if not isinstance(outcome, BaseException):
            saved += 1
            cancel_saved += tag == "[cancel-me]"
            if outcome.task_id not in tasks:
                mismatched += 1
                samples.append(f"mismatch {prompt[:20]!r} -> {outcome.task_id}")
            if tag in ("[blocked]", "[flagged]", "[expired-url]"):
                unexpected += 1
                samples.append(f"saved although {tag}")
            continue
        if not isinstance(outcome, WanError):
            unhandled += 1
            samples.append(f"unhandled {outcome!r}")
            continue
        task_id = getattr(outcome, "task_id", None) or None
        if _expected(tag, outcome):
            expected += 1
            kinds[type(outcome).__name__] += 1
        elif isinstance(outcome, SubmitUncertainError):
            uncertain += 1  # "a task may exist": told, with how to find it; re-run below
            continue
        else:
            unexpected += 1
            samples.append(f"{type(outcome).__name__}: {str(outcome)[:160]}")
        if tasks and task_id not in tasks:
            lost += 1
            samples.append(f"lost: {prompt[:20]!r} has tasks {tasks}, error says {task_id}")
    reached = sum(1 for p in prompts if tasks_by_prompt.get(p))
    created = sum(len(v) for v in tasks_by_prompt.values())
    bad_files = 0
    for mp4 in out_dir.glob("*.mp4"):
        try:
            media.verify_mp4(mp4)
        except Exception:
            bad_files += 1
    return {
        "saved": saved,
        "expected": expected,
        "expected_kinds": dict(kinds),
        "cancel_saved": cancel_saved,
        "uncertain": uncertain,
        "lost": lost,
        "unexpected": unexpected,
        "mismatched": mismatched,
        "unhandled": unhandled,
        "duplicates": created - reached,
        "bad_files": bad_files,
        "parts": len(list(out_dir.glob("*.part"))),
        "samples": samples,
    }


_TWO_PROCESSES = """
import json, sys, time
from wan_notebook import api
folder, base_url, key, start = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
prompts = json.loads(sys.argv[5])
while time.time() < start:
    time.sleep(0.002)
out = api.generate_many(prompts, output_dir=folder, api_key=key, base_url=base_url,
                        return_exceptions=True, model="wan2.5-t2v-preview", size="832*480",
                        duration=5)
print(json.dumps([None if isinstance(r, BaseException) else r.task_id for r in out]))
"""


class _Done:
    def __init__(self, task_id: str) -> None:
        self.task_id = task_id


def _two_processes_round(emu: Emulator, folder: Path, n: int) -> dict[str, int]:
    import json
    import os
    import subprocess
    import sys

    prefix = f"claims 2p round {n}:"
    prompts = [f"{prefix} lighthouse {k}" for k in range(5)]
    emu.faults.add("create", "slow", after=True, delay=0.3, probability=0.5, match=prefix)
    start = time.time() + 2.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _TWO_PROCESSES, str(folder), emu.base_url, emu.api_key,
             str(start), json.dumps(prompts)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ},
        )
        for _ in range(2)
    ]  # fmt: skip
    results: list[Any] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        try:
            ids = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            ids = [None] * len(prompts)
        results += [None if i is None else _Done(i) for i in ids]
    emu.faults.clear()
    return claims.audit(emu, folder, prefix, prompts, results)


def _dropped_round(emu: Emulator, folder: Path, n: int) -> dict[str, int]:
    prefix = f"claims drop round {n}:"
    prompts = [f"{prefix} harbour {k}" for k in range(10)]
    emu.faults.add("create", "drop", after=True, match=prefix)  # every create of the round
    conn = {"api_key": emu.api_key, "base_url": emu.base_url}
    first = api.generate_many(
        prompts, output_dir=folder, return_exceptions=True, **claims.PARAMS, **conn
    )
    emu.faults.clear()
    again = api.generate_many(
        prompts, output_dir=folder, return_exceptions=True, **claims.PARAMS, **conn
    )
    return claims.audit(emu, folder, prefix, prompts, [*first, *again])


def run_claims(quick: bool = False, scenario: str = "both") -> common.Report:
    """Issue 11 cases 1-3: two processes on one folder; dropped create answers
    (``scenario``: both, two or drop; ``WAN_BENCH_CLAIMS=two|drop`` from the command line)."""
    import os
    import sys

    scenario = os.environ.get("WAN_BENCH_CLAIMS", scenario)
    rounds = 10 if quick else 50
    quiet = logging.getLogger("wan_notebook")
    old_level = quiet.level
    quiet.setLevel(logging.ERROR)  # "found by its content" warnings are the expected path
    totals: dict[str, Counter[str]] = {"two": Counter(), "drop": Counter()}
    t0 = time.perf_counter()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="wan-bench-claims-") as tmp,
            Emulator(speed=200.0, seed=11, rate_limits=False) as emu,
            common.env(WAN_NOTEBOOK_POLL_SCALE=str(1 / 200.0)),
        ):
            for n in range(rounds):
                if scenario in ("both", "two"):
                    totals["two"].update(_two_processes_round(emu, Path(tmp) / "two", n))
                if scenario in ("both", "drop"):
                    totals["drop"].update(_dropped_round(emu, Path(tmp) / "drop", n))
                progress = {k: dict(v) for k, v in totals.items()}
                print(f"round {n + 1}/{rounds}: {progress}", file=sys.stderr, flush=True)
    finally:
        quiet.setLevel(old_level)
    wall = time.perf_counter() - t0
    keys = ("duplicates", "lost", "swapped", "stuck")
    rows: list[list[Any]] = [["rounds (each scenario)", rounds, None]]
    rows += [[f"two processes, one folder (5 prompts x 2): {k}", None, totals["two"][k]]
             for k in keys]  # fmt: skip
    rows += [[f"all create answers dropped (10 prompts + re-run): {k}", None,
              totals["drop"][k]] for k in keys]  # fmt: skip
    rows += [["wall time (s)", wall, None]]
    return {
        "name": "chaos-claims",
        "title": f"chaos --claims: issue 11 cases 1-3, {rounds} rounds each (emulator speed 200)",
        "columns": ["figure", "value", "count"],
        "rows": rows,
        "must_be_zero": {
            f"{label} {k}": totals[key][k]
            for key, label in (("two", "two processes:"), ("drop", "dropped answers:"))
            for k in keys
        },
        "notes": [],
        "figures": {"rounds": rounds, "two": dict(totals["two"]), "drop": dict(totals["drop"])},
    }


def main(argv: list[str] | None = None) -> int:
    """Print the chaos report (``--claims``: the claim scenarios); exit 1 on a nonzero
    must-be-zero figure."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if "--claims" in args:
        args.remove("--claims")
        return common.main_for(run_claims, __doc__ or "", args)
    return common.main_for(run, __doc__ or "", args)


if __name__ == "__main__":
    raise SystemExit(main())
