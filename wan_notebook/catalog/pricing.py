"""Prices per second of video and the billing rules (PROTOCOL 18.2-18.4): the one price table.

Validation-free and keyed by model id *string* (not by catalog row), so image-to-video, kf2v,
r2v and videoedit ids are priced whether or not the catalog has their rows yet.

- A row is one model in one *scope*: ``cn`` (Beijing, CNY), ``intl`` (Singapore, USD),
  ``global`` (Virginia, Frankfurt, Tokyo, USD) and ``us`` (Virginia ``-us`` models, USD). Prices
  are per second, per resolution tier, and for the flash models per audio on/off.
- The Chinese pricing page lists every scope in CNY; USD is derived as CNY / 7.33924, the rate
  two official English pages match exactly (PROTOCOL 0b). Such a row says "(d)" in its source.
- A price the project does not know is *absent* (:func:`price_for` returns None), never 0:
  Wan3.0 has no price in the copy PROTOCOL 15.6 was written from. (A newer copy of the same
  page, modelstudioai/skills @03f04a45, lists Wan3.0 at BJ 0.3/0.6/1.2 CNY/s for
  480P/720P/1080P, temporarily 30% off, and -prime at 0.45/0.9/1.8; it is not adopted until
  PROTOCOL is updated: add it with :func:`set_price` or ``WAN_NOTEBOOK_PRICES``.)
- Billing rules (:data:`RULES`): ``output`` bills output seconds; ``r2v-2.7`` and ``r2v-2.6``
  add the reference videos' seconds, capped at 5 s in total and split by the number of
  reference videos (2.7) or of all reference items (2.6); ``input+output`` (wan2.7-videoedit)
  bills the input video in full. Failed tasks cost nothing (PROTOCOL 18.3).
- Beijing's free quota (50 s per wan2.x model, 200 s per wanx2.1 model, 90 days; PROTOCOL
  18.3) is not deducted: the account's remaining quota is not visible to the API, so the
  list price is the honest upper figure. Other scopes have no free quota.

User prices: ``WAN_NOTEBOOK_PRICES=/path/prices.json`` (read on first use) or
:func:`set_price` add or replace rows; a bad file raises :class:`~wan_notebook.errors.
ValidationError` naming the file and the entry. File format::

    {"prices": [{"model": "wan3.0-video", "scope": "cn",
                 "per_second": {"720P": 0.6, "1080P": 1.2},
                 "source": "my contract", "date": "2026-12-01"}]}

``per_second`` keys are a tier (``"720P"``), ``"720P+audio"``/``"720P-audio"`` for an
audio-dependent price, or ``"*"`` for every tier. An optional ``"rule"`` sets the billing rule.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..errors import ValidationError

__all__ = [
    "CURRENCY_OF_SCOPE",
    "PRICES",
    "RULES",
    "USD_PER_CNY_DIVISOR",
    "PriceRow",
    "Rule",
    "currency_of_region",
    "ensure_loaded",
    "load_prices_file",
    "price_for",
    "r2v_input_caps",
    "reset_prices",
    "rule_for",
    "scopes_of_region",
    "set_price",
    "version",
]

Rule = Literal["output", "r2v-2.7", "r2v-2.6", "input+output"]
Scope = Literal["cn", "intl", "global", "us"]
#: CNY per USD used by the pricing page for its international columns (PROTOCOL 0b).
USD_PER_CNY_DIVISOR = 7.33924
CURRENCY_OF_SCOPE: dict[str, str] = {"cn": "CNY", "intl": "USD", "global": "USD", "us": "USD"}
#: Which scopes a region's prices come from, most specific first (PROTOCOL 18.2 "Scopes").
_SCOPES_OF_REGION: dict[str, tuple[str, ...]] = {
    "beijing": ("cn",),
    "singapore": ("intl",),
    "virginia": ("us", "global"),
    "frankfurt": ("global",),
    "tokyo": ("global",),
    "hongkong": (),  # no price list names Hong Kong: every price there is unknown
}
_ZH_PRICE = "[zh-price] model-pricing.md @21b9d17, via PROTOCOL 18.2"
_ZH_PRICE_T2V = "[zh-price] model-pricing.md video section (modelstudioai/skills @03f04a45)"
_DATE = "2026-05-28"
_READ = "read 2026-12-07 (page copy undated)"


@dataclass(frozen=True)
class PriceRow:
    """One model's per-second prices in one scope, with where they come from."""

    model: str
    scope: str
    currency: str
    #: ``(tier, audio)`` -> price per second; ``audio`` None when the price does not depend on
    #: it; tier ``"*"`` for every tier.
    per_second: tuple[tuple[str, bool | None, float], ...]
    source: str
    date: str

    def price(self, tier: str, audio: bool | None) -> float | None:
        """The price per second for a tier and sound flag, or None when the row lacks it."""
        wanted = True if audio is None else audio
        for t, a, p in self.per_second:
            if t in (tier, "*") and (a is None or a == wanted):
                return p
        return None


