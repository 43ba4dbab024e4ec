"""The ``wanvideo`` command line: generate, status, attach, cancel, list, models, emulator, demo.

It saves exactly as the notebook does (same store, same names, same sidecars), so a video made
here is a cache hit in a notebook that asks for the same request, and the other way round.
Exit codes (also in ``--help``): 0 success, 1 failure (the service, the task, an unknown
task id, a wait that timed out), 2 bad usage, 130 interrupted (Ctrl-C). Hints are written as
``wanvideo`` commands: this module renders them from the exception's ``task_id`` rather than
printing the Python API's wording.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from . import catalog, checks, cli_cost
from ._version import __version__
from .errors import (
    APIError,
    ConfigurationError,
    DetachedError,
    ValidationError,
    WaitTimeoutError,
    WanError,
)
from .media_options import add_media_options, media_params
from .options import add_generation_options, request_params
from .sweeps.command import add_parser as add_sweep_parser

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EPILOG = """exit codes:
  0    success
  1    failure: the service refused, the task failed or is unknown, a wait timed out
  2    bad usage: a wrong option or value (nothing was sent)
  130  interrupted (Ctrl-C); a submitted task keeps running: wanvideo attach ID"""


def _connection_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection (default: environment, as the official SDK)")
    g.add_argument(
        "--base-url",
        default=None,
        type=checks.ARG_BASE_URL,
        help="API base URL (DASHSCOPE_HTTP_BASE_URL)",
    )
    g.add_argument(
        "--region",
        default=None,
        type=checks.ARG_REGION,
        help="region: " + ", ".join(catalog.REGIONS) + " (DASHSCOPE_REGION; default singapore)",
    )
    g.add_argument(
        "--emulator",
        action="store_true",
        help="run against a local emulator started for this command (synthetic videos)",
    )
    g.add_argument(
        "--emulator-speed",
        type=checks.arg_positive("--emulator-speed"),
        default=30.0,
        metavar="X",
        help="with --emulator: simulated seconds per real second (default 30)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="wanvideo",
        description="Alibaba Wan text-to-video from the command line. The API key comes from "
        "DASHSCOPE_API_KEY (or DASHSCOPE_API_KEY_FILE_PATH, ~/.dashscope/api_key).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"wan-notebook {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    gen = sub.add_parser("generate", help="generate a video and save it (prints the path)")
    gen.add_argument("prompt", help="what the video shows")
    add_generation_options(gen)
    add_media_options(gen)  # issue 14: --image / --last-frame / --first-clip
    gen.add_argument("--json", action="store_true", help="print the result as JSON")
    cli_cost.add_cost_options(gen)  # issue 15: --max-cost, --dry-run, --yes
    _connection_args(gen)

    for name, text in (
        ("status", "show a task's status"),
        ("attach", "follow an existing task to its end and save its video"),
        ("cancel", "cancel a PENDING task"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("task_id", type=checks.ARG_TASK_ID)
        if name == "attach":
            p.add_argument(
                "--dir",
                dest="directory",
                default=None,
                type=checks.ARG_OUTPUT_DIR,
                help="output folder (default: wan_outputs)",
            )
            p.add_argument("--timeout", type=checks.ARG_TIMEOUT, default=None)
        _connection_args(p)

    lst = sub.add_parser("list", help="tasks saved here and, unless --local, on the service")
    lst.add_argument(
        "--dir",
        dest="directory",
        default=None,
        type=checks.ARG_OUTPUT_DIR,
        help="output folder (default: wan_outputs)",
    )
    lst.add_argument("--local", action="store_true", help="only what is saved in the folder")
    lst.add_argument("--model", default=None)
    lst.add_argument("--status", default=None)
    _connection_args(lst)

    sub.add_parser("models", help="the text-to-video models and their limits")
    cli_cost.add_spend_parser(sub)  # issue 15: wanvideo spend

    emu = sub.add_parser("emulator", help="run the local DashScope emulator", add_help=False)
    emu.add_argument("rest", nargs=argparse.REMAINDER)

    demo = sub.add_parser(
        "demo",
        help="run the quick-start notebook on an embedded emulator (no key needed)",
        description="Start a local emulator, run the quick-start notebook headless against "
        "it, and write the executed notebook, its HTML export and the videos into --dir.",
    )
    demo.add_argument(
        "--dir",
        dest="directory",
        default="wan_outputs",
        type=checks.ARG_OUTPUT_DIR,
        help="where to write (default wan_outputs)",
    )
    demo.add_argument(
        "--speed",
        type=checks.arg_positive("--speed"),
        default=60.0,
        help="emulator speed (simulated s per s; default 60)",
    )
    add_sweep_parser(sub, _connection_args)  # issue 16: wanvideo sweep
    return parser


class _Connection:
    """Client settings for one command, optionally with an emulator started for it."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.emulator: Any = None
        self.base_url: str | None = getattr(args, "base_url", None)
        self.api_key: str | None = None
        self.region: str | None = getattr(args, "region", None)
        #: None: the environment's WAN_NOTEBOOK_POLL_SCALE, else 1 (the real service)
        self.poll_scale: float | None = None

    def __enter__(self) -> _Connection:
        if getattr(self.args, "emulator", False):
            from .emulator import Emulator

            speed = self.args.emulator_speed
            if not speed > 0:
                raise ValidationError(
                    f"--emulator-speed must be positive, got {speed:g}",
                    param="emulator_speed",
                    value=speed,
                    allowed="a number > 0",
                )
            self.emulator = Emulator(speed=speed).start()
            self.base_url, self.api_key = self.emulator.base_url, self.emulator.api_key
            self.poll_scale = 1.0 / speed
            print(
                f"emulator at {self.base_url} (videos are synthetic, nothing is billed)",
                file=sys.stderr,
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.emulator is not None:
            self.emulator.stop()

    def kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "region": self.region,
            "poll_scale": self.poll_scale,
        }


