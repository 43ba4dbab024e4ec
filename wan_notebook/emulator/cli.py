"""Command line for ``python -m wan_notebook.emulator`` (and ``wanvideo emulator``)."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence

from .. import checks
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
    p.add_argument(
        "--port", type=checks.ARG_PORT, default=8000, help="port (default 8000; 0 = any free port)"
    )
    p.add_argument(
        "--speed",
        type=checks.arg_positive("--speed"),
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
    p.add_argument(
        "--lifetime", type=checks.arg_positive("--lifetime"), default=86400.0,
        help=argparse.SUPPRESS,
    )  # fmt: skip
    p.add_argument(
        "--render-workers", type=checks.arg_positive_int("--render-workers"), default=2,
        help="parallel video renders (>= 1)",
    )  # fmt: skip
    noise = p.add_mutually_exclusive_group()
    noise.add_argument(
        "--log", dest="log", action="store_true", default=True, help="log each request (default)"
    )
    noise.add_argument("--quiet", dest="log", action="store_false", help="do not log requests")
    return p


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Start the emulator, print how to use it, and serve until Ctrl-C (exit status 0).

    A bad option is argparse's one-line usage error and exit status 2, returned (a caller in
    the same process gets the code, not ``SystemExit``).
    """
    parser = build_parser(prog) if prog else build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a usage error, already printed; --help exits as usual
        if exc.code in (0, None):
            raise
        return exc.code if isinstance(exc.code, int) else 2
    from .server import Emulator

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
