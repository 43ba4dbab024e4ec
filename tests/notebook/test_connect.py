"""``%wanvideo connect``: the configured service when a key is set, else an emulator."""

from __future__ import annotations

import os
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


def test_without_a_key_it_starts_an_emulator_with_its_banner(
    ip: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WAN_NOTEBOOK_POLL_SCALE", raising=False)
    result, cap = run(ip, "%wanvideo connect --speed 200")
    try:
        assert result.success, result.error_in_exec
        emu = magic(ip)._emulator
        assert emu is not None and emu.speed == 200
        banner = cap.outputs[-1].data
        assert "SYNTHETIC" in banner["text/plain"] and "Emulator" in banner["text/html"]
        result, cap = run(ip, f"%%wanvideo {FAST} -o clip\na fox after connect")
        assert result.success, result.error_in_exec
        assert ip.user_ns["clip"].path.is_file()
        # the Python API of the same kernel reaches the emulator through the environment
        assert os.environ["DASHSCOPE_HTTP_BASE_URL"] == emu.base_url
        assert float(os.environ["WAN_NOTEBOOK_POLL_SCALE"]) == 1 / 200
        from wan_notebook import generate

        again = generate("a fox from the Python API", model="wan2.5-t2v-preview", size="832*480")
        assert again.path.is_file() and emu.stats()["tasks_created"] == 2
        # connecting again keeps the running emulator instead of starting a second one
        first = magic(ip)._emulator
        _, cap = run(ip, "%wanvideo connect")
        assert magic(ip)._emulator is first and "already running" in cap.stdout
    finally:
        run(ip, "%wanvideo emulator stop")
    for name in ("DASHSCOPE_HTTP_BASE_URL", "DASHSCOPE_API_KEY", "WAN_NOTEBOOK_POLL_SCALE"):
        assert name not in os.environ  # stop takes back what connect set


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


def test_bad_arguments_are_usage_errors(ip: Any) -> None:
    result, _ = run(ip, "%wanvideo connect --bogus")
    assert isinstance(result.error_in_exec, UsageError)
    assert "connect" in str(result.error_in_exec)
    result, _ = run(ip, "%wanvideo connect --speed 0")
    assert isinstance(result.error_in_exec, UsageError)
    assert magic(ip)._emulator is None
