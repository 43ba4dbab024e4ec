"""``%%wanvideo --image NAME_OR_PATH``: a notebook variable or a file, against the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from IPython.utils.capture import capture_output
from PIL import Image


def test_image_from_a_variable_and_last_frame_from_a_file(
    ip: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", emulator.base_url)
    ip.run_line_magic("config", "WanVideoMagic.poll_scale = 0.005")
    ip.user_ns["still"] = np.full((480, 640, 3), 30, np.uint8)
    Image.fromarray(np.full((480, 640, 3), 220, np.uint8)).save(tmp_path / "end.png")
    cell = ("%%wanvideo --model wan2.2-kf2v-flash --resolution 480P --image still "
            f"--last-frame {tmp_path / 'end.png'} -o bridge\nfrom dark to light")  # fmt: skip
    with capture_output():
        result = ip.run_cell(cell)
    assert result.success, result.error_in_exec
    bridge = ip.user_ns["bridge"]
    assert [i["role"] for i in bridge.metadata["request"]["inputs"]] == ["image", "last_frame"]
    first = np.asarray(bridge.frame(0), np.float32).mean()
    last = np.asarray(bridge.last_frame(), np.float32).mean()
    assert abs(first - 30) < 4 and abs(last - 220) < 4
    # a name that is neither a variable nor a file: a one-line UsageError naming the flag
    with capture_output():
        result = ip.run_cell("%%wanvideo --model wan2.6-i2v --image nothing_here\nx")
    assert not result.success
    assert "--image" in str(result.error_in_exec) and "nothing_here" in str(result.error_in_exec)
