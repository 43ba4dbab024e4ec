"""Cost estimates before a run: :func:`estimate_cost` -> :class:`CostEstimate`.

Prices and billing rules come from :mod:`wan_notebook.catalog.pricing` only. Every figure is a
range: ``low`` / ``expected`` / ``high``. It is one number when everything is known, and wider
when the request leaves the bill open:

- Smart duration (``duration=-1``, Wan3.0): the model picks 2-30 s (the catalog's range), so
  low bills the shortest, high the longest, expected the middle.
- An input video of unknown length (r2v, videoedit): low and high use the shortest and longest
  the model accepts (PROTOCOL 17.3), capped as the billing rule caps it (PROTOCOL 18.4).
- No resolution tier (an id the catalog lacks, sent without size or resolution): the cheapest
  and dearest tier of its price row; expected is the dearest (most models default to 1080P).
- No price at all (Wan3.0; a region without a price list): the line is *unknown*, left out of
  the totals and listed in :attr:`CostEstimate.unknown`; it never counts as 0.

One estimate is for one region, so it has one currency (Beijing CNY, elsewhere USD): mixing
currencies cannot happen, and a budget in another currency is an error (:mod:`.budget`).

Pricing inputs a request may carry besides model/size/resolution/duration/audio (as dict keys
or attributes): ``input_video_seconds`` (a number, or a list with one entry per reference or
input video, None for an unknown length) and ``reference_images`` (a count, for wan2.6 r2v
whose 5 s cap is split among all reference items). An object with a ``video`` attribute or a
``references`` list (media inputs) is read too: a ``.mp4``/``.mov`` reference is a video of
unknown length, anything else an image.
"""

from __future__ import annotations

import dataclasses
import html
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import catalog, checks
from .catalog import pricing

__all__ = [
    "CostEstimate",
    "CostLine",
    "ResultList",
    "SpendTotal",
    "actual_cost",
    "estimate_cost",
    "money",
    "region_for_estimate",
    "total_cost",
]

_SYMBOL = {"USD": "$", "CNY": "¥"}
#: Output seconds of smart duration when the catalog does not say (PROTOCOL 18.1: 2-30 s).
_SMART = (2.0, 30.0)
#: Input video length bounds (s) per billing rule when the length is unknown (PROTOCOL 17.3).
_VIDEO_BOUNDS = {"r2v-2.7": (1.0, 30.0), "r2v-2.6": (1.0, 30.0), "input+output": (2.0, 10.0)}
_WAN3_VIDEO = (1.0, 15.0)
_VIDEO_SUFFIXES = (".mp4", ".mov")


def money(amount: float | None, currency: str) -> str:
    """``$0.50`` / ``¥3.00`` (``?`` for an unknown amount)."""
    if amount is None:
        return "?"
    sym = _SYMBOL.get(currency)
    if amount >= 0.995 or amount == 0:
        text = f"{amount:,.2f}"
    else:  # at least 2 decimals, up to 4 for per-second prices ($0.036, $0.0375)
        text = f"{amount:.4f}".rstrip("0")
        text += "0" * max(0, 2 - len(text.split(".")[1]))
    return f"{sym}{text}" if sym else f"{text} {currency}"


@dataclass(frozen=True)
class CostLine:
    """The estimate of one request: billed seconds and money as low / expected / high."""

    model: str
    region: str
    currency: str
    tier: str
    #: Billed seconds (input + output) as (low, expected, high).
    seconds: tuple[float, float, float]
    #: Price per second at the expected tier, None when unknown.
    price_per_second: float | None
    low: float | None
    expected: float | None
    high: float | None
    #: Why the price is unknown ("" when known).
    unknown: str = ""
    source: str = ""
    #: True when the store already holds the result: it costs nothing.
    cached: bool = False

    @property
    def known(self) -> bool:
        """The price is known (the amounts are numbers)."""
        return self.expected is not None

    def text(self) -> str:
        """One line for a table: model, tier, seconds and money."""
        if self.cached:
            return f"{self.model} {self.tier}: saved before, {money(0.0, self.currency)}"
        lo, ex, hi = self.seconds
        secs = f"{ex:g} s" if lo == hi else f"{lo:g}-{hi:g} s"
        if not self.known:
            return f"{self.model} {self.tier} {secs}: price unknown ({self.unknown})"
        amount = (
            money(self.expected, self.currency)
            if self.low == self.high
            else f"{money(self.low, self.currency)}-{money(self.high, self.currency)}"
        )
        per = money(self.price_per_second, self.currency)
        return f"{self.model} {self.tier} {secs} x {per}/s = {amount}"


