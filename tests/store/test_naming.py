"""File names: slugs, task tags, stems, and confinement to the outputs folder."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wan_notebook.store.naming import (
    SLUG_MAX,
    STEM_RE,
    confine,
    slugify,
    stem_for,
    task_tag,
    with_counter,
)

WHEN = datetime(2026, 11, 24, 15, 30, 12, tzinfo=timezone.utc)
WINDOWS_RESERVED = ["CON", "PRN", "AUX", "NUL", "COM1", "LPT9", "nul.txt", "con:"]


def test_design_example():
    stem = stem_for("Red fox in a trench coat", "3f9a1c2e-5ff8-4d82-bcb6-000000", WHEN)
    assert stem == "20261124-153012_red-fox-in-a-trench-coat_3f9a1c2e"


def test_stamp_is_utc_whatever_the_input_zone():
    from datetime import timedelta

    beijing = WHEN.astimezone(timezone(timedelta(hours=8)))
    assert stem_for("x", "abcdefgh", beijing).startswith("20261124-153012_")


@pytest.mark.parametrize(
    ("prompt", "slug"),
    [
        ("A Café in Zürich", "a-cafe-in-zurich"),
        ("一只穿着风衣的红狐狸", "video"),
        ("红狐狸 red fox", "red-fox"),
        ("   ...!!!   ", "video"),
        ("../../etc/passwd", "etc-passwd"),
        ('a/b\\c:d*e?f"g<h>i|j', "a-b-c-d-e-f-g-h-i-j"),
        ("nul\x00byte", "nul-byte"),
        ("ﬁne ligature", "fine-ligature"),
    ],
)
def test_slugify(prompt, slug):
    assert slugify(prompt) == slug


def test_slug_cut_at_word_boundary():
    prompt = "one two three four five six seven eight nine ten eleven"
    slug = slugify(prompt)
    assert len(slug) <= SLUG_MAX
    assert slug == "one-two-three-four-five-six-seven-eight"
    assert prompt.replace(" ", "-").startswith(slug + "-")


def test_slug_of_one_huge_word_is_truncated():
    assert slugify("x" * 10_000) == "x" * SLUG_MAX


@pytest.mark.parametrize(
    ("task_id", "tag"),
    [
        ("3f9a1c2e-5ff8-4d82-bcb6-000000", "3f9a1c2e"),
        ("3F9A-1C2E-5FF8", "3f9a1c2e"),
    ],
)
def test_task_tag(task_id, tag):
    assert task_tag(task_id) == tag


@pytest.mark.parametrize("task_id", ["../../..", "a/b", "..\\..", "\x00", "ab", "任务"])
def test_task_tag_of_odd_ids_is_a_hash(task_id):
    tag = task_tag(task_id)
    assert len(tag) == 8 and tag.isalnum() and tag == tag.lower()
    assert task_tag(task_id) == tag  # deterministic


def test_counter():
    assert with_counter("s", 1) == "s"
    assert with_counter("s", 2) == "s-2"


@pytest.mark.parametrize("name", WINDOWS_RESERVED)
def test_reserved_device_names_never_form_a_file_name(tmp_path, name):
    stem = stem_for(name, name, WHEN)
    path = confine(tmp_path, stem, ".mp4")
    assert path.parent == tmp_path
    base = path.name.split(".")[0].upper()
    assert base not in {n.upper().rstrip(":").split(".")[0] for n in WINDOWS_RESERVED}


@pytest.mark.parametrize(
    "stem",
    [
        "../20261124-153012_x_abcdefgh",
        "20261124-153012_x_abcdefgh/../../etc",
        "/etc/passwd",
        "",
        ".hidden",
        "20261124-153012_x_abcdefgh\x00",
        "20261124-153012_X_abcdefgh",
        "20261124-153012_x_abcdefg",
        "CON",
        None,
    ],
)
def test_confine_rejects_foreign_names(tmp_path, stem):
    with pytest.raises(ValueError):
        confine(tmp_path, stem, ".mp4")  # type: ignore[arg-type]


def test_confine_rejects_unknown_suffix(tmp_path):
    with pytest.raises(ValueError):
        confine(tmp_path, "20261124-153012_x_abcdefgh", "/../../x")


@given(prompt=st.text(max_size=300), task_id=st.text(min_size=1, max_size=80))
def test_any_prompt_and_task_id_give_a_confined_name(prompt, task_id):
    root = Path("/srv/out")
    stem = stem_for(prompt, task_id, WHEN)
    assert STEM_RE.fullmatch(stem)
    assert len(stem) <= 16 + SLUG_MAX + 9
    for suffix in (".mp4", ".json", ".png", ".mp4.part"):
        path = confine(root, with_counter(stem, 3), suffix)
        assert path.parent == root
        assert path.name.isascii() and "/" not in path.name and "\\" not in path.name
