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
