"""``%wanvideo connect`` and ``%wanvideo emulator``: one connection per kernel.

Both set the process-wide connection (:func:`wan_notebook.settings.set_connection`), so the
magic, ``generate()``, ``generate_many()``, ``BatchGrid`` and ``GenerateForm`` all talk to the
same service. The local emulator they start is the background service of
:mod:`wan_notebook.emulator.service`: it outlives the kernel, and the next kernel's
``connect`` finds it again (with its tasks), so ``%wanvideo attach ID`` works after a restart.
"""

from __future__ import annotations

import os
from typing import Any

from IPython.core.error import UsageError
from IPython.display import HTML, display

from ..settings import ENV_BASE_URL, ENV_KEY, ENV_KEY_FILE
from . import render

__all__ = ["connect", "forget", "start_emulator", "stop_emulator"]

_EMULATOR_SOURCE = "local emulator"


def _speed(value: float | None) -> float | None:
    if value is not None and not value > 0:
        raise UsageError("--speed must be positive")
    return value


def _use_emulator(magic: Any, *, speed: float | None, region: str | None) -> Any:
    """Start or find the background emulator and make it this process's connection."""
    from ..emulator import service
    from ..settings import set_connection

    try:
        info, started = service.ensure(speed=speed or 30.0, region=region)
    except (RuntimeError, OSError, ValueError) as exc:
        raise UsageError(f"cannot start the local emulator: {exc}") from None
    if speed is not None and not started and speed != info.speed:
        info = info.set_speed(speed)
    magic._emulator = info
    magic._emulator_started = started
    magic._connection = set_connection(
        info.base_url, info.api_key, poll_scale=1.0 / (speed or info.speed),
        source=f"{_EMULATOR_SOURCE}, pid {info.pid}",
    )  # fmt: skip
    overriding = [n for n in (ENV_KEY, ENV_KEY_FILE, ENV_BASE_URL) if os.environ.get(n)]
    if overriding:
        print(
            f"note: {', '.join(overriding)} is set in this kernel's environment and wins over "
            "this connection for generate() and the widgets (unset it to use the emulator)"
        )
    return info


def _banner(info: Any, started: bool) -> None:
    what = "Started" if started else "Using"
    banner = (
        f"{what} the local Wan emulator at {info.base_url} (speed x{info.speed:g}, pid "
        f"{info.pid}). It runs in the background and outlives this kernel (tasks survive a "
        "restart). Its videos are SYNTHETIC (a caption over moving colour), not made by Wan; "
        "nothing is billed. %wanvideo emulator stop stops it."
    )
    display(
        {
            "text/plain": banner,
            "text/html": HTML(
                '<div style="border:2px dashed #a16207;background:#fefce8;color:#111;'
                'padding:6px 8px;border-radius:4px"><b>Emulator</b> · '
                f"{render.esc(banner)}</div>"
            ).data,
        },
        raw=True,
    )


def start_emulator(magic: Any, rest: str, parser: Any) -> None:
    """``%wanvideo emulator [start|stop] [--speed X] [--region R]`` (``parser``: the magic's
    argparse for the subcommand, whose mistakes are UsageErrors)."""
    parser.add_argument("action", nargs="?", choices=("start", "stop"), default="start")
    parser.add_argument("--speed", type=float, default=None)
    parser.add_argument("--region", default=None)
    args = parser.parse_args(rest.split())
    if args.action == "stop":
        stop_emulator(magic)
        return
    info = _use_emulator(magic, speed=_speed(args.speed), region=args.region)
    _banner(info, magic._emulator_started)


def stop_emulator(magic: Any) -> None:
    """Stop the background emulator for good and drop the connection to it."""
    from ..emulator import service

    stopped = service.stop()
    forget(magic)
    if stopped is None:
        print("no local emulator was running")
    else:
        print(f"local emulator (pid {stopped.pid}) stopped; cells use the configured service again")


def forget(magic: Any) -> None:
    """Drop the connection this magic made, and any to the emulator (which keeps running)."""
    from ..settings import clear_connection, current_connection

    conn = current_connection()
    if conn is not None and (
        conn is getattr(magic, "_connection", None) or conn.source.startswith(_EMULATOR_SOURCE)
    ):
        clear_connection()
    magic._connection = None
    magic._emulator = None


def connect(magic: Any, rest: str, parser: Any) -> None:
    """Use the configured service when an API key is set, else the local emulator.

    Notebooks open with it so they run anywhere: with ``DASHSCOPE_API_KEY`` (and maybe
    ``DASHSCOPE_HTTP_BASE_URL``, as ``wanvideo demo`` sets) they talk to that service; without
    a key they use the background emulator (starting it if none runs). Either way the choice
    becomes the kernel's one connection; running it again re-connects everything.
    """
    from ..errors import ConfigurationError
    from ..settings import (
        clear_connection,
        resolve_api_key,
        resolve_base_url,
        resolve_poll_scale,
        set_connection,
    )

    parser.add_argument("--speed", type=float, default=None)
    parser.add_argument("--region", default=None, help="the emulator's region (no key only)")
    args = parser.parse_args(rest.split())
    speed = _speed(args.speed)
    clear_connection()  # decide afresh from the arguments, the environment and the files
    try:
        key, key_source = (
            (magic._api_key, "this session") if magic._api_key else resolve_api_key(None)
        )
    except ConfigurationError:
        info = _use_emulator(magic, speed=speed, region=args.region)
        _banner(info, magic._emulator_started)
        return
    magic._emulator = None
    url, url_source = resolve_base_url(magic.base_url, region=magic.region)
    scale, scale_source = resolve_poll_scale(None)
    default_scale = magic.traits()["poll_scale"].default()
    if scale_source != "default" and magic.poll_scale == default_scale:
        magic.poll_scale = scale  # e.g. the kernel of `wanvideo demo` polling its emulator
    magic._connection = set_connection(url, key, source=f"%wanvideo connect, key from {key_source}")
    local = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if local in ("127.0.0.1", "localhost", "[::1]"):
        what = "a server on this machine (an emulator: videos are synthetic, nothing is billed)"
    else:
        what = "the Wan service (new videos are billed; saved ones are reused for free)"
    text = f"Connected to {what} at {url} (from {url_source}; API key from {key_source})."
    display(
        {
            "text/plain": text,
            "text/html": '<div style="border:1px solid #15803d;background:#f0fdf4;'
            f'color:#111;padding:6px 8px;border-radius:4px">{render.esc(text)}</div>',
        },
        raw=True,
    )