def _usd(cny: float) -> float:
    return round(cny / USD_PER_CNY_DIVISOR, 6)


def _tiers(*pairs: tuple[str, float]) -> tuple[tuple[str, bool | None, float], ...]:
    return tuple((t, None, p) for t, p in pairs)


def _flash(
    audio: tuple[float, float], silent: tuple[float, float]
) -> tuple[tuple[str, bool | None, float], ...]:
    return (
        ("720P", True, audio[0]),
        ("1080P", True, audio[1]),
        ("720P", False, silent[0]),
        ("1080P", False, silent[1]),
    )


def _rows() -> list[PriceRow]:
    """The built-in table. BJ in CNY as listed; SG/US in USD (d); global CNY converted (d)."""
    out: list[PriceRow] = []

    def add(ids: tuple[str, ...], scope: str, per: Any, source: str, date: str = _DATE) -> None:
        for i in ids:
            out.append(PriceRow(i, scope, CURRENCY_OF_SCOPE[scope], per, source, date))

    w27t = ("wan2.7-t2v", "wan2.7-t2v-2026-06-12", "wan2.7-t2v-2026-04-25")
    w27 = (*w27t, "wan2.7-i2v", "wan2.7-i2v-2026-04-25", "wan2.7-r2v", "wan2.7-r2v-2026-06-12",
           "wan2.7-videoedit", "wan2.6-t2v", "wan2.6-i2v", "wan2.6-r2v")  # fmt: skip
    add(w27, "cn", _tiers(("720P", 0.6), ("1080P", 1.0)), _ZH_PRICE)
    add(w27, "intl", _tiers(("720P", 0.10), ("1080P", 0.15)), _ZH_PRICE + " (d)")
    glob = ("wan2.6-t2v", "wan2.6-i2v", "wan2.6-r2v")
    add(glob, "global", _tiers(("720P", _usd(0.6)), ("1080P", _usd(1.0))),
        _ZH_PRICE + ": global scope = BJ CNY (d)")  # fmt: skip
    add(("wan2.6-t2v-us", "wan2.6-i2v-us"), "us", _tiers(("720P", 0.10), ("1080P", 0.15)),
        _ZH_PRICE + ": US scope 0.733924 / 1.100886 CNY (d)")  # fmt: skip
    flash = ("wan2.6-i2v-flash", "wan2.6-r2v-flash")
    add(flash, "cn", _flash((0.3, 0.5), (0.15, 0.25)), _ZH_PRICE)
    add(flash, "intl", _flash((0.05, 0.075), (0.025, 0.0375)), _ZH_PRICE + " (d)")
    w25 = ("wan2.5-t2v-preview", "wan2.5-i2v-preview")
    add(w25, "cn", _tiers(("480P", 0.3), ("720P", 0.6), ("1080P", 1.0)), _ZH_PRICE)
    add(w25, "intl", _tiers(("480P", 0.05), ("720P", 0.10), ("1080P", 0.15)), _ZH_PRICE + " (d)")
    flash22 = ("wan2.2-i2v-flash", "wan2.2-kf2v-flash")
    add(flash22, "cn", _tiers(("480P", 0.10), ("720P", 0.20), ("1080P", 0.48)), _ZH_PRICE)
    add(("wan2.2-i2v-flash",), "intl", _tiers(("480P", 0.015), ("720P", 0.036)),
        _ZH_PRICE + " (d); no 1080P price listed")  # fmt: skip
    plus22 = ("wan2.2-t2v-plus", "wan2.2-i2v-plus")
    add(plus22, "cn", _tiers(("480P", 0.14), ("1080P", 0.70)), _ZH_PRICE)
    add(plus22, "intl", _tiers(("480P", 0.02), ("1080P", 0.10)), _ZH_PRICE + " (d)")
    turbo = ("wan2.1-t2v-turbo", "wanx2.1-t2v-turbo", "wan2.1-i2v-turbo", "wanx2.1-i2v-turbo")
    add(turbo, "cn", _tiers(("480P", 0.24), ("720P", 0.24)), _ZH_PRICE)
    add(turbo, "intl", _tiers(("480P", 0.036), ("720P", 0.036)), _ZH_PRICE + " (d)")
    plus21 = ("wan2.1-t2v-plus", "wanx2.1-t2v-plus", "wan2.1-i2v-plus", "wanx2.1-i2v-plus",
              "wan2.1-kf2v-plus", "wanx2.1-kf2v-plus")  # fmt: skip
    add(plus21, "cn", _tiers(("720P", 0.70)), _ZH_PRICE)
    add(plus21, "intl", _tiers(("720P", 0.10)), _ZH_PRICE + " (d)")
    # the t2v-only ids come from the pricing page itself (PROTOCOL 18.2 lists i2v/r2v/edit)
    return [
        PriceRow(r.model, r.scope, r.currency, r.per_second, _ZH_PRICE_T2V, _READ)
        if "t2v" in r.model and not r.model.startswith("wan2.7")
        else r
        for r in out
    ]


