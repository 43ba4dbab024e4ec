"""Model rows: the :class:`Model` schema and the legacy-protocol text-to-video rows.

Validation (:mod:`wan_notebook.request`), the emulator, the widget form and the CLI all read
these rows; a new model is one :class:`Model` row. Facts come from ``shared/PROTOCOL.md``
sections 2.3, 4, 8 and 11.5 (legacy) and 14, 15, 18 (new protocol, :mod:`.new_rows`); where the
sources conflict the choice is noted beside the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CREATE_PATH",
    "LEGACY_ROWS",
    "NEGATIVE_PROMPT_MAX",
    "QUERY_QPS",
    "SEED_MAX",
    "SIZES_BY_TIER",
    "TASK_LIFETIME_S",
    "TIER_OF_SIZE",
    "Model",
    "Protocol",
]

Tier = Literal["480P", "720P", "1080P"]
#: ``legacy``: ``size``/``shot_type`` bodies (wan2.6 and older); ``new``: ``resolution`` x
#: ``ratio`` (and ``media[]``) bodies (wan2.7, Wan3.0). PROTOCOL 14.1.
Protocol = Literal["legacy", "new"]
#: The create endpoint, relative to the API base URL (both protocols, PROTOCOL 14.1).
CREATE_PATH = "/services/aigc/video-generation/video-synthesis"

#: Every ``size`` string of each resolution tier, in the service's order (PROTOCOL 2.3).
SIZES_BY_TIER: dict[str, tuple[str, ...]] = {
    "480P": ("832*480", "480*832", "624*624"),
    "720P": ("1280*720", "720*1280", "960*960", "1088*832", "832*1088"),
    "1080P": ("1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"),
}
TIER_OF_SIZE: dict[str, str] = {s: t for t, sizes in SIZES_BY_TIER.items() for s in sizes}

SEED_MAX = 2_147_483_647
NEGATIVE_PROMPT_MAX = 500
#: Query, list and cancel share this per-account limit (PROTOCOL 4).
QUERY_QPS = 20
#: Task ids and video URLs live this long (PROTOCOL 8).
TASK_LIFETIME_S = 24 * 3600


@dataclass(frozen=True)
class Model:
    """One text-to-video model and everything the service enforces for it."""

    id: str
    family: str
    regions: tuple[str, ...]
    tiers: tuple[str, ...]
    default_size: str
    durations: tuple[int, ...]
    default_duration: int
    prompt_max: int
    audio: bool
    shot_type: bool
    #: The service returns ``actual_prompt`` when ``prompt_extend`` is on (not wan2.6).
    returns_actual_prompt: bool
    concurrency: int
    submit_rps: int
    fps: int
    #: ``"wan2.6"``: duration/SR/size usage; ``"legacy"``: video_duration/video_ratio;
    #: ``"new"``: duration/input_video_duration/output_video_duration/SR/ratio(/fps).
    usage_style: Literal["wan2.6", "legacy", "new"]
    #: Typical generation time in seconds at the default size and duration (seed: 1-5 min).
    typical_seconds: float
    aliases: tuple[str, ...] = ()
    #: 0: the model takes no negative prompt.
    negative_prompt_max: int = NEGATIVE_PROMPT_MAX
    notes: tuple[str, ...] = field(default=())
    protocol: Protocol = "legacy"
    #: The create path relative to the base URL.
    endpoint: str = CREATE_PATH
    #: New protocol: ``parameters.resolution`` values (the same as :attr:`tiers`).
    resolutions: tuple[str, ...] = ()
    #: New protocol: ``parameters.ratio`` values (``"adaptive"`` included where offered).
    ratios: tuple[str, ...] = ()
    default_resolution: str = ""
    default_ratio: str = ""
    #: New protocol: ``(resolution, ratio, "W*H")`` output pixel sizes (PROTOCOL 14.4).
    pixels: tuple[tuple[str, str, str], ...] = ()
    #: ``duration=-1`` lets the model choose the length (Wan3.0 smart duration).
    smart_duration: bool = False
    #: ``input.audio_url`` (the model's soundtrack) is accepted (when :attr:`audio`).
    audio_url_input: bool = True
    #: ``parameters.audio`` (sound on/off) is accepted (when :attr:`audio`).
    audio_switch: bool = True
    #: The provider marks the model as a preview.
    preview: bool = False
    #: False for a row made up for an id this catalog does not know (checked only for type).
    known: bool = True

    @property
    def sizes(self) -> tuple[str, ...]:
        """Every ``size`` string the model can make (new protocol: its pixel table)."""
        if self.protocol == "new":
            return tuple(dict.fromkeys(p[2] for p in self.pixels))
        return tuple(s for t in self.tiers for s in SIZES_BY_TIER.get(t, ()))

    def pixel_size(self, resolution: str, ratio: str) -> str | None:
        """``"W*H"`` for a resolution x ratio, or None when the table has no such cell."""
        for res, rat, size in self.pixels:
            if res == resolution and rat == ratio:
                return size
        return None

    def resolution_ratio_of(self, size: str) -> tuple[str, str] | None:
        """The resolution x ratio that makes exactly ``size`` (first match), if any."""
        for res, rat, pix in self.pixels:
            if pix == size:
                return res, rat
        return None

    @property
    def ids(self) -> tuple[str, ...]:
        """The id and its other spellings."""
        return (self.id, *self.aliases)

    def duration_text(self) -> str:
        """The allowed durations in words, for error messages and help."""
        d = tuple(x for x in self.durations if x > 0)
        if not d:
            return "any duration (not checked)"
        smart = " (or -1: the model chooses)" if self.smart_duration else ""
        return self._durations_words(d) + smart

    @staticmethod
    def _durations_words(d: tuple[int, ...]) -> str:
        if len(d) == 1:
            return f"fixed at {d[0]} s"
        if d == tuple(range(d[0], d[-1] + 1)) and len(d) > 3:
            return f"an integer from {d[0]} to {d[-1]} s"
        return " or ".join(str(x) for x in d) + " s"

    def expected_seconds(self, size: str | None = None, duration: int | None = None) -> float:
        """A typical generation time for this size and duration (for polling and progress)."""
        size = size or self.default_size or "1920*1080"
        default = self.default_duration if self.default_duration > 0 else 5
        duration = duration if duration and duration > 0 else default
        try:
            w, h = (int(x) for x in size.split("*"))
        except ValueError:
            w, h = 1920, 1080
        pixels = w * h / (1920 * 1080)
        base = self.typical_seconds * (0.45 + 0.55 * pixels)
        return base * (0.5 + 0.5 * duration / default)


_WAN26_DURATIONS = tuple(range(2, 16))  # newest doc: integer 2-15; older doc: 5/10/15 (CONFLICT)

LEGACY_ROWS: tuple[Model, ...] = (
    Model(
        "wan2.6-t2v",
        "wan2.6",
        ("beijing", "singapore", "virginia", "frankfurt"),
        ("720P", "1080P"),
        "1920*1080",
        _WAN26_DURATIONS,
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
        notes=("duration: 2-15 per the newest doc; an older doc allowed only 5, 10, 15",),
    ),
    Model(
        "wan2.6-t2v-us",
        "wan2.6",
        ("virginia",),
        ("720P", "1080P"),
        "1920*1080",
        (5, 10),
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
    ),
    Model(
        "wan2.5-t2v-preview",
        "wan2.5",
        ("beijing", "singapore"),
        ("480P", "720P", "1080P"),
        "1920*1080",
        (5, 10),
        5,
        1500,
        audio=True,
        shot_type=False,
        returns_actual_prompt=True,
        concurrency=5,
        submit_rps=5,
        fps=30,
        usage_style="legacy",
        typical_seconds=150.0,
        preview=True,
        notes=("frame rate: 30 fps per the 2025-12 doc; an older page said 24 (CONFLICT)",),
    ),
    Model(
        "wan2.2-t2v-plus",
        "wan2.2",
        ("beijing", "singapore"),
        ("480P", "1080P"),
        "1920*1080",
        (5,),
        5,
        800,
        audio=False,
        shot_type=False,
        returns_actual_prompt=True,
        concurrency=2,
        submit_rps=2,
        fps=30,
        usage_style="legacy",
        typical_seconds=120.0,
    ),
    Model(
        "wan2.1-t2v-turbo",
        "wan2.1",
        ("beijing", "singapore"),
        ("480P", "720P"),
        "1280*720",
        (5,),
        5,
        800,
        audio=False,
        shot_type=False,
        returns_actual_prompt=True,
        concurrency=2,
        submit_rps=2,
        fps=30,
        usage_style="legacy",
        typical_seconds=60.0,
        aliases=("wanx2.1-t2v-turbo",),
        notes=("Beijing spells it wanx2.1-t2v-turbo; Singapore wan2.1-t2v-turbo",),
    ),
    Model(
        "wan2.1-t2v-plus",
        "wan2.1",
        ("beijing", "singapore"),
        ("720P",),
        "1280*720",
        (5,),
        5,
        800,
        audio=False,
        shot_type=False,
        returns_actual_prompt=True,
        concurrency=2,
        submit_rps=2,
        fps=30,
        usage_style="legacy",
        typical_seconds=120.0,
        aliases=("wanx2.1-t2v-plus",),
        notes=("Beijing spells it wanx2.1-t2v-plus; Singapore wan2.1-t2v-plus",),
    ),
)
