"""Issue 11 case 12 through the magic: the table of ``tests/test_entry_point_checks.py`` in a
real IPython shell. A bad value is a one-line ``UsageError`` naming the parameter (no
traceback), and the emulator the shell points at sees zero requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from tests.test_entry_point_checks import BAD, TASK, TASK_ID_ARGS, Bad, requests_made
from wan_notebook.emulator import Emulator

FAST = "--model wan2.5-t2v-preview --size 832*480"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    emulator = Emulator(speed=200.0, rate_limits=False, log=False).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def shell(ip: Any, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The shell pointed at the emulator, as a user would (environment + poll pace)."""
    monkeypatch.setenv("DASHSCOPE_API_KEY", emu.api_key)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", emu.base_url)
    ip.run_line_magic("config", "WanVideoMagic.poll_scale = 0.005")
    return ip


def refused(shell: Any, cell: str, param: str) -> str:
    """Run ``cell``; it must fail with a one-line UsageError naming ``param``."""
    with capture_output() as cap:
        result = shell.run_cell(cell)
    error = result.error_in_exec
    assert isinstance(error, UsageError), (cell, repr(error))
    text = str(error)
    name = param.lstrip("-")
    assert name in text or name.replace("_", "-") in text, (param, text)
    assert "\n" not in text.strip() and "Traceback" not in cap.stderr + cap.stdout
    return text


MAGIC_CASES = [pytest.param(c, id=c.id) for c in BAD if c.magic is not None]


@pytest.mark.parametrize("case", MAGIC_CASES)
def test_cell_refuses_before_any_request(case: Bad, shell: Any, emu: Emulator) -> None:
    before = requests_made(emu)
    refused(shell, f"%%wanvideo {FAST} {case.magic}\n{case.prompt}", case.param)
    assert requests_made(emu) == before
    assert not shell.magics_manager.registry["WanVideoMagic"].jobs


LINES = [
    *[(f"%wanvideo {cmd} {tid}", "task_id") for cmd in ("status", "attach", "cancel")
      for tid in TASK_ID_ARGS],
    (f"%wanvideo attach {TASK} --timeout -1", "--timeout"),
    (f"%wanvideo attach {TASK} --timeout nan", "--timeout"),
    (f"%wanvideo attach {TASK} --dir /dev/null", "--dir"),
    ("%wanvideo list --limit 0", "--limit"),
    ("%wanvideo gallery --limit -3", "--limit"),
]  # fmt: skip


@pytest.mark.parametrize("line,param", LINES, ids=[line[10:50] for line, _ in LINES])
def test_line_subcommands_refuse_before_any_request(
    line: str, param: str, shell: Any, emu: Emulator
) -> None:
    before = requests_made(emu)
    text = refused(shell, line, param)
    if param == "task_id":
        assert "not a task id" in text and "model id" not in text  # not the 404 hint
    assert requests_made(emu) == before


CONFIGS = [
    ("WanVideoMagic.timeout = -1.0", "timeout"),
    ("WanVideoMagic.timeout = float('nan')", "timeout"),
    ("WanVideoMagic.directory = '/dev/null'", "directory"),
    ("WanVideoMagic.base_url = 'ftp://127.0.0.1/api/v1'", "base_url"),
    ("WanVideoMagic.base_url = 'dashscope-intl.aliyuncs.com/api/v1'", "base_url"),
    ("WanVideoMagic.region = 'atlantis'", "region"),
]


@pytest.mark.parametrize("setting,param", CONFIGS, ids=[c for c, _ in CONFIGS])
def test_bad_config_values_are_refused_where_used(
    setting: str, param: str, shell: Any, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad ``%config`` value is named with where it came from, before any request."""
    if param in ("base_url", "region"):
        monkeypatch.delenv("DASHSCOPE_HTTP_BASE_URL")  # so the configured value is the one used
    shell.run_line_magic("config", setting)
    before = requests_made(emu)
    text = refused(shell, f"%%wanvideo {FAST}\na harbour at dawn", param)
    assert "%config WanVideoMagic" in text or param in ("base_url", "region")
    assert requests_made(emu) == before


def test_status_of_a_path_is_not_a_model_hint(shell: Any, emu: Emulator) -> None:
    """Case 12: ``%wanvideo status ../../etc/passwd`` said "check the model id"."""
    text = refused(shell, "%wanvideo status ../../etc/passwd", "task_id")
    assert "'../../etc/passwd' is not a task id" in text
