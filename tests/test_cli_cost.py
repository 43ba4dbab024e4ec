"""``wanvideo generate --dry-run / --max-cost / --yes`` and ``wanvideo spend`` on the emulator."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wan_notebook.cli import main

FAST = ["--model", "wan2.5-t2v-preview", "--size", "832*480", "--duration", "5"]
# Singapore 1080P 10 s: 10 x $0.15 = $1.50
BIG = ["--model", "wan2.5-t2v-preview", "--size", "1920*1080", "--duration", "10"]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: Any) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("DASHSCOPE_REGION", "WAN_NOTEBOOK_BUDGET", "WAN_NOTEBOOK_CONFIRM_OVER",
                 "WAN_NOTEBOOK_PRICES"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", emulator.base_url)
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", "0.005")
    return tmp_path


def run(argv: list[str]) -> int:
    """``main(argv)``'s exit code (usage errors exit through argparse: SystemExit 2)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def nothing_sent(emu: Any) -> bool:
    stats = emu.stats()
    return stats["tasks_created"] == 0 and sum(stats["requests"].values()) == 0


def test_dry_run_prints_the_estimate_and_sends_nothing(here, emulator, capsys) -> None:
    assert main(["generate", "a fox", *BIG, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 request in singapore: expected $1.50")
    assert "wan2.5-t2v-preview 1080P 10 s x $0.15/s = $1.50" in out
    assert nothing_sent(emulator) and not (here / "wan_outputs").exists()


def test_max_cost_refuses_before_any_request(here, emulator, capsys) -> None:
    assert main(["generate", "a fox", *BIG, "--max-cost", "1"]) == 1
    err = capsys.readouterr().err
    assert "exceeds --max-cost $1.00" in err and "nothing was sent" in err
    assert run(["generate", "a fox", *BIG, "--max-cost", "10 CNY"]) == 2
    assert "is in CNY, but these requests are billed in USD" in capsys.readouterr().err
    assert run(["generate", "a fox", *BIG, "--max-cost", "-3"]) == 2
    assert "--max-cost '-3' is negative" in capsys.readouterr().err
    assert nothing_sent(emulator)


def test_confirmation_is_refused_off_a_terminal_and_skipped_with_yes(
    here, emulator, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("WAN_NOTEBOOK_CONFIRM_OVER", "1")
    assert run(["generate", "a fox", *BIG]) == 2
    err = capsys.readouterr().err
    assert "above the confirmation threshold $1.00" in err and "pass --yes" in err
    assert nothing_sent(emulator)
    assert main(["generate", "a fox", *BIG, "--yes"]) == 0
    assert emulator.stats()["tasks_created"] == 1
    # under the threshold (default $5): no question at all
    monkeypatch.delenv("WAN_NOTEBOOK_CONFIRM_OVER")
    assert main(["generate", "a hen", *FAST]) == 0
    assert emulator.stats()["tasks_created"] == 2
    # what was spent, by day and model
    assert main(["spend"]) == 0
    out = capsys.readouterr().out
    assert "wan2.5-t2v-preview" in out and "total USD: $1.75" in out
    assert main(["spend", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["videos"] == 2 and row["actual"] == pytest.approx(1.75)


def _on_a_terminal(here: Path, answer: bytes, *args: str) -> tuple[int, str]:
    """Run ``wanvideo generate`` with a pseudo-terminal as stdin; answer the question."""
    leader, follower = pty.openpty()
    env = {**os.environ, "WAN_NOTEBOOK_CONFIRM_OVER": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from wan_notebook.cli import main; "
         "sys.exit(main(sys.argv[1:]))", "generate", "a fox", *BIG, *args],
        stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=here, env=env,
    )  # fmt: skip
    os.close(follower)
    # the question comes before anything is read: answer it as a user would
    os.write(leader, answer)
    _, err = proc.communicate(timeout=120)
    os.close(leader)
    return proc.returncode, err.decode()


def test_the_question_is_asked_on_a_terminal(here, emulator) -> None:
    code, err = _on_a_terminal(here, b"n\n")
    assert code == 0 and "Generate? [y/N]" in err and "not generated" in err
    assert nothing_sent(emulator)
    code, err = _on_a_terminal(here, b"y\n")
    assert code == 0 and "Generate? [y/N]" in err
    assert emulator.stats()["tasks_created"] == 1


def test_the_folder_budget_holds_on_the_command_line(here, emulator, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WAN_NOTEBOOK_BUDGET", "0.3 USD")
    assert main(["generate", "a fox", *FAST]) == 0
    capsys.readouterr()
    assert main(["generate", "a hen", *FAST]) == 1
    err = capsys.readouterr().err
    assert "folder budget WAN_NOTEBOOK_BUDGET 0.30 USD would be exceeded: spent 0.25" in err
    assert emulator.stats()["tasks_created"] == 1
    assert main(["generate", "a fox", *FAST]) == 0  # saved before: free
    assert emulator.stats()["tasks_created"] == 1


def test_a_saved_request_is_free_in_the_dry_run_and_needs_no_confirmation(
    here, emulator, monkeypatch, capsys
) -> None:
    assert main(["generate", "a fox", *BIG, "--yes"]) == 0
    capsys.readouterr()
    assert main(["generate", "a fox", *BIG, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 request in singapore: expected $0.00")
    assert "saved before, $0.00" in out
    monkeypatch.setenv("WAN_NOTEBOOK_CONFIRM_OVER", "1")
    assert main(["generate", "a fox", *BIG]) == 0  # free: no question, no --yes needed
    assert emulator.stats()["tasks_created"] == 1
