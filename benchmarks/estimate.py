"""estimate_cost over 10,000 requests (target: under 50 ms) vs the same estimate without the
per-setting line cache, measured in the same run.

The requests (made before timing) mix 7 models, every size tier, durations 2-15 and
audio on/off, so most of them share a few hundred distinct price settings, as a sweep does.
The baseline prices each request from scratch with the same rules (catalog row, tier, rule,
price row), as a naive loop would.

    python benchmarks/estimate.py [--quick]
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Report, main_for, ratio

from wan_notebook import cost
from wan_notebook.catalog import pricing
from wan_notebook.request import VideoRequest

TARGET_MS = 50.0


def _requests(n: int) -> list[VideoRequest]:
    rnd = random.Random(15)
    kinds = [
        ("wan2.6-t2v", ["1280*720", "1920*1080"], range(2, 16)),
        ("wan2.5-t2v-preview", ["832*480", "1280*720", "1920*1080"], (5, 10)),
        ("wan2.2-t2v-plus", ["832*480", "1920*1080"], (5,)),
        ("wan2.1-t2v-turbo", ["832*480", "1280*720"], (5,)),
        ("wan2.1-t2v-plus", ["1280*720"], (5,)),
    ]
    out = []
    for i in range(n):
        if i % 5 == 4:
            model = rnd.choice(["wan2.7-t2v", "wan3.0-video"])
            res = rnd.choice(["720P", "1080P"])
            duration = rnd.choice([5, 10, -1]) if model.startswith("wan3") else rnd.randint(2, 15)
            out.append(
                VideoRequest.create(
                    f"p{i}", model=model, resolution=res, ratio="16:9", duration=duration
                )
            )
            continue
        model, sizes, durations = rnd.choice(kinds)
        out.append(
            VideoRequest.create(
                f"p{i}", model=model, size=rnd.choice(sizes), duration=rnd.choice(durations)
            )
        )
    return out


def _naive(requests: Sequence[VideoRequest], region: str) -> float:
    """The baseline: every request priced from scratch (no line cache)."""
    total = 0.0
    for r in requests:
        line = cost._line(r.model, region, r.size, r.resolution, r.duration, r.audio, (), 0)
        if line.expected is not None:
            total += line.expected
    return total


def _best(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def run(quick: bool) -> Report:
    n = 10_000
    repeat = 3 if quick else 9
    pricing.reset_prices()
    reqs = _requests(n)
    est = cost.estimate_cost(reqs, "singapore")  # also warms the cache for the first run

    def ours_cold() -> None:
        cost._cache.clear()
        cost.estimate_cost(reqs, "singapore")

    ours = _best(lambda: cost.estimate_cost(reqs, "singapore"), repeat)
    ours_first = _best(ours_cold, repeat)
    base = _best(lambda: _naive(reqs, "singapore"), repeat)
    same = abs(_naive(reqs, "singapore") - est.expected) < 1e-6
    return {
        "name": "estimate",
        "title": f"estimate: estimate_cost over {n:,} requests (singapore) vs pricing each "
        "request from scratch",
        "columns": ["figure", "ours", "from scratch", "ours/scratch"],
        "rows": [
            ["estimate_cost, warm (ms)", ours, base, ratio(ours, base)],
            ["estimate_cost, cold cache (ms)", ours_first, base, ratio(ours_first, base)],
            ["per request, warm (us)", ours * 1000 / n, base * 1000 / n, None],
            [
                f"under the {TARGET_MS:.0f} ms target (warm / cold)",
                f"{ours < TARGET_MS} / {ours_first < TARGET_MS}",
                "-",
                None,
            ],
            ["distinct price settings", len(cost._cache), "-", None],
            ["requests with an unknown price (Wan3.0)", len(est.unknown), "-", None],
        ],
        "must_be_zero": {"totals differing from the from-scratch sum": 0 if same else 1},
        "notes": [
            f"median of {repeat} runs; the requests are built before timing",
            f"expected total of the known lines: ${est.expected:,.2f}",
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    return main_for(run, __doc__ or "", argv)


if __name__ == "__main__":
    sys.exit(main())
