"""``python -m wan_notebook.emulator``: banner, serving, clean Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest

from wan_notebook.emulator.cli import build_parser


def test_run_and_interrupt(canary_key: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wan_notebook.emulator", "--port", "0", "--speed", "500",
         "--api-key", canary_key, "--api-key", "sk-second", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        lines = []
        while True:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line)
            if "Ctrl-C" in line:
                break
        banner = "".join(lines)
        assert "SYNTHETIC" in banner
        base = re.search(r"base URL : (\S+)", banner).group(1)
        assert f"API key  : {canary_key}" in banner
        r = httpx.get(base + "/tasks", headers={"Authorization": "Bearer sk-second"})
        assert r.status_code == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "emulator stopped" in out
        assert "Traceback" not in err
        assert canary_key not in err  # only the banner shows the key
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)


def test_parser_defaults() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.speed, args.seed, args.log) == (
        "127.0.0.1",
        8000,
        30.0,
        0,
        True,
    )
    assert build_parser().parse_args(["--quiet"]).log is False


def test_port_in_use_is_an_error(emulator) -> None:
    from wan_notebook.emulator.cli import main

    port = int(emulator.root_url.rsplit(":", 1)[1])
    assert main(["--port", str(port), "--quiet"]) == 1


@pytest.mark.parametrize("argv", [["--speed", "0"], ["--speed", "-3"]])
def test_bad_speed(argv: list[str]) -> None:
    from wan_notebook.emulator.cli import main

    assert main(argv) == 2
