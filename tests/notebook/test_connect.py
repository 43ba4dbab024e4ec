"""``%wanvideo connect``: the configured service when a key is set, else an emulator."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

FAST = "--model wan2.5-t2v-preview --size 832*480"


def magic(ip: Any) -> Any:
    return ip.magics_manager.registry["WanVideoMagic"]


def run(ip: Any, cell: str) -> tuple[Any, Any]:
    with capture_output() as cap:
        result = ip.run_cell(cell)
    return result, cap


@pytest.fixture
def state(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A private emulator state folder; the background emulator is stopped after the test."""
    from wan_notebook.emulator import service

    directory = tmp_path / "emulator-state"
    monkeypatch.setenv(service.ENV_DIR, str(directory))
    monkeypatch.delenv("WAN_NOTEBOOK_POLL_SCALE", raising=False)
    yield directory
    service.stop(directory)


def test_without_a_key_connect_uses_the_background_emulator_everywhere(ip: Any, state: Any) -> None:
    from wan_notebook import BatchGrid, generate, generate_many
    from wan_notebook.emulator import service
    from wan_notebook.settings import current_connection

    result, cap = run(ip, "%wanvideo connect --speed 200")
    assert result.success, result.error_in_exec
    emu = magic(ip)._emulator
    assert emu is not None and emu.speed == 200 and service.find() == emu
    banner = cap.outputs[-1].data
    assert "SYNTHETIC" in banner["text/plain"] and "Emulator" in banner["text/html"]
    assert "outlives this kernel" in banner["text/plain"]
    assert emu.api_key not in banner["text/plain"] + banner["text/html"]
    result, cap = run(ip, f"%%wanvideo {FAST} -o clip\na fox after connect")
    assert result.success, result.error_in_exec
    assert ip.user_ns["clip"].path.is_file()
    # every entry point of the kernel uses the one connection; nothing went into os.environ
    assert "DASHSCOPE_API_KEY" not in os.environ and "DASHSCOPE_HTTP_BASE_URL" not in os.environ
    conn = current_connection()
    assert conn is not None and conn.base_url == emu.base_url and conn.poll_scale == 1 / 200
    again = generate("a fox from the Python API", model="wan2.5-t2v-preview", size="832*480")
    assert again.path.is_file()
    many = generate_many(["fox one", "fox two"], model="wan2.5-t2v-preview", size="832*480")
    assert all(r.path.is_file() for r in many)
    grid = BatchGrid.run(["fox three"], model="wan2.5-t2v-preview", size="832*480",
                         show=False)  # fmt: skip
    assert grid[0].path.is_file()
    assert emu.stats()["tasks_created"] == 5
    _, cap = run(ip, "%wanvideo config")
    assert f"connection:      {emu.base_url} (from local emulator, pid {emu.pid})" in cap.stdout
    assert "poll scale:      0.005 (from connection" in cap.stdout
    # connecting again finds the running emulator instead of starting a second one
    _, cap = run(ip, "%wanvideo connect")
    assert magic(ip)._emulator.pid == emu.pid and "Using the local Wan emulator" in str(
        cap.outputs[-1].data
    )


def test_after_emulator_every_entry_point_works_and_connect_reconnects(ip: Any, state: Any) -> None:
    """The issue's report: after `%wanvideo emulator`, generate() said "no DashScope API key
    found"; and a later `%wanvideo connect` did not fix it."""
    from wan_notebook import generate
    from wan_notebook.emulator import service

    result, _ = run(ip, "%wanvideo emulator --speed 200")
    assert result.success, result.error_in_exec
    first = magic(ip)._emulator
    assert generate("fox one", model="wan2.5-t2v-preview", size="832*480").path.is_file()
    service.stop()  # the emulator goes away behind the kernel's back
    result, _ = run(ip, "%wanvideo connect --speed 200")
    assert result.success, result.error_in_exec
    second = magic(ip)._emulator
    assert second.pid != first.pid and second.port != 0
    result = generate("fox two", model="wan2.5-t2v-preview", size="832*480")
    assert result.path.is_file()
    # the new emulator serves it, and carries over the first one (tasks are kept on disk)
    assert second.stats()["tasks_created"] == 2


def test_emulator_stop_really_stops_it(ip: Any, state: Any) -> None:
    from wan_notebook import generate
    from wan_notebook.emulator import service
    from wan_notebook.errors import ConfigurationError
    from wan_notebook.settings import current_connection

    run(ip, "%wanvideo emulator --speed 200")
    pid = magic(ip)._emulator.pid
    _, cap = run(ip, "%wanvideo emulator stop")
    assert f"pid {pid}" in cap.stdout and "stopped" in cap.stdout
    deadline = time.monotonic() + 30
    while service._alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not service._alive(pid) and service.find() is None
    assert current_connection() is None and magic(ip)._emulator is None
    with pytest.raises(ConfigurationError, match="no DashScope API key"):
        generate("a fox", model="wan2.5-t2v-preview", size="832*480")
    _, cap = run(ip, "%wanvideo emulator stop")
    assert "no local emulator was running" in cap.stdout


