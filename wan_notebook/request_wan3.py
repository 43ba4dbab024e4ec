"""Wan3.0 media inputs (PROTOCOL 15.3-15.4): optional ``media[]`` on a text-to-video row.

Wan3.0 takes ``image=`` (first_frame), ``last_frame=`` and ``references=`` (reference_image /
reference_video / reference_audio, by kind) next to a prompt, or instead of one. The two modes
(frames, references) are mutually exclusive; the service fails such a task after accepting it
(PROTOCOL 19), so the client refuses it before the network, naming the inputs. Everything else
about the request (resolution x ratio, smart duration, the audio switch) is the Wan3.0
text-to-video path of :meth:`~wan_notebook.request.VideoRequest.create`.
"""

from __future__ import annotations

from typing import Any

from . import catalog, checks
from .errors import ValidationError
from .media_in import MediaInput, media_for

__all__ = ["wan3_media"]


def wan3_media(info: catalog.Model, **given: Any) -> tuple[MediaInput, ...] | None:
    """The validated media of a Wan3.0 request (empty: text-to-video); None for other models.

    ``given``: the media keywords of ``create`` (``image``, ``last_frame``, ``references``,
    ``first_clip``, ``video``, ``audio_setting``)."""
    if not _is_wan3(info):
        return None
    for name in ("first_clip", "video", "audio_setting"):
        if given.get(name) is not None:
            raise checks.fail(
                name, "...", f"is not an input of {info.id}",
                "image=, last_frame= or references= (a clip goes in references=)",
            )  # fmt: skip
    wanted = {k: given.get(k) for k in ("image", "last_frame", "references")}
    roles = {k for k, v in wanted.items() if v is not None}
    problem = catalog.wan3_mode_problem(info, roles)
    if problem is not None:  # before coercing: the message names the keywords as given
        raise ValidationError(
            problem, param=sorted(roles)[0], value=sorted(roles),
            allowed="image= (+ last_frame=), or references=",
        )  # fmt: skip
    media = media_for(info, wanted)
    for kind in ("video", "audio"):
        seconds = sum(m.seconds or 0.0 for m in media if m.kind == kind)
        if seconds > catalog.WAN3_REFERENCE_SECONDS:
            raise checks.fail(
                "references", f"{seconds:.1f} s of reference {kind}",
                f"is over the {catalog.WAN3_REFERENCE_SECONDS:g} s {info.id} takes in all",
                f"reference {kind}s of 1-15 s each, at most 15 s together",
            )  # fmt: skip
    return media


def _is_wan3(info: catalog.Model) -> bool:
    rules = catalog.input_rules(info)
    return bool(rules) and info.smart_duration and any(r.field == "reference_audio" for r in rules)
