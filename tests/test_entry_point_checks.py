"""Issue 11 case 12: every bad value, through every entry point, is refused before any request.

One table (:data:`BAD`) of bad values, each naming the parameter its error must name. Each
row goes through the Python API (generate, agenerate, generate_many, attach), the ``wanvideo``
CLI (``main([...])`` in process, and once as a subprocess) and, in
``tests/notebook/test_magic_checks.py``, the ``%%wanvideo`` magic in a real IPython shell.
Every test points the entry point at a real emulator on loopback and reads its request
counters afterwards: a bad value must cost zero requests (on the old code ``timeout=-1``,
``new='yes'``, a ``\\x00`` prompt and others created, and billed, a task).
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wan_notebook import api
from wan_notebook.cli import main
from wan_notebook.emulator import Emulator
from wan_notebook.errors import (
    ConfigurationError,
    ParameterTypeError,
    SubmitUncertainError,
    ValidationError,
)

FAST = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}
FAST_ARGS = ["--model", "wan2.5-t2v-preview", "--size", "832*480", "--duration", "5"]
PROMPT = "a quiet harbour at dawn"


@dataclass(frozen=True)
class Bad:
    """One bad value: the parameter its error must name, and how each entry point gets it."""

    param: str
    #: keyword arguments of generate/agenerate/generate_many (None: not a keyword there)
    api: dict[str, Any] | None = None
    #: extra argv of ``wanvideo generate PROMPT`` (None: not a CLI option)
    cli: list[str] | None = None
    #: extra options of a ``%%wanvideo`` line (None: not a magic option)
    magic: str | None = None
    prompt: Any = PROMPT
    #: only generate_many takes it (concurrency, return_exceptions)
    many_only: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        shown = self.api if self.api is not None else (self.cli or self.magic or self.prompt)
        return f"{self.param}={shown!r}"[:60]


def _prompt(text: Any) -> Bad:
    return Bad("prompt", api={}, cli=[], magic="", prompt=text)


BAD: list[Bad] = [
    # deadlines: each of these created a billed task, then failed (or never ended: nan)
    Bad("timeout", api={"timeout": -1}, cli=["--timeout", "-1"], magic="--timeout -1"),
    Bad("timeout", api={"timeout": -5.0}, cli=["--timeout=-5"], magic="--timeout=-5"),
    Bad("timeout", api={"timeout": 0}, cli=["--timeout", "0"], magic="--timeout 0"),
    Bad("timeout", api={"timeout": "10"}, cli=["--timeout", "ten"], magic="--timeout ten"),
    Bad("timeout", api={"timeout": math.nan}, cli=["--timeout", "nan"], magic="--timeout nan"),
    Bad("timeout", api={"timeout": math.inf}, cli=["--timeout", "inf"], magic="--timeout inf"),
    Bad("timeout", api={"timeout": True}),
    # flags and counts
    Bad("new", api={"new": "yes"}),
    Bad("new", api={"new": 1}),
    Bad("concurrency", api={"concurrency": 1.5}, many_only=True),
    Bad("concurrency", api={"concurrency": -1}, many_only=True),
    Bad("concurrency", api={"concurrency": 0}, many_only=True),
    Bad("concurrency", api={"concurrency": "4"}, many_only=True),
    Bad("return_exceptions", api={"return_exceptions": "no"}, many_only=True),
    Bad("on_event", api={"on_event": "print"}),
    # prompts that made paid videos of nothing, or crashed naming no parameter
    _prompt("\x00"),
    _prompt("\x00\x00 \x00"),
    _prompt("\u200b\u200b"),
    _prompt("\ufeff \u2060"),
    _prompt("   \n\t "),
    _prompt("a fox\x07 at night"),
    _prompt("a fox \x1b[31m in red"),
    _prompt("a fox \ud800 at night"),
    Bad("prompt", api={}, prompt=None),
    Bad("prompt", api={}, prompt=42),
    Bad("negative_prompt", api={"negative_prompt": "blur\x00"}, cli=["--negative", "blur\x00"]),
    # the outputs folder
    Bad("output_dir", api={"output_dir": None}),
    Bad("output_dir", api={"output_dir": 5}),
    Bad("output_dir", api={"output_dir": b"out"}),
    Bad("output_dir", api={"output_dir": ""}),
    Bad(
        "dir", api={"output_dir": "/dev/null"}, cli=["--dir", "/dev/null"], magic="--dir /dev/null"
    ),
    Bad("dir", api={"output_dir": "/dev/null/videos"}, cli=["--dir", "/dev/null/videos"]),
    # connection settings: refused by settings, before any request (never "uncertain")
    Bad("api_key", api={"api_key": 123}),
    Bad("api_key", api={"api_key": ["sk-1"]}),
    Bad("api_key", api={"api_key": "sk-caf\u00e9"}),
    Bad("api_key", api={"api_key": "sk-a b"}),
    Bad("base_url", api={"base_url": "ftp://127.0.0.1:1/api/v1"}, cli=["--base-url", "ftp://h/v1"]),
    Bad("base_url", api={"base_url": "127.0.0.1:8000/api/v1"}, cli=["--base-url", "h:80/api"]),
    Bad("base_url", api={"base_url": "http://exa mple.com/api/v1"}),
    Bad("base_url", api={"base_url": "http://127.0.0.1:99999/api/v1"}),
    Bad("base_url", api={"base_url": 42}),
    Bad("region", api={"region": 5}),
    Bad("region", api={"region": "atlantis"}, cli=["--region", "atlantis"]),
    # request parameters (checked by VideoRequest, the same everywhere)
    Bad("seed", api={"seed": -1}, cli=["--seed", "-1"], magic="--seed=-1"),
    Bad("seed", api={"seed": "5"}),
    Bad("seed", api={"seed": 1.5}),
    Bad("duration", api={"duration": 7}, cli=["--duration", "7"], magic="--duration 7"),
    Bad("size", api={"size": 5}),
    Bad("size", api={"size": "1x1"}, cli=["--size", "1x1"], magic="--size 1x1"),
    Bad("model", api={"model": 5}),
    Bad("sede", api={"sede": 3}),
    Bad("prompt_extend", api={"prompt_extend": "false"}),
]


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    """One emulator for the module: every test reads its counters before and after."""
    emulator = Emulator(speed=200.0, rate_limits=False, log=False).start()
    yield emulator
    emulator.stop()


def requests_made(emu: Emulator) -> int:
    return sum(emu.stats()["requests"].values())


def assert_names(exc: BaseException, param: str) -> None:
    """A ValidationError (ours, typed) whose message and ``param`` name the parameter."""
    assert isinstance(exc, ValidationError), repr(exc)
    assert not isinstance(exc, SubmitUncertainError)
    assert param in str(exc) or param in exc.param, (param, str(exc))
    assert "\n" not in str(exc)


@pytest.fixture
def conn(emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", "0.005")
    return {"api_key": emu.api_key, "base_url": emu.base_url, "output_dir": tmp_path / "out"}


def _kwargs(case: Bad, conn: dict[str, Any]) -> dict[str, Any]:
    assert case.api is not None
    return {**conn, **FAST, **case.api}


API_CASES = [pytest.param(c, id=c.id) for c in BAD if c.api is not None]


@pytest.mark.parametrize("case", API_CASES)
def test_python_api_refuses_before_any_request(
    case: Bad, emu: Emulator, conn: dict[str, Any], tmp_path: Path
) -> None:
    before = requests_made(emu)
    kwargs = _kwargs(case, conn)
    calls = {
        "generate_many": lambda: api.generate_many([case.prompt], **kwargs),
        "generate_many(str)": lambda: api.generate_many(case.prompt, **kwargs),
    }
    if not case.many_only:
        calls["generate"] = lambda: api.generate(case.prompt, **kwargs)
        calls["agenerate"] = lambda: asyncio.run(api.agenerate(case.prompt, **kwargs))
    if not isinstance(case.prompt, str):
        del calls["generate_many(str)"]
    for call in calls.values():
        with pytest.raises(ValidationError) as info:
            call()
        assert_names(info.value, case.param)
    assert requests_made(emu) == before
    assert not (tmp_path / "out").exists()  # nothing written either


ATTACH_BAD = [
    ("task_id", None, {}),
    ("task_id", 42, {}),
    ("task_id", "", {}),
    ("task_id", "../../etc/passwd", {}),
    ("task_id", "a/b", {}),
    ("task_id", "https://example.com/tasks/1", {}),
    ("task_id", "-rf", {}),
    ("timeout", "0385dc79-5ff8-4d82-bcb6-0000", {"timeout": -1}),
    ("timeout", "0385dc79-5ff8-4d82-bcb6-0000", {"timeout": math.nan}),
    ("output_dir", "0385dc79-5ff8-4d82-bcb6-0000", {"output_dir": None}),
    ("base_url", "0385dc79-5ff8-4d82-bcb6-0000", {"base_url": "ftp://h/api/v1"}),
    ("api_key", "0385dc79-5ff8-4d82-bcb6-0000", {"api_key": 123}),
]


@pytest.mark.parametrize("param,task_id,kwargs", ATTACH_BAD, ids=[repr(c[1:]) for c in ATTACH_BAD])
def test_attach_refuses_before_any_request(
    param: str, task_id: Any, kwargs: dict[str, Any], emu: Emulator, conn: dict[str, Any]
) -> None:
    before = requests_made(emu)
    for call in (
        lambda: api.attach(task_id, **{**conn, **kwargs}),
        lambda: asyncio.run(api.aattach(task_id, **{**conn, **kwargs})),
    ):
        with pytest.raises(ValidationError) as info:
            call()
        assert_names(info.value, param)
    assert requests_made(emu) == before


def test_wrong_types_are_type_errors_too(conn: dict[str, Any]) -> None:
    """``attach(None)``, ``output_dir=None``, ``api_key=123``: TypeError for Python code,
    ValidationError for the entry points (one class, both parents)."""
    for call in (
        lambda: api.attach(None, **conn),  # type: ignore[arg-type]
        lambda: api.generate(PROMPT, **{**conn, "output_dir": None}),
        lambda: api.generate(PROMPT, **{**conn, "api_key": 123}),
        lambda: api.generate_many(["x"], concurrency=1.5, **conn),
        lambda: api.generate_many(7, **conn),  # type: ignore[arg-type]
    ):
        with pytest.raises(TypeError) as info:
            call()
        assert isinstance(info.value, ParameterTypeError)


def test_api_key_never_appears_in_the_error(conn: dict[str, Any], canary_key: str) -> None:
    for bad in (canary_key + "\u00e9", canary_key + " x", "\x00" + canary_key):
        with pytest.raises(ValidationError) as info:
            api.generate(PROMPT, **{**conn, "api_key": bad})
        exc = info.value
        assert canary_key not in str(exc) + repr(exc) + repr(vars(exc)) + repr(exc.args)


@pytest.mark.parametrize("where", ["argument", "env"])
def test_a_mistyped_base_url_is_not_uncertain_and_leaves_no_intent(
    where: str, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 12: ``ftp://...`` reported "a task may exist and may be billed" though nothing
    was sent, and left an open intent in the journal. Now settings refuse it first."""
    bad = emu.base_url.replace("http://", "ftp://")
    kwargs: dict[str, Any] = {"api_key": emu.api_key, "output_dir": tmp_path / "out", **FAST}
    if where == "env":
        monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", bad)
    else:
        kwargs["base_url"] = bad
    before = requests_made(emu)
    for call in (
        lambda: api.generate(PROMPT, **kwargs),
        lambda: api.generate_many([PROMPT, "a second one"], **kwargs),
    ):
        with pytest.raises(ConfigurationError) as info:
            call()
        assert_names(info.value, "base_url")
        if where == "env":
            assert "DASHSCOPE_HTTP_BASE_URL" in str(info.value)
    assert requests_made(emu) == before
    assert not (tmp_path / "out").exists()  # no journal, so no open intent


