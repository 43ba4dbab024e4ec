"""``Sweep.results()`` and ``Sweep.export()`` on a real sweep against the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from wan_notebook.emulator import Emulator
from wan_notebook.errors import ValidationError
from wan_notebook.sweeps import sweep
from wan_notebook.sweeps.table import COLUMNS

PROMPTS = pd.DataFrame(
    {"prompt": ["a red fox in snow", "a flagged scene", "a blue whale"],
     "dimension": ["animal", "scene", "animal"]}
)  # fmt: skip


@pytest.fixture
def ran(tmp_path: Path, fast_emulator: Emulator, connect: dict[str, Any]) -> Any:
    fast_emulator.faults.add(
        "create", "fail_task", code="DataInspectionFailed",
        message="Output data may contain inappropriate content.", match="flagged",
    )  # fmt: skip
    sw = sweep(
        PROMPTS, seeds=[0, 1], models=["wan2.2-t2v-plus"],
        params={"size": ["832*480"], "negative_prompt": ["blur"]},
        output_dir=tmp_path / "out", **connect,
    )  # fmt: skip
    status = sw.run()
    assert status.counts["done"] == 4 and status.counts["failed"] == 2
    return sw


def test_the_table_has_a_row_per_cell_with_every_column(ran: Any) -> None:
    frame = ran.results()
    assert len(frame) == 6
    assert list(frame.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert {"dimension", "usage_video_count"} <= set(frame.columns)  # metadata and usage
    ok = frame[frame["state"] == "done"]
    assert (ok["status"] == "SUCCEEDED").all() and ok["path"].map(lambda p: Path(p).is_file()).all()
    assert ok["sha256"].str.fullmatch("[0-9a-f]{64}").all()
    assert (ok["actual_prompt"].str.len() > 0).all()
    assert (ok["negative_prompt"] == "blur").all() and (ok["size"] == "832*480").all()
    assert (ok["model"] == "wan2.2-t2v-plus").all() and sorted(ok["seed"]) == [0, 0, 1, 1]
    assert (ok["region"] == "127.0.0.1").all()  # the emulator: no known region's host
    assert (ok["run_seconds"] > 0).all() and ok["saved_at"].notna().all()
    bad = frame[frame["state"] == "failed"]
    assert (bad["error_code"] == "DataInspectionFailed").all()
    assert (bad["status"] == "FAILED").all() and bad["path"].isna().all()
    assert set(bad["dimension"]) == {"scene"}
    assert frame["task_id"].nunique() == 6


def test_a_rerun_pays_nothing_and_failed_cells_wait_for_retry_failed(
    ran: Any, fast_emulator: Emulator, connect: dict[str, Any]
) -> None:
    made = fast_emulator.stats()["tasks_created"]
    again = sweep(
        PROMPTS, seeds=[0, 1], models=["wan2.2-t2v-plus"],
        params={"size": ["832*480"], "negative_prompt": ["blur"]},
        output_dir=ran.output_dir, **connect,
    )  # fmt: skip
    assert again.id == ran.id
    assert again.run().counts["failed"] == 2
    assert fast_emulator.stats()["tasks_created"] == made
    fast_emulator.faults.clear()
    assert again.run(retry_failed=True).counts["done"] == 6
    assert fast_emulator.stats()["tasks_created"] == made + 2


def test_parquet_and_csv_load_back_with_pandas(ran: Any, tmp_path: Path) -> None:
    frame = ran.results()
    back = pd.read_parquet(ran.export(tmp_path / "r.parquet"))
    assert list(back.columns) == list(frame.columns) and len(back) == 6
    assert back["task_id"].tolist() == frame["task_id"].tolist()
    csv = pd.read_csv(ran.export(tmp_path / "r.csv"))
    assert csv["prompt"].tolist() == frame["prompt"].tolist()
    with pytest.raises(ValidationError, match="format"):
        ran.export(tmp_path / "r.xlsx", format="xlsx")


def test_vbench_export_uses_prompt_index_names(ran: Any, tmp_path: Path) -> None:
    out = ran.export(tmp_path / "vbench", format="vbench")
    names = sorted(p.name for p in out.glob("*.mp4"))
    assert names == [
        "a blue whale-0.mp4", "a blue whale-1.mp4",
        "a red fox in snow-0.mp4", "a red fox in snow-1.mp4",
    ]  # fmt: skip


def test_videofolder_export_loads_with_datasets(ran: Any, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets", reason="datasets is in the [test] extra")
    out = ran.export(tmp_path / "vf", format="videofolder")
    meta = pd.read_parquet(out / "metadata.parquet")
    assert len(meta) == 4 and all((out / name).is_file() for name in meta["file_name"])
    ds = datasets.load_dataset("videofolder", data_dir=str(out), split="train")
    ds = ds.cast_column("video", datasets.Video(decode=False))  # decoding needs torchcodec
    assert len(ds) == 4
    rows = sorted((r["prompt"], r["seed"], Path(r["video"]["path"]).name) for r in ds)
    want = sorted(zip(meta["prompt"], meta["seed"], meta["file_name"], strict=True))
    assert rows == want
