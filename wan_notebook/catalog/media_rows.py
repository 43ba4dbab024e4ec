"""Image-to-video rows and the rules for media inputs (PROTOCOL 10, 16, 17.3, 18).

Legacy first-frame image-to-video (``input.img_url`` + ``parameters.resolution``) and first +
last frame (kf2v, on the ``image2video`` endpoint). Each model lists its media inputs as
:class:`InputRule` s in :data:`INPUT_RULES`: the client validates a file against them before
any network call and the emulator checks the same rules. These rows are looked up by id like
every other row, but are not in :data:`~wan_notebook.catalog.MODELS` (the text-to-video list
the form and ``wanvideo models`` show).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .models import Model
from .new_rows import WAN27_PIXELS

__all__ = [
    "AUDIO_SETTINGS",
    "IMAGE2VIDEO_PATH",
    "IMAGE_FORMATS",
    "INPUT_COMBOS",
    "INPUT_RULES",
    "MAX_DURATION_WITH_VIDEO",
    "MEDIA_ROWS",
    "TIER_PIXELS",
    "WAN3_REFERENCE_SECONDS",
    "InputRule",
    "combo_problem",
    "input_rules",
    "pixels_for_image",
    "wan3_mode_problem",
]

#: The kf2v create endpoint (PROTOCOL 16.2).
IMAGE2VIDEO_PATH = "/services/aigc/image2video/video-synthesis"
#: Image formats every image input accepts (PNG without alpha), by Pillow format name.
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "WEBP")
VIDEO_FORMATS = ("mp4", "mov")
AUDIO_FORMATS = ("wav", "mp3")
_MB = 1024 * 1024
#: The pixel total an input-shaped output aims at, per tier (PROTOCOL 14.4, 16.1).
TIER_PIXELS = {"480P": 832 * 480, "720P": 1280 * 720, "1080P": 1920 * 1080}


@dataclass(frozen=True)
class InputRule:
    """One media input of a model: its keyword, wire field and documented limits."""

    #: The keyword of ``generate``/``VideoRequest.create`` (``image``, ``last_frame``, ...).
    role: str
    #: Where it goes: an ``input`` field (``img_url``) or a ``media[]`` type (``first_frame``).
    field: str
    kind: str  # "image" | "video" | "audio"
    required: bool
    max_bytes: int
    min_side: int = 240
    max_side: int = 8000
    #: Longest side / shortest side at most this (0: not checked).
    max_aspect: float = 0.0
    min_seconds: float = 0.0
    max_seconds: float = 0.0
    #: A ``data:`` base64 URI is documented for this field (PROTOCOL 17.1).
    base64: bool = False
    #: A list field: at most this many items of this kind (0: one value, not a list).
    many: int = 0
    #: At most this many items over every rule of the role (images + videos <= 5).
    group: int = 0

    @property
    def formats(self) -> tuple[str, ...]:
        return {"image": IMAGE_FORMATS, "video": VIDEO_FORMATS, "audio": AUDIO_FORMATS}[self.kind]

    def describe(self) -> str:
        """The limits in words (for error messages)."""
        fmt = "/".join(self.formats) + (" (PNG without alpha)" if self.kind == "image" else "")
        article = "an" if self.kind[0] in "aeiou" else "a"
        parts = [f"{article} {self.kind} file: {fmt}", f"at most {self.max_bytes // _MB} MB"]
        if self.kind in ("image", "video") and self.max_side:
            parts.append(f"sides {self.min_side}-{self.max_side} px")
        if self.max_aspect:
            parts.append(f"aspect ratio within 1:{self.max_aspect:g} and {self.max_aspect:g}:1")
        if self.max_seconds:
            parts.append(f"{self.min_seconds:g}-{self.max_seconds:g} s long")
        return ", ".join(parts)


def _image(role: str, field: str, mb: int, *, required: bool) -> InputRule:
    return InputRule(role, field, "image", required, mb * _MB, base64=True)


def pixels_for_image(tier: str, width: int, height: int) -> tuple[int, int]:
    """Output pixels for an input-shaped video: the input's aspect ratio at the tier's pixel
    total, both sides rounded down to multiples of 16 (PROTOCOL 14.4: 750x1000 at 720P ->
    816x1104)."""
    total = TIER_PIXELS[tier]
    w = math.sqrt(total * width / height)
    h = w * height / width
    return max(16, int(w) // 16 * 16), max(16, int(h) // 16 * 16)


def _i2v(
    model_id: str,
    family: str,
    regions: tuple[str, ...],
    tiers: tuple[str, ...],
    default_tier: str,
    durations: tuple[int, ...],
    *,
    audio: bool,
    prompt_max: int,
    concurrency: int,
    typical: float,
    aliases: tuple[str, ...] = (),
    **extra: object,
) -> Model:
    return Model(
        model_id,
        family,
        regions,
        tiers,
        "",  # no `size`: the output keeps the image's aspect ratio (PROTOCOL 16.1)
        durations,
        5,
        prompt_max,
        audio=audio,
        shot_type=family == "wan2.6",
        returns_actual_prompt=family != "wan2.6",
        concurrency=concurrency,
        submit_rps=concurrency,
        fps=30,
        usage_style="wan2.6" if family == "wan2.6" else "legacy",
        typical_seconds=typical,
        aliases=aliases,
        resolutions=tiers,
        default_resolution=default_tier,
        audio_url_input=audio,
        audio_switch=model_id == "wan2.6-i2v-flash",
        **extra,  # type: ignore[arg-type]
    )


_BJ_SG = ("beijing", "singapore")

#: wan2.6-r2v (legacy reference-to-video): ``input.reference_urls`` (images and videos, named
#: character1, character2, ... in the prompt) and a ``size`` as text-to-video (PROTOCOL 16.3).
_WAN26_R2V = Model(
    "wan2.6-r2v",
    "wan2.6",
    (*_BJ_SG, "virginia", "frankfurt"),
    ("720P", "1080P"),
    "1920*1080",
    tuple(range(2, 11)),
    5,
    1500,
    audio=True,
    shot_type=True,
    returns_actual_prompt=False,
    concurrency=5,
    submit_rps=5,
    fps=30,
    usage_style="wan2.6",
    typical_seconds=180.0,
    audio_url_input=False,
    audio_switch=False,  # wan2.6-r2v-flash only
    notes=("prompt_extend is not documented on the r2v page (UNCERTAIN)",),
)

#: wan2.7-r2v (new protocol): ``media[]`` reference_image / reference_video (1-5 in all, named
#: Image 1 / Video 1 in the prompt) and an optional first_frame; resolution x ratio (the ratio
#: is ignored with a first frame); [2, 10] s with a reference video, else [2, 15] (PROTOCOL 14).
_WAN27_R2V = Model(
    "wan2.7-r2v",
    "wan2.7",
    _BJ_SG,
    ("720P", "1080P"),
    "",
    tuple(range(2, 16)),
    5,
    5000,
    audio=True,
    shot_type=False,
    returns_actual_prompt=False,
    concurrency=5,
    submit_rps=5,
    fps=30,
    usage_style="new",
    typical_seconds=300.0,
    protocol="new",
    resolutions=("720P", "1080P"),
    ratios=("16:9", "9:16", "1:1", "4:3", "3:4"),
    default_resolution="1080P",
    default_ratio="16:9",
    pixels=WAN27_PIXELS,
    audio_url_input=False,
    audio_switch=False,
    notes=(
        "reference_voice on items is not offered here (documented, not implemented)",
        "duration: [2, 10] with a reference video per the API page; the console says [2, 10]",
    ),
)
#: wan2.7-videoedit: one input ``video`` (2-10 s), up to 4 reference images; ``duration`` 0 (the
#: default) keeps the input's length, else [2, 10] cut from second 0; ``ratio`` has no default
#: (the input's shape); ``audio_setting`` auto | origin (PROTOCOL 14.2, 14.3).
_WAN27_VIDEOEDIT = dataclasses.replace(
    _WAN27_R2V,
    id="wan2.7-videoedit",
    durations=tuple(range(2, 11)),
    default_duration=0,
    default_ratio="",
    prompt_max=5000,
    notes=("duration 0 (default): the input's length; billed input + output seconds",),
)
#: ``parameters.audio_setting`` values (wan2.7-videoedit).
AUDIO_SETTINGS = ("auto", "origin")

#: Longest duration when a reference video is present (PROTOCOL 14.2).
MAX_DURATION_WITH_VIDEO = {"wan2.7-r2v": 10, "wan2.7-r2v-2026-06-12": 10}

#: wan2.7-i2v (new protocol, ``media[]``): the aspect ratio follows the first frame or clip,
#: so there is no ``ratio``; ``duration`` with a ``first_clip`` is the total length including
#: the clip (PROTOCOL 14.2, 14.3).
_WAN27_I2V = Model(
    "wan2.7-i2v",
    "wan2.7",
    _BJ_SG,
    ("720P", "1080P"),
    "",
    tuple(range(2, 16)),
    5,
    5000,
    audio=True,
    shot_type=False,
    returns_actual_prompt=False,
    concurrency=5,
    submit_rps=5,
    fps=30,
    usage_style="new",
    typical_seconds=300.0,
    protocol="new",
    resolutions=("720P", "1080P"),
    default_resolution="1080P",
    audio_url_input=False,  # sound comes from media[] driving_audio (audio_url= here)
    audio_switch=False,
    notes=("duration with first_clip is the total length, the clip included",),
)
_WAN26 = tuple(range(2, 16))

MEDIA_ROWS: tuple[Model, ...] = (
    _i2v("wan2.6-i2v", "wan2.6", (*_BJ_SG, "virginia", "frankfurt"), ("720P", "1080P"),
         "1080P", _WAN26, audio=True, prompt_max=1500, concurrency=5, typical=180.0),
    _i2v("wan2.6-i2v-flash", "wan2.6", _BJ_SG, ("720P", "1080P"), "1080P", _WAN26,
         audio=True, prompt_max=1500, concurrency=5, typical=90.0),
    _i2v("wan2.5-i2v-preview", "wan2.5", _BJ_SG, ("480P", "720P", "1080P"), "1080P", (5, 10),
         audio=True, prompt_max=1500, concurrency=5, typical=150.0, preview=True),
    _i2v("wan2.2-i2v-plus", "wan2.2", _BJ_SG, ("480P", "1080P"), "1080P", (5,),
         audio=False, prompt_max=800, concurrency=2, typical=120.0),
    _i2v("wan2.2-i2v-flash", "wan2.2", ("beijing",), ("480P", "720P", "1080P"), "720P", (5,),
         audio=False, prompt_max=800, concurrency=2, typical=60.0,
         notes=("Singapore: priced but absent from the rate table (CONFLICT); Beijing only",)),
    _i2v("wan2.1-i2v-turbo", "wan2.1", _BJ_SG, ("480P", "720P"), "720P", (3, 4, 5),
         audio=False, prompt_max=800, concurrency=2, typical=60.0,
         aliases=("wanx2.1-i2v-turbo",)),
    _i2v("wan2.1-i2v-plus", "wan2.1", _BJ_SG, ("720P",), "720P", (5,),
         audio=False, prompt_max=800, concurrency=2, typical=120.0,
         aliases=("wanx2.1-i2v-plus",)),
    _i2v("wan2.2-kf2v-flash", "wan2.2", ("beijing",), ("480P", "720P", "1080P"), "720P", (5,),
         audio=False, prompt_max=800, concurrency=2, typical=90.0, endpoint=IMAGE2VIDEO_PATH,
         notes=("duration fixed at 5 s and not sent (PROTOCOL 16.2)",)),
    _i2v("wan2.1-kf2v-plus", "wan2.1", _BJ_SG, ("720P",), "720P", (5,),
         audio=False, prompt_max=800, concurrency=2, typical=120.0,
         aliases=("wanx2.1-kf2v-plus",), endpoint=IMAGE2VIDEO_PATH,
         notes=("Singapore limits: RPS 2 / conc. 1 or RPS 1 / conc. 2 (CONFLICT)",)),
    _WAN27_I2V,
    dataclasses.replace(_WAN27_I2V, id="wan2.7-i2v-2026-04-25"),
    _WAN27_R2V,
    dataclasses.replace(_WAN27_R2V, id="wan2.7-r2v-2026-06-12"),
    _WAN27_VIDEOEDIT,
    _WAN26_R2V,
    dataclasses.replace(_WAN26_R2V, id="wan2.6-r2v-flash", audio_switch=True,
                        typical_seconds=120.0),
)  # fmt: skip


def _i2v_rules(mb: int) -> tuple[InputRule, ...]:
    # input.audio_url (wan2.6/2.5) goes through VideoRequest's audio checks, as for t2v
    return (_image("image", "img_url", mb, required=True),)


def _wan27(role: str, field: str, kind: str) -> InputRule:
    """A wan2.7 ``media[]`` item (PROTOCOL 14.3); ``field`` is its ``type``."""
    if kind == "image":
        return InputRule(role, field, kind, False, 20 * _MB, max_aspect=8.0, base64=True)
    if kind == "video":
        return InputRule(role, field, kind, False, 100 * _MB, 240, 4096, 8.0, 2.0, 10.0)
    return InputRule(role, field, kind, False, 15 * _MB, 0, 0, 0.0, 2.0, 30.0)


_WAN27_I2V_RULES = (
    _wan27("image", "first_frame", "image"),
    _wan27("last_frame", "last_frame", "image"),
    _wan27("audio_url", "driving_audio", "audio"),
    _wan27("first_clip", "first_clip", "video"),
)

_R2V_RULES = (
    InputRule("references", "reference_urls", "image", True, 20 * _MB, many=5, group=5),
    InputRule("references", "reference_urls", "video", True, 100 * _MB, 0, 0, 0.0, 1.0, 30.0,
              many=3, group=5),
)  # fmt: skip

_WAN27_R2V_RULES = (
    InputRule("references", "reference_image", "image", True, 20 * _MB, max_aspect=8.0,
              base64=True, many=5, group=5),
    InputRule("references", "reference_video", "video", True, 100 * _MB, 240, 4096, 8.0, 1.0,
              30.0, many=5, group=5),
    _wan27("image", "first_frame", "image"),
)  # fmt: skip

_WAN27_VIDEOEDIT_RULES = (
    InputRule("video", "video", "video", True, 100 * _MB, 240, 4096, 8.0, 2.0, 10.0),
    InputRule("references", "reference_image", "image", False, 20 * _MB, max_aspect=8.0,
              base64=True, many=4, group=4),
)  # fmt: skip

_KF2V = (
    _image("image", "first_frame_url", 10, required=True),
    _image("last_frame", "last_frame_url", 10, required=False),
)

#: Media inputs per model id (aliases resolve to the row's id first).
INPUT_RULES: dict[str, tuple[InputRule, ...]] = {
    "wan2.6-i2v": _i2v_rules(20),
    "wan2.6-i2v-flash": _i2v_rules(20),
    "wan2.5-i2v-preview": _i2v_rules(20),
    "wan2.2-i2v-plus": _i2v_rules(10),
    "wan2.2-i2v-flash": _i2v_rules(10),
    "wan2.1-i2v-turbo": _i2v_rules(10),
    "wan2.1-i2v-plus": _i2v_rules(10),
    "wan2.2-kf2v-flash": _KF2V,
    "wan2.1-kf2v-plus": _KF2V,
    "wan2.7-r2v": _WAN27_R2V_RULES,
    "wan2.7-r2v-2026-06-12": _WAN27_R2V_RULES,
    "wan2.7-videoedit": _WAN27_VIDEOEDIT_RULES,
    "wan2.6-r2v": _R2V_RULES,
    "wan2.6-r2v-flash": _R2V_RULES,
    "wan2.7-i2v": _WAN27_I2V_RULES,
    "wan2.7-i2v-2026-04-25": _WAN27_I2V_RULES,
}

#: The only input sets a model accepts, where it restricts them ("非法组合将报错",
#: PROTOCOL 14.3); by role.
_WAN27_I2V_COMBOS = (
    frozenset({"image"}),
    frozenset({"image", "audio_url"}),
    frozenset({"image", "last_frame"}),
    frozenset({"image", "last_frame", "audio_url"}),
    frozenset({"first_clip"}),
    frozenset({"first_clip", "last_frame"}),
)
INPUT_COMBOS: dict[str, tuple[frozenset[str], ...]] = {
    "wan2.7-i2v": _WAN27_I2V_COMBOS,
    "wan2.7-i2v-2026-04-25": _WAN27_I2V_COMBOS,
}


def input_rules(model: Model) -> tuple[InputRule, ...]:
    """The media inputs ``model`` takes (empty for text-to-video models)."""
    return INPUT_RULES.get(model.id, ())


def combo_problem(model: Model, roles: set[str], *, wire: bool = False) -> str | None:
    """Why this set of inputs (by role) is not one ``model`` accepts, or None (PROTOCOL 14.3).
    ``wire``: name them by their ``media[]`` types instead of the keywords."""
    combos = INPUT_COMBOS.get(model.id)
    if not combos or frozenset(roles) in combos:
        return None
    fields = {r.role: r.field if wire else r.role for r in input_rules(model)}
    words = [" + ".join(sorted(fields.get(r, r) for r in c)) for c in combos]
    given = " + ".join(sorted(fields.get(r, r) for r in roles)) or "a request without media"
    return f"{model.id} does not take {given}; it takes one of: " + "; ".join(words)


# ------------------------------------------------------------------ Wan3.0 (PROTOCOL 15.3-15.4)
# The rows stay in new_rows.py (they are text-to-video models too); only their inputs are here.
#: Longest total of the reference videos, and of the reference audio (each 1-15 s).
WAN3_REFERENCE_SECONDS = 15.0
_WAN3_RULES = (
    _wan27("image", "first_frame", "image"),
    _wan27("last_frame", "last_frame", "image"),
    InputRule("references", "reference_image", "image", False, 20 * _MB, max_aspect=8.0,
              base64=True, many=10, group=20),
    InputRule("references", "reference_video", "video", False, 100 * _MB, 240, 4096, 8.0, 1.0,
              15.0, many=5, group=20),
    InputRule("references", "reference_audio", "audio", False, 15 * _MB, 0, 0, 0.0, 1.0, 15.0,
              many=5, group=20),
)  # fmt: skip
INPUT_RULES["wan3.0-video"] = _WAN3_RULES
INPUT_RULES["wan3.0-video-prime"] = _WAN3_RULES
#: Wan3.0's two exclusive modes ("不能在同一请求中混用"): frames vs references (by role).
WAN3_FRAME_ROLES = frozenset({"image", "last_frame"})
WAN3_REFERENCE_ROLES = frozenset({"references"})


def wan3_mode_problem(model: Model, roles: set[str]) -> str | None:
    """Why these inputs break Wan3.0's exclusive modes, or None (PROTOCOL 15.4). A
    ``last_frame`` without a first frame is refused too: undocumented officially, rejected per
    a third party (PROTOCOL 20.8); refusing it is the reading that cannot fail later."""
    if INPUT_RULES.get(model.id) is not _WAN3_RULES:
        return None
    frames, refs = roles & WAN3_FRAME_ROLES, roles & WAN3_REFERENCE_ROLES
    if frames and refs:
        named = " and ".join(f"{r}=" for r in sorted(frames))
        return (
            f"{model.id} takes either frames ({named}: first_frame/last_frame) or references "
            "(references=: reference_image/video/audio), not both in one request: the two "
            "modes are mutually exclusive"
        )
    if "last_frame" in roles and "image" not in roles:
        return (
            f"{model.id} takes last_frame= only with a first frame (image=); pass image= too, "
            "or drop last_frame="
        )
    return None
