"""``wanvideo demo``: the quick-start notebook, run headless against an embedded emulator.

It starts an :class:`~wan_notebook.emulator.Emulator`, executes ``01-quickstart.ipynb`` with
nbclient in a kernel whose environment points at it (``DASHSCOPE_HTTP_BASE_URL``,
``DASHSCOPE_API_KEY``, ``WAN_NOTEBOOK_POLL_SCALE``: the notebook's ``%wanvideo connect`` then
uses that server instead of starting a second one), and writes into one folder the executed
notebook, its HTML export and the videos it made (with sidecars, posters and the index: the
same store ``wanvideo generate`` uses). Nothing reaches Alibaba Cloud; the videos are synthetic.

The notebooks ship inside the wheel as ``wan_notebook/_notebooks``; in an editable install they
are read from the repository's ``notebooks/`` folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .settings import SETTINGS_ENV

if TYPE_CHECKING:
    from nbformat import NotebookNode

__all__ = [
    "DEMO_NOTEBOOK",
    "execute_notebook",
    "export_html",
    "kernel_env",
    "notebook_path",
    "notebooks_dir",
    "run_demo",
]

DEMO_NOTEBOOK = "01-quickstart.ipynb"
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def notebooks_dir() -> Path:
    """The folder holding the bundled notebooks (wheel: ``wan_notebook/_notebooks``; editable
    install or source checkout: the repository's ``notebooks/``)."""
    bundled = resources.files("wan_notebook") / "_notebooks"
    if bundled.is_dir():
        return Path(str(bundled))
    repo = Path(__file__).resolve().parent.parent / "notebooks"
    if repo.is_dir():
        return repo
    raise FileNotFoundError(
        "the example notebooks are not installed (expected wan_notebook/_notebooks in the "
        f"package or {repo}); reinstall wan-notebook"
    )


def notebook_path(name: str = DEMO_NOTEBOOK) -> Path:
    """The path of one bundled notebook, e.g. ``notebook_path("01-quickstart.ipynb")``."""
    path = notebooks_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"no notebook {name!r} in {path.parent}")
    return path


def kernel_env(
    base_url: str, api_key: str, poll_scale: float, *, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a kernel that must talk to the server at ``base_url`` only."""
    env = {k: v for k, v in (os.environ if base is None else base).items()}
    for name in SETTINGS_ENV:
        env.pop(name, None)
    env["DASHSCOPE_HTTP_BASE_URL"] = base_url
    env["DASHSCOPE_API_KEY"] = api_key
    env["WAN_NOTEBOOK_POLL_SCALE"] = repr(poll_scale)
    return env


def execute_notebook(
    source: str | os.PathLike[str],
    *,
    cwd: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
    extra_arguments: Sequence[str] = (),
    kernel_stderr: Any = None,
) -> NotebookNode:
    """Run every cell of ``source`` in a fresh ``python3`` kernel working in ``cwd``.

    Raises nbclient's ``CellExecutionError`` when a cell fails (a video that could not be made
    raises in its cell, so a broken run never passes). The returned notebook keeps what every
    viewer can show: no saved widget state, and no widget views in outputs that also carry
    HTML or text (a reopened notebook would otherwise say "model not found" instead of
    showing the HTML the panels, forms and galleries provide for exactly this case).
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(os.fspath(source), as_version=4)
    client = NotebookClient(
        nb,
        timeout=int(timeout),
        record_timing=False,
        kernel_name="python3",
        extra_arguments=list(extra_arguments),
        resources={"metadata": {"path": os.fspath(cwd)}},
    )
    kwargs: dict[str, Any] = {}
    if env is not None:
        kwargs["env"] = dict(env)
    if kernel_stderr is not None:
        kwargs["stderr"] = kernel_stderr
    client.execute(**kwargs)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if _WIDGET_MIME in data and ("text/html" in data or "text/plain" in data):
                del data[_WIDGET_MIME]
    return nb


def export_html(nb: NotebookNode, path: str | os.PathLike[str]) -> Path:
    """Write ``nb`` as a standalone HTML page (JupyterLab's look) and return its path."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    out = Path(path)
    out.write_text(body, encoding="utf-8")
    return out


def _relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)


def run_demo(
    directory: str | os.PathLike[str] = "wan_outputs",
    *,
    speed: float = 60.0,
    name: str = DEMO_NOTEBOOK,
    stream: TextIO | None = None,
) -> int:
    """Run the quick-start on an embedded emulator; write the executed notebook, its HTML
    and the videos into ``directory``; print their paths. Returns the exit code."""
    import nbformat
    from nbclient.exceptions import CellExecutionError

    from .emulator import Emulator
    from .store import OutputStore

    out = stream or sys.stdout
    source = notebook_path(name)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(speed=speed).start()
    started = time.monotonic()
    try:
        print(
            f"Wan emulator at {emulator.base_url}: videos are SYNTHETIC test clips, "
            "nothing reaches Alibaba Cloud.",
            file=out,
        )
        print(f"running {name} (headless) ...", file=out, flush=True)
        env = kernel_env(emulator.base_url, emulator.api_key, 1.0 / speed)
        with tempfile.TemporaryFile("w+") as log:
            try:
                nb = execute_notebook(
                    source,
                    cwd=folder,
                    env=env,
                    # the videos go next to the executed notebook, so its links work there
                    extra_arguments=["--WanVideoMagic.directory=."],
                    kernel_stderr=log,
                )
            except CellExecutionError as exc:
                print(f"the notebook failed:\n{exc}", file=sys.stderr)
                return 1
            except Exception as exc:  # a kernel that did not start, a timeout
                log.seek(0)
                tail = log.read()[-2000:]
                print(f"the notebook could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
                if tail:
                    print(tail, file=sys.stderr)
                return 1
    finally:
        emulator.stop()
    executed = folder / name
    nbformat.write(nb, executed)
    page = export_html(nb, executed.with_suffix(".html"))
    text = nbformat.writes(nb)
    videos = [r.video for r in OutputStore(folder).results() if r.task_id in text]
    print(f"done in {time.monotonic() - started:.1f} s:", file=out)
    print(f"  notebook  {_relative(executed)}", file=out)
    print(f"  HTML      {_relative(page)}", file=out)
    for video in reversed(videos):
        print(f"  video     {_relative(video)}", file=out)
    print(
        "Open the HTML in a browser, or the notebook in Jupyter (pip install jupyterlab). "
        "With DASHSCOPE_API_KEY set, the same notebook uses the real service.",
        file=out,
    )
    return 0
