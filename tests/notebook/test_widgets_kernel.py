"""The form, the gallery and the batch grid in a real Jupyter kernel, run by nbclient (as
nbconvert/papermill/nbval do) against an emulator in the test process. Buttons are pressed
with ``Button.click()`` in a cell: the same handlers a frontend's click runs, on the kernel's
running loop."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
XSS = "a <img src=x onerror=alert(1)> fox"


def execute(cells: list[str], folder: Path, emu: Any) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    env = dict(os.environ, DASHSCOPE_API_KEY=emu.api_key, DASHSCOPE_HTTP_BASE_URL=emu.base_url)
    client = NotebookClient(
        nb, timeout=90, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    try:
        client.execute(env=env)
    finally:
        nbformat.write(nb, folder / "run.ipynb")
    return nb


def stdout(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o["output_type"] == "stream")


def bundles(cell: Any) -> list[dict[str, Any]]:
    return [
        o["data"] for o in cell.outputs if o["output_type"] in ("display_data", "execute_result")
    ]


def test_form_gallery_and_grid_in_a_kernel(
    tmp_path: Path, emulator_factory: Any, canary_key: str
) -> None:
    emu = emulator_factory(speed=200.0, rate_limits=False, api_keys=(canary_key,))
    nb = execute(
        [
            "%load_ext wan_notebook\n%config WanVideoMagic.poll_scale = 0.005",
            "from wan_notebook.notebook.gallery import Gallery\ng = Gallery(); g",
            "form = %wanvideo form\n"
            f"form.prompt.value = {XSS!r}\n"
            "form.model.value = 'wan2.2-t2v-plus'\n"
            "print([v for _, v in form.size.options][:3], form.duration.disabled)\n"
            "form.model.value = 'wan2.5-t2v-preview'\n"
            "form.size.value = '832*480'\n"
            "form",
            "form.generate.click()\n"
            "job = form.jobs[-1]\n"
            "print('returned at once:', not job.done())\n"
            "result = await job\n"
            "print(result.path.is_file(), '<video' in form.slots[-1].html, job.phase)",
            "from wan_notebook.notebook.batch import BatchGrid\n"
            "grid = BatchGrid.start(['a cat', 'a dog'], model='wan2.2-t2v-plus', "
            "size='832*480')\n"
            "outcomes = await grid\n"
            "print(grid.counts(), len(g.results), g.refreshes)",
            "%wanvideo gallery",
        ],
        tmp_path,
        emu,
    )
    cells = nb.cells
    empty = bundles(cells[1])[0]
    assert WIDGET_MIME in empty and "No saved videos yet" in empty["text/html"]
    assert stdout(cells[2]) == "['832*480', '480*832', '624*624'] True\n"
    form = bundles(cells[2])[0]
    assert WIDGET_MIME in form and "&lt;img src=x" in form["text/html"]
    assert "<img src=x" not in form["text/html"]
    assert "%%wanvideo --model wan2.5-t2v-preview --size 832*480" in form["text/html"]
    assert stdout(cells[3]) == "returned at once: True\nTrue True saved\n"
    # the gallery opened before any video refreshed itself for each of the three saves
    assert stdout(cells[4]) == "{'SUCCEEDED': 2} 3 4\n"
    grid = bundles(cells[4])[-1]
    assert WIDGET_MIME in grid and "2 jobs" in grid["text/plain"]
    gallery = bundles(cells[5])[-1]
    html = gallery["text/html"]
    assert html.count('<video class="wan-video" src="wan_outputs/') == 3
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert len(list((tmp_path / "wan_outputs").glob("*.mp4"))) == 3
    assert canary_key not in (tmp_path / "run.ipynb").read_text()
    assert canary_key not in json.dumps(nb.metadata)
