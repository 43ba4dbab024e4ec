"""wan-notebook: Alibaba Wan text-to-video in Jupyter, a Python client, a CLI and an emulator.

Names are imported lazily so that ``import wan_notebook`` and ``%load_ext wan_notebook`` stay
fast and pull in neither httpx's transports nor ipywidgets until they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "catalog": "wan_notebook.catalog",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wan_notebook' has no attribute {name!r}")
    if module == f"wan_notebook.{name}":
        return importlib.import_module(module)
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return list(__all__)
