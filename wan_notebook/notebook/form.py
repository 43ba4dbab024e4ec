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

import contextlib
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import catalog
from ..errors import ValidationError
from . import render
from .cell_text import CellText as CellText
from .cell_text import cell_params as cell_params
from .cell_text import escape_prompt as escape_prompt
from .cell_text import wanvideo_cell
from .costing import estimate_label, release_when_done
from .estimate_view import EstimateView
from .form_labels import _label as _label
from .form_labels import _resolution_ratio, model_label
from .form_labels import size_label as size_label
from .form_reactions import UPLOADS as UPLOADS
from .form_reactions import FormReactions
from .job_slot import WIDGET_MIME, _JobSlot
from .media_picker import MediaPicker, media_models, media_start, shaped_by_input
from .runner_source import RunnerSource
from .runner_source import _loaded_magic as _loaded_magic
from .runner_source import job_loop as job_loop

if TYPE_CHECKING:
    from ..jobs import Job
    from ..request import VideoRequest

__all__ = ["CellText", "GenerateForm", "wanvideo_cell"]


class GenerateForm(FormReactions):
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
