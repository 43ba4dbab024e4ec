"""``Gallery`` over real saved results (made by the emulator), in-process: the widgets are
driven by setting values and clicking; the static HTML is read as a renderer would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.utils.capture import capture_output

from wan_notebook import generate
from wan_notebook.emulator import Emulator
from wan_notebook.notebook.gallery import Gallery, reproducing_cell
from wan_notebook.notebook.interpolate import interpolate
from wan_notebook.notebook.magics import build_request, parse_cell_options

XSS = "a <img src=x onerror=alert(1)> fox"
PROMPTS = (
    (XSS, {"model": "wan2.5-t2v-preview", "size": "832*480", "seed": 11}),
    ("a red fox in {the} snow", {"model": "wan2.2-t2v-plus", "size": "832*480"}),
    ("a cat on a roof", {"model": "wan2.5-t2v-preview", "size": "480*832",
                         "negative_prompt": "blurry, dark"}),
)  # fmt: skip


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    emulator = Emulator(speed=200.0, rate_limits=False).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def folder(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An outputs folder with three saved videos (two models, one XSS prompt)."""
    root = tmp_path_factory.mktemp("gallery") / "wan_outputs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WAN_NOTEBOOK_POLL_SCALE", "0.005")  # poll at the emulator's pace
        for prompt, params in PROMPTS:
            generate(prompt, output_dir=root, api_key=emu.api_key, base_url=emu.base_url,
                     **params)  # fmt: skip
    return root


@pytest.fixture
def here(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(folder.parent)
    return folder


def test_cards_show_every_saved_result(here: Path) -> None:
    gallery = Gallery(here, widgets=True)
    assert [r.prompt for r in gallery.results] == [p for p, _ in reversed(PROMPTS)]
    assert len(gallery.cards) == 3 and len(gallery.widget.children[1].children) == 3
    card = gallery.card(gallery.results[-1].task_id)  # the XSS one
    caption = card.caption.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in caption and "<img src=x" not in caption
    for fact in ("wan2.5-t2v-preview", "832*480", "5 s", card.saved.task_id):
        assert fact in caption
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", caption)
    assert card.media_html.startswith('<img class="wan-poster" src="wan_outputs/')
    assert "3 saved videos in wan_outputs" in gallery.widget.children[0].children[3].value
    assert card.play.description == "Play" and "play the video" in card.play.tooltip


def test_filter_by_text_and_model(here: Path) -> None:
    gallery = Gallery(here, widgets=True)
    ui = gallery.widget.children[0].children
    text, model = ui[0], ui[1]
    text.value = "FOX"  # case-insensitive, through the widget
    assert {r.prompt for r in gallery.results} == {XSS, "a red fox in {the} snow"}
    assert len(gallery.widget.children[1].children) == 2
    model.value = "wan2.2-t2v-plus"
    assert [r.prompt for r in gallery.results] == ["a red fox in {the} snow"]
    assert "model wan2.2-t2v-plus" in gallery.html() and "text &#x27;FOX&#x27;" in gallery.html()
    gallery.filter(text="", model="")
    assert len(gallery.results) == 3 and text.value == "" and model.value == ""
    assert Gallery(here, text="cat", widgets=False).text_view().count("\n") == 1
    with pytest.raises(KeyError, match="unknown model"):
        Gallery(here, model="sora", widgets=False)


def test_play_shows_the_player_and_back(here: Path) -> None:
    gallery = Gallery(here, widgets=True)
    card = gallery.cards[0]
    card.play.click()
    assert card.playing and '<video class="wan-video" src="wan_outputs/' in card.media_html
    assert card.play.description == "Poster"
    card.play.click()
    assert not card.playing and "<video" not in card.media_html
    gallery.play(gallery.cards[1].saved.task_id)
    assert gallery.cards[1].playing


def test_static_html_escapes_and_shows_the_reproducing_cell(here: Path) -> None:
    gallery = Gallery(here, widgets=False)
    assert gallery.widget is None
    html = gallery._repr_html_()
    assert "<img src=x onerror" not in html and html.count("&lt;img src=x onerror") >= 2
    assert html.count('<video class="wan-video"') == 3 and "<details>" in html
    assert "%%wanvideo --model wan2.2-t2v-plus --size 832*480 --duration 5" in html
    assert "a red fox in {{the}} snow" in html  # {the} stays literal when re-run
    bundle = gallery._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"].startswith("3 saved videos") and XSS in bundle["text/plain"]


def test_reproducing_cells_make_the_same_request(here: Path) -> None:
    for saved in Gallery(here, widgets=False).results:
        cell = reproducing_cell(saved)
        line, _, body = cell.partition("\n")
        args = parse_cell_options(line[len("%%wanvideo") :])
        prompt = interpolate(body, {"the": "THE"}).text
        assert build_request(prompt, args, {}).digest == saved.digest


def test_empty_folder(tmp_path: Path) -> None:
    gallery = Gallery(tmp_path / "nothing", widgets=True)
    assert gallery.results == [] and "No saved videos yet" in gallery.html()
    assert not (tmp_path / "nothing").exists()  # looking creates nothing


def test_refreshes_when_a_magic_job_saves(
    ip: Any, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", emulator.api_key)
    monkeypatch.setenv("DASHSCOPE_HTTP_BASE_URL", emulator.base_url)
    ip.run_line_magic("config", "WanVideoMagic.poll_scale = 0.005")
    gallery = Gallery(widgets=True)  # the magic's folder
    other = Gallery("elsewhere", widgets=True)
    assert gallery.results == [] and gallery.refreshes == 1
    with capture_output():
        result = ip.run_cell(
            "%%wanvideo --model wan2.5-t2v-preview --size 832*480\na <b>bold</b> fox"
        )
    assert result.success, result.error_in_exec
    assert gallery.refreshes == 2 and [r.prompt for r in gallery.results] == ["a <b>bold</b> fox"]
    assert len(gallery.cards) == 1 and other.refreshes == 1  # another folder: untouched
    # %wanvideo gallery shows the same cards as a static + text bundle
    with capture_output() as cap:
        ip.run_cell("%wanvideo gallery --limit 5")
    data = cap.outputs[-1].data
    assert (
        "a &lt;b&gt;bold&lt;/b&gt; fox" in data["text/html"] and "<b>bold" not in data["text/html"]
    )
    assert "1 saved video in wan_outputs" in data["text/plain"]
