"""Budgets against the real emulator: refused before any request, actual cost in sidecars,
folder budgets shared by real processes."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wan_notebook import api
from wan_notebook.budget import parse_budget
from wan_notebook.catalog import pricing
from wan_notebook.errors import BudgetExceededError, ValidationError
from wan_notebook.store import OutputStore

SPEED = 200.0
# Singapore (the default region): 832*480 x 5 s x $0.05 = $0.25 per video
FAST = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", str(1 / SPEED))
    for name in ("DASHSCOPE_REGION", "WAN_NOTEBOOK_BUDGET", "WAN_NOTEBOOK_PRICES"):
        monkeypatch.delenv(name, raising=False)
    pricing.reset_prices()


def conn(emu) -> dict[str, str]:
    return {"api_key": emu.api_key, "base_url": emu.base_url}


def nothing_sent(emu) -> bool:
    stats = emu.stats()
    return stats["tasks_created"] == 0 and sum(stats["requests"].values()) == 0


def test_parse_budget() -> None:
    assert parse_budget(5, "USD") == 5.0
    assert parse_budget("5 USD", "USD") == parse_budget("$5", "USD") == 5.0
    assert parse_budget("35 CNY", "CNY") == parse_budget("¥35", "CNY") == 35.0
    assert parse_budget("usd 0.5", "USD") == 0.5 and parse_budget(None, "USD") is None
    for bad, needle in [
        (-1, "is negative"),
        (math.nan, "not a finite"),
        (math.inf, "not a finite"),
        ("five", "is not an amount"),
        ("5 EUR", "unknown currency 'EUR'"),
        ("5 USD", "is in USD, but these requests are billed in CNY"),
    ]:
        with pytest.raises(ValidationError, match=needle) as info:
            parse_budget(bad, "CNY")
        assert info.value.param == "max_cost"
    for bad in (True, [5], {"usd": 5}):
        with pytest.raises(ValidationError, match="max_cost"):
            parse_budget(bad, "USD")


def test_generate_refuses_over_budget_before_any_request(emulator, tmp_path: Path) -> None:
    with pytest.raises(BudgetExceededError) as info:
        api.generate("a harbour", output_dir=tmp_path, max_cost=0.2, **FAST, **conn(emulator))
    msg = str(info.value)
    assert "$0.25" in msg and "max_cost $0.20" in msg and "nothing was sent" in msg
    assert info.value.cap == 0.2 and info.value.estimate.high == pytest.approx(0.25)
    assert nothing_sent(emulator) and not (tmp_path / "index.sqlite").exists()


@pytest.mark.parametrize(
    ("max_cost", "needle"),
    [(-1, "negative"), (math.nan, "finite"), ("lots", "not an amount"), (True, "max_cost")],
)
def test_bad_budgets_are_refused_before_any_request(
    emulator, tmp_path: Path, max_cost, needle
) -> None:
    with pytest.raises(ValidationError, match=needle):
        api.generate("x", output_dir=tmp_path, max_cost=max_cost, **FAST, **conn(emulator))
    assert nothing_sent(emulator)


def test_a_usd_budget_on_beijing_is_an_error_not_a_conversion(emulator, tmp_path) -> None:
    with pytest.raises(ValidationError, match="is in USD, but these requests are billed in CNY"):
        api.generate_many(
            ["a", "b"], output_dir=tmp_path, region="beijing", max_cost="100 USD",
            **FAST, **conn(emulator),
        )  # fmt: skip
    assert nothing_sent(emulator)


def test_unknown_price_cannot_be_capped(emulator, tmp_path: Path) -> None:
    with pytest.raises(BudgetExceededError, match=r"no price is known for wan3\.0-video"):
        api.generate(
            "x", output_dir=tmp_path, max_cost=100, model="wan3.0-video",
            resolution="720P", **conn(emulator),
        )  # fmt: skip
    assert nothing_sent(emulator)


def test_generate_many_within_budget_records_actual_cost(emulator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(BudgetExceededError, match=r"high \$0.75"):
        api.generate_many(["a", "b", "c"], output_dir=out, max_cost=0.7, **FAST, **conn(emulator))
    assert nothing_sent(emulator)
    results = api.generate_many(
        ["a", "b", "c"], output_dir=out, max_cost="0.75 USD", **FAST, **conn(emulator)
    )
    assert emulator.stats()["tasks_created"] == 3
    for result in results:
        cost = json.loads(result.sidecar.read_text())["cost"]
        assert cost["currency"] == "USD" and cost["region"] == "singapore"
        assert cost["estimate"] == pytest.approx(0.25) and cost["actual"] == pytest.approx(0.25)
        assert cost["price_per_second"] == 0.05 and cost["billed_seconds"] == 5
        assert "zh-price" in cost["source"]
    (row,) = OutputStore(out).spend()
    assert row["model"] == "wan2.5-t2v-preview" and row["videos"] == 3
    assert row["actual"] == pytest.approx(0.75) and row["currency"] == "USD"
    # saved results cost nothing: a zero budget passes and nothing is created
    again = api.generate_many(["a", "b", "c"], output_dir=out, max_cost=0, **FAST, **conn(emulator))
    assert all(r.cached for r in again) and emulator.stats()["tasks_created"] == 3


def test_folder_budget_caps_spend_in_the_store(emulator, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("WAN_NOTEBOOK_BUDGET", "0.6")
    api.generate("one", output_dir=out, **FAST, **conn(emulator))
    api.generate("two", output_dir=out, **FAST, **conn(emulator))
    with pytest.raises(BudgetExceededError, match=r"spent 0.50 \+ in flight 0.00"):
        api.generate("three", output_dir=out, **FAST, **conn(emulator))
    assert emulator.stats()["tasks_created"] == 2
    assert api.generate("one", output_dir=out, **FAST, **conn(emulator)).cached  # free
    monkeypatch.setenv("WAN_NOTEBOOK_BUDGET", "minus")
    with pytest.raises(ValidationError, match="WAN_NOTEBOOK_BUDGET"):
        api.generate("three", output_dir=out, **FAST, **conn(emulator))


_HOLDER = textwrap.dedent(
    """
    import sys
    from wan_notebook import VideoRequest, budget
    req = VideoRequest.create(sys.argv[2], model="wan2.5-t2v-preview", size="832*480",
                              duration=5)
    try:
        _, held = budget.enforce([req], None, region="singapore", base_url=None,
                                 output_dir=sys.argv[1], new=False, folder_budget="0.4 USD")
    except budget.BudgetExceededError as exc:
        print("refused", exc, flush=True)
        sys.exit(3)
    print("held", held.amount, flush=True)
    sys.stdin.readline()  # hold until the test says so
    budget.release(held)
    print("released", flush=True)
    """
)


def _start(folder: Path, prompt: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "WAN_NOTEBOOK_BUDGET"}
    return subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder), prompt],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env,
    )  # fmt: skip


def test_two_processes_share_a_folder_budget(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    first = _start(folder, "first")
    assert first.stdout.readline().split() == ["held", "0.25"]
    # a second process sees the first one's reservation: 0.25 + 0.25 > 0.40
    second = _start(folder, "second")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 3, err
    assert "in flight 0.25" in out and "nothing was sent" in out
    first.stdin.write("\n")
    first.stdin.flush()
    assert first.stdout.readline().strip() == "released"
    assert first.wait(timeout=60) == 0
    # released: a third process may now hold it
    third = _start(folder, "third")
    assert third.stdout.readline().split() == ["held", "0.25"]
    third.communicate("\n", timeout=60)
    assert third.returncode == 0


def test_a_dead_holder_reservation_is_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    first = _start(folder, "first")
    assert first.stdout.readline().split() == ["held", "0.25"]
    first.kill()  # dies holding its reservation
    first.wait(timeout=60)
    second = _start(folder, "second")
    assert second.stdout.readline().split() == ["held", "0.25"]
    second.communicate("\n", timeout=60)
    assert second.returncode == 0


def test_spend_survives_an_index_rebuild(emulator, tmp_path: Path) -> None:
    out = tmp_path / "out"
    api.generate_many(["a", "b"], output_dir=out, **FAST, **conn(emulator))
    before = OutputStore(out).spend()
    (out / "index.sqlite").unlink()
    for extra in out.glob("index.sqlite-*"):
        extra.unlink()
    report = OutputStore(out).rebuild_index()
    assert report.added == 2
    assert OutputStore(out).spend() == before and before[0]["actual"] == pytest.approx(0.5)


def test_failed_tasks_cost_nothing_and_free_their_reservation(
    emulator, tmp_path: Path, monkeypatch
) -> None:
    import sqlite3

    out = tmp_path / "out"
    monkeypatch.setenv("WAN_NOTEBOOK_BUDGET", "0.5")
    emulator.faults.add("create", "fail_task", code="DataInspectionFailed", match="forbidden")
    outcomes = api.generate_many(
        ["a fox", "a forbidden fox"], output_dir=out, return_exceptions=True,
        **FAST, **conn(emulator),
    )  # fmt: skip
    assert isinstance(outcomes[1], Exception) and outcomes[0].path.is_file()
    assert str(outcomes.cost) == "1 new video: spent $0.25 (est. $0.25)"
    (row,) = OutputStore(out).spend()
    assert row["videos"] == 1 and row["actual"] == pytest.approx(0.25)
    with sqlite3.connect(out / "index.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0
    # the failed one did not count: 0.25 spent + 0.25 for a new try fits 0.5
    emulator.faults.clear()
    assert api.generate("a cat", output_dir=out, **FAST, **conn(emulator)).path.is_file()
