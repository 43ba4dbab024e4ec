"""wan_notebook.checks: the one check (and message) per shared parameter, without I/O."""

from __future__ import annotations

import argparse
import math
import unicodedata
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wan_notebook import checks
from wan_notebook.errors import (
    ConfigurationError,
    ParameterTypeError,
    SettingError,
    ValidationError,
)
from wan_notebook.retry import RetryPolicy
from wan_notebook.settings import Secret, resolve_api_key, resolve_base_url, resolve_region


def test_error_classes_keep_their_callers() -> None:
    """ParameterTypeError is a TypeError *and* a ValidationError (so a ValueError);
    SettingError is a ConfigurationError *and* a ValidationError."""
    with pytest.raises(ParameterTypeError) as info:
        checks.flag("yes", "new")
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    assert info.value.param == "new" and info.value.value == "yes"
    with pytest.raises(SettingError) as setting:
        checks.base_url("ftp://h/api/v1")
    assert isinstance(setting.value, ConfigurationError)
    assert isinstance(setting.value, ValidationError) and setting.value.param == "base_url"
    with pytest.raises(SettingError) as typed:
        checks.api_key(123)
    assert isinstance(typed.value, TypeError)


# ---------------------------------------------------------------- numbers


@given(st.floats(min_value=1e-6, max_value=1e9) | st.integers(min_value=1, max_value=10**9))
def test_any_positive_finite_timeout_is_kept(value: float) -> None:
    assert checks.timeout(value) == float(value)


@given(st.floats(max_value=0.0) | st.sampled_from([math.nan, math.inf, -math.inf]))
def test_no_zero_negative_or_non_finite_timeout(value: float) -> None:
    with pytest.raises(ValidationError) as info:
        checks.timeout(value)
    assert info.value.param == "timeout" and str(info.value).startswith("timeout ")


@pytest.mark.parametrize("value", ["10", b"10", True, [10], object()])
def test_a_timeout_of_the_wrong_type_says_so(value: object) -> None:
    with pytest.raises(ParameterTypeError, match=r"^timeout "):
        checks.timeout(value)
    with pytest.raises(ParameterTypeError, match="without quotes"):
        checks.timeout("10")


def test_counts_and_ports() -> None:
    assert checks.positive_int(None, "concurrency") is None and checks.positive_int(3, "c") == 3
    for bad, cls in ((0, ValidationError), (-1, ValidationError), (1.5, ParameterTypeError),
                     (True, ParameterTypeError), ("2", ParameterTypeError)):  # fmt: skip
        with pytest.raises(cls, match=r"^concurrency "):
            checks.positive_int(bad, "concurrency")
    with pytest.raises(ValidationError, match="write 2"):
        checks.positive_int(2.0, "concurrency")
    assert checks.non_negative_int(0, "max_retries") == 0
    with pytest.raises(ValidationError, match=r"^max_retries -1 is negative"):
        RetryPolicy(max_retries=-1)
    assert checks.port(0) == 0 and checks.port(65535) == 65535
    for bad in (-1, 65536, 99999):
        with pytest.raises(ValidationError, match="not a TCP port"):
            checks.port(bad)


# ---------------------------------------------------------------- prompt text

VISIBLE = st.characters(whitelist_categories=("Lu", "Ll", "Lo", "Nd", "Po", "So"))
ANY_OK = st.characters(blacklist_categories=("Cc", "Cs"))
BAD_CONTROLS = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0)) if chr(c) not in "\n\t"]


@given(st.text(ANY_OK), VISIBLE, st.text(ANY_OK | st.sampled_from("\n\t")))
def test_text_with_a_visible_character_is_kept_as_is(head: str, mark: str, tail: str) -> None:
    value = head + mark + tail
    assert checks.text(value, "prompt", required=True) is value


@given(st.text(ANY_OK, min_size=1), st.sampled_from(BAD_CONTROLS), st.data())
def test_a_control_character_anywhere_is_named_with_its_index(
    text: str, control: str, data: st.DataObject
) -> None:
    at = data.draw(st.integers(min_value=0, max_value=len(text)))
    value = text[:at] + control + text[at:]
    with pytest.raises(ValidationError) as info:
        checks.text(value, "negative_prompt", required=False)
    assert info.value.param == "negative_prompt" and "control character" in str(info.value)


def test_crlf_is_a_newline_and_a_lone_surrogate_is_named() -> None:
    assert checks.text("a fox\r\nat night", "prompt", required=True)
    with pytest.raises(ValidationError, match=r"control character '\\r'"):
        checks.text("a fox\rat night", "prompt", required=True)
    with pytest.raises(ValidationError, match=r"^prompt .*lone surrogate '\\ud800' at index 2"):
        checks.text("a \ud800 fox", "prompt", required=True)


@given(st.text(st.sampled_from(" \n\t\u00a0\u3000\u200b\u200c\u200d\u2060\ufeff\u180e")))
def test_required_text_needs_a_visible_character(value: str) -> None:
    assert not any(unicodedata.category(c)[0] in "LNPS" for c in value)
    with pytest.raises(ValidationError, match=r"^prompt .*(is empty|no visible character)"):
        checks.text(value, "prompt", required=True)
    assert checks.text(value, "negative_prompt", required=False) == value


# ---------------------------------------------------------------- ids and paths


@given(st.uuids())
def test_service_task_ids_pass_stripped(value: uuid.UUID) -> None:
    assert checks.task_id(f"  {value}\n") == str(value)


