"""The example notebooks as stored in the repository: what GitHub and a fresh clone show.

``wan_outputs/`` is not in the repository, so a stored ``<video>`` of it would be a dead
player; the stored outputs show each video's inlined poster and "run the cell to make this
video" instead (``scripts/refresh_notebooks.py``), carry no emulator port, and keep their
posters through an HTML export (nbconvert).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def html_outputs(nb: nbformat.NotebookNode) -> list[str]:
    return [
        out["data"]["text/html"]
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "text/html" in out.get("data", {})
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_work_without_the_videos(path: Path) -> None:
    text = path.read_text()
    nb = nbformat.reads(text, as_version=4)
    html = "".join(html_outputs(nb))
    assert '<video class="wan-video" src="wan_outputs/' not in html  # no dead players
    missing = re.findall(r'<figure class="wan-missing".*?</figure>', html)
    assert missing, "each saved video should appear as its poster"
    for figure in missing:
        assert '<img src="data:image/jpeg;base64,' in figure  # the poster, inlined
        assert "run the cell to make this video" in figure
    assert not re.search(r"127\.0\.0\.1:\d+", text)  # no (stale) emulator port
    assert len(text) < 400_000  # posters are small thumbnails


def test_the_html_export_keeps_the_posters() -> None:
    from nbconvert import HTMLExporter

    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    body, _ = HTMLExporter().from_notebook_node(nb)
    assert body.count('<figure class="wan-missing"') >= 1
    assert body.count('src="data:image/jpeg;base64,') >= 1  # nbconvert reorders attributes
