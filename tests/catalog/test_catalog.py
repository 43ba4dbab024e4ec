"""The catalog package: new-protocol rows, pixel tables, the open catalog and user rows."""

from __future__ import annotations

import warnings

import pytest

from wan_notebook import catalog


def test_module_names_still_work() -> None:
    assert catalog.DEFAULT_MODEL == "wan2.6-t2v"
    assert catalog.get_model("wanx2.1-t2v-turbo").id == "wan2.1-t2v-turbo"
    assert catalog.MODELS["wan2.6-t2v"].sizes[0] == "1280*720"
    assert catalog.get_region("sg").name == catalog.DEFAULT_REGION
    assert catalog.TIER_OF_SIZE["1632*1248"] == "1080P"
    with pytest.raises(KeyError, match=r"wan2\.7-t2v"):
        catalog.get_model("no-such-model")


@pytest.mark.parametrize(
    "model", ["wan2.7-t2v", "wan2.7-t2v-2026-04-25", "wan2.7-t2v-2026-06-12", "wan3.0-video",
              "wan3.0-video-prime"],
)  # fmt: skip
def test_new_rows(model: str) -> None:
    row = catalog.get_model(model)
    assert row.protocol == "new" and row.usage_style == "new" and row.fps == 30
    assert row.endpoint == catalog.CREATE_PATH
    assert not row.shot_type
    assert set(row.resolutions) >= {"720P", "1080P"} and row.default_resolution == "1080P"
    for res in row.resolutions:
        for ratio in row.ratios:
            if ratio != "adaptive":
                w, h = (int(x) for x in row.pixel_size(res, ratio).split("*"))
                assert w % 8 == 0 and h % 8 == 0


def test_wan27_pixel_table_is_the_documented_one() -> None:
    row = catalog.get_model("wan2.7-t2v")
    assert row.pixel_size("720P", "16:9") == "1280*720"
    assert row.pixel_size("720P", "4:3") == "1104*832"
    assert row.pixel_size("1080P", "4:3") == "1648*1248"
    assert row.pixel_size("1080P", "3:4") == "1248*1648"
    assert row.pixel_size("480P", "16:9") is None
    assert row.resolution_ratio_of("1104*832") == ("720P", "4:3")
    assert row.resolution_ratio_of("1088*832") is None  # the legacy 4:3 size
    assert row.prompt_max == 5000 and row.durations == tuple(range(2, 16))
    assert not row.smart_duration and row.audio_url_input and not row.audio_switch
    assert not row.preview


def test_wan3_rows() -> None:
    row = catalog.get_model("wan3.0-video")
    assert row.prompt_max == 20000 and row.smart_duration and row.preview
    assert row.default_ratio == "adaptive" and "21:9" not in row.ratios
    assert row.durations == tuple(range(2, 31))
    assert row.audio_switch and not row.audio_url_input
    assert "-1" in row.duration_text()
    prime = catalog.get_model("wan3.0-video-prime")
    assert prime.typical_seconds < row.typical_seconds
    assert "tokyo" in row.regions and catalog.get_region("ap-northeast-1").name == "tokyo"


def test_guess_protocol() -> None:
    assert catalog.guess_protocol("wan2.7-i2v") == "new"
    assert catalog.guess_protocol("wan3.5-video") == "new"
    assert catalog.guess_protocol("wan2.6-t2v-flash") == "legacy"
    assert catalog.guess_protocol("wan2.70-t2v") == "legacy"


def test_lookup_unknown_warns_once() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        row = catalog.lookup("wan9.9-test-lookup")
        again = catalog.lookup("wan9.9-test-lookup")
    assert len(seen) == 1
    assert "not in this version's catalog: parameters are checked only for type" in str(
        seen[0].message
    )
    assert row == again and not row.known and row.protocol == "legacy"
    explicit = catalog.lookup("wan9.9-test-lookup-new", "new", warn=False)
    assert explicit.protocol == "new" and explicit.smart_duration
    with pytest.raises(ValueError, match="speaks the new protocol"):
        catalog.lookup("wan2.7-t2v", "legacy")


def test_register_and_unregister() -> None:
    row = catalog.register("wan2.7-t2v-2099-01-01", like="wan2.7-t2v")
    try:
        assert catalog.get_model("wan2.7-t2v-2099-01-01") is row
        assert row.pixel_size("720P", "4:3") == "1104*832"
        with pytest.raises(ValueError, match="already registered"):
            catalog.register("wan2.7-t2v-2099-01-01", like="wan2.6-t2v")
        catalog.register("wan2.7-t2v-2099-01-01", like="wan2.7-t2v", replace=True, prompt_max=10)
        assert catalog.get_model("wan2.7-t2v-2099-01-01").prompt_max == 10
    finally:
        catalog.unregister("wan2.7-t2v-2099-01-01")
    assert "wan2.7-t2v-2099-01-01" not in catalog.MODELS
    with pytest.raises(ValueError, match="built-in"):
        catalog.register("wan2.6-t2v", like="wan2.6-t2v")
    with pytest.raises(ValueError, match="built-in"):
        catalog.unregister("wan2.6-t2v")


def test_region_of_url() -> None:
    assert catalog.region_of_url("https://dashscope-intl.aliyuncs.com/api/v1") == "singapore"
    assert catalog.region_of_url("https://ws1.cn-beijing.maas.aliyuncs.com/api/v1") == "beijing"
    assert catalog.region_of_url("http://127.0.0.1:8000/api/v1") == "127.0.0.1"
