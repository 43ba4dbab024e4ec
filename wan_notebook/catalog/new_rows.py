"""New-protocol text-to-video rows: wan2.7-t2v (and its snapshots), Wan3.0 (PROTOCOL 14, 15, 18).

These models take ``parameters.resolution`` x ``parameters.ratio`` instead of ``size``, and no
``shot_type``. Where PROTOCOL marks a fact UNCERTAIN or CONFLICT, the row follows the documented
reading and the other reading is noted beside it (and in the row's ``notes``).
"""

from __future__ import annotations

import dataclasses

from .models import Model

__all__ = ["NEW_ROWS", "WAN3_PIXELS", "WAN27_PIXELS"]

_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")

#: wan2.7-t2v (and wan2.7-videoedit) output pixels per resolution x ratio (PROTOCOL 14.4). The
#: 4:3 / 3:4 cells differ from the legacy size strings (1104*832, not 1088*832).
WAN27_PIXELS: tuple[tuple[str, str, str], ...] = (
    ("720P", "16:9", "1280*720"),
    ("720P", "9:16", "720*1280"),
    ("720P", "1:1", "960*960"),
    ("720P", "4:3", "1104*832"),
    ("720P", "3:4", "832*1104"),
    ("1080P", "16:9", "1920*1080"),
    ("1080P", "9:16", "1080*1920"),
    ("1080P", "1:1", "1440*1440"),
    ("1080P", "4:3", "1648*1248"),
    ("1080P", "3:4", "1248*1648"),
)

#: Wan3.0 pixels: undocumented (PROTOCOL 20.5). INFERRED: 720P/1080P as wan2.7; 480P from the
#: legacy 480P sizes, its 4:3/3:4 cells at the 480P pixel total with sides multiple of 16.
WAN3_PIXELS: tuple[tuple[str, str, str], ...] = (
    ("480P", "16:9", "832*480"),
    ("480P", "9:16", "480*832"),
    ("480P", "1:1", "624*624"),
    ("480P", "4:3", "720*544"),
    ("480P", "3:4", "544*720"),
    *WAN27_PIXELS,
)

_WAN27_T2V = Model(
    "wan2.7-t2v",
    "wan2.7",
    ("beijing", "singapore"),  # PROTOCOL 18.2
    ("720P", "1080P"),
    "1920*1080",
    tuple(range(2, 16)),
    5,
    5000,
    audio=True,  # always sound: the model adds music/effects, or uses input.audio_url
    shot_type=False,  # "配置也不生效": describe the shots in the prompt
    returns_actual_prompt=False,  # only orig_prompt is documented (PROTOCOL 14.5)
    concurrency=5,
    submit_rps=5,
    fps=30,
    usage_style="new",
    # Docs: "usually 1-5 min"; the documented examples took 4-12 min (PROTOCOL 14.6).
    typical_seconds=300.0,
    protocol="new",
    resolutions=("720P", "1080P"),
    ratios=_RATIOS,
    default_resolution="1080P",
    default_ratio="16:9",
    pixels=WAN27_PIXELS,
    audio_url_input=True,
    # parameters.audio is undocumented for wan2.7 (PROTOCOL 20.10); the SDK's example sends
    # audio=True. Documented reading: no switch (always sound), so we do not send it.
    audio_switch=False,
    notes=(
        "parameters.audio: undocumented (the SDK example sends audio=True); not offered here",
        "seed: [0, 2147483647] per the API page; the console shows [1, ...] (CONFLICT)",
    ),
)

_WAN3 = Model(
    "wan3.0-video",
    "wan3.0",
    # zh page: BJ, SG, Tokyo, Frankfurt, Virginia; the id page adds Hong Kong (PROTOCOL 15.1).
    ("beijing", "singapore", "tokyo", "frankfurt", "virginia", "hongkong"),
    ("480P", "720P", "1080P"),
    "1920*1080",
    tuple(range(2, 31)),
    5,
    20000,
    audio=True,
    shot_type=False,
    returns_actual_prompt=False,
    # Submit RPS / concurrency: not published (PROTOCOL 20.1); assumed as wan2.7 (5 / 5).
    concurrency=5,
    submit_rps=5,
    fps=30,
    usage_style="new",
    # Docs: "usually 1-5 min", but the only documented run took 11 m 58 s (PROTOCOL 15.6).
    typical_seconds=720.0,
    # negative_prompt: not documented for Wan3.0 (PROTOCOL 20.4); not offered here.
    negative_prompt_max=0,
    protocol="new",
    resolutions=("480P", "720P", "1080P"),
    # 21:9 appears in one guide sentence only (CONFLICT, PROTOCOL 20.2): not offered.
    ratios=("adaptive", *_RATIOS),
    default_resolution="1080P",
    default_ratio="adaptive",
    pixels=WAN3_PIXELS,
    smart_duration=True,
    audio_url_input=False,  # Wan3.0 takes audio as media[] reference_audio (next issue)
    audio_switch=True,  # parameters.audio, default true
    preview=True,  # "Currently in preview" [en-wan3]
    notes=(
        "ratio 21:9: listed once in the guide, absent from the API page (CONFLICT); not offered",
        "pixel sizes per resolution x ratio are undocumented; 720P/1080P as wan2.7 (INFERRED)",
        "adaptive ratio without media: 16:9 assumed (INFERRED)",
        "prices, submit RPS and concurrency unpublished; 5 / 5 assumed (UNCERTAIN)",
        "classic hosts (dashscope(-intl).aliyuncs.com) undocumented: workspace hosts only",
    ),
)

NEW_ROWS: tuple[Model, ...] = (
    _WAN27_T2V,
    dataclasses.replace(_WAN27_T2V, id="wan2.7-t2v-2026-06-12"),
    dataclasses.replace(_WAN27_T2V, id="wan2.7-t2v-2026-04-25"),
    _WAN3,
    dataclasses.replace(
        _WAN3,
        id="wan3.0-video-prime",
        # "high-speed edition, same abilities, end-to-end speed clearly better": INFERRED 1/2.
        typical_seconds=360.0,
    ),
)
