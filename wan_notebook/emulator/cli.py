"""Command line for ``python -m wan_notebook.emulator`` (and ``wanvideo emulator``)."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from . import DEMO_API_KEY


def build_parser(prog: str = "python -m wan_notebook.emulator") -> argparse.ArgumentParser:
    """The argument parser (exposed so ``wanvideo emulator`` can reuse it)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Run a local emulator of the DashScope (Model Studio) Wan video API. "
            "Videos are synthetic test clips; nothing is sent to Alibaba Cloud."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    p.add_argument(
        "--speed",
        type=float,
        default=30.0,
        help="simulated seconds per real second (default 30: a 3-minute job takes ~6 s)",
    )
    p.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"accepted API key; repeat for several (default {DEMO_API_KEY})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for timings and faults (default 0)")
    p.add_argument("--lifetime", type=float, default=86400.0, help=argparse.SUPPRESS)
    p.add_argument("--render-workers", type=int, default=2, help="parallel video renders")
    noise = p.add_mutually_exclusive_group()
    noise.add_argument(
        "--log", dest="log", action="store_true", default=True, help="log each request (default)"
    )
    noise.add_argument("--quiet", dest="log", action="store_false", help="do not log requests")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Start the emulator, print how to use it, and serve until Ctrl-C (exit status 0)."""
    args = build_parser().parse_args(argv)
    from .server import Emulator

    if args.speed <= 0:
        print("error: --speed must be positive", file=sys.stderr)
        return 2
    emu = Emulator(
        host=args.host,
        port=args.port,
        api_keys=tuple(args.api_keys or (DEMO_API_KEY,)),
        speed=args.speed,
        seed=args.seed,
        lifetime=args.lifetime,
        log=args.log,
        render_workers=args.render_workers,
    )
    try:
        emu.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    print(
        "Wan video API emulator: videos are SYNTHETIC test clips, nothing reaches Alibaba Cloud.\n"
        f"  base URL : {emu.base_url}\n"
        f"  API key  : {emu.api_key}\n"
        f"  speed    : {emu.speed:g}x simulated time\n"
        "Use it with:\n"
        f"  export DASHSCOPE_HTTP_BASE_URL={emu.base_url}\n"
        f"  export DASHSCOPE_API_KEY={emu.api_key}\n"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
        print("emulator stopped", flush=True)
    return 0
