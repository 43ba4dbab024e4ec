"""Command line for ``python -m wan_notebook.emulator`` (and ``wanvideo emulator``)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from .. import checks
from . import DEMO_API_KEY


def build_parser(prog: str = "python -m wan_notebook.emulator") -> argparse.ArgumentParser:
    """The argument parser (exposed so ``wanvideo emulator`` can reuse it)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Run a local emulator of the DashScope (Model Studio) Wan video API. "
            "Videos are synthetic test clips; nothing is sent to Alibaba Cloud. "
            "`start --background` (or just --background) runs it as a background service that "
            "outlives this shell and the notebook kernels using it (one per user; its state "
            "lives in $WAN_NOTEBOOK_EMULATOR_DIR or ~/.cache/wan-notebook/emulator); "
            "`stop` stops it, `status` says whether one runs."
        ),
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=("start", "stop", "status"),
        default="start",
        help="start (default), stop or status of the background emulator",
    )
    p.add_argument(
        "--background",
        action="store_true",
        help="start (or reuse) the background emulator service, print how to use it, and exit",
    )
    p.add_argument(
        "--region",
        default=None,
        help="emulate one region: models not offered there answer 'Model not exist.'",
    )
    p.add_argument(
        "--strict-create",
        action="store_true",
        help="reject a size/duration the model lacks with HTTP 400 at create "
        "(the service accepts the task and then FAILS it)",
    )
    p.add_argument("--serve-state", default=None, help=argparse.SUPPRESS)
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
    p.add_argument(
        "--fast-render", action="store_true",
        help="render tiny (64 px, 1 fps) but valid H.264 videos, for scale tests",
    )  # fmt: skip
    noise = p.add_mutually_exclusive_group()
    noise.add_argument(
        "--log", dest="log", action="store_true", default=True, help="log each request (default)"
    )
    noise.add_argument("--quiet", dest="log", action="store_false", help="do not log requests")
    return p


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the emulator in the foreground until Ctrl-C, or manage the background service.

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
    if args.region is not None:
        from .. import catalog

        try:
            args.region = catalog.get_region(args.region).name
        except ValueError as exc:
            print(f"error: --region: {exc}", file=sys.stderr)
            return 2
    if args.action in ("stop", "status") or args.background:
        return _service(args)
    return _foreground(args)


def _service(args: argparse.Namespace) -> int:
    from . import service

    directory = service.state_dir()
    if args.action == "stop":
        stopped = service.stop(directory)
        print(f"emulator (pid {stopped.pid}) stopped" if stopped else "no emulator was running")
        return 0
    if args.action == "status":
        info = service.find(directory)
        if info is None:
            print(f"no emulator is running (state folder {directory})")
            return 1
        print(f"emulator running: pid {info.pid}, {info.base_url}, speed {info.speed:g}x")
        return 0
    try:
        info, started = service.ensure(directory, speed=args.speed, region=args.region)
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        ("Started" if started else "Reusing")
        + f" the background Wan emulator (pid {info.pid}): videos are SYNTHETIC test clips.\n"
        f"  base URL : {info.base_url}\n"
        f"  speed    : {info.speed:g}x simulated time\n"
        f"  API key  : in {directory / 'key'}\n"
        f"  state    : {directory}\n"
        "In a notebook, %wanvideo connect uses it. Stop it with: wanvideo emulator stop",
        flush=True,
    )
    return 0


def _foreground(args: argparse.Namespace) -> int:
    from .server import Emulator

    state = Path(args.serve_state) if args.serve_state else None
    keys = tuple(args.api_keys or (DEMO_API_KEY,))
    if state is not None:
        from .service import service_key

        keys = (service_key(state),)
    emu = Emulator(
        host=args.host,
        port=args.port,
        api_keys=keys,
        speed=args.speed,
        seed=args.seed,
        lifetime=args.lifetime,
        log=args.log,
        render_workers=args.render_workers,
        region=args.region,
        strict_create=args.strict_create,
        state_dir=state,
        fast_render=args.fast_render,
    )
    try:
        emu.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    if state is not None:
        from . import service

        service.write_state(state, port=int(emu.root_url.rsplit(":", 1)[1]), speed=emu.speed,
                            region=emu.region)  # fmt: skip
        print(f"emulator serving {emu.base_url} for {state}", flush=True)
    else:
        print(
            "Wan video API emulator: videos are SYNTHETIC test clips, nothing reaches Alibaba "
            "Cloud.\n"
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
        while not done.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if state is not None:
            from .service import clear_state

            clear_state(state, os.getpid())
        emu.stop()
        print("emulator stopped", flush=True)
    return 0