#: Billing rule per model id; absent ids bill output seconds (PROTOCOL 18.3).
RULES: dict[str, Rule] = {
    "wan2.7-r2v": "r2v-2.7",
    "wan2.7-r2v-2026-06-12": "r2v-2.7",
    "wan2.6-r2v": "r2v-2.6",
    "wan2.6-r2v-flash": "r2v-2.6",
    "wan2.7-videoedit": "input+output",
    # Wan3.0: input + output per the newer pricing copy; UNCERTAIN in PROTOCOL 15.5
    "wan3.0-video": "input+output",
    "wan3.0-video-prime": "input+output",
}
_BUILTIN_RULES = dict(RULES)
#: ``(model, scope)`` -> row: the built-in rows plus user rows (which replace them).
PRICES: dict[tuple[str, str], PriceRow] = {(r.model, r.scope): r for r in _rows()}
_BUILTIN = dict(PRICES)
_lock = threading.Lock()
_env_loaded: str | None = None
_version = 0
#: Per-video input cap (s) for N = 1..5 reference items, as the guide writes them (18.4).
_R2V_CAPS = (5.0, 2.5, 1.65, 1.25, 1.0)


def scopes_of_region(region: str) -> tuple[str, ...]:
    """The price scopes of a region name, most specific first (empty: no known prices)."""
    return _SCOPES_OF_REGION.get(region, ())


def currency_of_region(region: str) -> str:
    """``"CNY"`` for Beijing, ``"USD"`` elsewhere (the currency a budget there is in)."""
    return "CNY" if region == "beijing" else "USD"


def r2v_input_caps(n: int) -> float:
    """The per-video input cap in seconds when ``n`` items share the 5 s (PROTOCOL 18.4)."""
    if n <= 0:
        return 0.0
    if n <= len(_R2V_CAPS):
        return _R2V_CAPS[n - 1]
    return math.floor(500 / n) / 100


def version() -> int:
    """A counter that changes whenever the table changes (callers cache by it)."""
    return _version


def ensure_loaded() -> None:
    """Read ``WAN_NOTEBOOK_PRICES`` when it names a file not read yet."""
    global _env_loaded
    path = os.environ.get("WAN_NOTEBOOK_PRICES", "")
    if path == (_env_loaded or ""):
        return
    with _lock:
        if path != (_env_loaded or "") and path:
            load_prices_file(path)
        _env_loaded = path


def price_for(model: str, region: str) -> PriceRow | None:
    """The price row for a model id in a region, or None when no price is known there."""
    ensure_loaded()
    for scope in _SCOPES_OF_REGION.get(region, ()):
        row = PRICES.get((model, scope))
        if row is not None:
            return row
    return None


