"""The price table: sourced rows, scopes per region, unknown never 0, user overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wan_notebook.catalog import pricing
from wan_notebook.errors import ValidationError


@pytest.fixture(autouse=True)
def _fresh_prices(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("WAN_NOTEBOOK_PRICES", raising=False)
    pricing.reset_prices()
    yield
    pricing.reset_prices()


def test_every_row_names_its_source_and_date() -> None:
    for row in pricing.PRICES.values():
        assert row.source and row.date, row
        assert row.currency == pricing.CURRENCY_OF_SCOPE[row.scope]
        assert all(p > 0 for _, _, p in row.per_second), row


def test_region_scopes_and_currencies() -> None:
    assert pricing.price_for("wan2.6-t2v", "beijing").price("1080P", None) == 1.0
    assert pricing.price_for("wan2.6-t2v", "singapore").price("720P", None) == 0.10
    # global scope: the BJ CNY figure converted at the page's rate (PROTOCOL 0b)
    assert pricing.price_for("wan2.6-t2v", "frankfurt").price("720P", None) == round(
        0.6 / 7.33924, 6
    )
    assert pricing.price_for("wan2.6-t2v-us", "virginia").price("1080P", None) == 0.15
    assert pricing.price_for("wan2.6-t2v", "virginia").scope == "global"
    assert pricing.currency_of_region("beijing") == "CNY"
    assert pricing.currency_of_region("frankfurt") == "USD"


def test_wan3_price_is_unknown_never_zero() -> None:
    for region in ("beijing", "singapore", "virginia", "frankfurt", "tokyo", "hongkong"):
        assert pricing.price_for("wan3.0-video", region) is None
        assert pricing.price_for("wan3.0-video-prime", region) is None


def test_audio_dependent_prices_and_other_families() -> None:
    row = pricing.price_for("wan2.6-i2v-flash", "beijing")
    assert row.price("720P", True) == 0.3 and row.price("720P", False) == 0.15
    assert row.price("1080P", None) == 0.5  # audio defaults to on
    assert pricing.price_for("wan2.2-i2v-flash", "singapore").price("1080P", None) is None
    assert pricing.price_for("wanx2.1-kf2v-plus", "beijing").price("720P", None) == 0.70
    assert pricing.price_for("wan2.2-kf2v-flash", "singapore") is None  # BJ only
    assert pricing.rule_for("wan2.7-r2v") == "r2v-2.7"
    assert pricing.rule_for("wan2.6-r2v-flash") == "r2v-2.6"
    assert pricing.rule_for("wan2.7-videoedit") == "input+output"
    assert pricing.rule_for("wan2.6-t2v") == "output"


def test_r2v_caps_follow_the_guide() -> None:
    assert [pricing.r2v_input_caps(n) for n in range(1, 7)] == [5, 2.5, 1.65, 1.25, 1, 0.83]


def test_set_price_adds_a_row_and_bumps_the_version() -> None:
    before = pricing.version()
    pricing.set_price("wan3.0-video", "cn", {"720P": 0.6, "1080P": 1.2}, source="contract")
    assert pricing.price_for("wan3.0-video", "beijing").price("1080P", None) == 1.2
    assert pricing.version() != before
    pricing.reset_prices()
    assert pricing.price_for("wan3.0-video", "beijing") is None


def test_prices_file_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"prices": [
        {"model": "acme-video", "scope": "intl", "per_second": {"*": 0.2},
         "source": "acme price list", "date": "2026-12-01"},
        {"model": "wan2.6-t2v", "scope": "intl", "per_second": {"720P": 0.08, "1080P": 0.12}},
    ]}))  # fmt: skip
    monkeypatch.setenv("WAN_NOTEBOOK_PRICES", str(path))
    assert pricing.price_for("acme-video", "singapore").price("480P", None) == 0.2
    assert pricing.price_for("wan2.6-t2v", "singapore").price("720P", None) == 0.08
    assert pricing.price_for("wan2.6-t2v", "singapore").source == str(path)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("not json", "not readable JSON"),
        ('{"rows": []}', 'top level must be {"prices"'),
        ('{"prices": [{"model": "m", "scope": "mars", "per_second": {"720P": 1}}]}',
         "prices[0]: scope 'mars'"),
        ('{"prices": [{"model": "m", "scope": "cn", "per_second": {"720P": -1}}]}',
         "prices[0]: per_second['720P'] = -1"),
        ('{"prices": [{"model": "m", "scope": "cn", "per_second": {"720P": 1}}, '
         '{"model": "m", "scope": "cn", "per_second": {"4K": 1}}]}', "prices[1]: per_second key"),
        ('{"prices": [{"model": "m", "scope": "cn"}]}', "prices[0]: missing per_second"),
    ],
)  # fmt: skip
def test_a_bad_prices_file_names_the_file_and_entry(
    tmp_path: Path, monkeypatch, content: str, needle: str
) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    monkeypatch.setenv("WAN_NOTEBOOK_PRICES", str(path))
    with pytest.raises(ValidationError) as info:
        pricing.price_for("wan2.6-t2v", "beijing")
    assert str(path) in str(info.value) and needle in str(info.value)


def test_a_missing_prices_file_is_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WAN_NOTEBOOK_PRICES", str(tmp_path / "nope.json"))
    with pytest.raises(ValidationError, match=r"nope\.json: no such file"):
        pricing.price_for("wan2.6-t2v", "beijing")


def test_wanvideo_models_shows_prices_and_unknowns() -> None:
    from wan_notebook.catalog import get_model
    from wan_notebook.catalog.describe import model_lines, price_text

    assert price_text(get_model("wan2.6-t2v")).startswith(
        "beijing 720P ¥0.6, 1080P ¥1; singapore 720P $0.1, 1080P $0.15; virginia"
    )
    assert "beijing unknown; singapore unknown" in price_text(get_model("wan3.0-video"))
    assert any(
        line.startswith("  price     ") for line in model_lines(get_model("wan2.1-t2v-plus"))
    )
