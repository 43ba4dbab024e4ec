"""Static views (wan_notebook.notebook.render): escaping, badges, errors, video HTML."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from wan_notebook import errors
from wan_notebook.notebook import render
from wan_notebook.notebook.render import PanelState
from wan_notebook.results import VideoResult

EVIL = '<img src=x onerror="alert(1)"> & "quotes"'


@pytest.fixture
def saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> VideoResult:
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "wan_outputs"
    out.mkdir()
    video = out / "20260101-000000_a fox_1234abcd.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    poster = video.with_suffix(".png")
    Image.new("RGB", (8, 8), (200, 10, 10)).save(poster)
    meta = {"video": {"width": 832, "height": 480, "duration": 5.0}, "file": {"size": 2012}}
    return VideoResult(path=video, task_id="task-1", metadata=meta, poster=poster)


def test_user_text_is_escaped_everywhere(saved: VideoResult) -> None:
    state = PanelState(prompt=EVIL, model="wan2.5-t2v-preview", size="832*480", task_id=EVIL)
    state.note = EVIL
    state.error = errors.TaskFailedError(EVIL, task_id="t", status="FAILED", code=EVIL)
    html = render.panel_html(state)
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &quot;quotes&quot;" in html
    assert EVIL in render.panel_text(state)  # plain text is plain


def test_badge_follows_the_job() -> None:
    state = PanelState(prompt="p")
    assert render.badge_label(state) == "QUEUED"
    state.status = "PENDING"
    assert render.badge_label(state) == "PENDING"
    state.status = "RUNNING"
    assert render.badge_label(state) == "RUNNING"
    state.phase = "downloading"
    assert render.badge_label(state) == "DOWNLOADING"
    state.phase, state.status = "failed", "FAILED"
    assert render.badge_label(state) == "FAILED"
    state.phase = "cached"
    assert render.badge_label(state) == "CACHED"
    assert "#15803d" in render.badge_html("SUCCEEDED")


def test_history_and_progress_are_shown() -> None:
    state = PanelState(prompt="p", model="m", size="832*480", duration=5, seed=7)
    state.history = [("PENDING", 0.0), ("RUNNING", 0.42)]
    state.status, state.progress, state.elapsed = "RUNNING", 0.35, 3.0
    text = render.panel_text(state)
    assert "PENDING 0.0 s → RUNNING 0.4 s" in text
    assert "~35%" in text
    assert "seed 7" in text and "832*480" in text and "5 s" in text
    assert "width:35%" in render.panel_html(state)


def test_prompt_is_collapsible_and_long_prompts_are_cut_in_text() -> None:
    prompt = "word " * 100
    state = PanelState(prompt=prompt)
    assert "<details>" in render.panel_html(state)
    line = next(x for x in render.panel_text(state).splitlines() if "prompt:" in x)
    assert len(line) < 200 and line.endswith("…")


def test_error_box_says_code_message_and_next_step() -> None:
    exc = errors.task_failed_error("tid-9", "DataInspectionFailed", "flagged input")
    box = render.error_box_html(exc, "tid-9")
    assert "DataInspectionFailed" in box and "flagged input" in box
    assert "Rephrase the prompt" in box
    timeout = errors.WaitTimeoutError("slow", task_id="tid-2", status="RUNNING")
    assert "%wanvideo attach tid-2" in render.what_to_do(timeout)
    assert "%wanvideo attach tid-3" in render.what_to_do(errors.DownloadError("x", task_id="tid-3"))
    assert "DASHSCOPE_API_KEY" in render.what_to_do(errors.ConfigurationError("no key"))
    assert render.what_to_do(ValueError("x")).startswith("See the traceback")


def test_video_by_reference_is_relative_and_quoted(saved: VideoResult) -> None:
    html = render.video_html(saved.path, poster=saved.poster, label=EVIL)
    assert 'src="wan_outputs/20260101-000000_a%20fox_1234abcd.mp4"' in html
    # the poster is a small inlined thumbnail: JupyterLab does not rewrite a relative
    # poster attribute (a 404), and a fresh clone has no wan_outputs/; it is also the <img>
    # fallback for renderers that block <video>, and the HTML export carries it
    assert ' poster="data:image/jpeg;base64,' in html and '<img src="data:image/jpeg' in html
    assert 'preload="metadata"' in html and "autoplay" not in html
    assert "onerror=&quot;" in html and 'onerror="' not in html
    assert len(html) < 4000
    assert str(saved.path.parent) not in html  # no absolute path


def test_a_missing_video_shows_its_poster_and_says_run_the_cell(saved: VideoResult) -> None:
    """A fresh clone has no wan_outputs/: no dead player, the poster and what to do."""
    poster_src = render.poster_uri(saved.poster)
    saved.path.unlink()
    html = render.video_html(saved.path, poster=saved.poster, label="a fox")
    assert "<video" not in html and "run the cell to make this video" in html
    assert f'<img src="{poster_src}"' in html
    saved.poster.unlink()  # type: ignore[union-attr]
    html = render.video_html(saved.path, poster=saved.poster, label="a fox")
    assert "<video" not in html and "run the cell to make this video" in html


def test_poster_thumbnails_are_small(tmp_path: Path) -> None:
    from PIL import Image

    big = tmp_path / "big.png"
    Image.effect_noise((1280, 720), 60).convert("RGB").save(big)
    uri = render.poster_uri(big)
    assert uri is not None and uri.startswith("data:image/jpeg;base64,")
    assert len(uri) < 40_000 < big.stat().st_size


def test_clip_cuts_with_an_ellipsis() -> None:
    assert render.clip("a  fox\n in the snow", 50) == "a fox in the snow"
    cut = render.clip("word " * 40, 30)
    assert len(cut) <= 30 and cut.endswith("…")


def test_video_embedded_as_base64(saved: VideoResult) -> None:
    html = render.video_html(saved.path, poster=saved.poster, embed=True)
    data = base64.b64encode(saved.path.read_bytes()).decode()
    assert f"data:video/mp4;base64,{data}" in html
    assert "data:image/jpeg;base64," in html  # the poster thumbnail
    assert "wan_outputs/" not in html


def test_result_html_is_the_final_panel(saved: VideoResult) -> None:
    html = saved._repr_html_()
    assert "SUCCEEDED" in html and "task-1" in html and "<video" in html
    assert "saved wan_outputs/" in html and "832x480" in html
    assert render.src_for(Path("/elsewhere/x.mp4"), Path("/elsewhere")) == "x.mp4"


def test_error_boxes_never_print_the_class_name_twice() -> None:
    """A DetachedError has no service code: the box said "DetachedError DetachedError"."""
    for exc in (
        errors.ConfigurationError("no key"),
        errors.DownloadError("broken", task_id="tid-4"),
        errors.TaskExpiredError("gone", task_id="tid-5", status="UNKNOWN"),
    ):
        name = type(exc).__name__
        assert render.error_box_html(exc).count(name) == 1
        assert render.error_text(exc).count(name) == 1
    coded = errors.task_failed_error("tid-9", "InternalError", "boom")
    assert "TaskFailedError [InternalError]" in render.error_text(coded)


def test_a_detached_task_is_a_short_note_with_the_attach_line() -> None:
    for exc in (
        errors.DetachedError("stopped; attach('tid-6') picks it up", task_id="tid-6"),
        errors.WaitTimeoutError("late", task_id="tid-6", status="RUNNING"),
    ):
        box, text = render.error_box_html(exc), render.error_text(exc)
        for out in (box, text):
            assert "%wanvideo attach tid-6" in out
            assert "attach('" not in out and type(exc).__name__ not in out
        assert "wan-error" not in box and text.count("\n") == 0
