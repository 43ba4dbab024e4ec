"""``%%wanvideo`` / ``%wanvideo`` in IPython's in-process shell, against the emulator."""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from wan_notebook import errors
from wan_notebook.notebook.magics import build_request, parse_cell_options

FAST = "--model wan2.5-t2v-preview --size 832*480"


def magic(ip: Any) -> Any:
    return ip.magics_manager.registry["WanVideoMagic"]


def use(ip: Any, emu: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the session at ``emu`` through the environment, as a user would."""
    monkeypatch.setenv("DASHSCOPE_API_KEY", emu.api_key)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", emu.base_url)
    ip.run_line_magic("config", "WanVideoMagic.poll_scale = 0.005")


def run(ip: Any, cell: str) -> tuple[Any, Any]:
    with capture_output() as cap:
        result = ip.run_cell(cell)
    return result, cap


# ------------------------------------------------------------------ parsing, no shell


def test_parse_cell_options_without_a_shell() -> None:
    args = parse_cell_options("-m wan2.2-t2v-plus --size 832*480 --seed 5 --no-extend -o clip -b")
    assert (args.model, args.size, args.seed, args.output) == (
        "wan2.2-t2v-plus",
        "832*480",
        5,
        "clip",
    )
    assert args.prompt_extend is False and args.background is True and args.watermark is None
    with pytest.raises(UsageError, match="unrecognized arguments: --bogus"):
        parse_cell_options("--bogus")
    with pytest.raises(UsageError, match="invalid int value"):
        parse_cell_options("--duration five")
    with pytest.raises(UsageError, match="not a Python name"):
        parse_cell_options("-o 1x")


def test_build_request_merges_line_over_config_and_names_the_origin() -> None:
    defaults = {"model": "wan2.5-t2v-preview", "size": "832*480", "seed": 9, "watermark": True}
    req = build_request("a fox", parse_cell_options("--seed 1"), defaults)
    assert (req.model, req.size, req.seed, req.watermark) == (
        "wan2.5-t2v-preview",
        "832*480",
        1,
        True,
    )
    with pytest.raises(UsageError) as info:
        build_request("a fox", parse_cell_options(""), {**defaults, "size": "9*9"})
    assert "from %config WanVideoMagic.size" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(UsageError, match="prompt"):
        build_request("   ", parse_cell_options(""), defaults)


# ------------------------------------------------------------------ the shell


def test_config_traits_are_listed_and_validated(ip: Any) -> None:
    _, cap = run(ip, "%config WanVideoMagic")
    for name in ("model", "size", "duration", "seed", "directory", "embed", "base_url"):
        assert f"WanVideoMagic.{name}=" in cap.stdout
    ip.run_line_magic("config", "WanVideoMagic.model = 'wan2.2-t2v-plus'")
    assert magic(ip).model == "wan2.2-t2v-plus"
    ip.run_line_magic("config", "WanVideoMagic.model = 'no-such-model'")
    result, _ = run(ip, "%%wanvideo\na fox")  # checked when used, naming where it came from
    assert isinstance(result.error_in_exec, UsageError)
    assert "from %config WanVideoMagic.model" in str(result.error_in_exec)


def test_bad_arguments_are_one_line_usage_errors(ip: Any) -> None:
    result, cap = run(ip, f"%%wanvideo {FAST} --size 1x1\na fox")
    assert isinstance(result.error_in_exec, UsageError)
    assert "size" in str(result.error_in_exec) and "Traceback" not in cap.stderr
    result, _ = run(ip, "%wanvideo")
    assert isinstance(result.error_in_exec, UsageError)
    result, _ = run(ip, "%wanvideo dance")
    assert "unknown subcommand" in str(result.error_in_exec)
    result, _ = run(ip, "%%wanvideo --background\na fox")  # no running loop in this shell
    assert "--background needs a running event loop" in str(result.error_in_exec)


def test_help_documents_the_placeholder_rule(ip: Any) -> None:
    doc = ip.find_cell_magic("wanvideo").__doc__
    assert "{{name}}" in doc and "JSON" in doc and "--embed" in doc and "--background" in doc


def test_form_config_and_key_never_show_the_key(
    ip: Any, canary_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, cap = run(ip, "%wanvideo form")
    assert "GenerateForm" in cap.stdout
    monkeypatch.setenv("DASHSCOPE_API_KEY", canary_key)
    _, cap = run(ip, "%wanvideo config")
    assert "from env DASHSCOPE_API_KEY" in cap.stdout and canary_key not in cap.stdout
    # getpass needs a terminal; the test types the key by replacing it (the only stand-in)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": canary_key + "-2")
    _, cap = run(ip, "%wanvideo key")
    _, cap2 = run(ip, "%wanvideo config")
    assert "set for this session" in cap2.stdout
    assert canary_key not in cap.stdout + cap2.stdout + repr(magic(ip)._api_key)


def test_blocking_cell_makes_binds_and_caches(
    ip: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(ip, emulator, monkeypatch)
    ip.user_ns["animal"] = "fox"
    cell = f'%%wanvideo {FAST} -o clip\na {{animal}} in JSON {{"a": {{"b": 1}}}}'
    result, cap = run(ip, cell)
    assert result.success, result.error_in_exec
    clip = ip.user_ns["clip"]
    assert clip.path.is_file() and clip.prompt == 'a fox in JSON {"a": {"b": 1}}'
    panel = magic(ip).last_panel
    assert panel.history[0] == "PENDING" and panel.history[-1] == "SUCCEEDED"
    final = cap.outputs[-1].data
    rel = clip.path.relative_to(Path.cwd()).as_posix()
    assert f'src="{rel}"' in final["text/html"] and "data:video/mp4" not in final["text/html"]
    assert "SUCCEEDED" in final["text/plain"]
    # the same request again: the saved video, no new task
    before = emulator.stats()["tasks_created"]
    result, cap = run(ip, cell)
    assert result.success and emulator.stats()["tasks_created"] == before
    assert magic(ip).last_panel.state.phase == "cached"
    assert ip.user_ns["clip"].path == clip.path
    # --embed: base64 in the notebook, with a warning over the (tiny) threshold
    ip.run_line_magic("config", "WanVideoMagic.embed_warn_mb = 0.01")
    with pytest.warns(UserWarning, match="--embed put"):
        result, cap = run(ip, cell.replace("-o clip", "--embed"))
    assert "data:video/mp4;base64," in cap.outputs[-1].data["text/html"]


def test_moderated_prompt_raises_the_real_error(
    ip: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(ip, emulator, monkeypatch)
    emulator.faults.add("create", "fail_task", code="DataInspectionFailed", message="flagged")
    result, cap = run(ip, f"%%wanvideo {FAST}\na forbidden fox")
    assert isinstance(result.error_in_exec, errors.ContentModerationError)
    assert "Rephrase the prompt" in cap.outputs[-1].data["text/html"]
    assert magic(ip).last_panel.history[-1] == "FAILED"


def test_ctrl_c_keeps_the_task_and_attach_finishes_it(
    ip: Any, emulator_factory: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    emu = emulator_factory(speed=20.0, rate_limits=False)
    use(ip, emu, monkeypatch)
    ip.run_line_magic("config", "WanVideoMagic.poll_scale = 0.05")
    stop = threading.Event()

    def ctrl_c_once_submitted() -> None:  # a real Ctrl-C, once the task exists (no sleep race)
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            jobs = magic(ip).jobs
            if jobs and jobs[-1].task_id and not jobs[-1].done():
                os.kill(os.getpid(), signal.SIGINT)
                return
            stop.wait(0.02)

    sender = threading.Thread(target=ctrl_c_once_submitted)
    sender.start()
    try:
        result = ip.run_cell(f"%%wanvideo {FAST}\na slow fox")
    finally:
        stop.set()
        sender.join()
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    job = magic(ip).jobs[-1]
    assert job.task_id
    said = result.error_in_exec._render_traceback_()  # what IPython prints: no traceback
    assert len(said) == 1 and f"%wanvideo attach {job.task_id}" in said[0]
    assert f"%wanvideo cancel {job.task_id}" in said[0]
    capsys.readouterr()
    # a new session offers the journaled task without any network call
    ip.run_line_magic("unload_ext", "wan_notebook.notebook")
    requests = emu.stats()["requests"]["query"]
    ip.run_line_magic("load_ext", "wan_notebook.notebook")
    assert f"%wanvideo attach {job.task_id}" in capsys.readouterr().out
    assert emu.stats()["requests"]["query"] == requests
    use(ip, emu, monkeypatch)
    ip.run_line_magic("config", "WanVideoMagic.poll_scale = 0.05")
    result, cap = run(ip, f"%wanvideo attach {job.task_id} -o again")
    assert result.success, result.error_in_exec
    assert ip.user_ns["again"].task_id == job.task_id and ip.user_ns["again"].path.is_file()
    _, cap = run(ip, f"%wanvideo status {job.task_id}")
    assert "SUCCEEDED" in cap.stdout
    _, cap = run(ip, "%wanvideo list")
    assert job.task_id in cap.stdout and "on the service" in cap.stdout
    _, cap = run(ip, "%wanvideo gallery")
    assert "<video" in cap.outputs[-1].data["text/html"]


def test_cancel_a_pending_task(
    ip: Any, emulator_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wan_notebook.client import WanClient

    emu = emulator_factory(speed=0.5, rate_limits=False)
    use(ip, emu, monkeypatch)
    with WanClient(emu.api_key, base_url=emu.base_url) as client:
        task = client.submit("a fox", model="wan2.5-t2v-preview", size="832*480")
    result, cap = run(ip, f"%wanvideo cancel {task.task_id}")
    assert result.success, result.error_in_exec
    assert "canceled" in cap.stdout
    _, cap = run(ip, f"%wanvideo status {task.task_id}")
    assert "CANCELED" in cap.stdout


def test_emulator_subcommand(ip: Any) -> None:
    result, cap = run(ip, "%wanvideo emulator --speed 200")
    try:
        assert result.success, result.error_in_exec
        assert "SYNTHETIC" in cap.outputs[-1].data["text/plain"]
        result, cap = run(ip, f"%%wanvideo {FAST} -o demo\na demo fox")
        assert result.success, result.error_in_exec
        assert ip.user_ns["demo"].path.is_file()
        assert "emulator" in magic(ip).last_panel.state.note
    finally:
        _, cap = run(ip, "%wanvideo emulator stop")
    assert "stopped" in cap.stdout and magic(ip)._emulator is None


def test_help_is_plain_text(ip: Any) -> None:
    """``%wanvideo?`` shows the docstring as it is: no reST markup."""
    doc = ip.find_cell_magic("wanvideo").__doc__
    assert doc.startswith("Usage:") and "%%wanvideo [--model" in doc
    assert "``" not in doc and "::" not in doc and "\n* " not in doc


def test_undefined_name_warning_points_at_the_cell(ip: Any) -> None:
    """The warning is located in the cell (``%%wanvideo:LINE``), not in an internal file."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = ip.run_cell("%%wanvideo --size 1x1\na fox\nin {nowhere_defined} tonight")
    assert isinstance(result.error_in_exec, UsageError)  # stopped before any network call
    (warning,) = [w for w in caught if "nowhere_defined" in str(w.message)]
    assert (warning.filename, warning.lineno) == ("%%wanvideo", 3)
    shown = warnings.formatwarning(
        warning.message, warning.category, warning.filename, warning.lineno
    )
    assert ".py" not in shown and "wan_notebook" not in shown


def test_a_timeout_is_one_line_in_magic_terms(
    ip: Any, emulator_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--timeout on a task still PENDING: the real WaitTimeoutError (headless runs fail), shown
    as one line with %wanvideo attach, never the Python API's attach('id')."""
    emu = emulator_factory(speed=0.5, rate_limits=False)  # PENDING for a long while
    use(ip, emu, monkeypatch)
    result, cap = run(ip, f"%%wanvideo {FAST} --timeout 0.5\na patient fox")
    exc = result.error_in_exec
    assert isinstance(exc, errors.WaitTimeoutError)
    (line,) = exc._render_traceback_()
    assert f"%wanvideo attach {exc.task_id}" in line and "attach('" not in line
    panel = cap.outputs[-1].data
    assert "[ERROR]" not in panel["text/plain"] and "attach('" not in panel["text/html"]
    assert f"%wanvideo attach {exc.task_id}" in panel["text/plain"]
