"""Re-execute the example notebooks in place, as ``pytest --nbval`` will check them.

    python scripts/refresh_notebooks.py                  # every notebooks/*.ipynb
    python scripts/refresh_notebooks.py 01-quickstart    # one of them

Each runs in emulator mode with an empty ``notebooks/wan_outputs/`` (the same preparation as
``notebooks/conftest.py``), then is saved with its outputs and checked: no absolute path of this
machine, no API key, no widget state.

The outputs are then made to look right where ``wan_outputs/`` does not exist (it is not in
the repository: GitHub, a fresh clone):

* each ``<video>`` player becomes its inlined poster with "run the cell to make this video"
  (:func:`wan_notebook.notebook.render.missing_video_html`, what a live kernel shows for a
  missing file), instead of a dead player;
* poster references left in HTML are inlined as small JPEG ``data:`` URIs;
* the emulator's port (different on every run, stale in a clone) is not stored.

``nbval_sanitize.cfg`` treats the live and the stored forms as the same.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import re
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def _prep() -> object:
    spec = importlib.util.spec_from_file_location("_nb_prep", NOTEBOOKS / "conftest.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


POSTER_SRC = re.compile(r'"(wan_outputs/[^"]+\.png)"')
POSTER_WIDTH = 416


def _thumbnail(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        img.thumbnail((POSTER_WIDTH, POSTER_WIDTH))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=70, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def inline_posters(nb: nbformat.NotebookNode, folder: Path) -> int:
    """Replace poster references in HTML outputs by inline thumbnails; returns how many."""
    cache: dict[str, str] = {}
    count = 0

    def swap(match: re.Match[str]) -> str:
        nonlocal count
        rel = unquote(match.group(1))
        if rel not in cache:
            cache[rel] = _thumbnail(folder / rel)
        count += 1
        return f'"{cache[rel]}"'

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/html" in data:
                data["text/html"] = POSTER_SRC.sub(swap, data["text/html"])
    return count


PLAYER = re.compile(r'<video class="wan-video" src="(wan_outputs/[^"]+)"([^>]*)>.*?</video>')
ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')
LOCAL_URL = re.compile(r"(https?://)?127\.0\.0\.1:\d+(/api/v1)?")
#: what a stored notebook says instead of the emulator's URL of the run that made it
LOCAL_TEXT = "a local port on 127.0.0.1"


def freeze_players(nb: nbformat.NotebookNode) -> int:
    """Replace each ``<video>`` of a ``wan_outputs/`` file by the poster and "run the cell to
    make this video" (the files are not in the repository); returns how many."""
    from html import unescape

    from wan_notebook.notebook.render import missing_video_html

    count = 0

    def swap(match: re.Match[str]) -> str:
        nonlocal count
        attrs = dict(ATTR.findall(match.group(2)))
        count += 1
        poster = unescape(attrs["poster"]) if "poster" in attrs else None
        return missing_video_html(
            unquote(match.group(1)),
            poster_src=poster,
            width=int(attrs.get("width") or 640),
            alt=attrs.get("aria-label", "generated video"),
        )

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "text/html" in data:
                data["text/html"] = PLAYER.sub(swap, data["text/html"])
    return count


def hide_ports(nb: nbformat.NotebookNode) -> int:
    """Replace the emulator's loopback URL in every output; returns how many."""
    count = 0

    def fix(text: str) -> str:
        nonlocal count
        new, n = LOCAL_URL.subn(LOCAL_TEXT, text)
        count += n
        return new

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = fix(out["text"])
            for mime, value in out.get("data", {}).items():
                if isinstance(value, str):
                    out["data"][mime] = fix(value)
    return count


def tag_live_panels(nb: nbformat.NotebookNode) -> int:
    """Tag each ``%%wanvideo`` cell ``nbval-ignore-output``; returns how many were untagged.

    Its panel is one display updated in place (``update_display_data``), which nbval ignores:
    nbval would compare the first, QUEUED view with the stored final one.
    """
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.lstrip().startswith("%%wanvideo"):
            tags = cell.metadata.setdefault("tags", [])
            if "nbval-ignore-output" not in tags:
                tags.append("nbval-ignore-output")
                count += 1
    return count


def leaks(text: str) -> list[str]:
    """Things a stored notebook must not contain."""
    found = []
    for needle in {str(ROOT), str(Path.home()), tempfile.gettempdir() + "/"}:
        if needle in text:
            found.append(needle)
    found += re.findall(r"sk-[A-Za-z0-9]{8,}", text.replace("sk-wan-emulator-demo", ""))
    return found


def main(argv: list[str]) -> int:
    from wan_notebook.demo import execute_notebook

    prep = _prep()
    names = argv or sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    for name in names:
        path = NOTEBOOKS / (name if name.endswith(".ipynb") else name + ".ipynb")
        prep.fresh_outputs()
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="wan-nb-home-") as home:
            try:
                nb = execute_notebook(path, cwd=NOTEBOOKS, env=prep.emulator_mode_env(home))
            finally:
                prep.stop_emulator(home)
        posters = inline_posters(nb, NOTEBOOKS)
        players = freeze_players(nb)
        ports = hide_ports(nb)
        tag_live_panels(nb)
        text = nbformat.writes(nb)
        bad = leaks(text) + (["a <video> of wan_outputs/"] if PLAYER.search(text) else [])
        if bad:
            print(f"{path.name}: NOT saved, it contains {bad}", file=sys.stderr)
            return 1
        nbformat.write(nb, path)
        took = time.monotonic() - started
        print(
            f"{path.name}: executed and saved in {took:.1f} s ({players} players frozen, "
            f"{posters} poster references inlined, {ports} emulator URLs hidden)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