@dataclass(frozen=True)
class CostEstimate:
    """What a set of requests will cost in one region (known lines summed; see :attr:`unknown`)."""

    region: str
    currency: str
    lines: tuple[CostLine, ...]
    low: float
    expected: float
    high: float
    #: ``(index, model, reason)`` of every line whose price is unknown.
    unknown: tuple[tuple[int, str, str], ...] = field(default=())

    @property
    def complete(self) -> bool:
        """Every line has a known price."""
        return not self.unknown

    def range_text(self) -> str:
        """``$0.50`` or ``$0.10-$1.50``, with ``+ N unknown`` when some prices are unknown."""
        if self.low == self.high:
            text = money(self.expected, self.currency)
        else:
            text = f"{money(self.low, self.currency)}-{money(self.high, self.currency)}"
        if self.unknown:
            text += f" + {len(self.unknown)} unknown"
        return text

    def __str__(self) -> str:
        n = len(self.lines)
        head = (
            f"{n} request{'s' if n != 1 else ''} in {self.region}: expected "
            f"{money(self.expected, self.currency)} (low {money(self.low, self.currency)}, "
            f"high {money(self.high, self.currency)})"
        )
        if self.unknown:
            head += f"; {len(self.unknown)} with an unknown price, not counted"
        body = [f"  [{i}] {line.text()}" for i, line in enumerate(self.lines[:20])]
        if n > 20:
            body.append(f"  ... {n - 20} more")
        return "\n".join([head, *body])

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{i}</td><td>{html.escape(line.text())}</td></tr>"
            for i, line in enumerate(self.lines[:50])
        )
        more = f"<p>... {len(self.lines) - 50} more</p>" if len(self.lines) > 50 else ""
        warn = (
            f"<p><b>{len(self.unknown)} request(s) with an unknown price</b> (not counted)</p>"
            if self.unknown
            else ""
        )
        return (
            f"<div class='wan-cost'><b>Estimated cost ({html.escape(self.region)}): "
            f"{html.escape(self.range_text())}</b>, expected "
            f"{html.escape(money(self.expected, self.currency))}{warn}"
            f"<table>{rows}</table>{more}</div>"
        )


def region_for_estimate(region: str | None = None, base_url: str | None = None) -> str:
    """The region name prices are read for: the argument, the base URL's region, or the
    configured/default region (``DASHSCOPE_REGION``, else Singapore)."""
    from .settings import resolve_region

    if region:
        return resolve_region(region)[0].name
    if base_url:
        name = catalog.region_of_url(base_url)
        if name in catalog.REGIONS:
            return name
    return resolve_region(None)[0].name


