"""Labels and choices of the form's controls, read from the catalog; out of form.py."""

from __future__ import annotations

import math
from typing import Any

from .. import catalog
from . import render

__all__ = ["model_label", "size_label"]

_RATIOS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0, "4:3": 4 / 3, "3:4": 3 / 4}


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
