"""Generation options shared by the ``%%wanvideo`` magic, the ``wanvideo`` CLI and the form's
"copy as cell".

One table, so the surfaces cannot drift apart: the flags, their help (which quotes the
catalog) and which :meth:`VideoRequest.create` keyword each sets. An option left unset is
``None`` and keeps the configured or the model's default.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import catalog, checks

__all__ = [
    "GENERATION_OPTIONS",
    "Option",
    "add_generation_options",
    "argument_decorators",
    "request_params",
]


def _models_help() -> str:
    return "model id (default {}): {}".format(catalog.DEFAULT_MODEL, ", ".join(catalog.model_ids()))


def _sizes_help() -> str:
    parts = [
        f"{m.id}: {', '.join(m.sizes)} (default {m.default_size})"
        for m in catalog.MODELS.values()
        if m.protocol == "legacy"
    ]
    new = ", ".join(m.id for m in catalog.MODELS.values() if m.protocol == "new")
    return (
        "frame size W*H; allowed per model -- "
        + "; ".join(parts)
        + f"; on {new}: a size their resolution x ratio table makes exactly"
    )


def _resolutions_help() -> str:
    parts = [
        f"{m.id}: {'/'.join(m.resolutions)} (default {m.default_resolution})"
        for m in catalog.MODELS.values()
        if m.protocol == "new"
    ]
    return "resolution tier (720P, 1080P, ...); per model -- " + "; ".join(parts)


def _ratios_help() -> str:
    parts = [
        f"{m.id}: {', '.join(m.ratios)} (default {m.default_ratio})"
        for m in catalog.MODELS.values()
        if m.protocol == "new"
    ]
    return "aspect ratio (16:9, 9:16, 1:1, 4:3, 3:4); per model -- " + "; ".join(parts)


def _durations_help() -> str:
    parts = [f"{m.id}: {m.duration_text()}" for m in catalog.MODELS.values()]
    return "video length in seconds -- " + "; ".join(parts)


@dataclass(frozen=True)
class Option:
    """One option: its flags, argparse keywords and the request parameter it sets."""

    flags: tuple[str, ...]
    kwargs: Mapping[str, Any]
    #: the VideoRequest.create keyword it sets (None: not a request parameter)
    param: str | None = None
    #: False for the flag of a pair that only restates the default (``--extend``): a cell
    #: written from a request leaves it out
    explicit: bool = True

    @property
    def dest(self) -> str:
        """The argparse destination (shared by both flags of a pair)."""
        if "dest" in self.kwargs:
            return str(self.kwargs["dest"])
        long = next(f for f in self.flags if f.startswith("--"))
        return long[2:].replace("-", "_")

    @property
    def long_flag(self) -> str:
        return next(f for f in self.flags if f.startswith("--"))


def _switch(flag: str, dest: str, const: bool, text: str, *, explicit: bool = True) -> Option:
    """One flag of an on/off pair: both store into ``dest``, unset stays None (the default)."""
    kwargs = {"dest": dest, "action": "store_const", "const": const, "default": None, "help": text}
    return Option((flag,), kwargs, dest, explicit)


GENERATION_OPTIONS: tuple[Option, ...] = (
    Option(("--model", "-m"), {"default": None, "help": _models_help()}, "model"),
    Option(("--size", "-s"), {"default": None, "help": _sizes_help()}, "size"),
    # issue 13: the new protocol's names (wan2.7, Wan3.0); they map to --size on legacy models
    Option(("--resolution",), {"default": None, "help": _resolutions_help()}, "resolution"),
    Option(("--ratio",), {"default": None, "help": _ratios_help()}, "ratio"),
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
            "dest": "negative_prompt",
            "default": None,
            "help": "negative prompt: what to avoid "
            f"(at most {catalog.NEGATIVE_PROMPT_MAX} characters; quote it)",
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
    _switch(
        "--no-audio",
        "audio",
        False,
        "ask for a silent video from a model that adds sound (parameters.audio=false)",
    ),
    _switch("--audio", "audio", True, "ask the model to add sound (parameters.audio=true)"),
    Option(
        ("--shot-type",),
        {
            "default": None,
            "choices": ["single", "multi"],
            "help": "single or multi-shot narrative (wan2.6 models; needs prompt extension)",
        },
        "shot_type",
    ),
    _switch("--no-extend", "prompt_extend", False, "send the prompt as written (no LLM rewrite)"),
    _switch(
        "--extend",
        "prompt_extend",
        True,
        "let the service rewrite the prompt with an LLM (the default)",
        explicit=False,
    ),
    _switch("--watermark", "watermark", True, 'add the service\'s "AI生成" watermark'),
    _switch("--no-watermark", "watermark", False, "no watermark (the default)", explicit=False),
    Option(
        ("--dir",),
        {
            "default": None,
            "dest": "directory",
            "type": checks.ARG_OUTPUT_DIR,
            "help": "output folder (default: wan_outputs)",
        },
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
            "type": checks.ARG_TIMEOUT,
            "default": None,
            "help": "give up waiting after this many seconds, > 0 (the task keeps running)",
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
        if opt.param is not None and values.get(opt.dest) is not None:
            out[opt.param] = values[opt.dest]
    return out


def argument_decorators() -> list[Callable[[Any], Any]]:
    """IPython ``magic_arguments`` decorators for every option, in table order.

    ``magic_arguments`` builds its parser from decorators applied bottom-up; apply the
    returned list in order (each wraps the previous result) to get the table's order.
    """
    from IPython.core.magic_arguments import argument

    return [argument(*opt.flags, **opt.kwargs) for opt in reversed(GENERATION_OPTIONS)]
