"""Cells of a sweep: prompt sources, the product, and one report of every invalid cell."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from wan_notebook.errors import ValidationError
from wan_notebook.sweeps import build_cells, load_prompts, sweep
from wan_notebook.sweeps.cells import repeat_seed


def test_the_product_is_prompts_x_seeds_x_models_x_params_in_order() -> None:
    cells = build_cells(
        ["a fox", "a whale"],
        seeds=[1, 2],
        models=["wan2.2-t2v-plus", "wan2.1-t2v-turbo"],
        params={"size": ["832*480", "480*832"]},
    )
    assert len(cells) == 2 * 2 * 2 * 2
    assert [c.index for c in cells] == list(range(16))
    first = cells[0].request
    assert (first.prompt, first.seed, first.model, first.size) == (
        "a fox", 1, "wan2.2-t2v-plus", "832*480",
    )  # fmt: skip
    assert cells[1].request.size == "480*832" and cells[2].request.model == "wan2.1-t2v-turbo"
    assert cells[8].request.prompt == "a whale" and cells[8].prompt_index == 1
    assert cells[3].params == {"size": "480*832"}
    assert len({c.digest for c in cells}) == 16


def test_every_invalid_cell_is_reported_at_once_before_anything_is_sent(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        sweep(
            ["a fox", "a whale", "x" * 5000],
            seeds=[0],
            models=["wan2.2-t2v-plus"],
            params={"size": ["832*480", "1280*720"]},  # 2.2-plus offers no 720p
            output_dir=tmp_path / "out",
            base_url="http://127.0.0.1:9",  # nothing listens: a request would fail loudly
            api_key="sk-test",
        )
    message = str(info.value)
    assert info.value.param == "cells"
    assert message.startswith("4 of 6 sweep cells are invalid (nothing was sent)")
    for cell in ("cell 1 ", "cell 3 ", "cell 4 ", "cell 5 "):
        assert cell in message
    assert "cell 0 " not in message and "cell 2 " not in message
    assert not (tmp_path / "out").exists()  # no manifest, no store: nothing was written


def test_a_duplicate_prompt_is_named_with_the_cell_it_repeats() -> None:
    with pytest.raises(ValidationError, match=r"cell 1 .* same request as cell 0"):
        build_cells(["a fox", "a fox"])


def test_repeat_without_seeds_gives_each_video_a_fixed_seed_of_its_own() -> None:
    cells = build_cells(["a fox"], repeat=3)
    seeds = [c.request.seed for c in cells]
    assert len(set(seeds)) == 3
    assert seeds == [repeat_seed("a fox", r) for r in range(3)]  # the same on every run
    with pytest.raises(ValidationError, match="repeat"):
        build_cells(["a fox"], seeds=[1, 2], repeat=2)


def test_params_must_be_request_parameters_and_not_the_swept_ones() -> None:
    with pytest.raises(ValidationError, match="sizes"):
        build_cells(["a fox"], params={"sizes": ["832*480"]})
    with pytest.raises(ValidationError, match="seeds="):
        build_cells(["a fox"], params={"seed": [1]})
    with pytest.raises(ValidationError, match="empty"):
        build_cells(["a fox"], seeds=[])


def test_prompts_from_a_text_file_csv_jsonl_and_dataframe(tmp_path: Path) -> None:
    txt = tmp_path / "prompts.txt"
    txt.write_text("a fox\n\n  a whale  \n", encoding="utf-8")
    assert load_prompts(txt) == [("a fox", {}), ("a whale", {})]
    assert load_prompts(str(txt)) == [("a fox", {}), ("a whale", {})]
    csv = tmp_path / "prompts.csv"
    csv.write_text("prompt,dimension\na fox,animal\na whale,animal\n", encoding="utf-8")
    assert load_prompts(csv)[1] == ("a whale", {"dimension": "animal"})
    jsonl = tmp_path / "prompts.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({"prompt": p, "n": i}) for i, p in enumerate(["a", "b"])),
        encoding="utf-8",
    )
    assert load_prompts(jsonl) == [("a", {"n": 0}), ("b", {"n": 1})]
    frame = pd.DataFrame({"prompt": ["a fox"], "dimension": ["animal"], "weight": [0.5]})
    assert load_prompts(frame) == [("a fox", {"dimension": "animal", "weight": 0.5})]
    assert load_prompts("a single prompt") == [("a single prompt", {})]


def test_a_prompt_source_without_prompts_is_refused_with_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="is not an existing file"):
        load_prompts(tmp_path / "missing.txt")
    with pytest.raises(ValidationError, match="row 0 has no 'prompt'"):
        load_prompts(pd.DataFrame({"text": ["a fox"]}))
    with pytest.raises(ValidationError, match="prompts"):
        load_prompts(42)
    with pytest.raises(ValidationError, match="holds no prompt"):
        build_cells([])
