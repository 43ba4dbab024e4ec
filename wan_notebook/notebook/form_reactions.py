"""``FormReactions``: how ``GenerateForm`` reacts to its controls; out of form.py for length."""

from __future__ import annotations

import hashlib
import os
import random
import re
from collections.abc import Mapping
from typing import Any

from .. import catalog
from ..errors import ValidationError, WanError
from . import render
from .form_labels import _audio_options, _count_html, size_label
from .media_picker import default_cell, shaped_by_input, tier_options

__all__ = ["UPLOADS", "FormReactions"]

#: Subfolder of the outputs folder where uploaded audio files are kept.
UPLOADS = "uploads"


class FormReactions:
    """The reacting half of :class:`~wan_notebook.notebook.form.GenerateForm` (its controls,
    ``request``, ``as_cell`` and ``_info`` live there)."""

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