def _field(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def _videos(item: Any) -> tuple[tuple[float | None, ...], int]:
    """(input video lengths, None = unknown; reference image count) of a request."""
    given = _field(item, "input_video_seconds")
    images = _field(item, "reference_images", 0)
    images = images if isinstance(images, int) else len(images or ())
    if given is not None:
        seq = given if isinstance(given, (list, tuple)) else [given]
        return tuple(None if v is None else float(v) for v in seq), images
    videos: list[float | None] = []
    if _field(item, "video") is not None:
        videos.append(None)
    for ref in _field(item, "references", None) or ():
        text = str(getattr(ref, "url", ref)).lower()
        if text.endswith(_VIDEO_SUFFIXES):
            videos.append(None)
        else:
            images += 1
    for m in _field(item, "media", None) or ():  # issue 14's MediaInput: role, kind, seconds
        kind, url = getattr(m, "kind", ""), str(getattr(m, "url", "") or "").lower()
        if kind == "video" or (kind == "remote" and url.endswith(_VIDEO_SUFFIXES)):
            seconds = getattr(m, "seconds", None)
            videos.append(None if seconds is None else float(seconds))
        elif "reference" in str(getattr(m, "role", "")) and kind in ("image", "remote"):
            images += 1
    return tuple(videos), images


def _tier(info: catalog.Model | None, size: str, resolution: str | None) -> str:
    if resolution:
        return str(resolution)
    if size:
        return catalog.TIER_OF_SIZE.get(size, "")
    if info is not None and info.known:
        if info.default_resolution:
            return info.default_resolution
        return catalog.TIER_OF_SIZE.get(info.default_size, "")
    return ""


def _output_seconds(info: catalog.Model | None, duration: int) -> tuple[float, float, float]:
    if duration == -1:
        d = tuple(x for x in (info.durations if info else ()) if x > 0)
        lo, hi = (float(d[0]), float(d[-1])) if d else _SMART
        return lo, (lo + hi) / 2, hi
    if duration and duration > 0:
        return float(duration), float(duration), float(duration)
    default = info.default_duration if info is not None and info.known else 5
    return float(default), float(default), float(default)


def _input_seconds(
    rule: str, model: str, videos: tuple[float | None, ...], images: int
) -> tuple[float, float, float]:
    """Billed input seconds (low, expected, high) under ``rule`` (PROTOCOL 18.4)."""
    if rule == "output" or not videos:
        return 0.0, 0.0, 0.0
    bounds = _WAN3_VIDEO if model.startswith("wan3") else _VIDEO_BOUNDS.get(rule, (1.0, 30.0))
    if rule == "r2v-2.7":
        cap = pricing.r2v_input_caps(len(videos))
    elif rule == "r2v-2.6":
        cap = pricing.r2v_input_caps(len(videos) + images)
    else:
        cap = math.inf
    lo = ex = hi = 0.0
    for v in videos:
        a, b = (v, v) if v is not None else bounds
        lo += min(a, cap)
        hi += min(b, cap)
        ex += min(b if v is None else v, cap)  # unknown: assume the longest (billed) length
    return lo, ex, hi


def _line(
    model: str, region: str, size: str, resolution: str | None, duration: int,
    audio: bool | None, videos: tuple[float | None, ...], images: int,
) -> CostLine:  # fmt: skip
    info = catalog.lookup(model, warn=False) if model else None
    if info is not None and not info.known:
        info = None
    tier = _tier(info, size, resolution)
    rule = pricing.rule_for(model)
    if rule == "input+output" and not videos and not model.startswith("wan3"):
        videos = (None,)  # videoedit always takes exactly one input video (PROTOCOL 14.3)
    inp = _input_seconds(rule, model, videos, images)
    out = _output_seconds(info, duration)
    if rule == "input+output" and not duration and videos and not model.startswith("wan3"):
        out = inp  # videoedit duration 0: the output is as long as the input (PROTOCOL 18.1)
    secs = (out[0] + inp[0], out[1] + inp[1], out[2] + inp[2])
    currency = pricing.currency_of_region(region)
    row = pricing.price_for(model, region)
    if info is not None and region not in info.regions:
        row = None  # the catalog says the model is not offered there: no price applies
    if row is None:
        why = f"no price for {model} in {region}"
        return CostLine(model, region, currency, tier or "?", secs, None, None, None, None, why)
    if tier:
        p = row.price(tier, audio)
        if p is None:
            why = f"no {tier} price for {model} in {region}"
            return CostLine(model, region, currency, tier, secs, None, None, None, None, why)
        plo = phi = p
    else:
        ps = [
            p for _, a, p in row.per_second if a is None or a == (True if audio is None else audio)
        ]
        plo, phi, p, tier = min(ps), max(ps), max(ps), "tier?"
    return CostLine(
        model, region, row.currency, tier, secs, p,
        secs[0] * plo, secs[1] * p, secs[2] * phi, "", row.source,
    )  # fmt: skip


_cache: dict[tuple[Any, ...], CostLine] = {}
_cache_version = -1


_MEDIA_NAMES = ("input_video_seconds", "reference_images", "video", "references", "media")
#: type -> the media attribute names its objects have (looked up once per type: speed)
_media_of_type: dict[type, tuple[str, ...]] = {}


def line_for(item: Any, region: str) -> CostLine:
    """The :class:`CostLine` of one request (a VideoRequest, a dict of parameters, or an
    object with the same attributes) in ``region``."""
    if isinstance(item, Mapping):
        videos, images = _videos(item) if any(n in item for n in _MEDIA_NAMES) else ((), 0)
        key = (
            item.get("model") or catalog.DEFAULT_MODEL, region, item.get("size") or "",
            item.get("resolution"), item.get("duration") or 0, item.get("audio"), videos, images,
        )  # fmt: skip
    else:
        kind = type(item)
        media = _media_of_type.get(kind)
        if media is None:
            media = _media_of_type[kind] = tuple(n for n in _MEDIA_NAMES if hasattr(item, n))
        given = media and any(getattr(item, n, None) for n in media)
        videos, images = _videos(item) if given else ((), 0)
        key = (
            item.model or catalog.DEFAULT_MODEL, region, getattr(item, "size", "") or "",
            getattr(item, "resolution", None), getattr(item, "duration", 0) or 0,
            getattr(item, "audio", None), videos, images,
        )  # fmt: skip
    line = _cache.get(key)
    if line is None:
        line = _cache[key] = _line(*key)
    return line


def estimate_cost(
    request_or_requests: Any, region: str | None = None, *, base_url: str | None = None,
    saved: Collection[int] = (),
) -> CostEstimate:  # fmt: skip
    """What ``request_or_requests`` will cost in ``region`` (see the module docstring).

    Items are :class:`~wan_notebook.request.VideoRequest` s, dicts of parameters (a
    ``"prompt"`` is not needed) or prompts (the default model). ``saved``: indexes of requests
    whose video is already saved (or in flight): they cost nothing (see :mod:`.budget`).
    """
    global _cache_version
    pricing.ensure_loaded()
    if pricing.version() != _cache_version:
        _cache.clear()
        _cache_version = pricing.version()
    name = region_for_estimate(region, base_url)
    if isinstance(request_or_requests, (str, Mapping)) or not isinstance(
        request_or_requests, Iterable
    ):
        items: Iterable[Any] = [request_or_requests]
    else:
        items = request_or_requests
    lines: list[CostLine] = []
    unknown: list[tuple[int, str, str]] = []
    lo = ex = hi = 0.0
    default = {"model": catalog.DEFAULT_MODEL}
    append = lines.append
    for i, item in enumerate(items):
        if isinstance(item, str):
            item = default
        elif not hasattr(item, "model") and not isinstance(item, Mapping):
            raise checks.type_error(
                f"requests[{i}]", item, "each item is a VideoRequest, a dict of parameters "
                "or a prompt",
            )  # fmt: skip
        line = line_for(item, name)
        if saved and i in saved:
            line = dataclasses.replace(
                line, seconds=(0.0, 0.0, 0.0), low=0.0, expected=0.0, high=0.0, cached=True
            )
        append(line)
        if line.expected is None:
            unknown.append((i, line.model, line.unknown))
        else:
            lo += line.low  # type: ignore[operator]
            ex += line.expected
            hi += line.high  # type: ignore[operator]
    return CostEstimate(
        name, pricing.currency_of_region(name), tuple(lines), lo, ex, hi, tuple(unknown)
    )


def billed_seconds(usage: Mapping[str, Any]) -> float | None:
    """The seconds the service bills, from ``usage``: ``duration`` (input + output where
    input video is billed; PROTOCOL 14.5, 15.5), or the legacy ``video_duration``."""
    for key in ("duration", "video_duration"):
        value = usage.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return None


def actual_cost(request: Any, region: str, usage: Mapping[str, Any]) -> dict[str, Any]:
    """The sidecar's ``cost`` for a SUCCEEDED task: currency, estimate, actual, price per
    second, billed seconds, source (``actual`` None when the price or usage is unknown)."""
    line = line_for(request, region)
    tier = line.tier
    sr = usage.get("SR")
    if isinstance(sr, (int, float)) and not isinstance(sr, bool) and f"{int(sr)}P" in (
        "480P", "720P", "1080P",
    ):  # fmt: skip
        tier = f"{int(sr)}P"
    row = pricing.price_for(line.model, region)
    per = row.price(tier, _field(request, "audio")) if row is not None else None
    secs = billed_seconds(usage)
    actual = None if per is None or secs is None else round(per * secs, 6)
    return {
        "currency": line.currency,
        "region": region,
        "estimate": None if line.expected is None else round(line.expected, 6),
        "actual": actual,
        "price_per_second": per,
        "billed_seconds": secs,
        "source": row.source if row is not None else f"unknown: {line.unknown}",
    }


@dataclass(frozen=True)
class SpendTotal:
    """What finished results cost: per currency ``(estimate, actual)`` of the new videos, and
    how many came from the cache (no cost) or have no known price."""

    videos: int
    cached: int
    unknown: int
    by_currency: dict[str, tuple[float, float]]

    def short(self) -> str:
        """``spent $0.75 (est. $0.75)``, one part per currency (empty when nothing new)."""
        parts = [
            f"spent {money(act, cur)} (est. {money(est, cur)})"
            for cur, (est, act) in sorted(self.by_currency.items())
        ]
        return "; ".join(parts)

    def __str__(self) -> str:
        text = f"{self.videos} new video{'s' if self.videos != 1 else ''}"
        if self.short():
            text += ": " + self.short()
        if self.cached:
            text += f"; {self.cached} saved before (no cost)"
        if self.unknown:
            text += f"; {self.unknown} with an unknown price"
        return text


def total_cost(results: Iterable[Any]) -> SpendTotal:
    """Sum the sidecar ``cost`` of results (errors and other items are skipped)."""
    videos = cached = unknown = 0
    sums: dict[str, tuple[float, float]] = {}
    for r in results:
        meta = getattr(r, "metadata", None)
        if meta is None:
            continue
        if getattr(r, "cached", False):
            cached += 1
            continue
        videos += 1
        cost = meta.get("cost") or {}
        if cost.get("actual") is None:
            unknown += 1
            continue
        est, act = sums.get(cost["currency"], (0.0, 0.0))
        sums[cost["currency"]] = (est + (cost.get("estimate") or 0.0), act + cost["actual"])
    return SpendTotal(videos, cached, unknown, sums)


class ResultList(list):  # type: ignore[type-arg]
    """The list ``generate_many`` returns, with :attr:`cost`: what its new videos cost."""

    @property
    def cost(self) -> SpendTotal:
        """The totals of :func:`total_cost` over this list."""
        return total_cost(self)
