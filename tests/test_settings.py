"""Settings resolution: (value, source) and a key that never shows."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from wan_notebook.errors import ConfigurationError
from wan_notebook.settings import (
    Secret,
    resolve_api_key,
    resolve_base_url,
    resolve_region,
    resolve_workspace,
)

KEY = "sk-settings-canary-123"


def test_secret_hides_value():
    s = Secret(KEY)
    for text in (repr(s), str(s), f"{s}", f"{s!r}", format(s, ">5"), str([s])):
        assert KEY not in text
    assert s.reveal() == KEY and s == Secret(KEY) and Secret(s).reveal() == KEY
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_key_order(tmp_path: Path):
    f = tmp_path / "keyfile"
    f.write_text(KEY + "-file\n")
    home = tmp_path / "home"
    (home / ".dashscope").mkdir(parents=True)
    (home / ".dashscope" / "api_key").write_text(KEY + "-home")
    env = {"DASHSCOPE_API_KEY": KEY + "-env", "DASHSCOPE_API_KEY_FILE_PATH": str(f)}
    assert resolve_api_key(KEY, env=env, home=home)[1] == "argument"
    key, src = resolve_api_key(None, env=env, home=home)
    assert key.reveal() == KEY + "-env" and src == "env DASHSCOPE_API_KEY"
    key, src = resolve_api_key(None, env={"DASHSCOPE_API_KEY_FILE_PATH": str(f)}, home=home)
    assert key.reveal() == KEY + "-file" and "DASHSCOPE_API_KEY_FILE_PATH" in src
    key, src = resolve_api_key(None, env={}, home=home)
    assert key.reveal() == KEY + "-home" and src.startswith("file ")


def test_no_key_lists_places(tmp_path: Path):
    with pytest.raises(ConfigurationError) as info:
        resolve_api_key(None, env={}, home=tmp_path)
    text = str(info.value)
    assert "DASHSCOPE_API_KEY" in text and "DASHSCOPE_API_KEY_FILE_PATH" in text
    assert str(tmp_path / ".dashscope" / "api_key") in text


def test_base_url_and_region():
    assert resolve_base_url(None, env={}) == (
        "https://dashscope-intl.aliyuncs.com/api/v1",
        "region singapore (default)",
    )
    url, src = resolve_base_url("http://127.0.0.1:9/api/v1/", env={})
    assert (url, src) == ("http://127.0.0.1:9/api/v1", "argument")
    env = {"DASHSCOPE_HTTP_BASE_URL": "http://x/api/v1", "DASHSCOPE_REGION": "cn-beijing"}
    assert resolve_base_url(None, env=env)[1] == "env DASHSCOPE_HTTP_BASE_URL"
    url, src = resolve_base_url(None, env={"DASHSCOPE_REGION": "bj"})
    assert url == "https://dashscope.aliyuncs.com/api/v1" and "DASHSCOPE_REGION" in src
    url, _ = resolve_base_url(None, region="frankfurt", workspace="ws9", env={})
    assert url == "https://ws9.eu-central-1.maas.aliyuncs.com/api/v1"
    with pytest.raises(ConfigurationError, match="workspace"):
        resolve_base_url(None, region="frankfurt", env={})
    with pytest.raises(ConfigurationError, match="mars"):
        resolve_region("mars", env={})
    assert resolve_workspace(None, env={"DASHSCOPE_WORKSPACE_ID": "w"}) == (
        "w",
        "env DASHSCOPE_WORKSPACE_ID",
    )
    assert resolve_workspace(None, env={}) == (None, "unset")


# ---------------------------------------------------------------- the current connection


@pytest.fixture
def no_connection():
    from wan_notebook import settings

    old = settings.clear_connection()
    yield
    settings.clear_connection()
    if old is not None:
        settings.set_connection(
            old.base_url, old.api_key, poll_scale=old.poll_scale, source=old.source
        )


def test_connection_sits_between_the_environment_and_the_files(tmp_path: Path, no_connection):
    from wan_notebook.settings import current_connection, set_connection

    home = tmp_path / "home"
    (home / ".dashscope").mkdir(parents=True)
    (home / ".dashscope" / "api_key").write_text(KEY + "-home")
    conn = set_connection("http://127.0.0.1:9/api/v1/", KEY + "-conn", poll_scale=0.01,
                          source="local emulator")  # fmt: skip
    assert current_connection() is conn and KEY not in repr(conn)
    # nothing in the environment: the connection wins over the key file and the region
    key, src = resolve_api_key(None, env={}, home=home)
    assert key.reveal() == KEY + "-conn" and src == "connection (local emulator)"
    assert resolve_base_url(None, env={}) == (
        "http://127.0.0.1:9/api/v1",
        "connection (local emulator)",
    )
    from wan_notebook.settings import resolve_poll_scale

    assert resolve_poll_scale(None, env={}) == (0.01, "connection (local emulator)")
    # explicit arguments and the environment override it, in that order
    assert resolve_api_key(KEY, env={}, home=home)[1] == "argument"
    assert resolve_api_key(None, env={"DASHSCOPE_API_KEY": "x"}, home=home)[1].startswith("env")
    env = {"DASHSCOPE_HTTP_BASE_URL": "http://127.0.0.1:8/api/v1"}
    assert resolve_base_url(None, env=env)[1] == "env DASHSCOPE_HTTP_BASE_URL"
    assert resolve_base_url("http://a/api/v1", env={})[1] == "argument"
    # an explicit region argument asks for that region's host, not the connection's
    assert "dashscope.aliyuncs.com" in resolve_base_url(None, region="beijing", env={})[0]
    assert resolve_poll_scale(0.5, env={}) == (0.5, "argument")
    assert resolve_poll_scale(None, env={"WAN_NOTEBOOK_POLL_SCALE": "1/4"})[0] == 0.25


def test_a_key_only_connection_keeps_the_region_host(no_connection):
    from wan_notebook.settings import set_connection

    set_connection(None, KEY, source="%wanvideo key")
    assert resolve_api_key(None, env={})[1] == "connection (%wanvideo key)"
    url, src = resolve_base_url(None, env={})
    assert url == "https://dashscope-intl.aliyuncs.com/api/v1" and src.startswith("region")


def test_no_key_error_mentions_the_connection(tmp_path: Path, no_connection):
    with pytest.raises(ConfigurationError, match="current connection"):
        resolve_api_key(None, env={}, home=tmp_path)


@pytest.mark.parametrize(
    ("text", "value"),
    [("1/30", 1 / 30), (" 1 / 200 ", 0.005), ("0.005", 0.005), ("2/4", 0.5), ("1", 1.0)],
)
def test_poll_scale_accepts_a_fraction_or_a_float(text: str, value: float, no_connection):
    from wan_notebook.settings import resolve_poll_scale

    got, source = resolve_poll_scale(None, env={"WAN_NOTEBOOK_POLL_SCALE": text})
    assert got == pytest.approx(value) and source == "WAN_NOTEBOOK_POLL_SCALE"


@pytest.mark.parametrize("text", ["fast", "1/0", "1/", "/30", "nan", "inf", "0", "-1/30", "20"])
def test_poll_scale_rejects_junk_with_the_variable_named(text: str, no_connection):
    from wan_notebook.settings import resolve_poll_scale

    with pytest.raises(ConfigurationError, match=r"WAN_NOTEBOOK_POLL_SCALE|poll_scale"):
        resolve_poll_scale(None, env={"WAN_NOTEBOOK_POLL_SCALE": text})


def test_speed_header_parsing():
    from wan_notebook.settings import speed_from_headers

    assert speed_from_headers({"X-Wan-Emulator-Speed": "30"}) == 30.0
    assert speed_from_headers({"x-wan-emulator-speed": "0.5"}) == 0.5
    for junk in ("", "fast", "nan", "inf", "0", "-3", "1e9"):
        assert speed_from_headers({"X-Wan-Emulator-Speed": junk}) is None
    assert speed_from_headers({}) is None
