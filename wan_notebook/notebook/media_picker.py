"""The form's media inputs (issue 14): one upload per input role the chosen model takes.

:class:`MediaPicker` reads the catalog's :func:`~wan_notebook.catalog.input_rules` for the
model: for each role (``image``, ``last_frame``, ``first_clip``, ``references``, ...) it shows
an ``ipywidgets.FileUpload``, a thumbnail of the chosen image or of a clip's first frame
(with its name, size and length), a Clear button and the check of
:func:`wan_notebook.media_in.check_input` beside it, before anything is sent.
:meth:`MediaPicker.values` are the keywords ``generate(image=...)`` takes. A text-to-video
model hides the whole box.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import catalog, checks
from ..errors import ValidationError
from ..media_in import MediaInput, check_input, coerce
from . import render

__all__ = [
    "MediaPicker",
    "MediaStart",
    "default_cell",
    "media_models",
    "media_start",
    "shaped_by_input",
    "tier_options",
]

_ACCEPT = {
    "image": ".jpg,.jpeg,.png,.bmp,.webp",
    "video": ".mp4,.mov",
    "audio": ".wav,.mp3",
}
_LABEL = {
    "image": "First frame",
    "last_frame": "Last frame",
    "first_clip": "Clip to continue",
    "audio_url": "Driving audio",
    "video": "Video to edit",
    "references": "References",
}
#: Thumbnail box (px) of the preview.
THUMB = 160


def media_models() -> list[catalog.Model]:
    """The catalog rows that take media inputs (image-to-video, kf2v, r2v, edit), in order."""
    return [m for m in catalog.MEDIA_ROWS if catalog.input_rules(m)]


def shaped_by_input(info: catalog.Model) -> bool:
    """The output takes the first image's (or clip's) shape by default: the form offers tiers,
    not sizes (i2v, kf2v, wan2.7-i2v; wan2.7-videoedit, whose ratio has no default)."""
    rules = catalog.input_rules(info)
    return bool(rules) and not info.default_size and not (info.ratios and info.default_ratio)


def default_cell(info: catalog.Model) -> str:
    """The size cell a model starts on: its default size, else its default resolution x
    ratio (wan2.7-r2v has no ``size`` but a pixel table)."""
    if info.default_size:
        return info.default_size
    cell = info.pixel_size(info.default_resolution, info.default_ratio)
    return cell or (info.sizes[0] if info.sizes else "")


def tier_options(info: catalog.Model) -> list[tuple[str, str]]:
    """Size choices of an input-shaped model: its resolution tiers."""
    tiers = info.resolutions or info.tiers
    default = info.default_resolution
    return [(f"{t} · the input's shape" + (" (default)" if t == default else ""), t) for t in tiers]


def _png(inp: MediaInput) -> bytes | None:
    """A PNG thumbnail of an image, or of a clip's first frame (None for sounds, URLs and
    clips PyAV cannot decode)."""
    if inp.kind not in ("image", "video") or not inp.data:
        return None
    from PIL import Image

    if inp.kind == "video":
        import av

        try:
            with av.open(io.BytesIO(inp.data)) as box:
                img = next(box.decode(video=0)).to_image()
        except (av.error.FFmpegError, StopIteration, IndexError, OSError):
            return None
    else:
        with Image.open(io.BytesIO(inp.data)) as opened:
            img = opened.convert("RGB")
    img.thumbnail((THUMB, THUMB))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _describe(inp: MediaInput) -> str:
    parts = [inp.name, f"{inp.size / 1e6:.2f} MB" if inp.size >= 100_000 else f"{inp.size} B"]
    if inp.width and inp.height:
        parts.append(f"{inp.width}x{inp.height}")
    if inp.seconds:
        parts.append(f"{inp.seconds:.1f} s")
    return " · ".join(parts)


class _Slot:
    """One role: upload, preview, clear, message."""

    def __init__(self, role: str, rules: list[catalog.InputRule], changed: Callable[[], None]):
        import ipywidgets as w

        self.role, self.rules, self._changed = role, rules, changed
        self.many = any(r.many for r in rules)
        required = any(r.required for r in rules)
        accept = ",".join(_ACCEPT[k] for k in dict.fromkeys(r.kind for r in rules))
        label = _LABEL.get(role, role) + (" *" if required else "")
        self.inputs: list[MediaInput] = []
        self.error: str | None = None
        self.upload = w.FileUpload(
            description=label, accept=accept, multiple=self.many,
            tooltip=f"{role}=: " + "; ".join(r.describe() for r in rules),
            layout={"width": "auto"},
        )  # fmt: skip
        self.clear = w.Button(description="Clear", icon="times", layout={"width": "6em"})
        self.preview = w.Image(format="png", layout={"display": "none", "max_width": f"{THUMB}px"})
        self.info = w.HTML()
        self.message = w.HTML()
        hint = "required" if required else "optional"
        self.hint = w.HTML(f"<small>{render.esc(role)}= ({hint})</small>")
        self.widget = w.HBox(
            [w.VBox([self.upload, self.clear]), self.preview,
             w.VBox([self.hint, self.info, self.message])],
        )  # fmt: skip
        self.upload.observe(self._on_upload, names="value")
        self.clear.on_click(lambda _b: self.set(None))

    def _on_upload(self, change: dict[str, Any]) -> None:
        files = change["new"]
        if not files:
            return  # our own reset below
        self.set(files if self.many else files[0])
        # the bytes are kept as MediaInputs: out of the widget state (and the notebook)
        self.upload.value = ()

    def set(self, value: Any, model_id: str = "") -> None:
        """Choose ``value`` (anything ``coerce`` takes; None clears) and check it."""
        self.inputs, self.error = [], None
        if value is not None:
            items = list(value) if self.many and isinstance(value, (list, tuple)) else [value]
            try:
                for i, item in enumerate(items):
                    name = f"{self.role}[{i}]" if self.many else self.role
                    self.inputs.append(coerce(item, self.role, name))
            except ValidationError as exc:
                self.inputs, self.error = [], str(exc)
        self.check(model_id)
        self._show()
        self._changed()

    def check(self, model_id: str) -> None:
        """The catalog check of each chosen input (kept in :attr:`error`)."""
        if not self.inputs:
            return
        self.error = None
        kinds = {r.kind: r for r in self.rules}
        for inp in self.inputs:
            rule = kinds.get(inp.kind) or self.rules[0]
            try:
                check_input(inp, rule, model_id or "this model")
            except ValidationError as exc:
                self.error = str(exc)
                return

    def _show(self) -> None:
        png = _png(self.inputs[0]) if self.inputs else None
        self.preview.layout.display = None if png else "none"
        self.preview.value = png or b""
        self.info.value = "".join(
            f"<div><small>{render.esc(_describe(m))}</small></div>" for m in self.inputs
        )
        self.message.value = (
            f'<div role="alert" style="color:#b91c1c"><small>{render.esc(self.error)}</small></div>'
            if self.error
            else ('<small style="color:#15803d">ok</small>' if self.inputs else "")
        )

    def value(self) -> Any:
        if not self.inputs:
            return None
        return list(self.inputs) if self.many else self.inputs[0]


class MediaPicker:
    """Upload boxes for the media inputs of the form's model (see the module docstring)."""

    def __init__(self, changed: Callable[[], None] = lambda: None) -> None:
        import ipywidgets as w

        self._changed = changed
        self.model_id = ""
        self.slots: dict[str, _Slot] = {}
        self.title = w.HTML()
        self.widget = w.VBox(layout={"display": "none"})

    def show_for(self, info: catalog.Model) -> None:
        """Offer ``info``'s inputs (a role both models take keeps its file); none: hidden."""
        rules = catalog.input_rules(info)
        self.model_id = info.id
        by_role: dict[str, list[catalog.InputRule]] = {}
        for rule in rules:
            by_role.setdefault(rule.role, []).append(rule)
        old, self.slots = self.slots, {}
        for role, group in by_role.items():
            kept = old.get(role)
            if kept is not None and [r.kind for r in kept.rules] == [r.kind for r in group]:
                kept.rules = group
                kept.check(info.id)
                kept._show()
                self.slots[role] = kept
            else:
                self.slots[role] = _Slot(role, group, self._changed)
        self.title.value = f"<b>Inputs</b> <small>({render.esc(info.id)}; * required)</small>"
        self.widget.children = (self.title, *(s.widget for s in self.slots.values()))
        self.widget.layout.display = None if self.slots else "none"

    def set(self, role: str, value: Any) -> None:
        """Choose a file for ``role`` from code (what an upload does)."""
        if role not in self.slots:
            raise checks.fail(
                role, "...", f"is not an input of {self.model_id or 'this model'}",
                ", ".join(self.slots) or "no media inputs",
            )  # fmt: skip
        self.slots[role].set(value, self.model_id)

    @property
    def error(self) -> str | None:
        """The first input's problem, or None."""
        return next((s.error for s in self.slots.values() if s.error), None)

    def values(self) -> dict[str, Any]:
        """The chosen inputs as ``generate`` keywords (only roles with a file)."""
        out = {role: slot.value() for role, slot in self.slots.items()}
        return {role: v for role, v in out.items() if v is not None}

    @staticmethod
    def fit(info: catalog.Model, kw: dict[str, Any]) -> dict[str, Any]:
        """The form's keywords for ``info`` with these inputs: wan2.7-r2v takes its ratio from
        a first frame, so the size cell's ratio is not sent then (PROTOCOL 14.2)."""
        if "image" in kw and info.ratios and not info.smart_duration:
            kw.pop("ratio", None)
        return kw

    def cell_notes(self) -> tuple[str, ...]:
        """What a copied ``%%wanvideo`` cell cannot carry: uploaded files."""
        return tuple(
            f"{role}: the uploaded file is not on the line; add --{role.replace('_', '-')} "
            "NAME with a variable holding it"
            for role in self.values()
        )