# ------------------------------------------------------------------ case 8: generate_many


def test_generate_many_of_a_bare_string_is_one_request(emu: Emulator, conn: dict[str, Any]) -> None:
    """Case 8: ``generate_many("harbour")`` made 7 one-letter videos. A bare string is one
    prompt (documented): one task, one result, the whole word."""
    created = emu.stats()["tasks_created"]
    results = api.generate_many("harbour", **conn, **FAST)
    assert len(results) == 1 and results[0].request.prompt == "harbour"
    assert emu.stats()["tasks_created"] == created + 1
    again = api.generate_many(["harbour"], **conn, **FAST)  # the same request: from the cache
    assert again[0].cached and again[0].path == results[0].path


def test_generate_many_refuses_dicts_without_prompt_and_non_iterables(
    emu: Emulator, conn: dict[str, Any]
) -> None:
    """Case 8: a dict without "prompt" made a video of the word "prompt"."""
    before = requests_made(emu)
    with pytest.raises(ValidationError, match=r"'prompt'") as info:
        api.generate_many({"seed": 3, "model": "wan2.5-t2v-preview"}, **conn)
    assert info.value.param == "prompt"
    with pytest.raises(ValidationError, match=r"requests\[1\]: .*'prompt'"):
        api.generate_many(["a fox", {"seed": 3}], **conn)
    with pytest.raises(ValidationError, match=r"requests\[2\].*duration"):
        api.generate_many(["a fox", "a cat", {"prompt": "a dog", "duration": 7}], **conn, **FAST)
    for bad in (5, None, 3.5, b"harbour", object()):
        with pytest.raises(TypeError, match="requests") as info:
            api.generate_many(bad, **conn)  # type: ignore[arg-type]
        assert isinstance(info.value, ValidationError)
    with pytest.raises(TypeError, match=r"requests\[1\]"):
        api.generate_many(["a fox", 42], **conn)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="did you mean 'seed'"):
        api.generate_many([{"prompt": "a fox", "sede": 1}], **conn)
    with pytest.raises(TypeError, match="option of the whole call"):
        api.generate_many([{"prompt": "a fox", "timeout": 5}], **conn)
    assert requests_made(emu) == before


