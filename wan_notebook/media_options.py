"""Media flags of the ``%%wanvideo`` magic and ``wanvideo generate`` (issue 14).

``--image``, ``--last-frame``, ``--first-clip``, ``--video`` and ``--reference`` (repeatable)
take a path or URL, and in a notebook also the name of a variable (a PIL image, a NumPy array,
a ``VideoResult``, bytes, a ``FileUpload`` value): a name found in the notebook's namespace wins
over a file of that name. ``--audio-setting`` is wan2.7-videoedit's. Kept apart from
:mod:`.options` so the shared option table stays as it is.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MEDIA_FLAGS", "add_media_options", "media_argument_decorators", "media_params"]

#: flag -> (VideoRequest keyword, help)
MEDIA_FLAGS: dict[str, tuple[str, str]] = {
    "--image": (
        "image",
        "first frame (image-to-video): a path, an http(s)/oss:// URL, or in a notebook the "
        "name of a PIL image / NumPy array / VideoResult variable",
    ),
    "--last-frame": ("last_frame", "last frame (kf2v, wan2.7-i2v, Wan3.0): as --image"),
    "--first-clip": (
        "first_clip",
        "clip to continue (wan2.7-i2v): a .mp4/.mov path or URL, or a VideoResult variable",
    ),
    "--video": (
        "video",
        "clip to edit (wan2.7-videoedit): a .mp4/.mov path or URL, or a VideoResult variable",
    ),
    "--reference": (
        "references",
        "reference image or video (wan2.6-r2v, -flash; wan2.7-r2v; Wan3.0 also audio); repeat "
        "it: the first is character1 (wan2.6) or Image 1 / Video 1 / Audio 1 in the prompt",
    ),
}


def _kwargs(param: str, text: str) -> dict[str, Any]:
    out = {"dest": "media_" + param, "default": None, "metavar": "NAME_OR_PATH", "help": text}
    if param == "references":
        out["action"] = "append"
    return out


#: wan2.7-videoedit's sound: a plain option, not a media input
_AUDIO_SETTING = {
    "dest": "media_audio_setting",
    "default": None,
    "choices": ["auto", "origin"],
    "help": "wan2.7-videoedit: auto (the model decides) or origin (keep the input's sound)",
}


def add_media_options(parser: argparse.ArgumentParser) -> None:
    """Add the media flags to an argparse parser (the CLI)."""
    for flag, (param, text) in MEDIA_FLAGS.items():
        parser.add_argument(flag, **_kwargs(param, text))
    parser.add_argument("--audio-setting", **_AUDIO_SETTING)


def media_argument_decorators() -> list[Callable[[Any], Any]]:
    """IPython ``magic_arguments`` decorators for the media flags (apply in order)."""
    from IPython.core.magic_arguments import argument

    items = list(MEDIA_FLAGS.items())
    media = [argument(flag, **_kwargs(param, text)) for flag, (param, text) in reversed(items)]
    return [argument("--audio-setting", **_AUDIO_SETTING), *media]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def media_params(
    parsed: argparse.Namespace | Mapping[str, Any], namespace: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The media keywords of :meth:`VideoRequest.create` from parsed flags; a value that names
    a variable of ``namespace`` (the notebook's) is that variable."""
    values = vars(parsed) if isinstance(parsed, argparse.Namespace) else dict(parsed)
    out: dict[str, Any] = {}
    for param, _text in MEDIA_FLAGS.values():
        raw = values.get("media_" + param)
        if raw is None:
            continue
        if isinstance(raw, list):  # --reference, repeated
            out[param] = [_resolve(str(item), namespace) for item in raw]
        else:
            out[param] = _resolve(str(raw), namespace)
    if values.get("media_audio_setting") is not None:
        out["audio_setting"] = values["media_audio_setting"]
    return out


def _resolve(raw: str, namespace: Mapping[str, Any] | None) -> Any:
    """A notebook variable when ``raw`` names one, else the path or URL as written."""
    value = _unquote(raw)
    if namespace is not None and value.isidentifier() and value in namespace:
        return namespace[value]
    return value
