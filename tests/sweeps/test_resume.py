"""A sweep killed with SIGKILL at random moments and resumed makes each task exactly once;
two processes on one sweep split it. Real subprocesses, a real emulator over loopback."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wan_notebook.emulator import Emulator
from wan_notebook.sweeps import sweep

PROMPTS = [f"a paper lantern number {i} drifting over a harbour" for i in range(30)]

_CHILD = """
import sys
from wan_notebook.sweeps import sweep
prompts = [f"a paper lantern number {i} drifting over a harbour" for i in range(30)]
sw = sweep(prompts, seeds=[0, 1], output_dir=sys.argv[1], base_url=sys.argv[2])
sw.subscribe(lambda o: print(o.state, o.index, "cached" if o.cached else "saved", flush=True))
status = sw.run()
print("end", status.done, flush=True)
"""


def _child(out: Path, emu: Emulator) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DASHSCOPE_API_KEY": emu.api_key,
        # a SIGKILLed owner's claim is free once its pid is gone and this lease ran out
        "WAN_NOTEBOOK_CLAIM_LEASE": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(out), emu.base_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.timeout(600)
def test_a_60_cell_sweep_killed_at_random_moments_makes_exactly_60_tasks(
    tmp_path: Path, fast_emulator: Emulator
) -> None:
    rng = random.Random(16)
    kills = 0
    for _ in range(4):
        proc = _child(tmp_path, fast_emulator)
        assert proc.stdout is not None
        wait_for = rng.randint(1, 12)  # finished cells before the kill
        seen = 0
        for line in proc.stdout:
            if line.startswith(("done", "failed")):
                seen += 1
            if seen >= wait_for or line.startswith("end"):
                break
        time.sleep(rng.uniform(0, 0.3))  # mid-create, mid-poll or mid-download
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2
    final = _child(tmp_path, fast_emulator)
    out, err = final.communicate(timeout=480)
    assert final.returncode == 0, err
    assert out.strip().splitlines()[-1] == "end 60"
    stats = fast_emulator.stats()
    assert stats["tasks_created"] == 60
    frame = sweep(PROMPTS, seeds=[0, 1], output_dir=tmp_path).results()
    assert len(frame) == 60 and frame["task_id"].nunique() == 60
    assert (frame["state"] == "done").all() and frame["path"].map(os.path.isfile).all()


@pytest.mark.timeout(600)
def test_two_processes_on_one_sweep_split_it_and_pay_once(
    tmp_path: Path, fast_emulator: Emulator
) -> None:
    procs = [_child(tmp_path, fast_emulator) for _ in range(2)]
    outs = [p.communicate(timeout=480) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err
        assert out.strip().splitlines()[-1] == "end 60"
    assert fast_emulator.stats()["tasks_created"] == 60
    # each process saved some videos itself (the rest it found saved by the other): the
    # work was split, and no video was saved by both
    saved = [
        {line.split()[1] for line in out.splitlines() if line.endswith(" saved")} for out, _ in outs
    ]
    assert saved[0] and saved[1]
    assert not saved[0] & saved[1]
    assert saved[0] | saved[1] == {str(i) for i in range(60)}
    frame = sweep(PROMPTS, seeds=[0, 1], output_dir=tmp_path).results()
    assert frame["task_id"].nunique() == 60