@dataclass(frozen=True)
class MediaStart:
    """A form that starts on a model with inputs: chosen after the widgets exist, so its
    uploads, tiers and the initial files go through the same handlers as a user's choice."""

    info: catalog.Model
    given: dict[str, Any]

    def apply(self, form: Any, size: str | None, duration: int | None) -> None:
        """Choose the model, size (a tier, or a ``W*H`` of that tier) and duration, preset the
        inputs; a bad initial value raises, a required input still to upload does not."""
        form.model.value = self.info.id
        if size is not None:
            choices = [v for _, v in form.size.options]
            pick = size if size in choices else catalog.TIER_OF_SIZE.get(str(size))
            if pick not in choices:
                raise checks.fail("size", size, f"is not offered by {self.info.id}",
                                  ", ".join(map(str, choices)))  # fmt: skip
            form.size.value = pick
        if duration is not None:
            if duration not in [v for _, v in form.duration.options]:
                raise checks.fail("duration", duration, f"is not allowed for {self.info.id}",
                                  self.info.duration_text())  # fmt: skip
            form.duration.value = duration
        for role, value in self.given.items():
            form.media.set(role, value)
            slot = form.media.slots[role]
            if slot.error:
                raise ValidationError(slot.error, param=role, value=_describe_value(value))
        form._validate()
        try:
            form.request()
        except ValidationError as exc:
            later = {r.role for r in catalog.input_rules(self.info) if r.required}
            if not (exc.value is None and exc.param in later - set(self.given)):
                raise


def _describe_value(value: Any) -> str:
    return value if isinstance(value, str) else f"<{type(value).__name__}>"


def media_start(model: str | None, **given: Any) -> MediaStart | None:
    """How a form starts on ``model`` with the media keywords ``given`` (None: as before, a
    model without inputs or a text-to-video start). Media for a model that takes none, or
    without a model, is a ValidationError naming the keyword."""
    given = {k: v for k, v in given.items() if v is not None}
    info = catalog.lookup(model, warn=False) if isinstance(model, str) and model.strip() else None
    rules = catalog.input_rules(info) if info is not None else ()
    for role in given:
        if not any(r.role == role for r in rules):
            takes = ", ".join(m.id for m in media_models() if any(
                r.role == role for r in catalog.input_rules(m)))  # fmt: skip
            raise checks.fail(
                role, _describe_value(given[role]),
                f"is not an input of {info.id if info else 'the default model'}",
                f"pass model= one that takes it ({takes})",
            )  # fmt: skip
    if info is None or not rules or (info.id in catalog.MODELS and not given):
        return None
    return MediaStart(info, given)
