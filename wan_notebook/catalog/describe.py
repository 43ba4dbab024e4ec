"""Plain-text descriptions of catalog rows (for ``wanvideo models`` and help texts)."""

from __future__ import annotations

from . import pricing
from .media_rows import input_rules
from .models import Model

__all__ = ["inputs_text", "model_lines", "price_text", "shape_text"]

_SYMBOL = {"USD": "$", "CNY": "¥"}


def price_text(m: Model) -> str:
    """Per-second prices in each of the model's regions, or "unknown" (issue 15)."""
    parts = []
    for region in m.regions:
        row = next((r for i in m.ids if (r := pricing.price_for(i, region)) is not None), None)
        if row is None:
            parts.append(f"{region} unknown")
            continue
        sym = _SYMBOL.get(row.currency, row.currency + " ")
        cells = ", ".join(
            f"{t}{'' if a is None else (' sound' if a else ' silent')} {sym}{p:g}"
            for t, a, p in row.per_second
        )
        parts.append(f"{region} {cells}")
    return "; ".join(parts) + " (per second)"


def inputs_text(m: Model) -> str:
    """The media inputs a row takes, as the keywords of ``generate`` (issue 14), or ""."""
    words: list[str] = []
    for rule in input_rules(m):
        word = f"{rule.role}=[...]" if rule.many else f"{rule.role}="
        word = word if rule.required else f"[{word}]"
        if word not in words:  # references: images and videos are one keyword
            words.append(word)
    return " ".join(words)


def shape_text(m: Model) -> str:
    """How the model is sized: size strings (legacy) or resolution x ratio (new protocol);
    a model that takes an image keeps its aspect ratio at a resolution tier."""
    if input_rules(m) and m.resolutions and not m.ratios:
        return (
            f"resolution {'/'.join(m.resolutions)} (default {m.default_resolution}); "
            "the output keeps the input's aspect ratio"
        )
    if m.protocol == "new":
        return (
            f"resolution {'/'.join(m.resolutions)} (default {m.default_resolution}) x ratio "
            f"{', '.join(m.ratios)} (default {m.default_ratio or 'that of the input'})"
        )
    return f"size {', '.join(m.sizes)} (default {m.default_size})"


def model_lines(m: Model) -> list[str]:
    """The lines ``wanvideo models`` prints for one row."""
    aliases = f" (also {', '.join(m.aliases)})" if m.aliases else ""
    tags = [f"{m.protocol} protocol"]
    if m.preview:
        tags.append("preview")
    if not m.known:
        tags.append("not in the catalog")
    default = "-1 = smart" if m.default_duration == -1 else str(m.default_duration)
    if m.audio and m.protocol == "new":
        sound = "yes; on/off with --audio/--no-audio" if m.audio_switch else "always"
        if m.audio_url_input:
            sound += "; your own track with --audio-url"
    else:
        sound = "yes" if m.audio else "no"
    lines = [
        f"{m.id}{aliases}  [{', '.join(tags)}]",
        f"  shape     {shape_text(m)}",
        *([f"  inputs    {inputs_text(m)}"] if input_rules(m) else []),
        f"  duration  {m.duration_text()} (default {default})",
        f"  prompt    up to {m.prompt_max} characters; sound: {sound}",
        f"  regions   {', '.join(m.regions)}; {m.concurrency} tasks at once",
        f"  price     {price_text(m)}",
    ]
    if m.protocol == "new" and m.pixels:
        cells = ", ".join(f"{r} {q}={s}" for r, q, s in m.pixels)
        lines.insert(2, f"  pixels    {cells}")
    return lines
