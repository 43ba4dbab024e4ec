"""The form's live estimate and max-cost box (``notebook/estimate_view.py``), in-process
widgets against the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wan_notebook.catalog import pricing
from wan_notebook.errors import BudgetExceededError
from wan_notebook.notebook.form import GenerateForm

FAST = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DASHSCOPE_REGION", "WAN_NOTEBOOK_BUDGET", "WAN_NOTEBOOK_PRICES"):
        monkeypatch.delenv(name, raising=False)
    pricing.reset_prices()


def test_the_estimate_follows_the_settings() -> None:
    form = GenerateForm(prompt="a fox", **FAST, api_key="sk-x", base_url="http://127.0.0.1:9")
    assert "Estimated cost: $0.25 (singapore)" in form.cost.label.value
    assert "480P, $0.05/s" in form.cost.label.value
    form.size.value = "1920*1080"
    form.duration.value = 10
    assert "Estimated cost: $1.50" in form.cost.label.value
    form.model.value = "wan3.0-video"
    assert "unknown" in form.cost.label.value
    form.prompt.value = ""  # not valid: no estimate shown
    assert form.cost.label.value == ""
    beijing = GenerateForm(prompt="a fox", **FAST, region="beijing", api_key="sk-x")
    assert "¥1.50 (beijing)" in beijing.cost.label.value


def test_the_max_cost_box_warns_and_generate_refuses(emulator: Any) -> None:
    form = GenerateForm(
        prompt="a fox", **FAST, output_dir="out", api_key=emulator.api_key,
        base_url=emulator.base_url, poll_scale=0.005, max_cost=0.2,
    )  # fmt: skip
    try:
        assert "above the max cost $0.20: Generate refuses" in form.cost.label.value
        with pytest.raises(BudgetExceededError, match=r"exceeds max cost \$0.20"):
            form.submit()
        form.generate.click()  # a click shows the error in the form instead
        assert "exceeds max cost" in form.message.value
        assert emulator.stats()["tasks_created"] == 0
        assert sum(emulator.stats()["requests"].values()) == 0
        form.cost.max_cost.value = "5 CNY"
        assert "is in CNY, but these requests are billed in USD" in form.cost.label.value
        form.cost.max_cost.value = "0.25"
        assert "refuses" not in form.cost.label.value
        job = form.submit()
        result = job.result(timeout=60)
        assert form.slots[0].panel.state.cost == "est. $0.25"
        assert result.metadata["cost"]["actual"] == pytest.approx(0.25)
    finally:
        form.close()
    assert emulator.stats()["tasks_created"] == 1
