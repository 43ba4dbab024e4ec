"""The one source of truth for models, regions and their limits (a package since issue 13).

``from wan_notebook import catalog`` keeps every name it had as a module (``get_model``,
``MODELS``, ``DEFAULT_MODEL``, ``REGIONS``, ``SIZES_BY_TIER``, ...), plus the new-protocol
rows, :func:`lookup` (an open catalog: unknown ids are sent as given) and :func:`register`.

- :mod:`.models`: the :class:`Model` schema and the legacy rows (wan2.6 and older)
- :mod:`.new_rows`: wan2.7-t2v (+ snapshots) and Wan3.0, resolution x ratio pixel tables
- :mod:`.regions`: regions and their hosts
- :mod:`.registry`: lookups, user rows, unknown ids
"""

from __future__ import annotations

from .media_rows import (  # issue 14 (and Wan3.0 inputs)
    AUDIO_SETTINGS,
    MAX_DURATION_WITH_VIDEO,
    MEDIA_ROWS,
    WAN3_REFERENCE_SECONDS,
    InputRule,
    combo_problem,
    input_rules,
    pixels_for_image,
    wan3_mode_problem,
)
from .models import (
    CREATE_PATH,
    NEGATIVE_PROMPT_MAX,
    QUERY_QPS,
    SEED_MAX,
    SIZES_BY_TIER,
    TASK_LIFETIME_S,
    TIER_OF_SIZE,
    Model,
    Protocol,
)
from .new_rows import WAN3_PIXELS, WAN27_PIXELS
from .regions import DEFAULT_REGION, REGIONS, Region, get_region, region_of_url
from .registry import (
    DEFAULT_MODEL,
    MODELS,
    get_model,
    guess_protocol,
    lookup,
    model_ids,
    register,
    unregister,
)

__all__ = [
    "AUDIO_SETTINGS",
    "CREATE_PATH",
    "DEFAULT_MODEL",
    "DEFAULT_REGION",
    # issue 14: image-to-video rows and media input rules
    "MAX_DURATION_WITH_VIDEO",
    "MEDIA_ROWS",
    "MODELS",
    "NEGATIVE_PROMPT_MAX",
    "QUERY_QPS",
    "REGIONS",
    "SEED_MAX",
    "SIZES_BY_TIER",
    "TASK_LIFETIME_S",
    "TIER_OF_SIZE",
    "WAN3_PIXELS",
    "WAN3_REFERENCE_SECONDS",
    "WAN27_PIXELS",
    "InputRule",
    "Model",
    "Protocol",
    "Region",
    "combo_problem",
    "get_model",
    "get_region",
    "guess_protocol",
    "input_rules",
    "lookup",
    "model_ids",
    "pixels_for_image",
    "region_of_url",
    "register",
    "unregister",
    "wan3_mode_problem",
]