def test_unloading_the_extension_keeps_the_emulator_but_drops_the_connection(
    ip: Any, state: Any
) -> None:
    from wan_notebook.emulator import service
    from wan_notebook.settings import current_connection

    run(ip, "%wanvideo emulator --speed 200")
    pid = magic(ip)._emulator.pid
    ip.run_line_magic("unload_ext", "wan_notebook.notebook")
    try:
        assert current_connection() is None
        assert service.find() is not None and service.find().pid == pid
    finally:
        ip.run_line_magic("load_ext", "wan_notebook.notebook")


def test_a_configured_base_url_is_used_as_is_with_its_poll_scale(
    ip: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what `wanvideo demo` gives its kernel: base URL, key and poll scale in the environment
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", emulator.base_url)
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", "0.005")
    result, cap = run(ip, "%wanvideo connect")
    assert result.success, result.error_in_exec
    assert magic(ip)._emulator is None  # no second emulator
    assert magic(ip).poll_scale == 0.005
    text = cap.outputs[-1].data["text/plain"]
    assert emulator.base_url in text and "from env DASHSCOPE_HTTP_BASE_URL" in text
    assert "synthetic" in text and emulator.api_key not in text
    before = emulator.stats()["tasks_created"]
    result, _ = run(ip, f"%%wanvideo {FAST} -o clip\na fox on the configured server")
    assert result.success, result.error_in_exec
    assert emulator.stats()["tasks_created"] == before + 1


def test_a_key_without_base_url_means_the_real_service_and_no_request(
    ip: Any, canary_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", canary_key)
    monkeypatch.setenv("DASHSCOPE_REGION", "singapore")
    result, cap = run(ip, "%wanvideo connect")
    assert result.success, result.error_in_exec
    text = cap.outputs[-1].data["text/plain"]
    assert "the Wan service" in text and "billed" in text
    assert "dashscope-intl.aliyuncs.com" in text and "from env DASHSCOPE_API_KEY" in text
    assert canary_key not in text + cap.outputs[-1].data["text/html"]
    assert magic(ip)._emulator is None and magic(ip).poll_scale == 1.0


def test_a_session_key_counts_as_configured(
    ip: Any, canary_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # getpass needs a terminal; the test types the key by replacing it (the only stand-in)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": canary_key)
    run(ip, "%wanvideo key")
    _, cap = run(ip, "%wanvideo connect")
    assert "API key from this session" in cap.outputs[-1].data["text/plain"]
    assert magic(ip)._emulator is None
    from wan_notebook.settings import current_connection, resolve_api_key

    assert resolve_api_key(None)[0].reveal() == canary_key  # generate() would use it too
    # unloading the extension takes the kernel's connection back (no key leaks into others)
    ip.run_line_magic("unload_ext", "wan_notebook.notebook")
    try:
        assert current_connection() is None
    finally:
        ip.run_line_magic("load_ext", "wan_notebook.notebook")


def test_bad_arguments_are_usage_errors(ip: Any) -> None:
    result, _ = run(ip, "%wanvideo connect --bogus")
    assert isinstance(result.error_in_exec, UsageError)
    assert "connect" in str(result.error_in_exec)
    result, _ = run(ip, "%wanvideo connect --speed 0")
    assert isinstance(result.error_in_exec, UsageError)
    assert magic(ip)._emulator is None
    result, _ = run(ip, "%wanvideo emulator --region mars")
    assert isinstance(result.error_in_exec, UsageError) and "mars" in str(result.error_in_exec)


@pytest.mark.slow
def test_a_kernel_restart_loses_nothing_offline(tmp_path: Any, state: Any) -> None:
    """Issue 12 case 3: a background task started in a kernel in emulator mode is attached
    and saved after a real kernel restart (it used to be TaskExpiredError)."""
    from jupyter_client.manager import KernelManager

    from wan_notebook.emulator import service

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHSCOPE_", "WAN_NOTEBOOK_"))}
    env[service.ENV_DIR] = str(state)
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path), env=env)
    kc = km.client()
    kc.start_channels()

    def execute(code: str) -> str:
        kc.wait_for_ready(timeout=120)
        msg_id = kc.execute(code)
        out: list[str] = []
        while True:
            msg = kc.get_iopub_msg(timeout=180)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                out.append("ERROR " + content["ename"] + ": " + content["evalue"])
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)

    try:
        text = execute("%load_ext wan_notebook\n%wanvideo connect --speed 20")
        assert "ERROR" not in text, text
        info = service.find()
        assert info is not None
        text = execute(f"%%wanvideo {FAST} --background -o job\na fox across a restart")
        assert "ERROR" not in text, text
        text = execute(
            "import asyncio\n"
            "for _ in range(1200):\n"
            "    if job.task_id: break\n"
            "    await asyncio.sleep(0.05)\n"
            "print('TASK', job.task_id)"
        )
        assert "TASK " in text, text
        task_id = text.split("TASK ", 1)[1].split()[0]
        km.restart_kernel(now=True)
        kc.stop_channels()
        kc = km.client()
        kc.start_channels()
        text = execute(
            "%load_ext wan_notebook\n%wanvideo connect\n"
            f"%wanvideo attach {task_id} -o clip\n"
            "print('SAVED', clip.path.is_file(), clip.task_id)"
        )
        assert f"SAVED True {task_id}" in text, text
        assert service.find() is not None and service.find().pid == info.pid  # reused
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