def _print_result(result: Any, as_json: bool) -> None:
    if as_json:
        out = {
            "path": str(result.path),
            "task_id": result.task_id,
            "cached": result.cached,
            "sidecar": str(result.sidecar) if result.sidecar else None,
        }
        print(json.dumps(out))
    else:
        print(result.path)


async def _follow(conn: _Connection, args: argparse.Namespace, request: Any = None) -> Any:
    from .client import AsyncWanClient
    from .jobs import Runner
    from .store import OutputStore
    from .terminal import TerminalProgress

    runner = Runner(
        store=OutputStore(args.directory or "wan_outputs"),
        client=AsyncWanClient(conn.api_key, **conn.kwargs()),
        timeout=args.timeout,
    )
    try:
        job = runner.submit(request, new=args.new) if request else runner.attach(args.task_id)
        TerminalProgress(job)
        try:
            return await job
        except (KeyboardInterrupt, asyncio.CancelledError):
            # stop following, do not cancel: the job then ends DETACHED, not FAILED/CANCELED
            task = job._task
            job.detach()
            if task is not None and not task.done():
                with contextlib.suppress(BaseException):
                    await asyncio.wait([task], timeout=5.0)
            if job.task_id:
                print(_resume_hint(job.task_id, job.status), file=sys.stderr)
            raise
    finally:
        await runner.aclose()


def _resume_hint(task_id: str, status: str | None = None) -> str:
    """What to do about a task this command stopped following, as ``wanvideo`` commands."""
    lines = [f"  resume: wanvideo attach {task_id}"]
    if status in (None, "PENDING"):
        lines.append(f"  cancel: wanvideo cancel {task_id}   (only while PENDING)")
    return "\n".join(lines)


def _cmd_generate(args: argparse.Namespace) -> int:
    from .request import VideoRequest

    request = VideoRequest.create(args.prompt, **request_params(args), **media_params(args))
    with cli_cost.guard(args, [request]) as go:  # issue 15: estimate, cap, confirm
        if not go:
            return 0
        with _Connection(args) as conn:
            result = asyncio.run(_follow(conn, args, request))
    _print_result(result, args.json)
    return 0


