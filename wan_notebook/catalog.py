"""The one source of truth for models, regions and their limits.

Validation (:mod:`wan_notebook.request`), the emulator, the widget form and the CLI all read
this module; a new model is one :class:`Model` row. Facts come from ``shared/PROTOCOL.md``
sections 2.3, 4, 8 and 11.5; where the sources conflict the choice is noted beside the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_REGION",
    "MODELS",
    "NEGATIVE_PROMPT_MAX",
    "QUERY_QPS",
    "REGIONS",
    "SEED_MAX",
    "SIZES_BY_TIER",
    "TASK_LIFETIME_S",
    "TIER_OF_SIZE",
    "Model",
    "Region",
    "get_model",
    "get_region",
    "model_ids",
]

Tier = Literal["480P", "720P", "1080P"]

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
class Region:
    """A DashScope region: its ids, and the base URL our client calls."""

    name: str
    region_id: str
    aliases: tuple[str, ...]
    host: str | None
    workspace_host: str | None = None

    def base_url(self, workspace: str | None = None) -> str:
        """The HTTP API base URL (``.../api/v1``): the workspace host when one is given."""
        if workspace and self.workspace_host:
            return "https://" + self.workspace_host.format(workspace=workspace) + "/api/v1"
        if self.host is None:
            raise ValueError(
                f"region {self.name!r} is only reachable through a workspace host; "
                "pass workspace=... or set DASHSCOPE_WORKSPACE_ID"
            )
        return f"https://{self.host}/api/v1"


REGIONS: dict[str, Region] = {
    r.name: r
    for r in (
        Region(
            "singapore",
            "ap-southeast-1",
            ("sg", "intl", "international", "ap-southeast-1"),
            "dashscope-intl.aliyuncs.com",
            "{workspace}.ap-southeast-1.maas.aliyuncs.com",
        ),
        Region(
            "beijing",
            "cn-beijing",
            ("bj", "cn", "china", "cn-beijing"),
            "dashscope.aliyuncs.com",
            "{workspace}.cn-beijing.maas.aliyuncs.com",
        ),
        Region("virginia", "us-east-1", ("us", "us-east-1"), "dashscope-us.aliyuncs.com"),
        Region(
            "frankfurt",
            "eu-central-1",
            ("eu", "germany", "eu-central-1"),
            None,
            "{workspace}.eu-central-1.maas.aliyuncs.com",
        ),
    )
}
#: The seed's samples use Singapore; so do we when nothing else is configured.
DEFAULT_REGION = "singapore"


def get_region(name: str) -> Region:
    """Find a region by name, region id or alias (case-insensitive)."""
    key = name.strip().lower()
    for region in REGIONS.values():
        if key == region.name or key in region.aliases:
            return region
    allowed = ", ".join(sorted(REGIONS))
    raise ValueError(f"unknown region {name!r}; use one of {allowed} (or a region id)")


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
    #: ``"wan2.6"``: duration/SR/size usage; ``"legacy"``: video_duration/video_ratio.
    usage_style: Literal["wan2.6", "legacy"]
    #: Typical generation time in seconds at the default size and duration (seed: 1-5 min).
    typical_seconds: float
    aliases: tuple[str, ...] = ()
    negative_prompt_max: int = NEGATIVE_PROMPT_MAX
    notes: tuple[str, ...] = field(default=())

    @property
    def sizes(self) -> tuple[str, ...]:
        """Every allowed ``size`` string, lowest tier first."""
        return tuple(s for t in self.tiers for s in SIZES_BY_TIER[t])

    @property
    def ids(self) -> tuple[str, ...]:
        """The id and its other spellings."""
        return (self.id, *self.aliases)

    def duration_text(self) -> str:
        """The allowed durations in words, for error messages and help."""
        d = self.durations
        if len(d) == 1:
            return f"fixed at {d[0]} s"
        if d == tuple(range(d[0], d[-1] + 1)) and len(d) > 3:
            return f"an integer from {d[0]} to {d[-1]} s"
        return " or ".join(str(x) for x in d) + " s"

    def expected_seconds(self, size: str | None = None, duration: int | None = None) -> float:
        """A typical generation time for this size and duration (for polling and progress)."""
        size = size or self.default_size
        duration = duration or self.default_duration
        w, h = (int(x) for x in size.split("*"))
        pixels = w * h / (1920 * 1080)
        base = self.typical_seconds * (0.45 + 0.55 * pixels)
        return base * (0.5 + 0.5 * duration / self.default_duration)


_WAN26_DURATIONS = tuple(range(2, 16))  # newest doc: integer 2-15; older doc: 5/10/15 (CONFLICT)

_ROWS = (
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

#: Every model by its canonical id, in display order (newest first).
MODELS: dict[str, Model] = {m.id: m for m in _ROWS}
_BY_ANY_ID: dict[str, Model] = {i: m for m in _ROWS for i in m.ids}
DEFAULT_MODEL = "wan2.6-t2v"


def get_model(model_id: str) -> Model:
    """Find a model by its id or another spelling; ``KeyError`` names the allowed ids."""
    try:
        return _BY_ANY_ID[model_id]
    except KeyError:
        raise KeyError(
            f"unknown model {model_id!r}; text-to-video models are " + ", ".join(model_ids())
        ) from None


def model_ids(*, with_aliases: bool = False) -> tuple[str, ...]:
    """Model ids in display order (optionally with the other spellings)."""
    if with_aliases:
        return tuple(_BY_ANY_ID)
    return tuple(MODELS)
