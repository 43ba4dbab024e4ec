"""``wanvideo sweep``: a sweep from the command line, with a progress line and resume.

    wanvideo sweep prompts.txt --seeds 0-4 --model wan2.2-t2v-plus --size 832*480 \\
        --export results.parquet

Running the same command again resumes the sweep (saved videos are not asked for again).
``--model``, ``--size``, ``--duration``, ``--resolution`` and ``--ratio`` may be repeated:
each repetition is one more value of that dimension of the product.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from .. import checks
from ..errors import ValidationError

__all__ = ["add_parser", "parse_seeds", "run"]


def parse_seeds(text: str) -> list[int]:
    """``0-4`` -> [0, 1, 2, 3, 4]; ``1,5,9`` -> [1, 5, 9]; both mix: ``0-2,10``."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a seed list: write 0-4, 1,5,9 or 0-2,10"
            ) from None
    return seeds


def add_parser(sub: Any, connection_args: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``sweep`` subcommand on ``wanvideo``'s subparsers."""
    p = sub.add_parser(
        "sweep",
        help="a resumable sweep: prompts x seeds x models x sizes, with a results table",
        description="A resumable sweep: prompts x seeds x models x sizes, validated first, "
        "journaled in the output folder (running the same command again resumes it), with a "
        "progress line and a results table (--export).",
    )
    p.add_argument("prompts", help="a .txt file (one prompt per line), .csv/.jsonl, or a prompt")
    p.add_argument("--seeds", type=parse_seeds, default=None, help="e.g. 0-4 or 1,5,9")
    p.add_argument(
        "--repeat",
        type=checks.arg_positive_int("--repeat"),
        default=1,
        help="videos per cell (without --seeds each gets a fixed seed of its own)",
    )
    p.add_argument(
        "--model",
        "-m",
        action="append",
        dest="models",
        default=None,
        help="repeatable (default: the default model)",
    )
    for flag, kind in (
        ("--size", str),
        ("--duration", int),
        ("--resolution", str),
        ("--ratio", str),
    ):
        p.add_argument(flag, action="append", type=kind, default=None, help="repeatable")
    p.add_argument("--negative", "-n", dest="negative_prompt", default=None)
    p.add_argument("--no-extend", dest="prompt_extend", action="store_const", const=False)
    p.add_argument("--watermark", action="store_const", const=True, default=None)
    p.add_argument(
        "--dir",
        dest="directory",
        default="wan_outputs",
        type=checks.ARG_OUTPUT_DIR,
        help="output folder (default: wan_outputs); the sweep's manifest lives there",
    )
    p.add_argument(
        "--concurrency",
        type=checks.arg_positive_int("--concurrency"),
        default=None,
        help="tasks at once per model (default: the model's quota)",
    )
    p.add_argument("--timeout", type=checks.ARG_TIMEOUT, default=None)
    p.add_argument("--retry-failed", action="store_true", help="run failed cells again")
    p.add_argument(
        "--export",
        default=None,
        metavar="PATH",
        help="write the results table (.parquet, .csv) or a folder",
    )
    p.add_argument("--format", default=None, choices=("parquet", "csv", "videofolder", "vbench"))
    p.add_argument(
        "--max-cost",
        default=None,
        metavar="AMOUNT",
        help="refuse to start when the cells still to make may cost more (e.g. 20, '20 USD')",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print the estimate of the sweep and send nothing"
    )
    connection_args(p)


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name in ("size", "duration", "resolution", "ratio"):
        if getattr(args, name):
            params[name] = getattr(args, name)
    for name in ("negative_prompt", "prompt_extend", "watermark"):
        if getattr(args, name) is not None:
            params[name] = [getattr(args, name)]
    return params


@contextlib.contextmanager
def _poll_scale(scale: float | None) -> Iterator[None]:
    """With ``--emulator``: poll at the emulator's pace (``sweep()`` takes no poll scale)."""
    old = os.environ.get("WAN_NOTEBOOK_POLL_SCALE")
    if scale is not None:
        os.environ["WAN_NOTEBOOK_POLL_SCALE"] = str(scale)
    try:
        yield
    finally:
        if scale is not None and old is None:
            os.environ.pop("WAN_NOTEBOOK_POLL_SCALE", None)
        elif scale is not None:
            os.environ["WAN_NOTEBOOK_POLL_SCALE"] = old or ""


def run(
    args: argparse.Namespace, connection: dict[str, Any], *, poll_scale: float | None = None
) -> int:
    """Make (or resume) the sweep, run it with a progress line, export; the exit code."""
    with _poll_scale(poll_scale):
        return _run(args, connection)


def _run(args: argparse.Namespace, connection: dict[str, Any]) -> int:
    from .core import sweep
    from .progress import SweepProgress

    if args.format is not None and args.export is None:
        raise ValidationError(
            "--format needs --export PATH",
            param="format",
            value=args.format,
            allowed="--export PATH --format FORMAT",
        )
    sw = sweep(
        args.prompts,
        seeds=args.seeds,
        models=args.models,
        params=_params(args),
        repeat=args.repeat,
        output_dir=args.directory,
        concurrency=args.concurrency,
        timeout=args.timeout,
        max_cost=args.max_cost,
        **connection,
    )
    if args.dry_run:
        print(str(sw.estimate()))
        return 0
    before = sw.status()
    print(
        f"sweep {sw.id}: {before.total} cells, {before.done} already done "
        f"(manifest in {args.directory})",
        file=sys.stderr,
    )
    view = SweepProgress(sw)
    try:
        status = sw.run(retry_failed=args.retry_failed)
    finally:
        view.finish()
    if args.export:
        print(sw.export(args.export, args.format))
    failed = status.counts.get("failed", 0)
    if failed:
        print(
            f"{failed} cells failed; see the table's error_code, or run again with --retry-failed",
            file=sys.stderr,
        )
    return 0 if status.done == status.total else 1
