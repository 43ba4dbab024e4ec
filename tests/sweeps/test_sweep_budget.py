"""Sweeps and prices (issue 15 x 16): the estimate of a sweep, ``max_cost`` refusing a run
before any request, and the cost of each video in the results table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wan_notebook.catalog import pricing
from wan_notebook.cli import main
from wan_notebook.emulator import Emulator
from wan_notebook.errors import BudgetExceededError, ValidationError
from wan_notebook.sweeps import sweep

PROMPTS = ["a red fox in snow", "a blue whale", "a paper lantern"]
MODEL, SIZE = "wan2.2-t2v-plus", "832*480"


def per_second() -> float:
    """The catalog's price of wan2.2-t2v-plus at 480P where the emulator stands (no known
    region's host: the default region, Singapore)."""
    row = pricing.price_for(MODEL, "singapore")
    assert row is not None and row.currency == "USD"
    return dict(((t, a), p) for t, a, p in row.per_second)[("480P", None)]


def make(tmp_path: Path, connect: dict[str, Any], **kw: Any) -> Any:
    return sweep(
        PROMPTS, seeds=[0, 1], models=[MODEL], params={"size": [SIZE], "duration": [5]},
        output_dir=tmp_path / "out", **connect, **kw,
    )  # fmt: skip


def test_the_estimate_is_six_videos_of_five_seconds_and_saved_ones_are_free(
    tmp_path: Path, connect: dict[str, Any]
) -> None:
    sw = make(tmp_path, connect)
    est = sw.estimate()
    expected = 6 * 5 * per_second()  # 3 prompts x 2 seeds x 5 s
    assert est.currency == "USD" and not est.unknown
    assert est.low == pytest.approx(expected) and est.high == pytest.approx(expected)
    sw.run()
    assert sw.estimate().high == 0  # everything is saved now
    assert sw.estimate(all_cells=True).high == pytest.approx(expected)
    frame = sw.results()
    assert (frame["currency"] == "USD").all()
    assert frame["cost"].sum() == pytest.approx(expected)  # billed: output seconds x price


def test_max_cost_below_the_estimate_refuses_before_any_request(
    tmp_path: Path, connect: dict[str, Any], fast_emulator: Emulator
) -> None:
    cap = 6 * 5 * per_second() * 0.9
    sw = make(tmp_path, connect, max_cost=cap)
    with pytest.raises(BudgetExceededError) as info:
        sw.run()
    assert "max_cost" in str(info.value)
    assert fast_emulator.stats()["requests"].get("create", 0) == 0
    assert sw.status().counts.get("pending") == 6  # nothing started, nothing lost
    enough = make(tmp_path, connect, max_cost=f"{cap * 2:.2f} USD")
    assert enough.run().done == 6


def test_a_bad_budget_is_refused_when_the_sweep_is_made(
    tmp_path: Path, connect: dict[str, Any], fast_emulator: Emulator
) -> None:
    for bad in (-1, float("nan"), "lots", "5 CNY"):  # the emulator is priced in USD
        with pytest.raises(ValidationError) as info:
            make(tmp_path, connect, max_cost=bad)
        assert "max_cost" in str(info.value)
    assert fast_emulator.stats()["requests"].get("create", 0) == 0
    assert not (tmp_path / "out" / "sweeps.sqlite").exists()


def test_the_cli_dry_run_prints_the_estimate_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_emulator: Emulator, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DASHSCOPE_API_KEY", fast_emulator.api_key)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", fast_emulator.base_url)
    (tmp_path / "prompts.txt").write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    args = ["sweep", "prompts.txt", "--seeds", "0-1", "--model", MODEL, "--size", SIZE]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "6 requests" in out and f"${6 * 5 * per_second():.2f}" in out
    assert main([*args, "--max-cost", "0.01"]) != 0
    assert "max" in capsys.readouterr().err.lower()
    assert fast_emulator.stats()["requests"].get("create", 0) == 0