def _cmd_attach(args: argparse.Namespace) -> int:
    args.new = False
    with _Connection(args) as conn:
        result = asyncio.run(_follow(conn, args))
    _print_result(result, False)
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from .client import WanClient

    with _Connection(args) as conn, WanClient(conn.api_key, **conn.kwargs()) as client:
        task = client.get(args.task_id)
    fields = {
        "task_id": task.task_id,
        "status": task.status,
        "code": task.code,
        "message": task.message,
        "submit_time": task.submit_time,
        "scheduled_time": task.scheduled_time,
        "end_time": task.end_time,
        "usage": task.usage or None,
    }
    for key, value in fields.items():
        if value not in (None, ""):
            print(f"{key:15} {value}")
    if task.status == "UNKNOWN":
        print(
            f"wanvideo status: the service does not know task {args.task_id} (task ids live "
            "24 hours and belong to one region and account)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    if not task.is_terminal:
        print(f"(wanvideo attach {task.task_id} follows it and saves the video)")
    return EXIT_OK


def _cmd_cancel(args: argparse.Namespace) -> int:
    from .client import WanClient

    with _Connection(args) as conn, WanClient(conn.api_key, **conn.kwargs()) as client:
        try:
            client.cancel(args.task_id)
        except APIError as exc:
            # the service refuses to cancel anything but PENDING: say what the task is doing
            try:
                status = client.get(args.task_id).status
            except WanError:
                raise exc from None
            if status == "PENDING":
                raise
            print(_cancel_refused(args.task_id, status), file=sys.stderr)
            return EXIT_FAILURE
    print(f"task {args.task_id} canceled; nothing is billed for it")
    return EXIT_OK


def _cancel_refused(task_id: str, status: str) -> str:
    head = f"wanvideo cancel: task {task_id} is {status}, not canceled: "
    if status == "RUNNING":
        return head + (
            "the service cancels only PENDING tasks, so it will finish (and is billed if it "
            f"succeeds); wanvideo attach {task_id} saves the video"
        )
    if status == "UNKNOWN":
        return head + "the service does not know this id (ids live 24 hours, per region)"
    return head + "it has already ended"


def _same_model(a: str, b: str) -> bool:
    try:
        return catalog.get_model(a).id == catalog.get_model(b).id
    except KeyError:
        return a == b


def _cmd_list(args: argparse.Namespace) -> int:
    from .store import OutputStore

    store = OutputStore(args.directory or "wan_outputs")
    records = [r for r in map(store.get, store.known_task_ids()) if r is not None]
    records.sort(key=lambda r: r.created_at, reverse=True)
    seen = set()
    print(f"{'TASK ID':38} {'STATUS':10} {'MODEL':20} SAVED AS / PROMPT")
    for rec in records:
        if args.model and not _same_model(rec.model, args.model):
            continue
        if args.status and rec.status != args.status.upper():
            continue
        seen.add(rec.task_id)
        where = rec.paths.video.name if rec.saved else repr(_clip(rec.prompt, 50))
        print(f"{rec.task_id:38} {rec.status:10} {rec.model:20} {where}")
    if args.local:
        return 0
    from .client import WanClient

    status = args.status.upper() if args.status else None
    with _Connection(args) as conn, WanClient(conn.api_key, **conn.kwargs()) as client:
        for item in client.list(model=args.model, status=status):
            if item.task_id not in seen:
                print(f"{item.task_id:38} {item.status:10} {item.model or '':20} (service only)")
    return 0


def _clip(text: str, limit: int) -> str:
    """One line, cut with an ellipsis when longer than ``limit``."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _cmd_models(args: argparse.Namespace) -> int:
    from .catalog.describe import model_lines  # issue 13: both protocols, preview rows

    for m in catalog.MODELS.values():
        print("\n".join(model_lines(m)))
    print("\nfrom images and clips (issue 14: --image, --last-frame, --first-clip, --reference, "
          "--video):")  # fmt: skip
    for m in catalog.MEDIA_ROWS:
        print("\n".join(model_lines(m)))
    return 0


def _cmd_emulator(args: argparse.Namespace) -> int:
    from .emulator.cli import main as emulator_main

    return int(emulator_main(args.rest, prog="wanvideo emulator") or 0)


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    if not args.speed > 0:
        raise ValidationError(
            f"--speed must be positive, got {args.speed:g}",
            param="speed",
            value=args.speed,
            allowed="a number > 0",
        )
    return run_demo(args.directory, speed=args.speed)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .sweeps.command import run

    with _Connection(args) as conn:
        conn_kw = {"base_url": conn.base_url, "region": conn.region, "api_key": conn.api_key}
        return run(args, conn_kw, poll_scale=conn.poll_scale)


_COMMANDS = {
    "generate": _cmd_generate,
    "status": _cmd_status,
    "attach": _cmd_attach,
    "cancel": _cmd_cancel,
    "list": _cmd_list,
    "models": _cmd_models,
    "emulator": _cmd_emulator,
    "demo": _cmd_demo,
    "spend": cli_cost.cmd_spend,
    "sweep": _cmd_sweep,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``wanvideo``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["emulator"]:  # its own parser and options (argparse cannot pass them on)
        return _cmd_emulator(argparse.Namespace(rest=argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except ValidationError as exc:
        parser.exit(EXIT_USAGE, f"wanvideo {args.command}: error: {exc}\n")
    except (DetachedError, WaitTimeoutError) as exc:
        print(f"wanvideo {args.command}: {_still_running(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except WanError as exc:
        print(f"wanvideo {args.command}: {_error_text(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"wanvideo {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _still_running(exc: DetachedError | WaitTimeoutError) -> str:
    """A task we stopped waiting for: its real state and how to pick it up again."""
    tid = exc.task_id or "?"
    status = getattr(exc, "status", None) or "running"
    why = "the --timeout ran out" if isinstance(exc, WaitTimeoutError) else "stopped following"
    return f"task {tid} is still {status} on the service ({why})\n" + _resume_hint(
        tid, getattr(exc, "status", None)
    )


# wording of the Python API that has a command-line equivalent, or none
_PYTHON_HINTS = (
    (re.compile(r"api_key= argument, "), ""),
    (re.compile(r" or pass api_key=\.\.\."), ""),
    (re.compile(r"attach\('([^']+)'\)"), r"wanvideo attach \1"),
)


def _error_text(exc: WanError) -> str:
    """``Class: message`` with hints in ``wanvideo`` terms (never Python syntax)."""
    text = str(exc)
    if isinstance(exc, ConfigurationError) or "attach('" in text:
        for pattern, repl in _PYTHON_HINTS:
            text = pattern.sub(repl, text)
    return f"{type(exc).__name__}: {text}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
