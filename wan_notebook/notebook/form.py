"""``GenerateForm`` (``%wanvideo form``): a widget form that makes a video, one job per click.

Every choice comes from :mod:`wan_notebook.catalog` (models, sizes by tier, durations, limits,
which models make sound or take a shot type) and every decision about what may be submitted
from :meth:`VideoRequest.create`, run on each change: an invalid combination disables
Generate and shows the validation message, so the form cannot disagree with the magic, the
CLI or the API.

Generate starts a background job (a :class:`~wan_notebook.jobs.Runner` on the kernel's
running loop, the magic's ``--background`` path): the cell that showed the form is long
finished, so the job's :class:`~wan_notebook.notebook.panel.StatusPanel` appears under the
form and several jobs may run at once. With ``%load_ext wan_notebook`` the form uses the
magic's settings and runners (its key, emulator and ``%config`` defaults); otherwise it reads
the environment like :func:`wan_notebook.generate`.

"Copy as cell" shows the equivalent ``%%wanvideo`` cell, written with the flags of
:data:`wan_notebook.options.GENERATION_OPTIONS` (:func:`wanvideo_cell`), which the magic
parses back into the same request.

ipywidgets is imported only when a form is built. Every control has a text label
(``description_allow_html=False``); every piece of user text shown as HTML is escaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import random
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import catalog
from ..errors import ValidationError, WanError
from ..options import GENERATION_OPTIONS
from . import render
from .costing import estimate_label, price_region, release_when_done
from .estimate_view import EstimateView
from .interpolate import _NAME, interpolate
from .media_picker import (
    MediaPicker,
    default_cell,
    media_models,
    media_start,
    shaped_by_input,
    tier_options,
)

if TYPE_CHECKING:
    from ..jobs import Job, Runner
    from ..request import VideoRequest
    from .panel import StatusPanel

__all__ = ["CellText", "GenerateForm", "wanvideo_cell"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: Subfolder of the outputs folder where uploaded audio files are kept.
UPLOADS = "uploads"
_SAFE_TOKEN = re.compile(r"[\w*.,/:=+@%~-]+")
_PLACEHOLDER = re.compile(r"\{(" + _NAME + r")\}")
_RATIOS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0, "4:3": 4 / 3, "3:4": 3 / 4}


# ------------------------------------------------------------------------------ the cell


class CellText(str):
    """A ``%%wanvideo`` cell; ``notes`` lists what the cell could not express."""

    notes: tuple[str, ...]

    def __new__(cls, text: str, notes: tuple[str, ...] = ()) -> CellText:
        obj = super().__new__(cls, text)
        obj.notes = notes
        return obj


def _quote(value: str) -> str | None:
    """``value`` as one token of the magic's line (None: it cannot be written there).

    The magic splits its line like a non-POSIX shell (no escapes) and drops one pair of
    surrounding quotes, so a value is written bare, or in the quote it does not contain.
    """
    if "\n" in value or "\r" in value:
        return None
    if _SAFE_TOKEN.fullmatch(value) and not value.startswith("-"):
        return value
    if '"' not in value:
        return f'"{value}"'
    if "'" not in value:
        return f"'{value}'"
    return None


class _Anything:
    """A namespace value every placeholder resolves to (checks the prompt's escaping)."""

    def __getattr__(self, name: str) -> _Anything:
        return self

    def __str__(self) -> str:
        return "\x00"


class _EveryName(dict):  # type: ignore[type-arg]
    def get(self, key: Any, default: Any = None) -> Any:
        return _Anything()


def escape_prompt(prompt: str) -> str | None:
    """The cell body that the magic's ``{name}`` rule turns back into ``prompt`` whatever
    names the notebook defines (None if no such body exists)."""
    body = _PLACEHOLDER.sub(r"{{\1}}", prompt)
    if interpolate(body, _EveryName()).text != prompt:
        return None
    return body


def wanvideo_cell(
    prompt: str,
    params: Mapping[str, Any],
    *,
    directory: str | None = None,
    new: bool = False,
) -> CellText:
    """The ``%%wanvideo`` cell for ``prompt`` and :meth:`VideoRequest.create` keywords.

    Flags come from :data:`~wan_notebook.options.GENERATION_OPTIONS` (the table the magic and
    the CLI share); a parameter without a flag, or a value a line cannot carry, is left out
    and named in :attr:`CellText.notes`. Values equal to the magic's built-in defaults
    (prompt extension on, no watermark, a random seed) are left implicit.
    """
    tokens = ["%%wanvideo"]
    notes: list[str] = []
    used: set[str] = set()
    for opt in GENERATION_OPTIONS:
        flag = opt.long_flag
        if opt.param is None:
            if opt.dest == "directory" and directory:
                quoted = _quote(directory)
                if quoted is None:
                    notes.append(f"{flag}: the folder name cannot be written on the line")
                else:
                    tokens += [flag, quoted]
            elif opt.dest == "new" and new:
                tokens.append(flag)
            continue
        used.add(opt.param)
        value = params.get(opt.param)
        if value is None:
            continue
        if opt.kwargs.get("action") == "store_const":
            # one flag of an on/off pair; the one that restates the default is left implicit
            if opt.kwargs["const"] == value and opt.explicit:
                tokens.append(flag)
            continue
        quoted = _quote(str(value))
        if quoted is None:
            notes.append(
                f"{flag}: the value contains a line break or both quote characters, which a "
                "%%wanvideo line cannot carry; it is left out"
            )
            continue
        tokens += [flag, quoted]
    for name, value in params.items():
        if name not in used and name != "prompt" and value is not None:
            notes.append(
                f"{name}={value!r} has no %%wanvideo flag; the cell leaves it to the service "
                "default"
            )
    body = escape_prompt(prompt.strip())
    if body is None:  # pragma: no cover - escape_prompt always succeeds for the current rule
        body = prompt.strip()
        notes.append("the prompt's braces cannot be written so that {name} stays literal")
    if prompt != prompt.strip():
        notes.append("the magic strips spaces around the prompt")
    return CellText(" ".join(tokens) + "\n" + body, tuple(notes))


def cell_params(request: Mapping[str, Any]) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """Prompt, create keywords and notes from a canonical request dict (a sidecar's)."""
    names = ("model", "size", "duration", "negative_prompt", "audio", "shot_type", "seed")
    params = {n: request.get(n) for n in names if request.get(n) is not None}
    if request.get("prompt_extend") is False:
        params["prompt_extend"] = False
    if request.get("watermark"):
        params["watermark"] = True
    notes: tuple[str, ...] = ()
    if request.get("audio_url"):
        params["audio_url"] = request["audio_url"]
    elif request.get("audio_file"):
        params["audio_url"] = request["audio_file"]
        notes = (
            f"the audio was the local file {request['audio_file']!r}: put it next to the "
            "notebook (same content, sha256 " + str(request.get("audio_sha256", "?"))[:12] + "…)",
        )
    return str(request.get("prompt", "")), params, notes


# ------------------------------------------------------------------------------ runners


def _loaded_magic() -> Any:
    """The ``WanVideoMagic`` of this shell when ``%load_ext wan_notebook`` ran, else None."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    from . import _MAGIC_ATTR

    shell = get_ipython()
    return getattr(shell, _MAGIC_ATTR, None) if shell is not None else None


_PRIVATE_LOOP: asyncio.AbstractEventLoop | None = None


def job_loop(magic: Any = None) -> asyncio.AbstractEventLoop:
    """The running loop (a kernel's), else the magic's private loop, else one of our own.

    Jobs on a loop that is not running advance when ``job.result()`` drives it.
    """
    global _PRIVATE_LOOP
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    if magic is not None:
        return magic._job_loop(background=False)
    if _PRIVATE_LOOP is None or _PRIVATE_LOOP.is_closed():
        _PRIVATE_LOOP = asyncio.new_event_loop()
    return _PRIVATE_LOOP


class RunnerSource:
    """Where a widget's jobs run: the magic's runners when the extension is loaded and no
    connection setting is given here, else runners of its own built from these settings and
    the environment (``DASHSCOPE_API_KEY``, ``DASHSCOPE_HTTP_BASE_URL``,
    ``WAN_NOTEBOOK_POLL_SCALE``), one per event loop."""

    def __init__(
        self,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        poll_scale: float | None = None,
        timeout: float | None = None,
        concurrency: int | None = None,
        magic: Any = None,
    ) -> None:
        from ..api import check_call

        check_call(  # the shared checks, before any runner, folder or request exists
            output_dir="wan_outputs" if output_dir is None else output_dir, api_key=api_key,
            base_url=base_url, region=region, timeout=timeout, concurrency=concurrency,
        )  # fmt: skip
        explicit = any(v is not None for v in (api_key, base_url, region, poll_scale, concurrency))
        self.magic = None if explicit else (magic if magic is not None else _loaded_magic())
        self._output_dir = None if output_dir is None else os.fspath(output_dir)
        self._api_key = api_key
        self.base_url = base_url
        self.region = region
        self.poll_scale = poll_scale
        self.timeout = timeout
        self.concurrency = concurrency
        self._runners: dict[int, Runner] = {}

    def __repr__(self) -> str:  # never shows the key
        where = "the %wanvideo magic's settings" if self.magic is not None else "own settings"
        return f"<RunnerSource {self.directory!r} via {where}>"

    @property
    def directory(self) -> str:
        """The outputs folder its jobs save into."""
        if self._output_dir is not None:
            return self._output_dir
        if self.magic is not None:
            return str(self.magic.directory)
        return "wan_outputs"

    @property
    def note(self) -> str:
        """A note for panels (the emulator's videos are synthetic)."""
        if self.magic is not None and getattr(self.magic, "_emulator", None) is not None:
            return "synthetic video from the local emulator"
        return ""

    def runner(self, loop: asyncio.AbstractEventLoop | None = None) -> Runner:
        """The runner for ``loop`` (default: :func:`job_loop`)."""
        loop = loop or job_loop(self.magic)
        if self.magic is not None:
            return self.magic._runner(self._output_dir, self.timeout, loop)
        runner = self._runners.get(id(loop))
        if runner is None or runner.loop is not loop:
            from ..client import AsyncWanClient
            from ..jobs import Runner
            from ..store import OutputStore

            client = AsyncWanClient(
                self._api_key, base_url=self.base_url, region=self.region,
                poll_scale=self.poll_scale,
            )  # fmt: skip
            runner = Runner(
                store=OutputStore(self.directory), client=client, timeout=self.timeout,
                loop=loop, concurrency=self.concurrency,
            )  # fmt: skip
            runner.store.price_region = price_region(self.region, client)  # issue 15
            self._runners[id(loop)] = runner
        return runner

    def record(self, job: Job) -> None:
        """Let the magic (``%wanvideo cancel``) and open galleries know about ``job``."""
        from .tracking import track_job

        if self.magic is not None:
            self.magic.jobs.append(job)
        track_job(job)

    async def aclose(self) -> None:
        """Close the runners it made (the magic's stay open)."""
        runners, self._runners = list(self._runners.values()), {}
        for runner in runners:
            await runner.aclose()

    def close(self) -> None:
        """:meth:`aclose` from sync code (not from inside the loop its runners use)."""
        runners, self._runners = list(self._runners.values()), {}
        for runner in runners:
            if runner.loop.is_running() or runner.loop.is_closed():
                continue
            runner.loop.run_until_complete(runner.aclose())


# ------------------------------------------------------------------------------ widgets


def _label(cls: Any, **kwargs: Any) -> Any:
    """An ipywidgets control whose description is always plain text."""
    if "description_allow_html" in cls.class_trait_names():
        kwargs.setdefault("description_allow_html", False)
    style = cls.class_traits().get("style")
    style_cls = getattr(style, "klass", None)
    if isinstance(style_cls, type) and "description_width" in style_cls.class_trait_names():
        kwargs.setdefault("style", {"description_width": "initial"})
    return cls(**kwargs)


def size_label(size: str, model: catalog.Model | None = None) -> str:
    """``720P · 16:9 landscape · 1280*720`` (``(default)`` for the model's default)."""
    w, h = (int(x) for x in size.split("*"))
    ratio = min(_RATIOS, key=lambda r: abs(math.log((w / h) / _RATIOS[r])))
    shape = "landscape" if w > h else "portrait" if h > w else "square"
    tier = catalog.TIER_OF_SIZE.get(size, "?")
    cell = model.resolution_ratio_of(size) if model is not None else None
    if cell is not None:  # new protocol: the size is a resolution x ratio cell (issue 13)
        tier, ratio = cell
    default = " (default)" if model is not None and size == model.default_size else ""
    return f"{tier} · {ratio} {shape} · {size}{default}"


def _resolution_ratio(info: catalog.Model, size: str) -> dict[str, str]:
    """New protocol: the resolution x ratio the chosen size cell stands for (issue 13)."""
    cell = info.resolution_ratio_of(size) if info.protocol == "new" else None
    return {"resolution": cell[0], "ratio": cell[1]} if cell else {}


def _audio_options(info: catalog.Model, options: Any) -> list[tuple[str, str]]:
    """Drop the audio choices a model does not take (wan2.7: no switch; Wan3.0: no track)."""
    keep = {"auto"}
    if info.audio_switch:
        keep.add("none")
    if info.audio_url_input:
        keep |= {"url", "file"}
    return [(label, value) for label, value in options if value in keep]


def model_label(model: catalog.Model) -> str:
    """``wan2.5-t2v-preview · 480P-1080P · sound · up to 1500 chars``."""
    tiers = model.tiers[0] if len(model.tiers) == 1 else f"{model.tiers[0]}-{model.tiers[-1]}"
    sound = "sound" if model.audio else "silent"
    return f"{model.id} · {tiers} · {sound} · {model.duration_text()}"


def _count_html(n: int, limit: int, what: str) -> str:
    over = n > limit
    colour = "#b91c1c" if over else "#4b5563"
    extra = f" — {n - limit} over the limit" if over else ""
    return (
        f'<small style="color:{colour}" aria-live="polite">{what}: {n} / {limit} '
        f"characters{render.esc(extra)}</small>"
    )


class _JobSlot:
    """One job under the form: the panel's live widget, then its final static view.

    The slot is an ``Output`` widget whose outputs are the panel's mime bundle: a widget view
    while the job runs, then HTML (rendered by the notebook, which resolves the video's
    relative path the same way as for a ``%%wanvideo`` cell's output).
    """

    def __init__(self, panel: StatusPanel, job: Job) -> None:
        import ipywidgets as w

        self.panel = panel
        self.job = job
        self.output = w.Output(layout={"border": "1px solid #e5e7eb", "margin": "4px 0"})
        self.final = False
        self._unsubscribe: Any = None
        panel.follow(job)
        self.sync()
        if not self.final:
            self._unsubscribe = job.subscribe(self._on_event)

    def _on_event(self, _event: Any) -> None:
        if not self.final and WIDGET_MIME not in self.panel.bundle():
            self.sync()

    def sync(self) -> None:
        """Show the panel's current bundle (called once live, once final)."""
        bundle = self.panel.bundle()
        self.final = WIDGET_MIME not in bundle
        self.output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)
        if self.final and self._unsubscribe is not None:
            self._unsubscribe()

    @property
    def html(self) -> str:
        """The slot's current HTML view."""
        return str(self.output.outputs[0]["data"].get("text/html", ""))


class GenerateForm:
    """A widget form for one video request; Generate runs it as a background job.

    Keyword arguments set the initial value of any option (``prompt, model, size, duration,
    seed, negative_prompt, audio_url, audio, shot_type, prompt_extend, watermark, new,
    embed``) and, for scripts and tests, where jobs run (``output_dir, api_key, base_url,
    region, poll_scale, timeout``; any connection setting given here means the form does not
    use the magic's). Bad initial values raise :class:`~wan_notebook.errors.ValidationError`.

    :meth:`submit` does what the Generate button does and returns the
    :class:`~wan_notebook.jobs.Job`; :meth:`request` is the validated request of the current
    values; :meth:`as_cell` the equivalent ``%%wanvideo`` cell. ``cost`` shows the live
    estimate; its "Max cost" box (``max_cost=``) makes Generate refuse a dearer request.

    A model that takes media (``wan2.1-i2v-turbo``, ...) shows an upload per input
    (``media``, :class:`~.media_picker.MediaPicker`); ``image=``, ``last_frame=``,
    ``first_clip=``, ``references=`` and ``video=`` preset them as ``generate`` takes them, and
    ``size`` is then its resolution tier (``"480P"``).
    """

    def __init__(
        self,
        *,
        prompt: str = "",
        model: str | None = None,
        size: str | None = None,
        duration: int | None = None,
        seed: int | None = None,
        negative_prompt: str | None = None,
        audio_url: str | os.PathLike[str] | None = None,
        audio: bool | None = None,
        shot_type: str | None = None,
        prompt_extend: bool = True,
        watermark: bool = False,
        new: bool = False,
        embed: bool = False,
        output_dir: str | os.PathLike[str] | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        region: str | None = None,
        poll_scale: float | None = None,
        timeout: float | None = None,
        magic: Any = None,
        max_cost: float | str | None = None,
        image: Any = None,
        last_frame: Any = None,
        first_clip: Any = None,
        references: Any = None,
        video: Any = None,
    ) -> None:
        import ipywidgets as w

        from .. import checks
        from ..request import VideoRequest

        self.source = RunnerSource(
            output_dir=output_dir, api_key=api_key, base_url=base_url, region=region,
            poll_scale=poll_scale, timeout=timeout, magic=magic,
        )  # fmt: skip
        self.cost = EstimateView(self.source, max_cost)  # issue 15: live estimate, max cost
        checks.flag(new, "new")
        self.embed = checks.flag(embed, "embed")
        # issue 14: a model with inputs starts from the default one, then is chosen (below)
        start = media_start(model, image=image, last_frame=last_frame, first_clip=first_clip,
                            references=references, video=video)  # fmt: skip
        if start is not None:
            model, start_size, start_duration, size, duration = None, size, duration, None, None
        # check the initial values with the one validator (a placeholder prompt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            first = VideoRequest.create(
                "-", model=model or catalog.DEFAULT_MODEL, size=size, duration=duration,
                seed=seed, negative_prompt=negative_prompt, audio_url=audio_url, audio=audio,
                shot_type=shot_type, prompt_extend=prompt_extend, watermark=watermark,
            )  # fmt: skip
        if first.model not in catalog.model_ids(with_aliases=True):
            # the catalog is open (issue 13), the form's model list is not
            raise ValidationError(
                f"model {first.model!r} is not in the catalog, so the form cannot offer its "
                "choices; use the %%wanvideo magic, or add it with catalog.register(...)",
                param="model",
                value=first.model,
                allowed=", ".join(catalog.model_ids()),
            )
        info = catalog.get_model(first.model)
        self._busy = False
        self._uploaded: str | None = None
        #: the validation message of the current values (None when they can be submitted)
        self.error: str | None = None
        #: warnings :meth:`VideoRequest.create` gave for the current values
        self.warnings: list[str] = []
        self.jobs: list[Job] = []
        self.slots: list[_JobSlot] = []

        self.prompt = _label(
            w.Textarea, value=prompt, description="Prompt",
            placeholder="Describe the video: subject, scene, motion, camera, style",
            layout={"width": "100%", "height": "6em"}, continuous_update=True,
        )  # fmt: skip
        self.prompt_count = w.HTML()
        self.model = _label(
            w.Dropdown, description="Model", layout={"width": "100%"},
            options=[(model_label(m), m.id) for m in catalog.MODELS.values()]
            + [(model_label(m), m.id) for m in media_models()],  # issue 14: media_picker.py
            value=info.id,
        )  # fmt: skip
        self.media = MediaPicker(changed=lambda: None if self._busy else self._validate())
        self.size = _label(w.Dropdown, description="Size", layout={"width": "100%"})
        # A Dropdown, not a SelectionSlider: when the options change (another model), the
        # slider's view clamped its old index to the new range in the browser and synced that
        # back, overriding the value set from code (seen in JupyterLab 4.6, ipywidgets 8.1).
        self.duration = _label(w.Dropdown, description="Duration (s)", options=[0])
        self.negative = _label(
            w.Textarea, value=negative_prompt or "", description="Negative prompt",
            placeholder="What to avoid (optional)", layout={"width": "100%", "height": "3em"},
            continuous_update=True,
        )  # fmt: skip
        self.negative_count = w.HTML()
        self.seed_mode = _label(
            w.ToggleButtons, description="Seed", options=[("random", "random"), ("fixed", "fixed")],
            value="random" if seed is None else "fixed",
            tooltips=["a new seed on the service each time", "the same seed repeats the video"],
        )  # fmt: skip
        self.seed = _label(
            w.BoundedIntText, description="Seed value", min=0, max=catalog.SEED_MAX,
            value=0 if seed is None else seed, layout={"width": "16em"},
        )  # fmt: skip
        self.dice = w.Button(
            description="Roll", icon="dice", tooltip="pick a random fixed seed",
            layout={"width": "6em"},
        )  # fmt: skip
        self.audio_mode = _label(w.Dropdown, description="Audio", layout={"width": "100%"})
        self.audio_url = _label(
            w.Text, description="Audio URL", placeholder="https://… .wav or .mp3 (3-30 s)",
            layout={"width": "100%"},
        )  # fmt: skip
        self.audio_file = _label(
            w.FileUpload, description="Audio file", accept=".wav,.mp3", multiple=False,
            tooltip="a .wav or .mp3 file, at most 15 MB",
        )  # fmt: skip
        self.audio_note = w.HTML()
        self.shot_type = _label(
            w.Dropdown, description="Shot type",
            options=[("service default", ""), ("single shot", "single"), ("multi-shot", "multi")],
            value=shot_type or "",
        )  # fmt: skip
        self.prompt_extend = _label(
            w.Checkbox, value=prompt_extend, indent=False, layout={"width": "auto"},
            description="Prompt extension (the service rewrites the prompt with an LLM)",
        )  # fmt: skip
        self.watermark = _label(
            w.Checkbox,
            value=watermark,
            indent=False,
            layout={"width": "auto"},
            description='Watermark ("AI生成")',
        )
        self.new = _label(
            w.Checkbox, value=new, indent=False, layout={"width": "auto"},
            description="Generate again even if this exact request was saved (costs money)",
        )  # fmt: skip
        self.message = w.HTML()
        self.generate = w.Button(
            description="Generate", icon="play", button_style="primary",
            tooltip="start a background job for this request",
        )  # fmt: skip
        self.copy = _label(
            w.ToggleButton, description="Copy as cell", icon="copy",
            tooltip="show the equivalent %%wanvideo cell",
        )  # fmt: skip
        self.cell = _label(
            w.Textarea, description="Cell", layout={"width": "100%", "display": "none"},
            tooltip="the %%wanvideo cell that makes the same request",
        )  # fmt: skip
        self.cell_notes = w.HTML(layout={"display": "none"})
        self.jobs_box = w.VBox()

        # initial audio mode
        mode = "auto" if info.audio else "none"
        if audio is False:
            mode = "none"
        if first.audio_url is not None:
            from ..request import is_remote_url

            if is_remote_url(first.audio_url):
                mode = "url"
                self.audio_url.value = first.audio_url
            else:
                mode = "file"
                self._uploaded = first.audio_url
        self._set_model_choices(info, size=first.size, duration=first.duration, audio=mode)

        self.seed.disabled = self.seed_mode.value == "random"
        self.dice.on_click(self._roll)
        self.generate.on_click(self._on_generate)
        self.model.observe(self._on_model, names="value")
        self.audio_file.observe(self._on_upload, names="value")
        for control in (
            self.prompt, self.size, self.duration, self.negative, self.seed_mode, self.seed,
            self.audio_mode, self.audio_url, self.shot_type, self.prompt_extend,
            self.watermark, self.new, self.copy,
        ):  # fmt: skip
            control.observe(self._on_change, names="value")
        self.cost.max_cost.observe(lambda _change: self._validate(), names="value")

        self.widget = w.VBox(
            [
                w.HTML("<b>Wan video</b> · text to video"),
                self.prompt,
                self.prompt_count,
                self.model,
                self.media.widget,
                w.HBox([self.size]),
                self.duration,
                self.negative,
                self.negative_count,
                w.HBox([self.seed_mode, self.seed, self.dice]),
                self.audio_mode,
                self.audio_url,
                self.audio_file,
                self.audio_note,
                self.shot_type,
                self.prompt_extend,
                self.watermark,
                self.new,
                w.HBox([self.generate, self.copy]),
                self.message,
                self.cost.widget,
                self.cell,
                self.cell_notes,
                self.jobs_box,
            ],
            layout={"max_width": "760px"},
        )
        self._validate()
        if start is not None:
            start.apply(self, start_size, start_duration)

    # ------------------------------------------------------------------ values

    def _info(self) -> catalog.Model:
        return catalog.get_model(self.model.value)

    def params(self) -> dict[str, Any]:
        """The :meth:`VideoRequest.create` keywords of the current values (no prompt)."""
        info = self._info()
        out: dict[str, Any] = {
            "model": info.id,
            "size": self.size.value,
            "duration": self.duration.value,
            **_resolution_ratio(info, self.size.value),
            "prompt_extend": bool(self.prompt_extend.value),
            "watermark": bool(self.watermark.value),
        }
        if self.negative.value.strip():
            out["negative_prompt"] = self.negative.value
        if self.seed_mode.value == "fixed":
            out["seed"] = int(self.seed.value)
        if "resolution" in out:
            del out["size"]  # the new protocol's names, also on the copied cell
        if shaped_by_input(info):  # the size dropdown holds tiers: the input sets the shape
            out["resolution"] = out.pop("size")
        mode = self.audio_mode.value
        if mode == "none" and info.audio:
            out["audio"] = False
        elif mode == "url":
            out["audio_url"] = self.audio_url.value.strip()
        elif mode == "file" and self._uploaded is not None:
            out["audio_url"] = self._uploaded
        if info.shot_type and self.shot_type.value:
            out["shot_type"] = self.shot_type.value
        return out

    def request(self) -> VideoRequest:
        """The validated request of the current values (ValidationError if they are not)."""
        from ..request import VideoRequest

        if self.audio_mode.value == "file" and self._uploaded is None:
            raise ValidationError(
                "audio_url: no audio file chosen yet; upload a .wav or .mp3 file, or pick "
                "another audio option",
                param="audio_url",
                value=None,
                allowed="a .wav or .mp3 file of at most 15 MB",
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kw = self.media.fit(self._info(), {**self.params(), **self.media.values()})
            request = VideoRequest.create(self.prompt.value.strip(), **kw)
        self.warnings = [str(w.message) for w in caught]
        return request

    def as_cell(self) -> CellText:
        """The ``%%wanvideo`` cell for the current values (its ``notes`` say what it leaves
        out)."""
        params = self.params()
        url = params.get("audio_url")
        if url and self._uploaded is not None and url == self._uploaded:
            rel = os.path.relpath(url)
            params["audio_url"] = url if rel.startswith("..") else Path(rel).as_posix()
        directory = self.source._output_dir
        cell = wanvideo_cell(self.prompt.value, params, directory=directory, new=self.new.value)
        return CellText(cell, cell.notes + self.media.cell_notes())

    # ------------------------------------------------------------------ reacting

    def _set_model_choices(
        self, info: catalog.Model, *, size: str | None, duration: int | None, audio: str | None
    ) -> None:
        """Point size, duration, audio and shot type at ``info``'s catalog row."""
        self._busy = True
        try:
            if shaped_by_input(info):  # issue 14: a tier; the input image sets the shape
                self.size.options = tiers = tier_options(info)
                kept = size if size in [t for _, t in tiers] else None
                self.size.value = kept or info.default_resolution or info.resolutions[0]
            else:
                self.size.options = [(size_label(s, info), s) for s in info.sizes]
                self.size.value = size if size in info.sizes else default_cell(info)
            self.media.show_for(info)
            self.duration.options = [(str(d), d) for d in info.durations] + (
                [("smart (the model chooses)", -1)] if info.smart_duration else []
            )
            self.duration.value = duration if duration in info.durations else info.default_duration
            self.duration.disabled = len(info.durations) == 1
            self.duration.tooltip = f"{info.id}: {info.duration_text()}"
            if info.audio:
                self.audio_mode.options = [
                    ("automatic (the model adds sound)", "auto"),
                    ("none (ask for silence)", "none"),
                    ("from a URL", "url"),
                    ("from an uploaded file", "file"),
                ]
                self.audio_mode.options = _audio_options(info, self.audio_mode.options)
                self.audio_mode.disabled = False
                self.audio_mode.value = (
                    audio if audio in [v for _, v in self.audio_mode.options] else "auto"
                )
            else:
                self.audio_mode.options = [("none (this model makes silent video)", "none")]
                self.audio_mode.value = "none"
                self.audio_mode.disabled = True
            self.shot_type.layout.display = None if info.shot_type else "none"
            self.shot_type.disabled = not info.shot_type
            if not info.shot_type:
                self.shot_type.value = ""
        finally:
            self._busy = False
        self._show_audio_controls()

    def _show_audio_controls(self) -> None:
        info, mode = self._info(), self.audio_mode.value
        self.audio_url.layout.display = None if mode == "url" else "none"
        self.audio_file.layout.display = None if mode == "file" else "none"
        if not info.audio:
            with_sound = ", ".join(m.id for m in catalog.MODELS.values() if m.audio)
            note = f"{info.id} makes silent video; models with sound: {with_sound}"
        elif mode == "none":
            note = (
                "asks for silence with parameters.audio=false: documented only for image to "
                "video, so the service may ignore it"
            )
        elif mode == "file" and self._uploaded is not None:
            note = f"file: {os.path.basename(self._uploaded)} (uploaded to the service first)"
        elif mode == "url":
            note = "wav or mp3, 3-30 s; longer audio is cut, shorter leaves the rest silent"
        else:
            note = ""
        self.audio_note.value = f"<small>{render.esc(note)}</small>" if note else ""

    def _on_model(self, change: Mapping[str, Any]) -> None:
        if self._busy:
            return
        info = catalog.get_model(change["new"])
        self._set_model_choices(
            info, size=self.size.value, duration=self.duration.value, audio=self.audio_mode.value
        )
        self._validate()

    def _on_change(self, change: Mapping[str, Any]) -> None:
        if self._busy:
            return
        owner = change.get("owner")
        if owner is self.seed_mode:
            self.seed.disabled = change["new"] == "random"
        if owner is self.audio_mode:
            self._show_audio_controls()
        self._validate()

    def _roll(self, _button: Any = None) -> None:
        """The dice: a random fixed seed."""
        self._busy = True
        try:
            self.seed_mode.value = "fixed"
            self.seed.value = random.randint(0, catalog.SEED_MAX)
            self.seed.disabled = False
        finally:
            self._busy = False
        self._validate()

    def _on_upload(self, change: Mapping[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        try:
            self._uploaded = self._save_upload(files[0])
        except (OSError, ValueError) as exc:
            self._uploaded = None
            self.message.value = render.error_box_html(exc)
            return
        self._busy = True
        try:
            self.audio_mode.value = "file"
            # the bytes are on disk now: keep them out of the widget state (and the notebook)
            self.audio_file.value = ()
        finally:
            self._busy = False
        self._show_audio_controls()
        self._validate()

    def _save_upload(self, item: Mapping[str, Any]) -> str:
        """Keep an uploaded file under ``<outputs>/uploads/`` with a confined, content-named
        file name; the client uploads that path to the service at submit time."""
        from ..request import AUDIO_MAX_BYTES
        from ..store import OutputStore

        content = bytes(item.get("content") or b"")
        if len(content) > AUDIO_MAX_BYTES:
            raise ValueError(
                f"the audio file is {len(content) / 1e6:.1f} MB, over the 15 MB the service takes"
            )
        name = os.path.basename(str(item.get("name") or "audio"))
        stem, suffix = os.path.splitext(name)
        stem = re.sub(r"[^\w.-]+", "-", stem, flags=re.ASCII).strip(".-")[:40] or "audio"
        suffix = re.sub(r"[^a-z0-9.]", "", suffix.lower())[:8]
        digest = hashlib.sha256(content).hexdigest()[:12]
        folder = OutputStore(self.source.directory).root / UPLOADS
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem}-{digest}{suffix}"
        if not path.exists():
            tmp = path.with_name(path.name + ".part")
            tmp.write_bytes(content)
            os.replace(tmp, path)
        return str(path)

    def _validate(self) -> None:
        """Run :meth:`request` on the current values; show why Generate is disabled."""
        info = self._info()
        self.prompt_count.value = _count_html(
            len(self.prompt.value.strip()), info.prompt_max, "prompt"
        )
        self.negative_count.value = _count_html(
            len(self.negative.value), info.negative_prompt_max, "negative prompt"
        )
        try:
            if self.media.error:  # shown beside its upload too
                raise ValidationError(self.media.error, param="media")
            self.request()
        except (ValidationError, WanError) as exc:
            self.error = str(exc)
            self.generate.disabled = True
            self.generate.tooltip = f"cannot generate: {exc}"
            if not self.prompt.value.strip():  # a fresh form: a hint, not an alarm
                self.message.value = "<small><i>Type a prompt to generate a video.</i></small>"
            else:
                self.message.value = (
                    '<div role="alert" style="color:#b91c1c"><b>Cannot generate:</b> '
                    f'<span style="white-space:pre-wrap">{render.esc(exc)}</span></div>'
                )
        else:
            self.error = None
            self.generate.disabled = False
            self.generate.tooltip = "start a background job for this request"
            notes = "".join(f"<div>{render.esc(m)}</div>" for m in self.warnings)
            self.message.value = f'<small role="status"><i>{notes}</i></small>' if notes else ""
        self.cost.update(None if self.error else self.request())
        self._update_cell()

    def _update_cell(self) -> None:
        show = bool(self.copy.value)
        self.cell.layout.display = None if show else "none"
        self.cell_notes.layout.display = None if show else "none"
        if not show:
            return
        cell = self.as_cell()
        self.cell.value = str(cell)
        self.cell.rows = min(12, str(cell).count("\n") + 2)
        notes = list(cell.notes)
        if self.error:
            notes.insert(0, "the current values are not valid yet; the cell would fail too")
        self.cell_notes.value = "".join(f"<div><small>{render.esc(n)}</small></div>" for n in notes)

    # ------------------------------------------------------------------ submitting

    def _on_generate(self, _button: Any = None) -> None:
        """The Generate button: :meth:`submit`, with any error shown in the form."""
        try:
            self.submit()
        except Exception as exc:  # a click has no cell to raise into: show it
            self.message.value = render.error_box_html(exc)

    def submit(self) -> Job:
        """Validate, start a background job and show its live panel under the form."""
        from .panel import StatusPanel

        request = self.request()
        held = self.cost.guard(request, bool(self.new.value))  # before anything is sent
        runner = self.source.runner()
        panel = StatusPanel(request, embed=self.embed, cancel_button=True, widgets=True)
        panel.state.cost = estimate_label(self.cost.estimate)
        if self.source.note:
            panel.state.note = self.source.note
        job = runner.submit(request, new=bool(self.new.value))
        release_when_done([job], held)
        self.source.record(job)
        slot = _JobSlot(panel, job)
        self.jobs.append(job)
        self.slots.append(slot)
        self.jobs_box.children = (slot.output, *self.jobs_box.children)
        return job

    async def aclose(self) -> None:
        """Close the runners the form made for itself (not the magic's)."""
        await self.source.aclose()

    def close(self) -> None:
        """Sync :meth:`aclose` (outside the runners' loop) and close the widgets."""
        self.source.close()
        with contextlib.suppress(Exception):
            self.widget.close()

    # ------------------------------------------------------------------ display

    def __repr__(self) -> str:
        if not self.prompt.value.strip():
            state = "waiting for a prompt"
        else:
            state = "ready" if self.error is None else f"invalid: {self.error}"
        return (
            f"<GenerateForm {self.model.value} {self.size.value} {self.duration.value}s "
            f"{len(self.jobs)} job(s); {state}>"
        )

    def _repr_html_(self) -> str:
        cell = self.as_cell()
        state = "ready to generate" if self.error is None else f"cannot generate: {self.error}"
        return (
            '<div class="wan-form" style="font-family:sans-serif;font-size:13px">'
            "<b>Wan video form</b> (interactive in a running Jupyter kernel) · "
            f"{render.esc(state)}<br><small>the equivalent cell:</small>"
            f'<pre style="white-space:pre-wrap">{render.esc(cell)}</pre></div>'
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {
            "text/plain": repr(self),
            "text/html": self._repr_html_(),
            WIDGET_MIME: {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self.widget.model_id,
            },
        }