# ------------------------------------------------------------------ properties


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    timeout=st.one_of(
        st.floats(max_value=0.0),
        st.just(math.nan),
        st.just(math.inf),
        st.integers(max_value=0),
        st.text(max_size=5),
    )
)
def test_property_no_bad_timeout_reaches_the_service(
    timeout: Any, emu: Emulator, conn: dict[str, Any]
) -> None:
    before = requests_made(emu)
    with pytest.raises(ValidationError) as info:
        api.generate(PROMPT, timeout=timeout, **conn, **FAST)
    assert info.value.param == "timeout"
    assert requests_made(emu) == before


INVISIBLE = st.sampled_from(
    [" ", "\n", "\t", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u3000", "\u00a0"]
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=st.text(INVISIBLE, max_size=20))
def test_property_a_prompt_without_a_visible_character_is_refused(
    prompt: str, emu: Emulator, conn: dict[str, Any]
) -> None:
    before = requests_made(emu)
    with pytest.raises(ValidationError) as info:
        api.generate(prompt, **conn, **FAST)
    assert info.value.param == "prompt"
    assert requests_made(emu) == before


# ------------------------------------------------------------------ the CLI


def cli(argv: list[str], capsys: Any) -> tuple[int, str]:
    """The exit code and stderr of ``wanvideo ARGV`` run in this process."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    return int(code or 0), capsys.readouterr().err


@pytest.fixture
def env(emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI pointed at the emulator through the environment, in a fresh folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DASHSCOPE_API_KEY", emu.api_key)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", emu.base_url)
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", "0.005")
    return tmp_path


def assert_usage_error(code: int, err: str, param: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    name = param.lstrip("-")
    assert "error:" in last and (name in last or name.replace("_", "-") in last), err


CLI_CASES = [pytest.param(c, id=c.id) for c in BAD if c.cli is not None]
TASK_ID_ARGS = ["../../etc/passwd", "a/b", "https://h/tasks/1", "x" * 300]
TASK = "0385dc79-5ff8-4d82-bcb6-0000"
#: (argv, the option or argument its one-line error must name)
CLI_OTHER: list[tuple[list[str], str]] = [
    *[([cmd, tid], "task_id") for cmd in ("status", "attach", "cancel") for tid in TASK_ID_ARGS],
    (["attach", TASK, "--timeout", "-1"], "--timeout"),
    (["attach", TASK, "--timeout", "nan"], "--timeout"),
    (["attach", TASK, "--dir", "/dev/null"], "--dir"),
    (["list", "--dir", "/dev/null", "--local"], "--dir"),
    (["status", TASK, "--base-url", "ftp://127.0.0.1/api/v1"], "--base-url"),
    (["status", TASK, "--region", "atlantis"], "region"),
    (["generate", PROMPT, "--emulator", "--emulator-speed", "nan"], "--emulator-speed"),
    (["demo", "--speed", "0"], "--speed"),
    (["demo", "--dir", "/dev/null"], "--dir"),
    (["emulator", "--port", "99999"], "--port"),
    (["emulator", "--port", "-1"], "--port"),
    (["emulator", "--port", "http"], "--port"),
    (["emulator", "--speed", "nan"], "--speed"),
    (["emulator", "--speed", "-2"], "--speed"),
    (["emulator", "--render-workers", "0"], "--render-workers"),
    (["emulator", "--render-workers", "1.5"], "--render-workers"),
    (["emulator", "--lifetime", "-5"], "--lifetime"),
    (["emulator", "--lifetime", "nan"], "--lifetime"),
]


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_generate_refuses_with_a_usage_error(
    case: Bad, env: Path, emu: Emulator, capsys: Any
) -> None:
    before = requests_made(emu)
    assert case.cli is not None
    code, err = cli(["generate", case.prompt, *FAST_ARGS, *case.cli], capsys)
    assert_usage_error(code, err, case.param)
    assert requests_made(emu) == before
    assert not (env / "wan_outputs").exists()


@pytest.mark.parametrize("argv,param", CLI_OTHER, ids=[" ".join(a)[:50] for a, _ in CLI_OTHER])
def test_cli_other_commands_refuse_with_a_usage_error(
    argv: list[str], param: str, env: Path, emu: Emulator, capsys: Any
) -> None:
    before = requests_made(emu)
    code, err = cli(argv, capsys)
    assert_usage_error(code, err, param)
    assert requests_made(emu) == before


def test_cli_as_a_subprocess_prints_one_usage_line(env: Path, emu: Emulator) -> None:
    """The real process: exit code 2, no traceback, nothing sent (``--timeout -5`` created a
    billed task and then failed; ``emulator --port 99999`` printed a traceback)."""
    before = requests_made(emu)
    runs = [
        [sys.executable, "-m", "wan_notebook.cli", "generate", PROMPT, *FAST_ARGS,
         "--timeout", "-5"],
        [sys.executable, "-m", "wan_notebook.cli", "generate", PROMPT, "--dir", "/dev/null"],
        [sys.executable, "-m", "wan_notebook.cli", "status", "../../etc/passwd"],
        [sys.executable, "-m", "wan_notebook.cli", "emulator", "--port", "99999"],
    ]  # fmt: skip
    for argv in runs:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=120, env=dict(os.environ), cwd=env
        )
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and proc.stdout == ""
        last = proc.stderr.strip().splitlines()[-1]
        assert "error:" in last, proc.stderr
    assert requests_made(emu) == before


# ------------------------------------------------------------------ the form and BatchGrid


def test_form_and_batch_grid_use_the_same_checks(emu: Emulator, conn: dict[str, Any]) -> None:
    pytest.importorskip("ipywidgets")
    from wan_notebook.notebook.batch import BatchGrid
    from wan_notebook.notebook.form import GenerateForm

    before = requests_made(emu)
    for kwargs, param in (
        ({"timeout": -1}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"output_dir": "/dev/null"}, "output_dir"),
        ({"base_url": "ftp://h/api/v1"}, "base_url"),
        ({"api_key": 123}, "api_key"),
        ({"new": "yes"}, "new"),
    ):
        with pytest.raises(ValidationError) as info:
            GenerateForm(prompt=PROMPT, **{**conn, **kwargs})
        assert_names(info.value, param)
    for kwargs, param in (
        ({"timeout": 0}, "timeout"),
        ({"concurrency": -1}, "concurrency"),
        ({"output_dir": 5}, "output_dir"),
        ({"new": "yes"}, "new"),
        ({"region": "atlantis"}, "region"),
    ):
        with pytest.raises(ValidationError) as info:
            BatchGrid.start([PROMPT], show=False, **{**conn, **kwargs})
        assert_names(info.value, param)
    with pytest.raises(ValidationError, match="prompt"):
        BatchGrid.start([{"seed": 1}], show=False, **conn)
    with pytest.raises(TypeError, match="requests"):
        BatchGrid.start(5, show=False, **conn)  # type: ignore[arg-type]
    assert requests_made(emu) == before
