"""Re-execute the example notebooks in place, as ``pytest --nbval`` will check them.

    python scripts/refresh_notebooks.py                  # every notebooks/*.ipynb
    python scripts/refresh_notebooks.py 01-quickstart    # one of them

Each runs in emulator mode with an empty ``notebooks/wan_outputs/`` (the same preparation as
``notebooks/conftest.py``), then is saved with its outputs and checked: no absolute path of this
machine, no API key, no widget state.

One change is made to the outputs: ``wan_outputs/`` is not in the repository, so the poster
frames the outputs reference there are inlined as small JPEG ``data:`` URIs; a static viewer
(GitHub) then shows each video's first frame. A live run references the files instead;
``nbval_sanitize.cfg`` treats both forms as the same poster.
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
            nb = execute_notebook(path, cwd=NOTEBOOKS, env=prep.emulator_mode_env(home))
        posters = inline_posters(nb, NOTEBOOKS)
        text = nbformat.writes(nb)
        bad = leaks(text)
        if bad:
            print(f"{path.name}: NOT saved, it contains {bad}", file=sys.stderr)
            return 1
        nbformat.write(nb, path)
        took = time.monotonic() - started
        print(f"{path.name}: executed and saved in {took:.1f} s ({posters} poster references)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
