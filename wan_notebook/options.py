"""Generation options shared by the ``%%wanvideo`` magic and the ``wanvideo`` CLI.

One table, so the two surfaces cannot drift apart: the flags, their help (which quotes the
catalog) and how parsed values map onto :meth:`VideoRequest.create` keywords.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import catalog

__all__ = ["GENERATION_OPTIONS", "Option", "add_generation_options", "request_params"]


def _models_help() -> str:
    return "model id (default {}): {}".format(catalog.DEFAULT_MODEL, ", ".join(catalog.model_ids()))


def _sizes_help() -> str:
    parts = [
        f"{m.id}: {', '.join(m.sizes)} (default {m.default_size})" for m in catalog.MODELS.values()
    ]
    return "frame size W*H; allowed per model -- " + "; ".join(parts)


def _durations_help() -> str:
    parts = [f"{m.id}: {m.duration_text()}" for m in catalog.MODELS.values()]
    return "video length in seconds -- " + "; ".join(parts)


@dataclass(frozen=True)
class Option:
    """One command-line option: its flags, argparse keywords and request parameter."""

    flags: tuple[str, ...]
    kwargs: Mapping[str, Any]
    #: the VideoRequest.create keyword it sets (None: not a request parameter)
    param: str | None = None
    #: turns the parsed value into the parameter value
    convert: Callable[[Any], Any] = field(default=lambda v: v)

    @property
    def dest(self) -> str:
        if "dest" in self.kwargs:
            return str(self.kwargs["dest"])
        long = next(f for f in self.flags if f.startswith("--"))
        return long[2:].replace("-", "_")


GENERATION_OPTIONS: tuple[Option, ...] = (
    Option(("--model", "-m"), {"default": None, "help": _models_help()}, "model"),
    Option(("--size", "-s"), {"default": None, "help": _sizes_help()}, "size"),
    Option(
        ("--duration", "-d"), {"type": int, "default": None, "help": _durations_help()}, "duration"
    ),
    Option(
        ("--seed",),
        {
            "type": int,
            "default": None,
            "help": f"random seed, 0..{catalog.SEED_MAX} (default: random on the service)",
        },
        "seed",
    ),
    Option(
        ("--negative", "-n"),
        {
            "default": None,
            "help": "negative prompt: what to avoid "
            f"(at most {catalog.NEGATIVE_PROMPT_MAX} characters)",
        },
        "negative_prompt",
    ),
    Option(
        ("--audio-url",),
        {
            "default": None,
            "help": "audio track: an http(s) URL, or a local .wav/.mp3 file that "
            "is uploaded first (models with sound only)",
        },
        "audio_url",
    ),
    Option(
        ("--shot-type",),
        {
            "default": None,
            "choices": ["single", "multi"],
            "help": "single or multi-shot narrative (wan2.6 models; needs prompt extension)",
        },
        "shot_type",
    ),
    Option(
        ("--no-extend",),
        {
            "action": "store_true",
            "default": False,
            "help": "send the prompt as written (no LLM prompt rewriting)",
        },
        "prompt_extend",
        lambda v: False if v else None,
    ),
    Option(
        ("--watermark",),
        {"action": "store_true", "default": False, "help": 'add the "AI生成" watermark'},
        "watermark",
        lambda v: True if v else None,
    ),
    Option(
        ("--dir",),
        {"default": None, "dest": "dir", "help": "output folder (default: wan_outputs)"},
    ),
    Option(
        ("--new",),
        {
            "action": "store_true",
            "default": False,
            "help": "generate again even if this exact request was saved before (costs money)",
        },
    ),
    Option(
        ("--timeout",),
        {
            "type": float,
            "default": None,
            "help": "give up waiting after this many seconds (the task keeps running)",
        },
    ),
)


def add_generation_options(parser: argparse.ArgumentParser) -> None:
    """Add every generation option to an argparse parser."""
    for opt in GENERATION_OPTIONS:
        parser.add_argument(*opt.flags, **opt.kwargs)


def request_params(
    parsed: argparse.Namespace | Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The :meth:`VideoRequest.create` keywords from parsed options over ``defaults``.

    An option left unset keeps the default (from ``%config`` or the model's own default).
    """
    values = vars(parsed) if isinstance(parsed, argparse.Namespace) else dict(parsed)
    out = {k: v for k, v in (defaults or {}).items() if v is not None}
    for opt in GENERATION_OPTIONS:
        if opt.param is None:
            continue
        value = opt.convert(values.get(opt.dest))
        if value is not None:
            out[opt.param] = value
    return out
