"""``%%wanvideo`` and ``%wanvideo``: the notebook's way in.

:class:`WanVideoMagic` is a traitlets ``Configurable`` (``%config WanVideoMagic.model = ...``,
``c.WanVideoMagic.directory = ...`` in ``ipython_config.py``); ``%config WanVideoMagic`` lists
every default. Parsing lives in :func:`parse_cell_options` and :func:`build_request`, which
need no shell. Argument mistakes (a bad flag, a size the model does not offer) raise a one-line
``UsageError``; everything else (service errors, failed tasks, timeouts) raises the real
exception, so headless runs (nbval, nbclient, papermill) fail when a video is not made.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import HTML, display
from traitlets import Bool, Float, Int, Unicode

from .. import catalog, checks
from ..errors import ValidationError
from ..options import GENERATION_OPTIONS, argument_decorators
from . import render
from .interpolate import interpolate

if TYPE_CHECKING:
    import asyncio

    from ..jobs import Job, Runner
    from ..request import VideoRequest
    from ..settings import Secret
    from .panel import StatusPanel

__all__ = ["SUBCOMMANDS", "WanVideoMagic", "build_request", "parse_cell_options"]

#: ``%wanvideo <subcommand>``: one-line help for each.
SUBCOMMANDS: dict[str, str] = {
    "status": "status ID - the task's status on the service (and in the store)",
    "attach": "attach ID [--background] [--embed] [-o NAME] - follow a task and save its video",
    "cancel": "cancel ID - cancel a PENDING task",
    "list": "list [--limit N] [--local] - tasks in the store and on the service (24 h)",
    "gallery": "gallery [--limit N] [--embed] - the saved videos of the outputs folder",
    "form": "form - a widget form: pick model, size, duration...; Generate runs a job",
    "config": "config - effective settings and where the API key comes from",
    "key": "key - type an API key, kept for this session only",
    "emulator": "emulator [--speed X] | emulator stop - a local emulator (synthetic videos)",
    "connect": "connect [--speed X] - the configured service if a key is set, else an emulator",
}

# option dest -> VideoRequest.create keyword, from the table the CLI and the form share
_REQUEST_OPTIONS = {o.dest: o.param for o in GENERATION_OPTIONS if o.param}
# VideoRequest keyword -> trait supplying its default
_TRAIT_FOR = {
    "model": "model",
    "size": "size",
    "duration": "duration",
    "seed": "seed",
    "negative_prompt": "negative_prompt",
    "shot_type": "shot_type",
    "prompt_extend": "prompt_extend",
    "watermark": "watermark",
}
# VideoRequest keyword -> the flag named in error messages
_FLAG_FOR = {o.param: o.long_flag for o in reversed(GENERATION_OPTIONS) if o.param}


# string options whose value may be quoted on the line ("blurry, low quality")
_QUOTABLE = ("model", "size", "negative_prompt", "audio_url", "directory")


def _generation_arguments(func: Any) -> Any:
    """Every generation flag of :data:`~wan_notebook.options.GENERATION_OPTIONS`."""
    for decorate in argument_decorators():
        func = decorate(func)
    return func


class _LineParser(argparse.ArgumentParser):
    """argparse for the line subcommands: mistakes are one-line UsageErrors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"%wanvideo {self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise UsageError(message or f"%wanvideo {self.prog}")


def _line_parser(name: str) -> _LineParser:
    return _LineParser(prog=name, add_help=False)


def parse_cell_options(line: str) -> argparse.Namespace:
    """Parse the ``%%wanvideo`` line (UsageError on a bad flag); no shell needed."""
    try:
        args = parse_argstring(WanVideoMagic.wanvideo, line)
    except ValueError as exc:  # shlex: an unbalanced quote
        raise UsageError(
            f"cannot split the %%wanvideo line ({exc}); put values with spaces in quotes, "
            'as in --negative "blurry, low quality"'
        ) from None
    for dest in _QUOTABLE:  # IPython splits without POSIX rules: quotes stay on the value
        value = getattr(args, dest, None)
        if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] in "'\"":
            setattr(args, dest, value[1:-1])
    if args.output is not None and not args.output.isidentifier():
        raise UsageError(f"-o {args.output!r} is not a Python name")
    return args


