"""The form on new-protocol models (issue 13 case 7): the size list becomes the model's
resolution x ratio cells, the request and the copied cell use resolution/ratio, smart duration
and the audio choices follow the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wan_notebook import catalog
from wan_notebook.notebook.form import GenerateForm
from wan_notebook.notebook.magics import build_request, parse_cell_options
from wan_notebook.request import VideoRequest


def values(dropdown: Any) -> list[Any]:
    return [value for _, value in dropdown.options]


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(tmp_path)
    return {"api_key": "sk-test", "base_url": "http://127.0.0.1:9/api/v1"}


@pytest.mark.parametrize("model_id", [m.id for m in catalog.MODELS.values() if m.protocol == "new"])
def test_new_models_default_request(offline: dict[str, Any], model_id: str) -> None:
    model = catalog.get_model(model_id)
    form = GenerateForm(prompt="a fox", **offline)
    form.model.value = model_id
    assert values(form.size) == list(model.sizes)
    assert form.error is None and not form.generate.disabled
    req = form.request()
    assert (req.model, req.resolution, req.duration) == (model_id, "1080P", 5)
    assert (-1 in values(form.duration)) == model.smart_duration
    modes = values(form.audio_mode)
    assert ("none" in modes) == model.audio_switch and ("url" in modes) == model.audio_url_input


def test_cells_are_labelled_and_copied_as_resolution_ratio(offline: dict[str, Any]) -> None:
    form = GenerateForm(prompt="a fox", **offline)
    form.model.value = "wan2.7-t2v"
    labels = {v: k for k, v in form.size.options}
    assert labels["1104*832"] == "720P · 4:3 landscape · 1104*832"
    assert labels["1920*1080"].endswith("(default)")
    form.size.value = "1104*832"
    req = form.request()
    assert (req.resolution, req.ratio) == ("720P", "4:3")
    cell = str(form.as_cell())
    line = cell.partition("\n")[0]
    assert "--resolution 720P" in line and "--ratio 4:3" in line and "--size" not in line
    args = parse_cell_options(line[len("%%wanvideo") :])
    assert build_request("a fox", args, {}) == req


def test_wan3_smart_duration_and_silence(offline: dict[str, Any]) -> None:
    form = GenerateForm(prompt="a fox", **offline)
    form.model.value = "wan3.0-video"
    form.duration.value = -1
    form.audio_mode.value = "none"
    req = form.request()
    assert req == VideoRequest.create(
        "a fox", model="wan3.0-video", resolution="1080P", ratio="16:9", duration=-1, audio=False
    )


def test_switching_back_to_a_legacy_model_keeps_a_shared_size(offline: dict[str, Any]) -> None:
    form = GenerateForm(prompt="a fox", **offline)
    form.model.value = "wan2.7-t2v"
    form.size.value = "1280*720"
    form.model.value = "wan2.6-t2v"
    assert form.size.value == "1280*720" and form.request().size == "1280*720"
    form.model.value = "wan2.7-t2v"
    form.size.value = "1104*832"  # no legacy size: back to the model's default
    form.model.value = "wan2.6-t2v"
    assert form.size.value == "1920*1080"
