"""The one rule for ``{name}`` in a ``%%wanvideo`` prompt.

Rule (also shown by ``%%wanvideo?``):

* ``{name}`` or ``{name.attr.attr}`` - a Python identifier, optionally followed by dotted
  attribute names, with no spaces, no format spec and no conversion - is replaced by
  ``str(value)`` when ``name`` exists in the user namespace and every attribute resolves.
* ``{{name}}`` (the same shape, doubled braces) is the escape: it becomes the literal text
  ``{name}``, whether or not ``name`` exists.
* Everything else is left exactly as written: unknown names, ``{x!r}``, ``{x:>10}``,
  ``{ x }``, JSON such as ``{"a": {"b": 1}}``, code such as ``{k: v for k in d}``, a lone ``{``
  or ``}`` and doubled braces around anything that is not a bare name.

So the rule never raises, and a prompt without a placeholder-shaped ``{identifier}`` comes
back unchanged. Unlike ``str.format_map`` (which crashes on ``{"a": 1}``), a brace only ever
changes meaning in the two shapes above. Placeholders whose name is not defined are reported
in :attr:`Interpolation.missing` so the magic can warn about a likely typo.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Interpolation", "interpolate"]

_NAME = r"[^\W\d]\w*(?:\.[^\W\d]\w*)*"
_PATTERN = re.compile(r"\{\{(" + _NAME + r")\}\}|\{(" + _NAME + r")\}")
_MISSING = object()


@dataclass(frozen=True)
class Interpolation:
    """The interpolated text, which placeholders were filled and which were left as written."""

    text: str
    used: tuple[str, ...]
    missing: tuple[str, ...]


def _resolve(path: str, namespace: Mapping[str, Any]) -> Any:
    head, *attrs = path.split(".")
    value = namespace.get(head, _MISSING)
    for attr in attrs:
        if value is _MISSING:
            break
        try:
            value = getattr(value, attr)
        except Exception:  # a property that raises must not break the cell
            value = _MISSING
    return value


def _as_text(value: Any) -> str | None:
    try:
        return str(value)
    except Exception:  # a broken __str__ leaves the placeholder as written
        return None


def interpolate(text: str, namespace: Mapping[str, Any]) -> Interpolation:
    """Apply the rule above to ``text`` with names from ``namespace``; never raises."""
    used: list[str] = []
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped is not None:
            return "{" + escaped + "}"
        value = _resolve(name, namespace)
        rendered = None if value is _MISSING else _as_text(value)
        if rendered is None:
            missing.append(name)
            return match.group(0)
        used.append(name)
        return rendered

    out = _PATTERN.sub(replace, text)
    return Interpolation(out, tuple(dict.fromkeys(used)), tuple(dict.fromkeys(missing)))
