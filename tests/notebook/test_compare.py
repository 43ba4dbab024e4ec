"""compare(): which videos, in which order, with which labels; the static fallback is text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wan_notebook.errors import ValidationError
from wan_notebook.notebook.compare import compare
from wan_notebook.sweeps import sweep

HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture
def table(tmp_path: Path, emulator_factory: Any) -> Any:
    emu = emulator_factory(fast_render=True, rate_limits=False, speed=1000.0)
    sw = sweep([HOSTILE, "a fox"], seeds=[2, 0, 1], models=["wan2.2-t2v-plus"],
               output_dir=tmp_path, api_key=emu.api_key, base_url=emu.base_url)  # fmt: skip
    assert sw.run().done == 6
    return sw.results()


def test_players_are_ordered_and_labelled_from_the_table(table: Any) -> None:
    widget = compare(table[table.prompt == "a fox"], by="seed")
    assert [v["label"] for v in widget.videos] == ["seed=0", "seed=1", "seed=2"]
    assert widget.cols == 3 and widget.fps == 1.0  # fast renders: 1 fps
    rows = table[table.prompt == "a fox"].sort_values("seed")
    assert widget.blobs == [Path(p).read_bytes() for p in rows["path"]]
    both = compare(table, by="seed")
    assert len(both.videos) == 6 and all(" · " in v["label"] for v in both.videos)


def test_the_static_fallback_is_posters_and_escaped_labels(table: Any) -> None:
    data, _meta = compare(table, by="prompt")._repr_mimebundle_()
    static = data["text/html"]
    assert static.count("<img ") == 6 and "data:image/jpeg;base64," in static
    assert HOSTILE not in static and "&lt;img src=x" in static
    assert "application/vnd.jupyter.widget-view+json" in data


def test_bad_arguments_are_named(table: Any) -> None:
    with pytest.raises(ValidationError, match="by"):
        compare(table, by="colour")
    with pytest.raises(ValidationError, match="max_videos"):
        compare(table, by="seed", max_videos=4)
    with pytest.raises(ValidationError, match="no saved video"):
        compare(table[table.state == "failed"], by="seed")
