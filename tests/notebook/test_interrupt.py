"""Kernel > Interrupt on a blocking ``%%wanvideo`` cell, in a real ipykernel.

A kernel is started with jupyter_client and pointed at an emulator in the test process; once
the panel says RUNNING, ``interrupt_kernel()`` sends the real SIGINT. What the user then sees
is the final panel (DETACHED) and one short message with the ``%wanvideo attach`` line - not
a DETACHED panel plus an error box naming the class twice, an "Interrupted..." block and a
traceback into nest_asyncio2 (about 60 lines before the fix).
"""

from __future__ import annotations

import os
import queue
import re
import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

pytestmark = pytest.mark.slow

SETUP = "%load_ext wan_notebook\n%config WanVideoMagic.poll_scale = 0.05"
CELL = "%%wanvideo --model wan2.5-t2v-preview --size 832*480\na fox interrupted in a kernel"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_and_interrupt(kc: Any, km: KernelManager, code: str) -> dict[str, Any]:
    """Execute ``code``; interrupt the kernel once its panel shows RUNNING. Returns the
    cell's final outputs: the latest bundle of each display, stream text and the error."""
    msg_id = kc.execute(code)
    displays: dict[str, dict[str, Any]] = {}
    streams: list[str] = []
    error: dict[str, Any] | None = None
    interrupted = False
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id and msg["msg_type"] != (
            "update_display_data"
        ):
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind in ("display_data", "update_display_data"):
            display_id = content.get("transient", {}).get("display_id") or str(len(displays))
            if kind == "display_data" or display_id in displays:
                displays[display_id] = content["data"]
            text = content["data"].get("text/plain", "")
            if not interrupted and "[RUNNING]" in text:
                km.interrupt_kernel()
                interrupted = True
        elif kind == "stream":
            streams.append(content["text"])
        elif kind == "error":
            error = content
        elif kind == "status" and content["execution_state"] == "idle":
            return {"displays": displays, "streams": streams, "error": error, "sent": interrupted}
    raise AssertionError("the cell did not finish")


def test_interrupt_shows_the_panel_and_one_short_message(
    tmp_path: Path, emulator_factory: Any
) -> None:
    emu = emulator_factory(speed=3.0, rate_limits=False)  # RUNNING lasts long enough
    env = dict(os.environ, DASHSCOPE_API_KEY=emu.api_key, DASHSCOPE_HTTP_BASE_URL=emu.base_url)
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path), env=env)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        reply = kc.execute_interactive(SETUP, timeout=60)
        assert reply["content"]["status"] == "ok"
        out = run_and_interrupt(kc, km, CELL)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert out["sent"], out
    (panel,) = out["displays"].values()  # one panel, updated in place
    text = panel["text/plain"]
    assert "[DETACHED]" in text, text
    task_id = re.search(r"task ([0-9a-f-]{36})", text).group(1)  # type: ignore[union-attr]
    error = out["error"]
    assert error is not None
    traceback = [ANSI.sub("", line) for line in error["traceback"]]
    assert len(traceback) == 1 and f"%wanvideo attach {task_id}" in traceback[0], traceback
    everything = "\n".join([text, panel["text/html"], *out["streams"], *traceback])
    assert "nest_asyncio" not in everything and "Traceback" not in everything
    assert "DetachedError DetachedError" not in everything
    assert "attach('" not in everything  # the Python API's wording stays out of the notebook
    lines = text.count("\n") + 1 + len(traceback) + "".join(out["streams"]).count("\n")
    assert lines <= 10, everything
