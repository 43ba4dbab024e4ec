"""estimate_cost against hand-computed figures from the price table, one test per rule."""

from __future__ import annotations

import pytest

import wan_notebook
from wan_notebook import VideoRequest
from wan_notebook.catalog import pricing
from wan_notebook.cost import CostEstimate, actual_cost, estimate_cost, money


@pytest.fixture(autouse=True)
def _fresh_prices(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("WAN_NOTEBOOK_PRICES", raising=False)
    monkeypatch.delenv("DASHSCOPE_REGION", raising=False)
    pricing.reset_prices()
    yield
    pricing.reset_prices()


def test_importable_from_the_package() -> None:
    assert wan_notebook.estimate_cost is estimate_cost
    assert wan_notebook.CostEstimate is CostEstimate


def test_plain_output_seconds() -> None:
    # 10 s of 1080P wan2.6-t2v in Beijing: 10 x 1.0 CNY
    est = estimate_cost({"model": "wan2.6-t2v", "size": "1920*1080", "duration": 10}, "beijing")
    assert (est.low, est.expected, est.high, est.currency) == (10.0, 10.0, 10.0, "CNY")
    # a VideoRequest, Singapore, 720P 5 s: 5 x 0.10 USD
    req = VideoRequest.create("a harbour", model="wan2.6-t2v", size="1280*720", duration=5)
    est = estimate_cost(req, "sg")
    assert est.expected == pytest.approx(0.5) and est.currency == "USD"
    assert est.region == "singapore" and est.complete
    # Frankfurt (global scope): 5 x (1.0 / 7.33924)
    est = estimate_cost(req.replace(size="1920*1080"), "frankfurt")
    assert est.expected == pytest.approx(5 * round(1 / 7.33924, 6))
    # the catalog default: wan2.6-t2v is 1080P 5 s
    assert estimate_cost("a prompt", "beijing").expected == pytest.approx(5.0)


def test_many_requests_sum() -> None:
    reqs = [
        {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5},  # 5 x 0.05
        {"model": "wan2.5-t2v-preview", "size": "1920*1080", "duration": 10},  # 10 x 0.15
        {"model": "wan2.1-t2v-turbo", "size": "1280*720"},  # fixed 5 s x 0.036
    ]
    est = estimate_cost(reqs, "singapore")
    assert est.expected == pytest.approx(0.25 + 1.5 + 0.18)
    assert [line.expected for line in est.lines] == pytest.approx([0.25, 1.5, 0.18])


def test_audio_flag_changes_the_price() -> None:
    base = {"model": "wan2.6-i2v-flash", "resolution": "720P", "duration": 10}
    assert estimate_cost({**base, "audio": False}, "beijing").expected == pytest.approx(1.5)
    assert estimate_cost({**base, "audio": True}, "beijing").expected == pytest.approx(3.0)
    assert estimate_cost(base, "beijing").expected == pytest.approx(3.0)  # audio on by default
    silent_sg = estimate_cost({**base, "resolution": "1080P", "audio": False}, "singapore")
    assert silent_sg.expected == pytest.approx(10 * 0.0375)


def test_r2v_input_video_is_capped_and_split() -> None:
    # wan2.7: 2 videos + 1 image -> cap 5/2 = 2.5 per video; 4 s and 1 s -> 2.5 + 1 = 3.5
    r27 = {"model": "wan2.7-r2v", "resolution": "720P", "duration": 5,
           "input_video_seconds": [4, 1], "reference_images": 1}  # fmt: skip
    est = estimate_cost(r27, "beijing")
    assert est.lines[0].seconds == (8.5, 8.5, 8.5)
    assert est.expected == pytest.approx(8.5 * 0.6)
    # wan2.6: 1 video + 2 images -> cap 1.65 (the guide's figure for N = 3)
    r26 = {"model": "wan2.6-r2v", "size": "1280*720", "duration": 5,
           "input_video_seconds": 4, "reference_images": 2}  # fmt: skip
    assert estimate_cost(r26, "singapore").expected == pytest.approx(6.65 * 0.10)
    # a single short video is billed in full (below the 5 s cap)
    short = {**r27, "input_video_seconds": [3], "reference_images": 0}
    assert estimate_cost(short, "beijing").expected == pytest.approx(8 * 0.6)


def test_r2v_unknown_video_length_widens_low_and_high() -> None:
    r = {"model": "wan2.7-r2v", "resolution": "720P", "duration": 5,
         "input_video_seconds": [None]}  # fmt: skip
    est = estimate_cost(r, "beijing")
    # low: the shortest accepted video (1 s); high: the 5 s cap
    assert (est.low, est.expected, est.high) == pytest.approx((6 * 0.6, 10 * 0.6, 10 * 0.6))


def test_media_attributes_are_read() -> None:
    class WithRefs:  # the shape of issue 14's requests: references by URL
        model = "wan2.7-r2v"
        resolution = "1080P"
        duration = 5
        references = ("https://x/a.mp4", "https://x/b.png")

    est = estimate_cost(WithRefs(), "singapore")
    assert est.low == pytest.approx(6 * 0.15) and est.high == pytest.approx(10 * 0.15)


def test_videoedit_bills_input_and_output() -> None:
    # the documented example: 5.02 s in, duration 0 (= the input) -> 10.04 s x 0.6
    edit = {"model": "wan2.7-videoedit", "resolution": "720P", "duration": 0,
            "input_video_seconds": 5.02}  # fmt: skip
    est = estimate_cost(edit, "beijing")
    assert est.expected == pytest.approx(10.04 * 0.6)
    assert estimate_cost({**edit, "duration": 8}, "beijing").expected == pytest.approx(13.02 * 0.6)
    unknown = estimate_cost({**edit, "input_video_seconds": None}, "beijing")
    # input 2-10 s (PROTOCOL 17.3) and output the same length
    assert (unknown.low, unknown.high) == pytest.approx((4 * 0.6, 20 * 0.6))


def test_unknown_price_is_listed_never_zero() -> None:
    reqs = [
        {"model": "wan3.0-video", "resolution": "720P", "duration": 5},
        {"model": "wan2.6-t2v", "size": "1280*720", "duration": 5},
    ]
    est = estimate_cost(reqs, "singapore")
    assert not est.complete
    assert est.unknown == ((0, "wan3.0-video", "no price for wan3.0-video in singapore"),)
    assert est.expected == pytest.approx(0.5)  # the known line only
    assert est.lines[0].expected is None and est.lines[0].low is None
    assert "unknown" in str(est) and "1 unknown" in est.range_text()
    assert "unknown price" in est._repr_html_()


def test_smart_duration_widens_with_a_user_price() -> None:
    pricing.set_price("wan3.0-video", "cn", {"720P": 0.6, "1080P": 1.2}, source="test")
    est = estimate_cost({"model": "wan3.0-video", "resolution": "720P", "duration": -1}, "bj")
    # the model picks 2-30 s: low 2 s, expected the middle (16 s), high 30 s
    assert (est.low, est.expected, est.high) == pytest.approx((1.2, 9.6, 18.0))
    assert est.lines[0].source == "test"
    omitted = estimate_cost({"model": "wan3.0-video", "resolution": "1080P"}, "beijing")
    assert omitted.expected == pytest.approx(5 * 1.2)  # documented default 5 s


def test_missing_tier_uses_the_price_range() -> None:
    pricing.set_price("acme-video", "intl", {"720P": 0.1, "1080P": 0.2})
    est = estimate_cost({"model": "acme-video", "duration": 5}, "singapore")
    assert (est.low, est.expected, est.high) == pytest.approx((0.5, 1.0, 1.0))


def test_region_defaults_to_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("DASHSCOPE_REGION", "beijing")
    assert estimate_cost("x").currency == "CNY"
    monkeypatch.delenv("DASHSCOPE_REGION")
    assert estimate_cost("x").region == "singapore"
    assert estimate_cost("x", base_url="https://dashscope.aliyuncs.com/api/v1").region == (
        "beijing"
    )


def test_text_and_html() -> None:
    est = estimate_cost([{"model": "wan2.6-t2v", "size": "1280*720", "duration": 5}] * 2, "sg")
    text = str(est)
    assert text.startswith("2 requests in singapore: expected $1.00")
    assert "wan2.6-t2v 720P 5 s x $0.10/s = $0.50" in text
    assert "$1.00" in est._repr_html_()
    assert (
        money(0.5, "USD") == "$0.50"
        and money(0.0375, "USD") == "$0.0375"
        and money(35, "CNY") == "¥35.00"
    )


def test_actual_cost_from_usage() -> None:
    req = {"model": "wan2.6-t2v", "size": "1280*720", "duration": 5}
    usage = {"duration": 5, "input_video_duration": 0, "output_video_duration": 5, "SR": 720}
    cost = actual_cost(req, "singapore", usage)
    assert cost["actual"] == pytest.approx(0.5) and cost["estimate"] == pytest.approx(0.5)
    assert cost["currency"] == "USD" and cost["price_per_second"] == 0.10
    legacy = actual_cost(
        {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 10}, "beijing",
        {"video_duration": 10, "video_ratio": "832*480"},
    )  # fmt: skip
    assert legacy["actual"] == pytest.approx(3.0)
    unknown = actual_cost({"model": "wan3.0-video", "resolution": "720P"}, "beijing", usage)
    assert unknown["actual"] is None and unknown["source"].startswith("unknown")


def test_items_of_the_wrong_type_are_named() -> None:
    from wan_notebook.errors import ValidationError

    with pytest.raises(ValidationError, match=r"requests\[1\] \[.nested.\] is a list"):
        estimate_cost(["a prompt", ["nested"]], "singapore")


def test_media_inputs_of_issue_14_are_read() -> None:
    from types import SimpleNamespace as NS

    class WithMedia:  # VideoRequest.media: MediaInput(role, kind, seconds, url)
        model = "wan2.7-r2v"
        resolution = "720P"
        duration = 5
        media = (
            NS(role="reference_video", kind="video", seconds=4.0, url=None),
            NS(role="reference_video", kind="remote", seconds=None, url="https://x/clip.MP4"),
            NS(role="reference_image", kind="image", seconds=None, url=None),
        )

    est = estimate_cost(WithMedia(), "beijing")
    # 2 videos -> cap 2.5 each: 4 s -> 2.5; the remote one 1..30 s -> 1..2.5
    assert (est.low, est.high) == pytest.approx(((5 + 2.5 + 1) * 0.6, (5 + 2.5 + 2.5) * 0.6))
    req = VideoRequest.create("x", model="wan2.6-t2v", size="1280*720", duration=5)
    assert estimate_cost(req, "singapore").lines[0].seconds == (5.0, 5.0, 5.0)


def test_a_region_the_model_is_not_offered_in_has_no_price() -> None:
    # wan2.6-t2v is not offered in Tokyo, although Tokyo's scope lists global prices
    est = estimate_cost({"model": "wan2.6-t2v", "size": "1280*720"}, "tokyo")
    assert est.unknown == ((0, "wan2.6-t2v", "no price for wan2.6-t2v in tokyo"),)
    assert estimate_cost({"model": "wan2.1-t2v-plus"}, "virginia").unknown
