"""Proof under stress: hostile prompts and server messages are text, never markup.

Prompts, negative prompts, a validation message echoing a ``javascript:`` URL, the message of
a task the (emulated) service fails and the message of an API error on create all carry HTML
and script. Real jobs run against the emulator, and every HTML string the notebook surface
produces from them - the live panel's bundles and widgets, the final result, the error boxes,
the gallery (static and cards), the form (static, copy-as-cell, widgets) and the batch grid
(static and rows) - is parsed with :mod:`html.parser` and checked: no ``<script>``, no
``on*`` attribute, no ``javascript:`` URL, no injected element, and the hostile text present
as escaped text.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import ipywidgets as w
import pytest
from IPython.utils.capture import capture_output

from wan_notebook import errors, generate_many
from wan_notebook.notebook import render
from wan_notebook.notebook.batch import BatchGrid
from wan_notebook.notebook.form import GenerateForm, RunnerSource
from wan_notebook.notebook.gallery import Gallery
from wan_notebook.notebook.panel import StatusPanel
from wan_notebook.request import VideoRequest

PROMPT = (
    'a fox <img src=x onerror=alert(1)> <script>alert(1)</script> "><svg onload=alert(1)> '
    "<a href=\"javascript:alert(1)\">go</a> </textarea></pre> x' onmouseover='alert(1)"
)
NEGATIVE = '</textarea><script>alert(2)</script> "><img src=x onerror=alert(2)>'
FAIL_MESSAGE = (
    "flagged <img src=x onerror=alert(3)> </textarea><script>alert(3)</script> "
    '<a href="javascript:alert(3)">appeal</a>'
)
API_MESSAGE = 'refused "><svg onload=alert(4)> <iframe src="javascript:alert(4)"></iframe>'
BAD_URL = 'javascript:alert(5)//"><img src=x onerror=alert(5)>.wav'
#: The folder name is hostile too: it ends up in every ``src`` and in the summaries.
FOLDER = "javascript:alert(6)"
FAST = {"model": "wan2.5-t2v-preview", "size": "832*480"}
#: Elements none of the views ever make: finding one means markup was injected.
FORBIDDEN_TAGS = {"script", "svg", "iframe", "textarea", "object", "embed", "math", "base", "form"}
URL_ATTRS = {"href", "src", "action", "formaction", "poster", "data", "xlink:href", "srcset"}
RAW_MARKERS = ("<img src=x", "<script", "<svg", "<iframe", "</textarea", 'href="javascript')


class _Scan(HTMLParser):
    """Elements, attributes and text of an HTML fragment, as a browser would tokenize it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, name, value or "") for name, value in attrs]

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        self.tags.append("/" + tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_inert(fragment: str, *shown: str, where: str = "") -> None:
    """``fragment`` has no script, handler, ``javascript:`` URL or injected element, and each
    of ``shown`` appears in it as escaped text (in the content or an attribute value)."""
    scan = _Scan()
    scan.feed(fragment)
    scan.close()
    label = where or fragment[:120]
    bad_tags = {t.lstrip("/") for t in scan.tags} & FORBIDDEN_TAGS
    assert not bad_tags, f"{label}: elements {bad_tags}"
    for tag, name, value in scan.attrs:
        assert not name.startswith("on"), f"{label}: <{tag} {name}={value!r}>"
        if name in URL_ATTRS:
            url = "".join(value.split()).lower()
            assert not url.startswith("javascript:"), f"{label}: <{tag} {name}={value!r}>"
        assert not (tag == "img" and name == "src" and value == "x"), label
    lowered = fragment.lower()
    for marker in RAW_MARKERS:
        assert marker not in lowered, f"{label}: raw {marker!r}"
    decoded = "".join(scan.text) + "".join(v for _, _, v in scan.attrs)
    for text in shown:
        assert text in decoded, f"{label}: {text!r} not shown as text"
        assert html.escape(text, quote=True) in fragment, f"{label}: {text!r} not escaped"


def test_the_checker_catches_injections() -> None:
    """The checker fails on each kind of injection (so the tests below can fail)."""
    assert_inert(f"<b>{render.esc(PROMPT)}</b>", PROMPT)
    for unsafe, shown in (
        ("<div><script>alert(1)</script></div>", ""),
        ("<img src=x onerror=alert(1)>", ""),
        ('<span onmouseover="alert(1)">hi</span>', ""),
        ('<a href=" JavaScript:alert(1)">go</a>', ""),
        ("<svg><desc>x</desc></svg>", ""),
        ("<b>a cat</b>", "a fox"),  # the expected text is missing
        ("<i>fox</i>", "<i>fox</i>"),  # shown, but as markup
    ):
        with pytest.raises(AssertionError):
            assert_inert(unsafe, *filter(None, [shown]))


@pytest.fixture
def env(emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shell: Any) -> dict:
    """Connection settings for the emulator; the service fails prompts with ``forbidden``
    (content moderation, a hostile message) and refuses those with ``refused`` (HTTP 400,
    a hostile message). ``shell`` lets display() capture outputs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WAN_NOTEBOOK_POLL_SCALE", "0.005")  # poll at the emulator's pace
    emulator.faults.add(
        "create", "fail_task", code="DataInspectionFailed", message=FAIL_MESSAGE,
        match="forbidden",
    )  # fmt: skip
    emulator.faults.add(
        "create", "error", status=400, code="InvalidParameter", message=API_MESSAGE,
        match="refused",
    )  # fmt: skip
    return {"output_dir": FOLDER, "api_key": emulator.api_key, "base_url": emulator.base_url}


def follow_with_panel(env: dict, request: VideoRequest) -> tuple[StatusPanel, list[str], Any]:
    """Run ``request`` as a job followed by a live panel (widgets on); return the panel,
    every HTML it published or showed in its widgets (after each event), and the outcome."""
    runner = RunnerSource(poll_scale=0.005, **env).runner()
    panel = StatusPanel(request, widgets=True, cancel_button=True)
    seen: list[str] = []

    def snapshot(_event: Any = None) -> None:
        w = panel._widgets
        seen.extend([w.header.value, w.info.value, w.prompt.value, w.note.value, w.final.value])

    with capture_output() as cap:
        panel.show()
        job = runner.submit(request)
        panel.follow(job)
        job.subscribe(snapshot)
        try:
            outcome: Any = job.result(timeout=60)
        except errors.WanError as exc:
            outcome = exc
    snapshot()
    bundles = [o.data for o in cap.outputs]
    assert len(bundles) >= 2 and all("text/html" in b for b in bundles)
    return panel, [b["text/html"] for b in bundles] + [v for v in seen if v], outcome


def test_prompts_are_text_in_the_panel_the_result_and_the_gallery(env: dict) -> None:
    request = VideoRequest.create(PROMPT, negative_prompt=NEGATIVE, seed=1, **FAST)
    panel, views, result = follow_with_panel(env, request)
    assert panel.history[-1] == "SUCCEEDED" and result.path.is_file()
    for i, view in enumerate(views):
        assert_inert(view, where=f"panel view {i}")
    final = panel.bundle()["text/html"]
    assert_inert(final, PROMPT, where="final panel")
    assert '<video class="wan-video" src="javascript%3Aalert%286%29/' in final
    for name, fragment in {
        "result_html": render.result_html(result),
        "_repr_html_": result._repr_html_(),
        "embedded": render.result_html(result, embed=True),
        "video_html": result.video_html(),
    }.items():
        assert_inert(fragment, *(() if name == "video_html" else (PROMPT,)), where=name)
    # a second video, and the gallery of both: static HTML, cards, posters and players
    generate_many([{"prompt": "a plain fox", "seed": 2}], **FAST, **env)
    gallery = Gallery(FOLDER, widgets=True)
    assert len(gallery.results) == 2
    static = gallery.html()
    assert_inert(static, PROMPT, NEGATIVE, where="gallery html")
    assert "2 saved videos in javascript%3Aalert%286%29" in static  # the folder, as a path
    assert static.count('<video class="wan-video"') == 2
    assert_inert(gallery._repr_mimebundle_()["text/html"], PROMPT, where="gallery bundle")
    card = gallery.card(result.task_id)
    assert_inert(card.caption.value, PROMPT, NEGATIVE, where="card caption")
    assert_inert(card.media_html, where="card poster")
    card.play.click()
    assert "<video" in card.media_html
    assert_inert(card.media_html, where="card player")
    assert gallery.widget.children[0].children[0].description_allow_html is False


def test_prompts_and_values_are_text_in_the_form(env: dict, emulator: Any) -> None:
    form = GenerateForm(
        prompt=PROMPT, negative_prompt=NEGATIVE, seed=3, poll_scale=0.005, **FAST, **env
    )

    def widget_html() -> dict[str, str]:
        return {
            name: value.value
            for name, value in vars(form).items()
            if isinstance(value, w.HTML) and value.value
        }

    try:
        form.copy.value = True
        assert form.error is None
        cell = form.as_cell()
        # the copy-as-cell box is a Textarea: its value is plain text, the cell verbatim
        assert form.cell.value == str(cell) and PROMPT in form.cell.value
        assert f"--negative '{NEGATIVE}'" in form.cell.value
        assert_inert(form._repr_html_(), PROMPT, NEGATIVE, where="form html")
        assert_inert(form._repr_mimebundle_()["text/html"], PROMPT, where="form bundle")
        for name, value in widget_html().items():
            assert_inert(value, where=f"form.{name}")
        # a validation message that echoes a hostile value
        form.audio_mode.value = "url"
        form.audio_url.value = BAD_URL
        assert form.error is not None and form.generate.disabled
        assert_inert(form.message.value, BAD_URL, where="form.message (bad url)")
        assert_inert(form._repr_html_(), PROMPT, where="form html (bad url)")
        for name, value in widget_html().items():
            assert_inert(value, where=f"form.{name} (bad url)")
        form.audio_mode.value = "auto"
        assert form.error is None
        # one job that succeeds, one the service fails with a hostile message
        ok = form.submit()
        live = form.slots[-1].output.outputs[0]["data"]["text/html"]
        assert_inert(live, PROMPT, where="form slot (live)")
        form.prompt.value = "forbidden " + PROMPT
        failed = form.submit()
        result = ok.result(timeout=60)
        with pytest.raises(errors.ContentModerationError) as info:
            failed.result(timeout=60)
    finally:
        form.close()
    assert FAIL_MESSAGE in str(info.value)
    ok_slot, failed_slot = form.slots
    assert ok_slot.final and failed_slot.final
    assert result.path.is_file() and "<video" in ok_slot.html
    assert_inert(ok_slot.html, PROMPT, where="form slot (saved)")
    assert_inert(failed_slot.html, FAIL_MESSAGE, where="form slot (failed)")
    assert "wan-error" in failed_slot.html
    for name, value in widget_html().items():
        assert_inert(value, where=f"form.{name} (after)")


def test_server_messages_are_text_in_error_boxes_panels_and_the_grid(
    env: dict, emulator: Any
) -> None:
    # the task the service fails, and the create request it refuses, each in a live panel
    failing = VideoRequest.create("forbidden " + PROMPT, **FAST)
    panel, views, moderated = follow_with_panel(env, failing)
    assert isinstance(moderated, errors.ContentModerationError)
    assert FAIL_MESSAGE in str(moderated) and panel.history[-1] == "FAILED"
    for i, view in enumerate(views):
        assert_inert(view, where=f"failed panel view {i}")
    assert_inert(panel.bundle()["text/html"], FAIL_MESSAGE, "forbidden " + PROMPT,
                 where="failed panel (final)")  # fmt: skip
    refused_req = VideoRequest.create("refused " + PROMPT, **FAST)
    panel, views, refused = follow_with_panel(env, refused_req)
    assert isinstance(refused, errors.InvalidRequestError) and API_MESSAGE in str(refused)
    for i, view in enumerate(views):
        assert_inert(view, where=f"refused panel view {i}")
    assert_inert(panel.bundle()["text/html"], API_MESSAGE, where="refused panel (final)")
    # the error boxes on their own
    for exc in (moderated, refused):
        box = render.error_box_html(exc, getattr(exc, "task_id", None))
        assert_inert(box, str(exc), where=f"error box {type(exc).__name__}")
    # a batch with all three outcomes: the static table and the widget rows
    grid = BatchGrid(widgets=True, tick=0.05)
    with capture_output() as cap:
        grid.show()
        outcomes = generate_many(
            [PROMPT, "forbidden " + PROMPT, "refused " + PROMPT],
            on_job=grid.add, return_exceptions=True, **FAST, **env,
        )  # fmt: skip
    assert grid.done() and outcomes[0].path.is_file()
    assert isinstance(outcomes[1], errors.ContentModerationError)
    assert isinstance(outcomes[2], errors.InvalidRequestError)
    static = grid.html()
    assert_inert(static, PROMPT, FAIL_MESSAGE, API_MESSAGE, where="grid html")
    assert static.count('<video class="wan-video"') == 1
    for i, out in enumerate(cap.outputs):
        assert_inert(out.data["text/html"], where=f"grid output {i}")
    assert_inert(grid.bundle()["text/html"], PROMPT, where="grid bundle")
    assert_inert(grid._w["header"].value, where="grid header")
    for row, shown in zip(grid._rows, (PROMPT, FAIL_MESSAGE, API_MESSAGE), strict=True):
        assert_inert(row.status.value, where=f"row {row.number} status")
        assert_inert(row.prompt.value, where=f"row {row.number} prompt")
        result = row.result.outputs[0]["data"]["text/html"]
        assert_inert(result, *(() if shown is PROMPT else (shown,)), where=f"row {row.number}")
