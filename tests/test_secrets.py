"""Proof under stress: a canary API key used everywhere ends up nowhere.

Every example notebook runs in a real kernel, the ``wanvideo`` CLI runs its commands (and its
error paths, a rejected key among them) and the Python API raises its errors, all with a
unique canary key; then every file written (executed notebooks, their HTML exports, videos,
sidecars, posters, ``index.sqlite`` with its ``-wal``/``-shm``, the kernels' stderr and debug
logs), every log record of this process at DEBUG (httpx and httpcore included), everything
printed and every exception text (``str``, ``repr``, the formatted traceback) is searched for
it. A control file and a control text prove that the search finds what is there.

The rest of the test suite is covered by ``tests/conftest.py``: the whole session runs with
its own canary in ``DASHSCOPE_API_KEY`` and fails if any file under the temporary folder
holds it.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from wan_notebook import api, errors
from wan_notebook.cli import main
from wan_notebook.client import WanClient
from wan_notebook.demo import execute_notebook, export_html, kernel_env, notebooks_dir

pytestmark = pytest.mark.slow

#: The notebooks' own emulator speed (``%wanvideo connect``): their ``timeout=0.5`` cells
#: expect a task to outlast half a second.
NOTEBOOK_SPEED = 30.0
FAST = ["--model", "wan2.5-t2v-preview", "--size", "832*480", "--duration", "5"]
FAST_KW = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}
ENV_NAMES = (
    "DASHSCOPE_API_KEY",
    "DASHSCOPE_API_KEY_FILE_PATH",
    "DASHSCOPE_HTTP_BASE_URL",
    "DASHSCOPE_REGION",
    "DASHSCOPE_WORKSPACE_ID",
    "WAN_NOTEBOOK_POLL_SCALE",
)
#: Prepended to each copied notebook: the kernel logs everything at DEBUG into a file.
KERNEL_LOGGING = """\
import logging
_h = logging.FileHandler("kernel-debug.log", encoding="utf-8")
_h.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)r"))
logging.getLogger().addHandler(_h)
for _name in ("", "httpx", "httpcore", "wan_notebook"):
    logging.getLogger(_name).setLevel(logging.DEBUG)"""


def exception_texts(exc: BaseException) -> list[str]:
    """Everything an exception can show: str, repr and the formatted traceback with its
    causes and contexts (and the same for each link of the chain)."""
    texts = ["".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        texts += [str(link), repr(link), repr(getattr(link, "args", ()))]
        link = link.__cause__ or link.__context__
    return texts


def search(root: Path, texts: Iterable[str], needles: Iterable[str]) -> list[str]:
    """Where any needle occurs: file paths under ``root`` (every file, read as bytes) and
    ``text #i`` for the texts."""
    needles = [n for n in needles if n]
    hits = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(n.encode() in data for n in needles):
                hits.append(str(path))
    for i, text in enumerate(texts):
        if any(n in text for n in needles):
            hits.append(f"text #{i}: {text[:200]!r}")
    return hits


def run_notebook(source: Path, folder: Path, env: dict[str, str], texts: list[str]) -> Path:
    """Execute a copy of one bundled notebook in ``folder``; save it and its HTML export."""
    folder.mkdir(parents=True)
    copy = folder / f"source-{source.name}"
    nb = nbformat.read(source, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(KERNEL_LOGGING))
    nbformat.write(nb, copy)
    with open(folder / "kernel-stderr.log", "w", encoding="utf-8") as stderr:
        try:
            executed = execute_notebook(copy, cwd=folder, env=env, kernel_stderr=stderr)
        except Exception as exc:
            texts.extend(exception_texts(exc))
            raise
    nbformat.write(executed, folder / source.name)
    export_html(executed, folder / f"{source.stem}.html")
    return folder


def run_notebooks(root: Path, base_url: str, key: str, texts: list[str], home: Path) -> list[Path]:
    """Every bundled notebook, each in its own folder and kernel, one after the other (as
    nbval and ``wanvideo demo`` run them)."""
    env = kernel_env(base_url, key, 1.0 / NOTEBOOK_SPEED, base={**os.environ, "HOME": str(home)})
    return [
        run_notebook(source, root / source.stem, env, texts)
        for source in sorted(notebooks_dir().glob("*.ipynb"))
    ]


