"""``wanvideo sweep``: the issue's command line, its progress line, resume and export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from wan_notebook.cli import main
from wan_notebook.emulator import Emulator
from wan_notebook.sweeps.command import parse_seeds


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_emulator: Emulator) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DASHSCOPE_API_KEY", fast_emulator.api_key)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", fast_emulator.base_url)
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", "0.001")
    (tmp_path / "prompts.txt").write_text("a red fox\na blue whale\n", encoding="utf-8")
    return tmp_path


ARGS = ["sweep", "prompts.txt", "--seeds", "0-2", "--model", "wan2.2-t2v-plus",
        "--size", "832*480"]  # fmt: skip


def test_the_issue_command_runs_exports_and_resumes(
    env: Path, fast_emulator: Emulator, capsys: Any
) -> None:
    assert main([*ARGS, "--export", "results.parquet"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "results.parquet"
    assert "6 cells, 0 already done" in err
    assert "6/6 done" in err.splitlines()[-1]  # the progress line's last word
    frame = pd.read_parquet(env / "results.parquet")
    assert len(frame) == 6 and sorted(frame["seed"]) == [0, 0, 1, 1, 2, 2]
    assert (frame["size"] == "832*480").all() and frame["path"].notna().all()
    made = fast_emulator.stats()["tasks_created"]
    assert made == 6
    assert main(ARGS) == 0  # again: a resume that has nothing left to pay for
    assert "6 cells, 6 already done" in capsys.readouterr().err
    assert fast_emulator.stats()["tasks_created"] == 6


def test_bad_cells_exit_2_before_anything_is_sent(
    env: Path, fast_emulator: Emulator, capsys: Any
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*ARGS, "--size", "1280*720"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "6 of 12 sweep cells are invalid" in err
    assert fast_emulator.stats()["tasks_created"] == 0
    assert not (env / "wan_outputs").exists()


def test_seed_lists() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("1,5,9") == [1, 5, 9]
    assert parse_seeds("0-1,10") == [0, 1, 10]
    for bad in ("4-0", "a", "1,,2"):
        with pytest.raises(Exception, match="not a seed list"):
            parse_seeds(bad)