def build_request(
    prompt: str, args: argparse.Namespace, defaults: Mapping[str, Any]
) -> VideoRequest:
    """The validated request from the prompt, the cell options and the configured defaults.

    Options given on the line win over ``defaults`` (trait values). A ValidationError becomes a
    one-line UsageError naming the parameter, the flag and, for a configured default, the
    ``%config`` name it came from.
    """
    from ..request import VideoRequest

    params: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for dest, key in _REQUEST_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is not None:
            params[key] = value
            origin[key] = _FLAG_FOR.get(key, "--" + key.replace("_", "-"))
    for key, trait in _TRAIT_FOR.items():
        if key not in params and defaults.get(trait) is not None:
            params[key] = defaults[trait]
            origin[key] = f"%config WanVideoMagic.{trait}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            return VideoRequest.create(prompt, **params)
    except ValidationError as exc:
        where = f" (from {origin[exc.param]})" if exc.param in origin else ""
        raise UsageError(f"{exc}{where}".replace("\n", " ")) from None


@magics_class
class WanVideoMagic(Magics):
    """Generate Wan videos from notebook cells (see ``%%wanvideo?``)."""

    model = Unicode(catalog.DEFAULT_MODEL, help="Default model id.").tag(config=True)
    size = Unicode(None, allow_none=True, help="Default size 'W*H' (None: the model's).").tag(
        config=True
    )
    duration = Int(None, allow_none=True, help="Default duration in s (None: the model's).").tag(
        config=True
    )
    seed = Int(None, allow_none=True, help="Default seed (None: random).").tag(config=True)
    negative_prompt = Unicode(None, allow_none=True, help="Default negative prompt.").tag(
        config=True
    )
    shot_type = Unicode(
        None, allow_none=True, help="Default shot type 'single'/'multi' (wan2.6)."
    ).tag(config=True)
    prompt_extend = Bool(True, help="Let the service rewrite the prompt.").tag(config=True)
    watermark = Bool(False, help="Add the 'AI generated' watermark.").tag(config=True)
    directory = Unicode("wan_outputs", help="Outputs folder (relative to the notebook).").tag(
        config=True
    )
    embed = Bool(False, help="Embed videos as base64 instead of referencing the file.").tag(
        config=True
    )
    embed_warn_mb = Float(10.0, help="Warn when --embed adds more than this many MB.").tag(
        config=True
    )
    region = Unicode(None, allow_none=True, help="Region (None: DASHSCOPE_REGION/Singapore).").tag(
        config=True
    )
    base_url = Unicode(
        None, allow_none=True, help="API base URL (None: DASHSCOPE_HTTP_BASE_URL or region)."
    ).tag(config=True)
    timeout = Float(None, allow_none=True, help="Wait deadline per video in s (None: 1800).").tag(
        config=True
    )
    poll_scale = Float(
        1.0, help="Multiply poll intervals (1/speed when talking to an emulator)."
    ).tag(config=True)
    widgets = Bool(True, help="Use ipywidgets for the live panel when a kernel has them.").tag(
        config=True
    )

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._api_key: Secret | None = None
        self._emulator: Any = None
        self._emulator_scale = 1.0
        self._exported: dict[str, str] = {}  # environment variables set by connect
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runners: dict[tuple[Any, ...], Runner] = {}
        #: every job started from this shell, newest last
        self.jobs: list[Job] = []
        #: the panel of the last job started (tests and debugging)
        self.last_panel: StatusPanel | None = None

    # ------------------------------------------------------------------ the magic

    @no_var_expand
    @magic_arguments()
    @_generation_arguments
    @argument("--embed", dest="embed", action="store_const", const=True,
              help="put the video into the notebook as base64 (Colab, sharing)")  # fmt: skip
    @argument("--no-embed", dest="embed", action="store_const", const=False,
              help="reference the saved file (the default)")  # fmt: skip
    @argument("--background", "-b", action="store_true",
              help="return at once; the panel keeps updating (-o binds the Job)")  # fmt: skip
    @argument("-o", "--output", metavar="NAME", help="bind the VideoResult (or Job) to NAME")
    @line_cell_magic
    def wanvideo(self, line: str, cell: str | None = None) -> Any:
        """Turn the cell body into a video with Alibaba's Wan models.

        ::

            %%wanvideo --model wan2.5-t2v-preview --size 832*480 -o clip
            A red fox in a trench coat walks through {city} at night, neon reflections.

        The cell body is the prompt. A saved video for the same request is shown at once (no
        network, no cost) unless --new. The panel shows the task's status, elapsed time and an
        estimated progress bar, then plays the saved file (``--embed``: inlined as base64).
        ``--background`` returns at once; ``-o NAME`` binds the VideoResult (the Job with
        --background: ``await NAME`` or ``NAME.result()``). Ctrl-C keeps the task journaled:
        ``%wanvideo attach ID`` picks it up again.

        Placeholders in the prompt (one rule, never an error):

        * ``{name}`` or ``{name.attr}``: a Python name, no spaces or format spec, that exists
          in the notebook's namespace is replaced by ``str(value)``;
        * ``{{name}}`` gives the literal text ``{name}``;
        * everything else is left exactly as written: unknown names (with a warning), JSON
          like ``{"a": 1}``, code like ``{k: v}``, ``{x!r}``, ``{ x }``, lone braces.

        Defaults come from ``%config WanVideoMagic`` (model, size, duration, seed,
        negative_prompt, shot_type, prompt_extend, watermark, directory, embed,
        embed_warn_mb, region, base_url, timeout, poll_scale, widgets).

        Line form, ``%wanvideo SUBCOMMAND``: status ID, attach ID, cancel ID, list, gallery,
        form, config, key, emulator [stop], connect. Argument mistakes raise a one-line UsageError;
        a video that cannot be made raises the real error.
        """
        if cell is None:
            return self._line(line)
        return self._cell(line, cell)

    # ------------------------------------------------------------------ cell

    def _defaults(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.trait_names(config=True)}

    def _cell(self, line: str, cell: str) -> Any:
        args = parse_cell_options(line)
        ns = self.shell.user_ns if self.shell is not None else {}
        filled = interpolate(cell.strip(), ns)
        if filled.missing:
            names = ", ".join("{" + n + "}" for n in filled.missing)
            warnings.warn(
                f"{names} in the prompt: not a defined name, sent as written "
                "(write {{name}} to mean the braces literally)",
                UserWarning,
                stacklevel=2,
            )
        request = build_request(filled.text, args, self._defaults())
        loop = self._job_loop(background=args.background)
        runner = self._runner(args.directory, args.timeout, loop)
        embed = self.embed if args.embed is None else args.embed
        panel = self._panel(request, embed=embed, cancel_button=args.background)
        panel.show()
        job = runner.submit(request, new=args.new)
        return self._run(job, panel, args)

    def _panel(
        self,
        request: VideoRequest | None,
        *,
        embed: bool,
        cancel_button: bool,
        prompt: str | None = None,
    ) -> StatusPanel:
        from .panel import StatusPanel, widgets_usable

        panel = StatusPanel(
            request,
            prompt=prompt,
            embed=embed,
            embed_warn_bytes=int(self.embed_warn_mb * 1024 * 1024),
            cancel_button=cancel_button,
            widgets=self.widgets and widgets_usable(),
        )
        if self._emulator is not None:
            panel.state.note = "synthetic video from the local emulator"
        self.last_panel = panel
        return panel

    def _run(self, job: Job, panel: StatusPanel, args: argparse.Namespace) -> None:
        from .gallery import track_job

        self.jobs.append(job)
        track_job(job)  # open galleries refresh when it saves
        panel.follow(job)
        if args.background:
            if args.output:
                self.shell.user_ns[args.output] = job
            return None
        try:
            result = job.result()
        except KeyboardInterrupt:
            self._interrupted(job)
            raise
        if args.output:
            self.shell.user_ns[args.output] = result
        return None

    def _interrupted(self, job: Job) -> None:
        """Ctrl-C: stop following locally, keep the task journaled, say how to go on."""
        import asyncio

        task = job._task
        job.detach()
        if task is not None and not task.done():
            loop = job.runner.loop
            if not loop.is_running():
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(asyncio.wait([task], timeout=2.0))
        if job.task_id:
            message = (
                f"Interrupted. Task {job.task_id} keeps running on the service and stays "
                f"journaled in {job.runner.store.index_path}.\n"
                f"  %wanvideo attach {job.task_id}   follow it again and save the video\n"
                f"  %wanvideo cancel {job.task_id}   cancel it (only while PENDING)"
            )
        else:
            message = (
                "Interrupted before the service returned a task id. If the create request "
                "had reached the service, running the cell again adopts that task instead "
                "of paying twice (`%wanvideo list` shows the account's tasks)."
            )
        print(message, file=sys.stderr)

    # ------------------------------------------------------------------ runners

    def _job_loop(self, *, background: bool) -> asyncio.AbstractEventLoop:
        """The kernel's running loop, or (terminal IPython, tests) a private loop."""
        import asyncio

        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            pass
        if background:
            raise UsageError(
                "--background needs a running event loop (a Jupyter kernel); "
                "run the cell without --background here"
            )
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()
        return self._loop

    def _settings(self) -> tuple[Any, str | None, str | None, float]:
        if self._emulator is not None:
            return self._emulator.api_key, self._emulator.base_url, None, self._emulator_scale
        return self._api_key, self.base_url, self.region, self.poll_scale

    def _runner(
        self, directory: str | None, timeout: float | None, loop: asyncio.AbstractEventLoop
    ) -> Runner:
        from ..client import AsyncWanClient
        from ..jobs import Runner
        from ..settings import Secret
        from ..store import OutputStore

        directory = _checked(checks.output_dir, directory, "--dir", "directory", self.directory)
        timeout = _checked(checks.timeout, timeout, "--timeout", "timeout", self.timeout)
        store = OutputStore(directory)
        key, base_url, region, scale = self._settings()
        key_id = key.reveal() if isinstance(key, Secret) else key
        ident = (id(loop), str(store.root), key_id, base_url, region, timeout, scale)
        runner = self._runners.get(ident)
        if runner is None:
            try:
                client = AsyncWanClient(key, base_url=base_url, region=region, poll_scale=scale)
            except ValidationError as exc:  # a base_url, key or region that cannot be used
                raise UsageError(str(exc).replace("\n", " ")) from None
            runner = Runner(store=store, client=client, timeout=timeout, loop=loop)
            self._runners[ident] = runner
        return runner

    def _drive(self, make: Any) -> Any:
        """Run a coroutine from a line magic, inside or outside the kernel's loop."""
        import asyncio

        from ..jobs import run_sync

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            loop = self._job_loop(background=False)
            return loop.run_until_complete(make())
        return run_sync(make)

    # ------------------------------------------------------------------ line subcommands

    def _line(self, line: str) -> Any:
        words = line.split(None, 1)
        if not words:
            raise UsageError(
                "%wanvideo needs a subcommand (" + ", ".join(SUBCOMMANDS) + "); "
                "%%wanvideo (two %) takes the prompt in the cell body"
            )
        name, rest = words[0], (words[1] if len(words) > 1 else "")
        if name.startswith("-"):
            raise UsageError("options go on a %%wanvideo cell (two %), with the prompt below")
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None or name not in SUBCOMMANDS:
            raise UsageError(f"unknown subcommand {name!r}; use one of " + ", ".join(SUBCOMMANDS))
        return handler(rest)

    def _task_id_arg(self, name: str, rest: str, **extra: Any) -> argparse.Namespace:
        parser = _line_parser(name)
        parser.add_argument("task_id", type=checks.ARG_TASK_ID)
        for flag, kwargs in extra.items():
            parser.add_argument(*flag.split("|"), **kwargs)
        return parser.parse_args(rest.split())

    def _cmd_status(self, rest: str) -> None:
        args = self._task_id_arg("status", rest)
        from ..store import OutputStore

        store = OutputStore(self.directory)
        record = store.get(args.task_id) if store.index_path.exists() else None
        runner = self._runner(None, None, self._job_loop(background=False))
        task = self._drive(lambda: runner.client.get(args.task_id))
        lines = [f"task {task.task_id}: {task.status}"]
        if task.code or task.message:
            lines.append(f"  {task.code or ''}: {task.message or ''}")
        for label, value in (
            ("submitted", task.submit_time),
            ("started", task.scheduled_time),
            ("ended", task.end_time),
        ):
            if value is not None:
                lines.append(f"  {label}: {value.isoformat()}")
        if record is not None:
            lines.append(f"  in the store: {record.status}, prompt {record.prompt[:80]!r}")
            if record.saved_at is not None:
                lines.append(f"  saved: {render.src_for(record.paths.video)}")
        if not task.is_terminal:
            lines.append(f"  %wanvideo attach {task.task_id}  follows it and saves the video")
        print("\n".join(lines))

    def _cmd_attach(self, rest: str) -> None:
        parser = _line_parser("attach")
        parser.add_argument("task_id", type=checks.ARG_TASK_ID)
        parser.add_argument("--background", "-b", action="store_true")
        parser.add_argument("--embed", action="store_true", default=None)
        parser.add_argument("--dir", dest="directory", type=checks.ARG_OUTPUT_DIR)
        parser.add_argument("--timeout", type=checks.ARG_TIMEOUT)
        parser.add_argument("-o", "--output")
        args = parser.parse_args(rest.split())
        if args.output is not None and not args.output.isidentifier():
            raise UsageError(f"-o {args.output!r} is not a Python name")
        loop = self._job_loop(background=args.background)
        runner = self._runner(args.directory, args.timeout, loop)
        request = runner.store.request_for(args.task_id)
        embed = self.embed if args.embed is None else args.embed
        panel = self._panel(
            request,
            embed=embed,
            cancel_button=args.background,
            prompt=None if request is not None else f"(task {args.task_id})",
        )
        panel.show()
        job = runner.attach(args.task_id)
        return self._run(job, panel, args)

    def _cmd_cancel(self, rest: str) -> None:
        args = self._task_id_arg("cancel", rest)
        for job in reversed(self.jobs):
            if job.task_id == args.task_id and not job.done():
                ok = self._drive(job.cancel)
                print(job.cancel_message or ("canceled" if ok else "not canceled"))
                return
        runner = self._runner(None, None, self._job_loop(background=False))
        self._drive(lambda: runner.client.cancel(args.task_id))
        print(f"task {args.task_id} canceled; nothing is billed for it")

    def _cmd_list(self, rest: str) -> None:
        parser = _line_parser("list")
        parser.add_argument("--limit", type=checks.arg_positive_int("--limit"), default=20)
        parser.add_argument("--local", action="store_true", help="only the store, no network")
        args = parser.parse_args(rest.split())
        from ..store import OutputStore

        store = OutputStore(self.directory)
        lines = [f"in {render.src_for(store.root)}:"]
        local = store.in_flight()  # in-flight first, then saved results
        saved = store.results(limit=args.limit)
        for rec in local[: args.limit]:
            lines.append(f"  {rec.task_id}  {rec.status:<9} {rec.model:<20} {rec.prompt[:50]!r}")
        for res in saved[: max(0, args.limit - len(local))]:
            lines.append(f"  {res.task_id}  {'SAVED':<9} {res.model:<20} {res.prompt[:50]!r}")
        if len(lines) == 1:
            lines.append("  (nothing yet)")
        if not args.local:
            lines.append("on the service (last 24 h):")
            try:
                runner = self._runner(None, None, self._job_loop(background=False))
                since = datetime.now(timezone.utc) - timedelta(hours=24)
                items = self._drive(lambda: _collect(runner.client.list(start_time=since),
                                                     args.limit))  # fmt: skip
            except Exception as exc:  # the local part is still useful; say what failed
                lines.append(f"  not listed: {type(exc).__name__}: {exc}")
            else:
                for item in items:
                    lines.append(f"  {item.task_id}  {item.status:<9} {item.model or ''}")
                if not items:
                    lines.append("  (no tasks)")
        print("\n".join(lines))

    def _cmd_gallery(self, rest: str) -> None:
        parser = _line_parser("gallery")
        parser.add_argument("--limit", type=checks.arg_positive_int("--limit"), default=12)
        parser.add_argument("--embed", action="store_true")
        args = parser.parse_args(rest.split())
        from .gallery import Gallery

        Gallery(self.directory, limit=args.limit, embed=args.embed).show()

    def _cmd_form(self, rest: str) -> Any:
        if rest.strip():
            raise UsageError("%wanvideo form takes no arguments; set defaults with %config")
        from .form import GenerateForm

        try:
            return GenerateForm(
                model=self.model, size=self.size, duration=self.duration, seed=self.seed,
                negative_prompt=self.negative_prompt, shot_type=self.shot_type,
                prompt_extend=self.prompt_extend, watermark=self.watermark, embed=self.embed,
                magic=self,
            )  # fmt: skip
        except ValidationError as exc:
            raise UsageError(f"{exc} (from %config WanVideoMagic)".replace("\n", " ")) from None

    def _cmd_config(self, rest: str) -> None:
        from ..settings import resolve_api_key, resolve_base_url

        lines = ["WanVideoMagic settings (change with %config WanVideoMagic.NAME = value):"]
        for name in sorted(self.trait_names(config=True)):
            value = getattr(self, name)
            default = self.traits()[name].default_value
            mark = "" if value == default else "   (set)"
            lines.append(f"  {name:<16} {value!r}{mark}")
        if self._emulator is not None:
            lines.append(f"  base URL:        {self._emulator.base_url} (local emulator)")
            lines.append("  API key:         the emulator's demo key")
        else:
            try:
                url, url_source = resolve_base_url(self.base_url, region=self.region)
                lines.append(f"  base URL:        {url} (from {url_source})")
            except Exception as exc:
                lines.append(f"  base URL:        not resolved: {exc}")
            if self._api_key is not None:
                lines.append("  API key:         set for this session with %wanvideo key")
            else:
                try:
                    _, source = resolve_api_key(None)
                except Exception:
                    lines.append(
                        "  API key:         not found (DASHSCOPE_API_KEY or %wanvideo key)"
                    )
                else:
                    lines.append(f"  API key:         from {source}")
        from ..store import OutputStore

        lines.append(f"  outputs folder:  {OutputStore(self.directory).root}")
        print("\n".join(lines))

    def _cmd_key(self, rest: str) -> None:
        import getpass

        from ..settings import Secret

        value = getpass.getpass("DashScope API key (kept for this session only): ").strip()
        if not value:
            raise UsageError("no key entered; nothing changed")
        self._api_key = Secret(value)
        print("API key set for this session (not saved anywhere).")

    def _cmd_emulator(self, rest: str) -> None:
        parser = _line_parser("emulator")
        parser.add_argument("action", nargs="?", choices=("start", "stop"), default="start")
        parser.add_argument("--speed", type=float, default=30.0)
        args = parser.parse_args(rest.split())
        if args.action == "stop":
            if self._emulator is None:
                print("no emulator is running in this kernel")
                return
            self._stop_emulator()
            print("emulator stopped; cells use the configured service again")
            return
        if args.speed <= 0:
            raise UsageError("--speed must be positive")
        if self._emulator is not None:
            self._stop_emulator()
        from ..emulator import Emulator

        emulator = Emulator(speed=args.speed)
        emulator.start()
        self._emulator = emulator
        self._emulator_scale = 1.0 / args.speed
        banner = (
            f"Wan emulator running in this kernel at {emulator.base_url} (speed x{args.speed:g})."
            " Its videos are SYNTHETIC (a caption over moving colour), not made by Wan; nothing"
            " is billed. %wanvideo emulator stop returns to the real service."
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

    def _cmd_connect(self, rest: str) -> None:
        """Use the configured service when an API key is set, else start an emulator.

        Notebooks open with it so they run anywhere: with ``DASHSCOPE_API_KEY`` (and maybe
        ``DASHSCOPE_HTTP_BASE_URL``, as ``wanvideo demo`` sets) they talk to that service;
        without a key they start ``%wanvideo emulator``, show its banner and point this
        kernel's environment at it (until ``%wanvideo emulator stop``), so the Python API
        used in the same notebook talks to it too.
        """
        parser = _line_parser("connect")
        parser.add_argument("--speed", type=float, default=30.0)
        args = parser.parse_args(rest.split())
        if self._emulator is not None:
            print(f"using the emulator already running in this kernel at {self._emulator.base_url}")
            return
        from ..errors import ConfigurationError
        from ..settings import resolve_api_key, resolve_base_url, resolve_poll_scale

        try:
            key_source = "this session" if self._api_key else resolve_api_key(None)[1]
        except ConfigurationError:
            self._cmd_emulator(f"--speed {args.speed!r}")
            # the Python API in this kernel (generate(), WanClient()) follows the same settings
            emulator = self._emulator
            self._exported = {
                "DASHSCOPE_HTTP_BASE_URL": emulator.base_url,
                "DASHSCOPE_API_KEY": emulator.api_key,
                "WAN_NOTEBOOK_POLL_SCALE": repr(self._emulator_scale),
            }
            os.environ.update(self._exported)
            return
        url, url_source = resolve_base_url(self.base_url, region=self.region)
        scale, scale_source = resolve_poll_scale(None)
        if scale_source != "default" and self.poll_scale == self.traits()["poll_scale"].default():
            self.poll_scale = scale  # e.g. the kernel of `wanvideo demo` polling its emulator
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

    def _stop_emulator(self) -> None:
        for name, value in self._exported.items():  # only what connect set and nobody changed
            if os.environ.get(name) == value:
                del os.environ[name]
        self._exported = {}
        emulator, self._emulator = self._emulator, None
        if emulator is not None:
            emulator.stop()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Stop the emulator started here (if any); used by ``unload_ipython_extension``."""
        self._stop_emulator()


def _checked(check: Any, given: Any, flag: str, trait: str, configured: Any) -> Any:
    """``check`` the value given on the line (``flag``), else the ``%config`` trait; a bad one
    is a one-line UsageError saying where it came from."""
    value, origin = (
        (given, flag) if given is not None else (configured, f"%config WanVideoMagic.{trait}")
    )
    try:
        return check(value, trait)
    except ValidationError as exc:
        raise UsageError(f"{exc} (from {origin})".replace("\n", " ")) from None


async def _collect(items: Any, limit: int) -> list[Any]:
    out = []
    async for item in items:
        out.append(item)
        if len(out) >= limit:
            break
    return out
