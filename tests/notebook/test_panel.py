"""The live panel's view logic, fed with real JobEvents (no service needed)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

from wan_notebook import errors
from wan_notebook.jobs import JobEvent
from wan_notebook.notebook.panel import WIDGET_MIME, StatusPanel
from wan_notebook.protocol import Task
from wan_notebook.request import VideoRequest
from wan_notebook.results import VideoResult

REQ = VideoRequest.create("a <b>fox</b>", model="wan2.5-t2v-preview", size="832*480", seed=3)


def ev(kind: str, **kw: object) -> JobEvent:
    return JobEvent(kind=kind, at=time.time(), **kw)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _shell(shell: object) -> None:
    """display() needs a shell to capture outputs."""


def test_panel_moves_through_states_and_ends_with_the_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x" * 100)
    result = VideoResult(path=video, task_id="t-1", metadata={}, request=REQ)
    panel = StatusPanel(REQ, widgets=False)
    with capture_output() as cap:
        panel.show()
        panel.on_event(ev("submitted", status="PENDING", task=Task("t-1", "PENDING")))
        panel.on_event(ev("status", status="RUNNING"))
        panel.on_event(ev("status", status="SUCCEEDED"))
        panel.on_event(ev("downloading", bytes_done=0, bytes_total=100))
        for done in range(10, 100, 10):  # throttled: not one update per chunk
            panel.on_event(ev("downloading", bytes_done=done, bytes_total=100))
        panel.on_event(ev("saved", status="SUCCEEDED", result=result))
    assert panel.history == ["PENDING", "RUNNING", "SUCCEEDED"]
    outputs = cap.outputs
    assert len(outputs) <= 8  # the first display and a bounded number of updates
    assert all(o.transient.get("display_id") == panel.display_id for o in outputs)
    assert outputs[0].update is False and all(o.update for o in outputs[1:])
    final = outputs[-1].data
    assert set(final) == {"text/plain", "text/html"}
    assert '<video class="wan-video" src="v.mp4"' in final["text/html"]
    assert "a &lt;b&gt;fox&lt;/b&gt;" in final["text/html"]
    assert "SUCCEEDED" in final["text/plain"] and "t-1" in final["text/plain"]
    panel.on_event(ev("status", status="RUNNING"))  # after the end: ignored
    assert panel.history == ["PENDING", "RUNNING", "SUCCEEDED"]


def test_failure_shows_the_error_box() -> None:
    panel = StatusPanel(REQ, widgets=False)
    exc = errors.task_failed_error("t-2", "DataInspectionFailed", "flagged")
    with capture_output() as cap:
        panel.show()
        panel.on_event(ev("submitted", status="PENDING", task=Task("t-2", "PENDING")))
        panel.on_event(ev("status", status="FAILED"))
        panel.on_event(ev("failed", status="FAILED", error=exc))
    html = cap.outputs[-1].data["text/html"]
    assert "wan-error" in html and "DataInspectionFailed" in html and "Rephrase" in html
    assert panel.history == ["PENDING", "FAILED"]


def test_widget_view_is_in_the_live_bundle_but_not_the_final_one(tmp_path: Path) -> None:
    pytest.importorskip("ipywidgets")
    panel = StatusPanel(REQ, widgets=True, cancel_button=True)
    with capture_output() as cap:
        panel.show()
        panel.on_event(ev("submitted", status="PENDING", task=Task("t-3", "PENDING")))
        assert panel._widgets is not None
        assert panel._widgets.cancel.disabled is False
        panel.on_event(ev("status", status="RUNNING"))
        assert panel._widgets.cancel.disabled is True  # only PENDING tasks can be canceled
        panel.on_event(ev("failed", status="RUNNING", error=errors.WaitTimeoutError(
            "late", task_id="t-3", status="RUNNING")))  # fmt: skip
    live, final = cap.outputs[0].data, cap.outputs[-1].data
    assert WIDGET_MIME in live and "text/html" in live and "text/plain" in live
    assert WIDGET_MIME not in final
    assert "%wanvideo attach t-3" in final["text/html"]


def test_cancel_button_explains_itself_when_not_pending() -> None:
    class FakeJob:  # the few attributes the button reads; a real job is tested in kernels
        status, phase, task_id = "RUNNING", "waiting", "t-4"

        def done(self) -> bool:
            return False

    panel = StatusPanel(REQ, widgets=False)
    panel.job = FakeJob()  # type: ignore[assignment]
    with capture_output():
        panel._on_cancel_click()
    assert "only while a task is PENDING" in panel.state.note
