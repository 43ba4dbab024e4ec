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


@pytest.mark.slow
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
    assert len(folders) == 6  # 05-images uploads images with the key; 06-sweep runs a sweep
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


# ---------------------------------------------------------------- servers that echo the key


def reachable_texts(obj: Any, depth: int = 0, seen: set[int] | None = None) -> Iterable[str]:
    """Every text reachable from ``obj``: for an exception its str, repr, args, ``vars()``
    (recursively, through whatever objects it holds), its ``__cause__``/``__context__``
    chain and its formatted traceback; bytes are read as latin-1."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 12 or obj is None:
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        yield obj
        return
    if isinstance(obj, (bytes, bytearray)):
        yield bytes(obj).decode("latin-1")
        return
    if isinstance(obj, (int, float, bool, type)) or (
        callable(obj) and not hasattr(obj, "__dict__")
    ):
        return
    if isinstance(obj, BaseException):
        yield from exception_texts(obj)
        for link in (obj.args, obj.__cause__, obj.__context__):
            yield from reachable_texts(link, depth + 1, seen)
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from reachable_texts(k, depth + 1, seen)
            yield from reachable_texts(v, depth + 1, seen)
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        for item in obj:
            yield from reachable_texts(item, depth + 1, seen)
        return
    try:
        text = repr(obj)
    except Exception:
        text = ""
    yield text
    state = getattr(obj, "__dict__", None)
    if isinstance(state, dict):
        yield from reachable_texts(state, depth + 1, seen)
    for slot in getattr(type(obj), "__slots__", ()):
        yield from reachable_texts(getattr(obj, slot, None), depth + 1, seen)


def holds(obj: Any, needle: str) -> list[str]:
    return [t[:200] for t in reachable_texts(obj) if needle in t]


def test_the_search_finds_a_key_held_deep_inside_an_exception(canary_key: str) -> None:
    """Control: the walker reaches a key held by an object in the context chain."""
    import httpx

    request = httpx.Request("GET", "http://x/", headers={"Authorization": "Bearer " + canary_key})
    try:
        try:
            raise httpx.ConnectError("refused", request=request)
        except httpx.ConnectError:
            raise errors.WanConnectionError("could not connect") from None
    except errors.WanConnectionError as exc:
        assert holds(exc, canary_key)  # through __context__ -> request -> headers


def _hostile_errors(server: Any, key: str) -> list[BaseException]:
    """Raise every error a key-echoing server can cause, both clients; return them."""
    import asyncio

    from wan_notebook.client import AsyncWanClient

    fast = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}
    raised: list[BaseException] = []
    cases = [("create", "echo_auth"), ("create", "echo_auth_500"), ("query", "echo_auth"),
             ("query", "echo_auth_500")]  # fmt: skip
    for route, how in cases:
        server.behaviour[route] = how
        with WanClient(key, base_url=server.base_url, max_retries=1, sleep=lambda s: None) as c:
            try:
                c.submit("a fox", **fast) if route == "create" else c.get("t1")
            except errors.WanError as exc:
                raised.append(exc)

        async def main(route: str = route) -> None:
            async def no_sleep(_s: float) -> None:
                return None

            async with AsyncWanClient(
                key, base_url=server.base_url, max_retries=1, sleep=no_sleep
            ) as c:
                await (c.submit("a fox", **fast) if route == "create" else c.get("t1"))

        try:
            asyncio.run(main())
        except errors.WanError as exc:
            raised.append(exc)
        server.behaviour[route] = "ok" if route == "create" else "succeeded"
    return raised


def test_a_server_that_echoes_the_authorization_header_leaks_nothing(canary_key: str) -> None:
    """Error bodies and headers that echo ``Authorization: Bearer <key>``: our exceptions
    hold no key in str, repr, args, vars() (recursively) or their cause/context chain."""
    from hostile import HostileServer

    server = HostileServer().start()
    try:
        raised = _hostile_errors(server, canary_key)
    finally:
        server.stop()
    kinds = {type(e).__name__ for e in raised}
    assert len(raised) == 8, kinds
    assert {"InvalidRequestError", "AuthenticationError", "SubmitUncertainError",
            "ServiceError"} <= kinds  # fmt: skip
    assert any("Bearer ***" in str(e) for e in raised)  # the server's text, scrubbed
    leaks = {type(e).__name__: holds(e, canary_key) for e in raised}
    assert not any(leaks.values()), leaks


def test_connection_errors_keep_no_httpx_exception(canary_key: str) -> None:
    """Connect refused (retried, then raised) and a dropped create answer: the httpx error,
    whose request carries the headers, is neither the cause nor the context."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    raised = []
    with WanClient(canary_key, base_url=f"http://127.0.0.1:{port}/api/v1", max_retries=1,
                   sleep=lambda s: None) as c:  # fmt: skip
        for call in (lambda: c.get("t1"), lambda: c.submit("a fox", model="wan2.6-t2v")):
            try:
                call()
            except errors.WanConnectionError as exc:
                raised.append(exc)
    assert len(raised) == 2
    for exc in raised:
        assert exc.__cause__ is None and exc.__context__ is None
        assert not holds(exc, canary_key)


def test_a_task_shows_its_signed_url_without_the_query(canary_key: str) -> None:
    from hostile import HostileServer

    server = HostileServer().start()
    try:
        with WanClient(canary_key, base_url=server.base_url) as c:
            task = c.get("t1")
    finally:
        server.stop()
    assert "Signature=" in (task.video_url or "")
    for text in (repr(task), str(task), repr([task]), f"{task}"):
        assert "Signature" not in text and "OSSAccessKeyId" not in text and "s1gn" not in text
        assert "/video/t1.mp4" in text
