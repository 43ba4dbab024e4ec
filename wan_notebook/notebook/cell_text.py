"""The ``%%wanvideo`` cell text for a request (form "Copy as cell", gallery), out of form.py."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..options import GENERATION_OPTIONS
from .interpolate import _NAME, interpolate

__all__ = ["CellText", "cell_params", "escape_prompt", "wanvideo_cell"]

_SAFE_TOKEN = re.compile(r"[\w*.,/:=+@%~-]+")
_PLACEHOLDER = re.compile(r"\{(" + _NAME + r")\}")


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