def rule_for(model: str) -> Rule:
    """The billing rule of a model id (``output`` unless the id bills input video too)."""
    return RULES.get(model, "output")


def _bad(where: str, problem: str) -> ValidationError:
    return ValidationError(
        f"{where}: {problem}",
        param="prices",
        value=where,
        allowed='{"prices": [{"model", "scope" (cn|intl|global|us), "per_second": '
        '{"720P": 0.6, ...}, "source", "date"}]}',
    )


def _parse_per_second(where: str, per: Any) -> tuple[tuple[str, bool | None, float], ...]:
    if not isinstance(per, Mapping) or not per:
        raise _bad(where, "per_second must be a non-empty object of tier -> price per second")
    out: list[tuple[str, bool | None, float]] = []
    for key, value in per.items():
        tier, audio = str(key), None
        for suffix, flag in (("+audio", True), ("-audio", False)):
            if tier.endswith(suffix):
                tier, audio = tier[: -len(suffix)], flag
        if tier not in ("480P", "720P", "1080P", "*"):
            raise _bad(where, f"per_second key {key!r} is not 480P, 720P, 1080P or *")
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value < 0:
            raise _bad(where, f"per_second[{key!r}] = {value!r} is not a price >= 0")
        out.append((tier, audio, float(value)))
    return tuple(out)


def set_price(
    model: str,
    scope: str,
    per_second: Mapping[str, float],
    *,
    source: str = "user",
    date: str = "",
    rule: Rule | None = None,
) -> PriceRow:
    """Add or replace the price of ``model`` in ``scope`` (``cn``/``intl``/``global``/``us``).

    ``set_price("wan3.0-video", "cn", {"720P": 0.6, "1080P": 1.2}, source="contract")``.
    """
    where = f"set_price({model!r}, {scope!r})"
    if not isinstance(model, str) or not model:
        raise _bad(where, "model must be a model id")
    if scope not in CURRENCY_OF_SCOPE:
        raise _bad(where, f"scope {scope!r} is not one of cn, intl, global, us")
    if rule is not None and rule not in ("output", "r2v-2.7", "r2v-2.6", "input+output"):
        raise _bad(where, f"rule {rule!r} is not output, r2v-2.7, r2v-2.6 or input+output")
    row = PriceRow(
        model, scope, CURRENCY_OF_SCOPE[scope], _parse_per_second(where, per_second),
        str(source), str(date),
    )  # fmt: skip
    global _version
    PRICES[(model, scope)] = row
    if rule is not None:
        RULES[model] = rule
    _version += 1
    return row


def load_prices_file(path: str | os.PathLike[str]) -> list[PriceRow]:
    """Read a prices JSON file (format in the module docstring) into the table."""
    name = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _bad(name, "no such file (WAN_NOTEBOOK_PRICES names a missing file)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(name, f"not readable JSON ({exc})") from None
    entries = data.get("prices") if isinstance(data, Mapping) else None
    if not isinstance(entries, list):
        raise _bad(name, 'the top level must be {"prices": [...]}')
    rows = []
    for i, entry in enumerate(entries):
        where = f"{name}: prices[{i}]"
        if not isinstance(entry, Mapping):
            raise _bad(where, "each entry is an object")
        missing = {"model", "scope", "per_second"} - set(entry)
        if missing:
            raise _bad(where, "missing " + ", ".join(sorted(missing)))
        try:
            rows.append(
                set_price(
                    entry["model"],
                    entry["scope"],
                    entry["per_second"],
                    source=entry.get("source", name),
                    date=entry.get("date", ""),
                    rule=entry.get("rule"),
                )
            )
        except ValidationError as exc:
            raise _bad(where, str(exc).split(": ", 1)[-1]) from None
    return rows


def reset_prices() -> None:
    """Back to the built-in table (drops user rows; the env file is read again on next use)."""
    global _env_loaded, _version
    with _lock:
        _version += 1
        PRICES.clear()
        PRICES.update(_BUILTIN)
        RULES.clear()
        RULES.update(_BUILTIN_RULES)
        _env_loaded = None
