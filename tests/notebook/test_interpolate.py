"""The ``{name}`` rule of ``%%wanvideo`` prompts (wan_notebook.notebook.interpolate)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from wan_notebook.notebook.interpolate import interpolate

NS = {"city": "Lisbon", "n": 3, "cfg": SimpleNamespace(mood="calm", inner=SimpleNamespace(x=1))}


def fill(text: str, ns: dict | None = None) -> str:
    return interpolate(text, NS if ns is None else ns).text


def test_known_names_and_attributes_are_replaced() -> None:
    assert fill("a fox in {city}, {n} times") == "a fox in Lisbon, 3 times"
    assert fill("{cfg.mood} and {cfg.inner.x}") == "calm and 1"
    result = interpolate("{city} {city} {n}", NS)
    assert result.used == ("city", "n")
    assert result.missing == ()


def test_doubled_braces_escape_a_placeholder() -> None:
    assert fill("literally {{city}}") == "literally {city}"
    assert fill("{{unknown}}") == "{unknown}"


def test_unknown_names_stay_and_are_reported() -> None:
    result = interpolate("a {dragon} in {city}, {cfg.nothing}", NS)
    assert result.text == "a {dragon} in Lisbon, {cfg.nothing}"
    assert result.missing == ("dragon", "cfg.nothing")


def test_json_passes_through_untouched() -> None:
    doc = json.dumps({"a": 1, "b": {"c": [1, 2, {"d": "e"}]}, "city": {"x": None}})
    assert fill(doc) == doc
    assert fill('{"a": {"b": 1}}') == '{"a": {"b": 1}}'
    assert fill("{}") == "{}"
    assert fill("{{}}") == "{{}}"


def test_code_and_format_specs_pass_through() -> None:
    for text in (
        "{k: v for k, v in d.items()}",
        "{city!r}",
        "{city:>10}",
        "{ city }",
        "{city[0]}",
        "{0}",
        "lone { and } braces",
        "{{city}",
        "f'{{x}}' and {1, 2}",
    ):
        assert fill(text, {"d": {}, "x": 1}) == text.replace("{{x}}", "{x}"), text


def test_str_of_value_is_not_reinterpreted() -> None:
    assert fill("{a}", {"a": "{city}", "city": "no"}) == "{city}"


def test_a_broken_value_leaves_the_placeholder() -> None:
    class Bad:
        def __str__(self) -> str:
            raise RuntimeError("boom")

        @property
        def prop(self) -> str:
            raise RuntimeError("boom")

    assert fill("{bad} {bad.prop}", {"bad": Bad()}) == "{bad} {bad.prop}"


@given(st.text(alphabet=st.sampled_from('{}"ab: ,1[]'), max_size=40))
def test_never_raises_and_is_identity_without_names(text: str) -> None:
    # no identifier can be formed from 'a'/'b' that exists in an empty namespace
    out = interpolate(text, {})
    import re

    expected = re.sub(r"\{\{([ab]+)\}\}", r"{\1}", text)
    assert out.text == expected
