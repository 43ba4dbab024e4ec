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
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Float, Int, Unicode

from .. import catalog, checks
from ..errors import ValidationError, WanError
from ..media_options import media_argument_decorators, media_params
from ..options import GENERATION_OPTIONS, argument_decorators
from . import costing as _costing
from .interpolate import interpolate
from .interrupt import CellInterrupted, in_magic_terms, stop_following
from .line_commands import SUBCOMMANDS, LineCommands
from .line_commands import _line_parser as _line_parser

if TYPE_CHECKING:
    import asyncio

    from ..jobs import Job, Runner
    from ..request import VideoRequest
    from ..settings import Secret
    from .panel import StatusPanel

__all__ = ["SUBCOMMANDS", "CellInterrupted", "WanVideoMagic", "build_request", "parse_cell_options"]

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
_QUOTABLE = ("model", "size", "negative_prompt", "audio_url", "directory", "max_cost")


def _generation_arguments(func: Any) -> Any:
    """Every generation flag of :data:`~wan_notebook.options.GENERATION_OPTIONS`."""
    for decorate in [*media_argument_decorators(), *argument_decorators()]:  # + issue 14 media
        func = decorate(func)
    return func


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
    prompt: str,
    args: argparse.Namespace,
    defaults: Mapping[str, Any],
    namespace: Mapping[str, Any] | None = None,
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
    for key, value in media_params(args, namespace).items():  # issue 14: --image NAME_OR_PATH
        params[key], origin[key] = value, "--" + key.replace("_", "-")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            return VideoRequest.create(prompt, **params)
    except ValidationError as exc:
        where = f" (from {origin[exc.param]})" if exc.param in origin else ""
        raise UsageError(f"{exc}{where}".replace("\n", " ")) from None


def _warn_missing(cell: str, missing: Sequence[str]) -> None:
    """Warn about undefined ``{names}``, located in the cell (``%%wanvideo:LINE``) rather
    than in this module: the user sees where the name is, not an internal file path."""
    names = ", ".join("{" + n + "}" for n in missing)
    first = "{" + missing[0]
    lineno = next((i for i, ln in enumerate(cell.splitlines(), 2) if first in ln), 2)
    warnings.warn_explicit(
        f"{names} in the prompt: not a defined name, sent as written "
        "(write {{name}} to mean the braces literally)",
        UserWarning,
        filename="%%wanvideo",
        lineno=lineno,
        module="wan_notebook.prompt",
    )


@magics_class
class WanVideoMagic(Magics, LineCommands):
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
    budget = Unicode(
        None, allow_none=True, help='Folder budget, e.g. "5 USD" (None: WAN_NOTEBOOK_BUDGET).'
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._api_key: Secret | None = None
        #: the background emulator this kernel is connected to (``ServiceInfo``), if any
        self._emulator: Any = None
        self._emulator_started = False
        #: the process-wide connection this magic set (cleared again on unload)
        self._connection: Any = None
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
    @argument("--max-cost", default=None, metavar="AMOUNT",
              help='refuse unless the estimate\'s high is at most this ("5 USD")')  # fmt: skip
    @argument("--background", "-b", action="store_true",
              help="return at once; the panel keeps updating (-o binds the Job)")  # fmt: skip
    @argument("-o", "--output", metavar="NAME", help="bind the VideoResult (or Job) to NAME")
    @line_cell_magic
    def wanvideo(self, line: str, cell: str | None = None) -> Any:
        """Turn the cell body into a video with Alibaba's Wan models.

        Example (the cell body is the prompt):

            %%wanvideo --model wan2.5-t2v-preview --size 832*480 -o clip
            A red fox in a trench coat walks through {city} at night, neon reflections.

        A video saved before for the same request is shown at once (no network, no cost)
        unless --new. While it runs, the panel shows the task's status, the elapsed time and
        an estimated progress bar; then it plays the saved file (--embed: inlined as base64).

        --background returns at once; the panel keeps updating.
        -o NAME binds the result (with --background: the job; "await NAME" gets the result).
        Kernel > Interrupt (Ctrl-C) stops waiting; the task keeps running on the service and
        "%wanvideo attach ID" picks it up again.

        Placeholders in the prompt (one rule, never an error):
          {name}, {name.attr}  replaced by str(value) when the name exists in the notebook
          {{name}}             the literal text {name}
          anything else        left exactly as written: unknown names (with a warning),
                               JSON like {"a": 1}, code like {k: v}, {x!r}, lone braces

        Defaults come from "%config WanVideoMagic" (model, size, duration, seed,
        negative_prompt, shot_type, prompt_extend, watermark, directory, embed,
        embed_warn_mb, region, base_url, timeout, poll_scale, widgets, budget: the folder
        budget). --max-cost AMOUNT refuses a cell whose estimate is higher, before any request.

        Line form, "%wanvideo SUBCOMMAND": status ID, attach ID, cancel ID, list, gallery,
        form, config, key, emulator [stop], connect. Argument mistakes raise a one-line
        UsageError; a video that cannot be made raises the real error.
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
            _warn_missing(cell, filled.missing)
        request = build_request(filled.text, args, self._defaults(), ns)
        loop = self._job_loop(background=args.background)
        runner = self._runner(args.directory, args.timeout, loop)
        embed = self.embed if args.embed is None else args.embed
        est, held = _costing.check_cell(self, request, args)  # issue 15: before any request
        panel = self._panel(request, embed=embed, cancel_button=args.background)
        panel.state.cost = _costing.estimate_label(est)
        panel.show()
        job = runner.submit(request, new=args.new)
        _costing.release_when_done([job], held)
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
        from .tracking import track_job

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
            raise stop_following(job) from None
        except WanError as exc:
            raise in_magic_terms(exc, job.task_id) from None
        if args.output:
            self.shell.user_ns[args.output] = result
        return None

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

    def _settings(self) -> tuple[Any, str | None, str | None, float | None]:
        # poll_scale left at its default: the connection's hint, the environment or the
        # emulator's speed header decide (settings.resolve_poll_scale)
        scale = None if self.poll_scale == 1.0 else self.poll_scale
        if self._emulator is not None:
            return self._emulator.api_key, self._emulator.base_url, None, scale
        return self._api_key, self.base_url, self.region, scale

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
            store.price_region = _costing.price_region(region, client)  # issue 15
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

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Drop this kernel's connection to the emulator; used by ``unload_ipython_extension``.

        The emulator itself keeps running (it outlives kernels): ``%wanvideo emulator stop``.
        """
        from .connection import forget

        forget(self)


def _plain_help(doc: str | None) -> str | None:
    """``%wanvideo?`` as plain text: IPython's magic_arguments opens the usage with a reST
    ``::`` marker and names the line form; the help reads better without both."""
    if doc and doc.startswith("::"):
        doc = "Usage:" + doc[2:].replace("  %wanvideo [", "  %%wanvideo [", 1)
    return doc


WanVideoMagic.wanvideo.__doc__ = _plain_help(WanVideoMagic.wanvideo.__doc__)


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
