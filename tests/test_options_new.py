"""The magic and the CLI take the new protocol's names (issue 13 case 7): --resolution, --ratio."""

from __future__ import annotations

import warnings

from wan_notebook.cli import build_parser, main
from wan_notebook.notebook.magics import build_request, parse_cell_options
from wan_notebook.options import request_params
from wan_notebook.request import VideoRequest

LINE = ["--model", "wan2.7-t2v", "--resolution", "720P", "--ratio", "9:16", "--duration", "3"]


def test_magic_line_builds_the_same_request() -> None:
    args = parse_cell_options(" ".join(LINE))
    expected = VideoRequest.create(
        "a fox", model="wan2.7-t2v", resolution="720P", ratio="9:16", duration=3
    )
    assert build_request("a fox", args, {}) == expected


def test_cli_arguments_build_the_same_request() -> None:
    args = build_parser().parse_args(["generate", *LINE, "--", "a fox"])
    req = VideoRequest.create(args.prompt, **request_params(args))
    assert req.to_body()["parameters"]["ratio"] == "9:16"
    assert req == VideoRequest.create("a fox", model="wan2.7-t2v", size="720*1280", duration=3)


def test_wan3_smart_duration_on_the_command_line() -> None:
    args = parse_cell_options("--model wan3.0-video --duration -1 --no-audio --resolution 480P")
    req = build_request("a fox", args, {})
    assert req.duration == -1 and req.audio is False and req.ratio == "adaptive"


def test_unknown_model_warns_and_is_kept() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        args = parse_cell_options("--model wan3.7-video-test-options --ratio 5:4")
        req = build_request("a fox", args, {})
    assert req.model == "wan3.7-video-test-options" and req.ratio == "5:4"
    assert any("not in this version's catalog" in str(w.message) for w in seen)


def test_models_shows_both_protocols_and_preview(capsys) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "wan2.7-t2v  [new protocol]" in out
    assert "wan3.0-video  [new protocol, preview]" in out
    assert "wan2.6-t2v  [legacy protocol]" in out
    assert "wan2.5-t2v-preview  [legacy protocol, preview]" in out
    assert "1080P 4:3=1648*1248" in out