@pytest.mark.parametrize(
    "value", ["", "  ", "../../etc/passwd", "a/b", "a b", "-rf", "https://h/t/1", "x" * 257,
              "id\x00", "\u0430bc"],
)  # fmt: skip
def test_what_is_not_a_task_id(value: str) -> None:
    with pytest.raises(ValidationError, match=r"^task_id .*is not a task id"):
        checks.task_id(value)


def test_output_dir_is_or_can_become_a_directory(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for ok in (tmp_path, str(tmp_path / "new" / "deeper"), "wan_outputs", "~/videos"):
        assert checks.output_dir(ok) == ok
    assert not (tmp_path / "new").exists()  # checked, not created
    for bad, why in ((a_file, "not a directory"), (a_file / "sub", "a file"),
                     ("/dev/null", "not a directory"), ("", "empty"),
                     ("a\x00b", "NUL")):  # fmt: skip
        with pytest.raises(ValidationError, match=rf"^output_dir .*{why}"):
            checks.output_dir(bad)
    for bad in (None, 5, b"out", ["out"]):
        with pytest.raises(ParameterTypeError, match=r"^output_dir "):
            checks.output_dir(bad)


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "url,expected",
    [("http://127.0.0.1:8000/api/v1/", "http://127.0.0.1:8000/api/v1"),
     (" https://dashscope-intl.aliyuncs.com/api/v1 ", "https://dashscope-intl.aliyuncs.com/api/v1"),
     ("HTTP://[::1]:9/api/v1", "HTTP://[::1]:9/api/v1")],
)  # fmt: skip
def test_good_base_urls(url: str, expected: str) -> None:
    assert checks.base_url(url) == expected


@pytest.mark.parametrize(
    "url,why",
    [("ftp://h/api/v1", "scheme 'ftp'"), ("h.example.com/api/v1", "no http"),
     ("127.0.0.1:8000/api/v1", "scheme '127.0.0.1'|no http"), ("http:///api/v1", "no host"),
     ("http://exa mple.com", "spaces"), ("http://h:99999/v1", "not a URL"),
     ("http://h:port/v1", "not a URL"), ("http://u:p@h/v1", "credentials"),
     ("http://xn--/api/v1", "not a URL"), ("http://[zz]/api/v1", "not a URL"),
     ("http://h/v1?x=1", "query"), ("", "no http")],
)  # fmt: skip
def test_bad_base_urls_are_named(url: str, why: str) -> None:
    with pytest.raises(SettingError, match=rf"^base_url .*({why})"):
        checks.base_url(url)


def test_settings_refuse_a_bad_base_url_and_say_where_it_came_from() -> None:
    env = {"DASHSCOPE_HTTP_BASE_URL": "ftp://h/api/v1"}
    with pytest.raises(SettingError, match=r"^base_url \(from env DASHSCOPE_HTTP_BASE_URL\)"):
        resolve_base_url(None, env=env)
    assert resolve_base_url("http://h/api/v1", env=env)[0] == "http://h/api/v1"  # argument wins
    with pytest.raises(SettingError, match=r"^region 'atlantis' is not a region"):
        resolve_region("atlantis", env={})
    with pytest.raises(SettingError, match=r"region \(from env DASHSCOPE_REGION\)"):
        resolve_region(None, env={"DASHSCOPE_REGION": "atlantis"})
    with pytest.raises(TypeError, match=r"^region "):
        resolve_region(5, env={})  # type: ignore[arg-type]


def test_api_key_checks_never_show_the_key(canary_key: str, tmp_path: Path) -> None:
    assert resolve_api_key(f"  {canary_key}\n", env={})[0] == Secret(canary_key)
    for bad in (canary_key + "\u00e9", canary_key + " x", canary_key + "\n\n1"):
        for given_as in (bad, Secret(bad)):
            with pytest.raises(SettingError) as info:
                resolve_api_key(given_as, env={})
            exc = info.value
            assert exc.param == "api_key" and exc.value is None
            assert canary_key not in str(exc) + repr(exc) + repr(vars(exc))
    with pytest.raises(SettingError, match=r"^api_key \(from env DASHSCOPE_API_KEY\)") as info:
        resolve_api_key(None, env={"DASHSCOPE_API_KEY": canary_key + "\u00e9"}, home=tmp_path)
    assert canary_key not in str(info.value)
    with pytest.raises(TypeError, match=r"^api_key is an int"):
        resolve_api_key(123, env={})  # type: ignore[arg-type]


# ---------------------------------------------------------------- command lines


def test_argtype_says_the_flag_once() -> None:
    parser = argparse.ArgumentParser(prog="p", exit_on_error=False)
    parser.add_argument("--timeout", type=checks.ARG_TIMEOUT)
    parser.add_argument("--port", type=checks.ARG_PORT)
    assert parser.parse_args(["--timeout", "2.5"]).timeout == 2.5
    for argv, message in (
        (["--timeout", "-5"], "-5.0 is not > 0; use a finite number of seconds"),
        (["--timeout", "nan"], "nan is not a finite number"),
        (["--timeout", "soon"], "'soon' is not a number of seconds"),
        (["--port", "99999"], "99999 is not a TCP port"),
    ):
        with pytest.raises(argparse.ArgumentError) as info:
            parser.parse_args(argv)
        assert str(info.value) == f"argument {argv[0]}: {message}" or message in str(info.value)
        assert str(info.value).count(argv[0]) == 1
