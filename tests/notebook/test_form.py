"""``GenerateForm`` driven in-process: widgets work without a frontend, so the tests set
values and press buttons (``Button.click()`` runs the same handlers a click does) and run
the jobs against the emulator."""

from __future__ import annotations

import io
import os
import wave
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.utils.capture import capture_output

from wan_notebook import catalog
from wan_notebook.errors import ValidationError
from wan_notebook.notebook.form import GenerateForm, escape_prompt, wanvideo_cell
from wan_notebook.notebook.interpolate import interpolate
from wan_notebook.notebook.magics import build_request, parse_cell_options
from wan_notebook.request import VideoRequest

XSS = "a <img src=x onerror=alert(1)> fox"
FAST = {"model": "wan2.5-t2v-preview", "size": "832*480"}


def values(dropdown: Any) -> list[Any]:
    return [value for _, value in dropdown.options]


def request_from_cell(cell: str, namespace: dict[str, Any] | None = None) -> VideoRequest:
    """What the magic makes of a cell: parse the line, apply the {name} rule, validate."""
    line, _, body = cell.partition("\n")
    assert line.startswith("%%wanvideo")
    args = parse_cell_options(line[len("%%wanvideo") :])
    prompt = interpolate(body.strip(), namespace or {}).text
    return build_request(prompt, args, {})


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Settings for a form that never reaches a service (and ignores a loaded magic)."""
    monkeypatch.chdir(tmp_path)
    return {"api_key": "sk-test", "base_url": "http://127.0.0.1:9/api/v1"}


# ------------------------------------------------------------------ the catalog drives it


def test_model_drives_size_duration_audio_and_shot_type(offline: dict[str, Any]) -> None:
    form = GenerateForm(prompt="a fox", **offline)
    media = [m.id for m in catalog.MEDIA_ROWS if catalog.input_rules(m)]  # issue 14 inputs
    assert values(form.model) == [*catalog.model_ids(), *media]
    for model in catalog.MODELS.values():
        if model.protocol == "new":
            continue  # resolution x ratio: tests/notebook/test_form_new_protocol.py
        form.model.value = model.id
        assert values(form.size) == list(model.sizes)
        assert values(form.duration) == list(model.durations)
        assert form.duration.disabled == (len(model.durations) == 1)
        assert (form.shot_type.layout.display != "none") == model.shot_type
        audio_modes = values(form.audio_mode)
        assert ("auto" in audio_modes) == model.audio and ("url" in audio_modes) == model.audio
        assert form.error is None and not form.generate.disabled  # defaults always valid
        request = form.request()
        assert (request.model, request.size, request.duration) == (
            model.id,
            model.default_size,
            model.default_duration,
        )
    # sizes are labelled by tier and aspect; a size the new model also has is kept
    form.model.value = "wan2.5-t2v-preview"
    form.size.value = "832*480"
    labels = dict((v, k) for k, v in form.size.options)
    assert labels["832*480"] == "480P · 16:9 landscape · 832*480"
    assert labels["1920*1080"].endswith("(default)") and labels["1088*832"].startswith("720P")
    form.model.value = "wan2.2-t2v-plus"
    assert form.size.value == "832*480"
    form.model.value = "wan2.1-t2v-plus"  # 720P only: back to that model's default
    assert form.size.value == catalog.get_model("wan2.1-t2v-plus").default_size


def test_invalid_combinations_disable_generate_and_say_why(offline: dict[str, Any]) -> None:
    form = GenerateForm(prompt="x" * 801, **FAST, **offline)
    assert form.error is None and "801 / 1500" in form.prompt_count.value
    form.model.value = "wan2.2-t2v-plus"  # reads only 800 characters
    assert form.generate.disabled
    assert "over the 800" in form.error and "over the 800" in form.message.value
    assert 'role="alert"' in form.message.value and "801 / 800" in form.prompt_count.value
    assert "cannot generate" in form.generate.tooltip
    with pytest.raises(ValidationError, match="prompt"):
        form.submit()
    assert form.jobs == []
    form.prompt.value = "   "
    assert form.generate.disabled and "empty" in form.error
    assert "Type a prompt" in form.message.value and "waiting for a prompt" in repr(form)
    form.prompt.value = "a fox"
    assert not form.generate.disabled and form.message.value == ""
    form.negative.value = "n" * (catalog.NEGATIVE_PROMPT_MAX + 1)
    assert form.generate.disabled and "negative_prompt" in form.error
    form.negative.value = "blurry"
    # audio: a URL that is neither a URL nor a file; the file mode with nothing uploaded
    form.model.value = "wan2.5-t2v-preview"
    form.audio_mode.value = "url"
    assert form.audio_url.layout.display is None and form.audio_file.layout.display == "none"
    form.audio_url.value = "no-such-file.mp3"
    assert form.generate.disabled and "audio_url" in form.error
    form.audio_url.value = "https://example.com/track.mp3"
    assert not form.generate.disabled
    form.audio_mode.value = "file"
    assert form.generate.disabled and "no audio file chosen" in form.error
    # a silent model cannot take any audio: the menu offers only "none"
    form.model.value = "wan2.2-t2v-plus"
    assert values(form.audio_mode) == ["none"] and form.audio_mode.disabled
    assert not form.generate.disabled and "silent" in form.audio_note.value
    # shot type without prompt extension: allowed, with the service's caveat shown
    form.model.value = "wan2.6-t2v"
    form.shot_type.value = "multi"
    form.prompt_extend.value = False
    assert not form.generate.disabled and "prompt_extend" in form.message.value


def test_bad_initial_values_raise() -> None:
    with pytest.raises(ValidationError, match="size"):
        GenerateForm(model="wan2.2-t2v-plus", size="1280*720", api_key="k")
    with pytest.raises(ValidationError, match="model"):
        GenerateForm(model="sora", api_key="k")


def test_seed_random_fixed_and_dice(offline: dict[str, Any]) -> None:
    form = GenerateForm(prompt="a fox", **offline)
    assert form.seed_mode.value == "random" and form.seed.disabled
    assert "seed" not in form.params()
    form.dice.click()
    assert form.seed_mode.value == "fixed" and not form.seed.disabled
    assert 0 <= form.request().seed <= catalog.SEED_MAX
    form.seed.value = 42
    assert form.request().seed == 42
    form.seed_mode.value = "random"
    assert form.request().seed is None
    assert GenerateForm(prompt="a fox", seed=7, **offline).request().seed == 7


def test_every_control_is_labelled_as_text(offline: dict[str, Any]) -> None:
    import ipywidgets as w

    form = GenerateForm(prompt=XSS, **offline)
    controls = [
        c
        for c in vars(form).values()
        if isinstance(c, w.ValueWidget) and not isinstance(c, (w.HTML, w.Label))
    ]
    assert len(controls) >= 12
    for control in controls:
        assert control.description, control
        if "description_allow_html" in control.trait_names():
            assert control.description_allow_html is False
    for button in (form.generate, form.dice):
        assert button.description and button.tooltip


# ------------------------------------------------------------------ copy as cell


@pytest.mark.parametrize(
    "initial",
    [
        {"prompt": XSS, **FAST},
        {
            "prompt": 'line one\n{animal} in {{braces}} and JSON {"a": 1}',
            "model": "wan2.6-t2v",
            "size": "1280*720",
            "duration": 7,
            "seed": 123,
            "negative_prompt": 'blurry, low quality, "bad" - no',
            "shot_type": "multi",
            "watermark": True,
        },
        {
            "prompt": "a fox",
            "model": "wan2.2-t2v-plus",
            "size": "624*624",
            "negative_prompt": "-starts with a dash",
            "prompt_extend": False,
            "output_dir": "my videos",
        },
        {"prompt": "a fox", **FAST, "audio_url": "https://example.com/a b.mp3"},
    ],
)
def test_copy_as_cell_round_trips_through_the_magic(
    initial: dict[str, Any], offline: dict[str, Any]
) -> None:
    form = GenerateForm(**initial, **offline)
    assert form.error is None, form.error
    form.copy.value = True
    assert form.cell.layout.display is None and form.cell.value == str(form.as_cell())
    cell = form.as_cell()
    assert cell.notes == ()
    # the notebook defines {animal}: the cell still means the literal text
    again = request_from_cell(cell, {"animal": "cat", "braces": "X"})
    assert again == form.request() and again.digest == form.request().digest
    if "output_dir" in initial:
        assert parse_cell_options(cell.split("\n")[0][10:]).directory == "my videos"
    # the static view escapes it
    html = form._repr_html_()
    if "<img" in initial["prompt"]:
        assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_copy_as_cell_names_what_a_line_cannot_carry(offline: dict[str, Any]) -> None:
    form = GenerateForm(prompt="a fox", model="wan2.5-t2v-preview", **offline)
    form.audio_mode.value = "none"  # audio=False: the --no-audio flag
    form.negative.value = "both ' and \" quotes"
    form.copy.value = True
    cell = form.as_cell()
    assert "--no-audio" in cell.split("\n")[0]
    assert parse_cell_options(cell.split("\n")[0][10:]).audio is False
    assert any("--negative" in n for n in cell.notes) and "--negative" not in cell
    assert "--negative" in form.cell_notes.value


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="{}ab.1_ \n\"'", max_size=30))
def test_escaped_prompts_survive_the_placeholder_rule(prompt: str) -> None:
    body = escape_prompt(prompt)
    assert body is not None
    assert interpolate(body, {"a": "X", "b": "Y", "ab": "Z", "_": "U"}).text == prompt


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_negative_prompts_survive_the_line_or_are_named(negative: str) -> None:
    cell = wanvideo_cell("a fox", {**FAST, "negative_prompt": negative})
    args = parse_cell_options(cell.split("\n")[0][len("%%wanvideo") :])
    if any("--negative" in n for n in cell.notes):
        assert args.negative_prompt is None
    else:
        assert args.negative_prompt == negative


# ------------------------------------------------------------------ uploads


def wav_bytes(seconds: float = 3.0, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * int(seconds * rate))
    return buf.getvalue()


def upload(form: GenerateForm, name: str, content: bytes) -> None:
    form.audio_file.value = (
        {"name": name, "type": "audio/wav", "size": len(content), "content": memoryview(content),
         "last_modified": datetime.now(timezone.utc)},
    )  # fmt: skip


def test_uploaded_audio_is_saved_confined_and_passed_as_a_path(
    tmp_path: Path, offline: dict[str, Any]
) -> None:
    form = GenerateForm(prompt="a fox", **FAST, output_dir="out", **offline)
    upload(form, "../../<evil> name.wav", wav_bytes())
    saved = Path(form.request().audio_url)
    assert saved.parent == tmp_path / "out" / "uploads" and saved.is_file()
    assert saved.name.startswith("evil-name-") and saved.suffix == ".wav"
    assert form.audio_mode.value == "file" and not form.generate.disabled
    assert form.audio_file.value == ()  # the bytes left the widget state
    assert "evil-name" in form.audio_note.value and "<evil>" not in form.audio_note.value
    cell = form.as_cell()
    assert "--audio-url out/uploads/evil-name-" in cell
    assert request_from_cell(cell).digest == form.request().digest
    # a local file as the initial value opens the form in the same mode
    again = GenerateForm(prompt="a fox", **FAST, audio_url=saved, **offline)
    assert again.audio_mode.value == "file" and again.request() == form.request()
    # too big: refused before anything is written
    upload(form, "big.wav", b"\x00" * (15 * 1024 * 1024 + 1))
    assert "over the 15 MB" in form.message.value
    assert len(list((tmp_path / "out" / "uploads").iterdir())) == 1


# ------------------------------------------------------------------ submitting


def test_generate_runs_jobs_whose_panels_show_the_video(
    tmp_path: Path, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    form = GenerateForm(
        prompt=XSS, **FAST, output_dir="out", api_key=emulator.api_key,
        base_url=emulator.base_url, poll_scale=0.005,
    )  # fmt: skip
    try:
        first = form.submit()
        form.prompt.value = "a second fox"
        upload(form, "tone.wav", wav_bytes())
        form.generate.click()  # what a click does: a second job runs alongside the first
        assert len(form.jobs) == 2 and len(form.jobs_box.children) == 2
        second = form.jobs[-1]
        assert form.jobs_box.children[0] is form.slots[-1].output  # newest on top
        live = form.slots[0].output.outputs[0]["data"]
        assert "application/vnd.jupyter.widget-view+json" in live  # the live panel widget
        results = [first.result(timeout=60), second.result(timeout=60)]
    finally:
        form.close()
    for slot, result in zip(form.slots, results, strict=True):
        assert slot.final
        html = slot.html
        assert f'src="out/{result.path.name}"' in html and "<video" in html
        assert "SUCCEEDED" in slot.output.outputs[0]["data"]["text/plain"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in form.slots[0].html
    assert "<img src=x" not in form.slots[0].html
    assert results[1].request.local_audio_path is not None
    assert emulator.stats()["tasks_created"] == 2


def test_percent_wanvideo_form_uses_the_magic(
    ip: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", emulator.base_url)
    ip.run_line_magic("config", "WanVideoMagic.poll_scale = 0.005")
    ip.run_line_magic("config", "WanVideoMagic.model = 'wan2.5-t2v-preview'")
    ip.run_line_magic("config", "WanVideoMagic.size = '832*480'")
    with capture_output():
        result = ip.run_cell("%wanvideo form")
    form = result.result
    assert isinstance(form, GenerateForm)
    assert (form.model.value, form.size.value) == ("wan2.5-t2v-preview", "832*480")
    magic = ip.magics_manager.registry["WanVideoMagic"]
    assert form.source.magic is magic
    form.prompt.value = "a fox from the form"
    form.generate.click()
    job = form.jobs[-1]
    saved = job.result(timeout=60)
    assert job in magic.jobs and saved.path.parent == Path(os.getcwd()) / "wan_outputs"
    assert "<video" in form.slots[-1].html
    # the copied cell, run by the magic, is the same request: served from the cache
    form.copy.value = True
    before = emulator.stats()["tasks_created"]
    with capture_output():
        result = ip.run_cell(form.cell.value.replace("%%wanvideo", "%%wanvideo -o again", 1))
    assert result.success, result.error_in_exec
    assert ip.user_ns["again"].path == saved.path
    assert emulator.stats()["tasks_created"] == before and magic.last_panel.state.phase == "cached"
    # a bad %config default is a one-line usage error
    ip.run_line_magic("config", "WanVideoMagic.size = '1x1'")
    with capture_output():
        result = ip.run_cell("%wanvideo form")
    assert "size" in str(result.error_in_exec) and "%config" in str(result.error_in_exec)
