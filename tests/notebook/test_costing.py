"""Cost in the notebook: ``%%wanvideo --max-cost``, ``%config WanVideoMagic.budget`` and the
panel's "est. -> actual" line, against the emulator in IPython's in-process shell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from wan_notebook.catalog import pricing
from wan_notebook.errors import BudgetExceededError
from wan_notebook.notebook import render
from wan_notebook.notebook.costing import cost_label

# Singapore: 832*480 x 5 s x $0.05 = $0.25
FAST = "--model wan2.5-t2v-preview --size 832*480 --duration 5"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DASHSCOPE_REGION", "WAN_NOTEBOOK_BUDGET", "WAN_NOTEBOOK_PRICES"):
        monkeypatch.delenv(name, raising=False)
    pricing.reset_prices()


def use(ip: Any, emu: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", emu.api_key)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", emu.base_url)
    ip.run_line_magic("config", "WanVideoMagic.poll_scale = 0.005")


def run(ip: Any, cell: str) -> tuple[Any, Any]:
    with capture_output() as cap:
        result = ip.run_cell(cell)
    return result, cap


def magic(ip: Any) -> Any:
    return ip.magics_manager.registry["WanVideoMagic"]


def test_max_cost_refuses_before_any_request(ip, emulator, monkeypatch) -> None:
    use(ip, emulator, monkeypatch)
    result, _ = run(ip, f"%%wanvideo {FAST} --max-cost 0.2\na fox")
    assert isinstance(result.error_in_exec, BudgetExceededError)
    assert "exceeds --max-cost $0.20" in str(result.error_in_exec)
    result, _ = run(ip, f"%%wanvideo {FAST} --max-cost '5 CNY'\na fox")
    assert isinstance(result.error_in_exec, UsageError)
    assert "is in CNY, but these requests are billed in USD" in str(result.error_in_exec)
    assert emulator.stats()["tasks_created"] == 0
    assert sum(emulator.stats()["requests"].values()) == 0


def test_panel_shows_estimate_then_actual(ip, emulator, monkeypatch) -> None:
    use(ip, emulator, monkeypatch)
    result, _ = run(ip, f"%%wanvideo {FAST} --max-cost 0.25 -o clip\na fox")
    assert result.error_in_exec is None
    panel = magic(ip).last_panel
    assert panel.state.cost == "est. $0.25"
    html = render.panel_html(panel.state)
    assert "est. $0.25 -&gt; $0.25" in html
    assert "est. $0.25 -> $0.25" in render.panel_text(panel.state)
    # the same request again: saved before, no new cost (and a zero cap passes)
    result, _ = run(ip, f"%%wanvideo {FAST} --max-cost 0\na fox")
    assert result.error_in_exec is None
    assert cost_label(magic(ip).last_panel.state) == "saved before: no new cost"
    assert emulator.stats()["tasks_created"] == 1


def test_config_budget_caps_the_folder(ip, emulator, monkeypatch, tmp_path: Path) -> None:
    use(ip, emulator, monkeypatch)
    ip.run_line_magic("config", "WanVideoMagic.budget = '0.3 USD'")
    result, _ = run(ip, f"%%wanvideo {FAST}\none")
    assert result.error_in_exec is None
    result, _ = run(ip, f"%%wanvideo {FAST}\ntwo")
    assert isinstance(result.error_in_exec, BudgetExceededError)
    assert "%config WanVideoMagic.budget" in str(result.error_in_exec)
    assert "spent 0.25" in str(result.error_in_exec)
    assert emulator.stats()["tasks_created"] == 1
    # the reservation of the first run was released when its job ended
    import sqlite3

    with sqlite3.connect(tmp_path / "wan_outputs" / "index.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM reservations").fetchone()[0] == 0


def test_batch_grid_caps_and_totals(emulator, tmp_path: Path, monkeypatch, shell) -> None:
    from wan_notebook.notebook.batch import BatchGrid

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", "0.005")
    env = {"output_dir": "out", "api_key": emulator.api_key, "base_url": emulator.base_url}
    fast = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}
    with pytest.raises(BudgetExceededError, match=r"high \$0.50\) exceeds max_cost \$0.40"):
        BatchGrid.start(["a", "b"], max_cost=0.4, show=False, **fast, **env)
    with pytest.raises(BudgetExceededError):
        BatchGrid.run(["a", "b"], max_cost=0.4, show=False, **fast, **env)
    assert emulator.stats()["tasks_created"] == 0
    assert sum(emulator.stats()["requests"].values()) == 0
    grid = BatchGrid(widgets=False)
    outcomes = generate_many_with(grid, ["a", "b"], max_cost=0.5, **fast, **env)
    assert all(o.path.is_file() for o in outcomes)
    assert "2 jobs: 2 SUCCEEDED · est. $0.50 · spent $0.50 (est. $0.50)" in grid.summary()
    assert str(outcomes.cost) == "2 new videos: spent $0.50 (est. $0.50)"


def generate_many_with(grid: Any, prompts: list[str], **kw: Any) -> Any:
    from wan_notebook import generate_many

    with capture_output():
        return generate_many(prompts, on_job=grid.add, **kw)
