"""Media inputs checked against the catalog before any network call (PROTOCOL 16, 17.3).

:func:`media_for` turns the media keywords of a request (``image=``, ``last_frame=``) into
:class:`~.inputs.MediaInput` s and checks each against its model's
:class:`~wan_notebook.catalog.InputRule`: format, pixel sides, aspect ratio, file size,
duration, and which inputs the model takes at all. Each error names the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .. import catalog, checks
from ..errors import ValidationError
from .inputs import MediaInput, coerce

__all__ = ["MEDIA_PARAMS", "check_input", "media_for"]

#: The media keywords of ``generate`` / ``VideoRequest.create``, in wire order.
MEDIA_PARAMS = ("image", "last_frame", "first_clip", "audio_url", "video", "references")


def _models_taking(role: str) -> str:
    ids = [m.id for m in catalog.MEDIA_ROWS if any(r.role == role for r in catalog.input_rules(m))]
    return ", ".join(ids) or "none in this version"


def check_input(inp: MediaInput, rule: catalog.InputRule, model_id: str) -> None:
    """Raise a :class:`ValidationError` naming ``rule.role`` if ``inp`` breaks ``rule``."""
    param, allowed = rule.role, f"{model_id} takes {rule.describe()}"

    def bad(problem: str) -> ValidationError:
        return checks.fail(param, inp.name, problem, allowed)

    if inp.url is not None:
        return  # the service fetches it; only its own checks apply (PROTOCOL 19)
    if inp.kind != rule.kind:
        raise bad(f"is {'an' if inp.kind[0] in 'aeiou' else 'a'} {inp.kind} ({inp.mime})")
    if inp.kind == "image":
        fmt = inp.mime.split("/")[-1].upper().replace("JPG", "JPEG")
        if fmt not in rule.formats:
            raise bad(f"is {fmt}, not a format the service reads")
        if inp.alpha:
            raise bad("is a PNG with an alpha channel (flatten it, or pass a PIL image: it is "
                      "sent as RGB)")  # fmt: skip
    if inp.size > rule.max_bytes:
        raise bad(f"is {inp.size / 1e6:.1f} MB, over the {rule.max_bytes // (1 << 20)} MB limit")
    if inp.width is not None and inp.height is not None and rule.kind != "audio":
        lo, hi = min(inp.width, inp.height), max(inp.width, inp.height)
        if lo < rule.min_side or hi > rule.max_side:
            raise bad(f"is {inp.width}x{inp.height} px")
        if rule.max_aspect and hi / lo > rule.max_aspect:
            raise bad(f"is {inp.width}x{inp.height} px, an aspect ratio over {rule.max_aspect:g}:1")
    seconds = inp.seconds
    if (
        rule.max_seconds
        and seconds is not None
        and not rule.min_seconds <= seconds <= rule.max_seconds
    ):
        raise bad(f"is {seconds:.2f} s long")


def media_for(model: catalog.Model, given: Mapping[str, Any]) -> tuple[MediaInput, ...]:
    """The validated media inputs of a request for ``model`` (keywords with value None are
    absent). A model that takes no media, or not this one, is an error naming the keyword."""
    rules = {r.role: r for r in catalog.input_rules(model)}
    out: list[MediaInput] = []
    for role, value in given.items():
        if value is None:
            continue
        rule = rules.get(role)
        if rule is not None and rule.many:
            out.extend(_list_input(model, role, value))
            continue
        if rule is None:
            if not model.known:
                raise checks.fail(
                    role, "...", f"cannot be checked for {model.id}, a model this catalog lacks",
                    "pass it with a catalog model, or register() a row for it",
                )  # fmt: skip
            raise checks.fail(
                role, _short(value), f"is not an input of {model.id}",
                f"leave it unset, or use a model that takes it ({_models_taking(role)})",
            )  # fmt: skip
        inp = coerce(value, role)
        check_input(inp, rule, model.id)
        out.append(inp)
    present = {m.role for m in out}
    problem = catalog.combo_problem(model, present)
    if problem is not None:
        raise ValidationError(
            problem + " (image= is the first frame, audio_url= the driving audio)",
            param=sorted(present)[0] if present else "image",
            value=sorted(present),
            allowed="one of the documented combinations",
        )  # fmt: skip
    for rule in rules.values():
        if rule.required and rule.role not in present:
            what = rule.describe()
            if rule.many:
                what = f"a list of 1 to {rule.group} images or videos"
            raise ValidationError(
                f"{rule.role} is required by {model.id}; pass {rule.role}=<{what}>",
                param=rule.role,
                value=None,
                allowed=what,
            )
    order = {role: i for i, role in enumerate(MEDIA_PARAMS)}
    return tuple(sorted(out, key=lambda m: order.get(m.role, len(order))))


def _list_input(model: catalog.Model, role: str, value: Any) -> list[MediaInput]:
    """The items of a list input (``references=[...]``), each checked against the rule of its
    kind, with the per-kind and total counts (PROTOCOL 16.3: images <= 5, videos <= 3, <= 5)."""
    kinds = {r.kind: r for r in catalog.input_rules(model) if r.role == role}
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    group = max(r.group for r in kinds.values())
    allowed = " and ".join(f"at most {r.many} {r.kind}s" for r in kinds.values())
    if not items or len(items) > group:
        raise checks.fail(
            role, f"{len(items)} items", f"is not 1 to {group} items for {model.id}",
            f"{allowed}, {group} in all",
        )  # fmt: skip
    out = []
    for i, item in enumerate(items):
        inp = replace(coerce(item, role, f"{role}[{i}]"), index=i)
        rule = kinds.get(inp.kind) or next(iter(kinds.values()))
        try:
            check_input(inp, rule, model.id)
        except ValidationError as exc:
            raise type(exc)(
                f"{role}[{i}]: {exc}", param=role, value=exc.value, allowed=exc.allowed
            ) from None
        out.append(inp)
    for kind, rule in kinds.items():
        n = sum(1 for m in out if m.kind == kind)
        if n > rule.many:
            raise checks.fail(role, f"{n} {kind}s", f"is too many for {model.id}", allowed)
    return out


def _short(value: Any) -> str:
    if isinstance(value, (str, bytes)):
        return value[:60] if isinstance(value, str) else f"<{len(value)} bytes>"
    return f"<{type(value).__name__}>"