def catch(texts: list[str], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; keep the texts of what it raises (it must raise)."""
    try:
        fn(*args, **kwargs)
    except Exception as exc:
        texts.extend(exception_texts(exc))
        return exc
    raise AssertionError(f"{fn.__name__} did not raise")


def test_the_canary_key_is_in_no_file_log_output_or_exception(
    tmp_path: Path,
    emulator_factory: Any,
    canary_key: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session_canary = os.environ.get("DASHSCOPE_API_KEY", "")
    # the key, and its random part alone (a leak that drops the prefix is still a leak)
    needles = [canary_key, canary_key.removeprefix("sk-canary-"), session_canary]
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "wan_notebook", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)
    texts: list[str] = []
    home = tmp_path / "home"
    home.mkdir()

    # ---------------------------------------------------------------- the four notebooks
    slow = emulator_factory(
        api_keys=(canary_key,), speed=NOTEBOOK_SPEED, rate_limits=False, log=True
    )
    folders = run_notebooks(tmp_path / "notebooks", slow.base_url, canary_key, texts, home)
    assert len(folders) == 4
    for folder in folders:
        assert list(folder.glob("wan_outputs/*.mp4")) and (folder / "wan_outputs/index.sqlite")
        assert "HTTP Request: POST" in (folder / "kernel-debug.log").read_text()
    assert slow.stats()["tasks_created"] >= 12  # the kernels used this server and this key

    # ---------------------------------------------------------------- the CLI
    emu = emulator_factory(api_keys=(canary_key,), rate_limits=False, log=True)
    cli = tmp_path / "cli"
    cli.mkdir()
    monkeypatch.chdir(cli)
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DASHSCOPE_API_KEY", canary_key)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", emu.base_url)
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", "0.005")
    emu.faults.add("create", "fail_task", code="DataInspectionFailed", match="forbidden")

    def run(argv: list[str], code: int) -> str:
        assert main(argv) == code, argv
        out, err = capsys.readouterr()
        texts.extend([out, err])
        return out + err

    run(["generate", "a fox keeps a secret", *FAST, "--seed", "1"], 0)
    out = run(["generate", "a fox keeps a secret", *FAST, "--seed", "1", "--json"], 0)
    task_id = out.split('"task_id": "')[1].split('"')[0]
    assert "SUCCEEDED" in run(["status", task_id], 0)
    assert task_id in run(["list"], 0)
    assert "wanvideo cancel: " in run(["cancel", task_id], 1)  # finished: the service's error
    assert "DataInspectionFailed" in run(["generate", "a forbidden fox", *FAST], 1)
    with WanClient(canary_key, base_url=emu.base_url) as client:
        other_task = client.submit("a fox seen again", model="wan2.5-t2v-preview", size="832*480")
    run(["attach", other_task.task_id, "--dir", "attached"], 0)
    # a server that does not know this key: the canary is sent, rejected, and not echoed
    stranger = emulator_factory(api_keys=("sk-someone-else",), rate_limits=False, log=True)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", stranger.base_url)
    for argv in (["status", task_id], ["generate", "a fox", *FAST, "--new"], ["list"]):
        said = run(argv, 1)
        assert "AuthenticationError" in said and "HTTP 401" in said, said
    said = run(["cancel", task_id, "--base-url", stranger.base_url], 1)
    assert "InvalidApiKey" in said
    assert stranger.stats()["status_codes"].get("401", 0) >= 4

    # ---------------------------------------------------------------- API errors, raised
    out_dir = tmp_path / "api"
    with WanClient(canary_key, base_url=stranger.base_url) as bad:
        exc = catch(texts, bad.get, task_id)
        assert isinstance(exc, errors.AuthenticationError) and exc.status_code == 401
        catch(texts, bad.submit, "a fox", model="wan2.5-t2v-preview", size="832*480")
    catch(texts, api.generate, "a fox", output_dir=out_dir, api_key=canary_key,
          base_url=stranger.base_url, **FAST_KW)  # fmt: skip
    catch(texts, api.generate, "a forbidden fox", output_dir=out_dir, api_key=canary_key,
          base_url=emu.base_url, **FAST_KW)  # fmt: skip
    catch(texts, api.generate, "a fox", output_dir=out_dir, api_key=canary_key,
          base_url=emu.base_url, model="wan2.5-t2v-preview", size="640*640")  # fmt: skip
    with WanClient(canary_key, base_url=emu.base_url) as client:
        catch(texts, client.cancel, task_id)
        emu.expire(other_task.task_id)
        catch(texts, client.wait, other_task.task_id, timeout=5)
        texts += [repr(client), str(client)]

    # ---------------------------------------------------------------- what was captured
    records = caplog.records
    texts += [r.getMessage() for r in records] + [repr(r.__dict__) for r in records]
    texts.append(caplog.text)
    loggers = {r.name.split(".")[0] for r in records}
    assert {"httpx", "httpcore", "wan_notebook"} <= loggers, loggers
    assert any("401" in t for t in texts) and len(texts) > 100

    # ---------------------------------------------------------------- the search
    control = tmp_path / "notebooks" / "control.bin"
    control.write_bytes(b"\x00prefix " + canary_key.encode() + b" suffix\xff")
    control_text = f"an exception that says {canary_key!r}"
    found = search(tmp_path, [*texts, control_text], needles)
    assert str(control) in found and f"text #{len(texts)}: {control_text!r}" in found
    control.unlink()
    searched = [p for p in tmp_path.rglob("*") if p.is_file()]
    kinds = {p.suffix for p in searched} | {p.name for p in searched if "sqlite" in p.name}
    assert {".ipynb", ".html", ".json", ".png", ".mp4", ".log", "index.sqlite"} <= kinds, kinds
    assert search(tmp_path, texts, needles) == []
