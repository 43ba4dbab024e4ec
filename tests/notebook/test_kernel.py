"""``%%wanvideo`` in a real Jupyter kernel, executed by nbclient (as nbconvert/papermill/nbval
do), against an emulator running in the test process."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

pytestmark = pytest.mark.slow

SETUP = "%load_ext wan_notebook\n%config WanVideoMagic.poll_scale = 0.005"
FAST = "--model wan2.5-t2v-preview --size 832*480"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def execute(
    cells: list[str], folder: Path, emu: Any, *, allow_errors: bool = False
) -> nbformat.NotebookNode:
    """Run ``cells`` in a fresh kernel whose cwd is ``folder``; the key and base URL reach it
    through the environment. The executed notebook is saved as ``folder/run.ipynb``."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    env = dict(os.environ, DASHSCOPE_API_KEY=emu.api_key, DASHSCOPE_HTTP_BASE_URL=emu.base_url)
    client = NotebookClient(
        nb, timeout=90, kernel_name="python3", allow_errors=allow_errors,
        resources={"metadata": {"path": str(folder)}},
    )  # fmt: skip
    try:
        client.execute(env=env)
    finally:
        nbformat.write(nb, folder / "run.ipynb")
    return nb


def displays(cell: Any) -> list[dict[str, Any]]:
    return [o["data"] for o in cell.outputs if o["output_type"] in ("display_data",)]


def stdout(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o["output_type"] == "stream")


def test_blocking_and_background_cells(
    tmp_path: Path, emulator_factory: Any, canary_key: str
) -> None:
    emu = emulator_factory(speed=200.0, rate_limits=False, api_keys=(canary_key,))
    nb = execute(
        [
            SETUP,
            f"%%wanvideo {FAST} -o clip\na red fox in a trench coat",
            "m = get_ipython()._wan_notebook_magic\n"
            "print(clip.path.is_file(), m.last_panel.history)",
            f"%%wanvideo {FAST} --background -o job\na red fox in the snow",
            "print('returned at once:', not job.done())",
            "result = await job\nprint(result.path.is_file(), m.last_panel.history)",
            "%wanvideo config",
        ],
        tmp_path,
        emu,
    )
    blocking, background = displays(nb.cells[1]), displays(nb.cells[3])
    assert len(blocking) == 1 and len(background) == 1  # one panel each, updated in place
    for panel in (blocking[0], background[0]):
        assert WIDGET_MIME not in panel  # the final bundle is plain HTML + text
        assert "SUCCEEDED" in panel["text/plain"]
        html = panel["text/html"]
        assert '<video class="wan-video" src="wan_outputs/' in html and "data:video/mp4" not in html
        assert len(html) < 30_000  # the player references the file; only the poster is inlined
    history = "['PENDING', 'RUNNING', 'SUCCEEDED']"
    assert stdout(nb.cells[2]) == f"True {history}\n"
    assert stdout(nb.cells[4]) == "returned at once: True\n"
    assert stdout(nb.cells[5]) == f"True {history}\n"
    videos = sorted((tmp_path / "wan_outputs").glob("*.mp4"))
    assert len(videos) == 2
    for video in videos:
        assert f"wan_outputs/{video.name}" in json.dumps(nb.cells[1].outputs) + json.dumps(
            nb.cells[3].outputs
        )
    assert "from env DASHSCOPE_API_KEY" in stdout(nb.cells[6])
    # the key never reaches the notebook or the outputs folder
    assert canary_key not in (tmp_path / "run.ipynb").read_text()
    for path in (tmp_path / "wan_outputs").iterdir():
        assert canary_key.encode() not in path.read_bytes()


def test_errors_fail_the_run(tmp_path: Path, emulator: Any) -> None:
    emulator.faults.add("create", "moderate_input", match="forbidden")
    nb = execute(
        [SETUP, f"%%wanvideo {FAST} --size 1x1\na fox", f"%%wanvideo {FAST}\na forbidden fox"],
        tmp_path,
        emulator,
        allow_errors=True,
    )
    # a UsageError is one stderr line (no traceback), yet the cell's reply is an error
    assert [o["output_type"] for o in nb.cells[1].outputs] == ["stream"]
    usage = nb.cells[1].outputs[0]["text"]
    assert usage.startswith("UsageError: size '1x1'") and usage.count("\n") == 1
    moderated = [o for o in nb.cells[2].outputs if o["output_type"] == "error"]
    assert moderated and moderated[0]["ename"] == "ContentModerationError"
    assert "Rephrase the prompt" in displays(nb.cells[2])[-1]["text/html"]
    assert emulator.stats()["tasks_created"] == 0
    with pytest.raises(CellExecutionError, match="ContentModerationError"):
        execute([SETUP, f"%%wanvideo {FAST}\na forbidden fox"], tmp_path, emulator)
    with pytest.raises(CellExecutionError, match="UsageError"):
        execute([SETUP, f"%%wanvideo {FAST} --size 1x1\na fox", "1"], tmp_path, emulator)
