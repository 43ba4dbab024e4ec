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
    "errors": "wan_notebook.errors",
    # one-call API
    "generate": "wan_notebook.api",
    "agenerate": "wan_notebook.api",
    "generate_many": "wan_notebook.api",
    "agenerate_many": "wan_notebook.api",
    "attach": "wan_notebook.api",
    "aattach": "wan_notebook.api",
    # prices and budgets (issue 15)
    "estimate_cost": "wan_notebook.cost",
    "CostEstimate": "wan_notebook.cost",
    "BudgetExceededError": "wan_notebook.errors",
    # building blocks
    "WanClient": "wan_notebook.client",
    "AsyncWanClient": "wan_notebook.client",
    "GenerateResult": "wan_notebook.client",
    "VideoRequest": "wan_notebook.request",
    "Task": "wan_notebook.protocol",
    "TaskSummary": "wan_notebook.protocol",
    "OutputStore": "wan_notebook.store",
    "Job": "wan_notebook.jobs",
    "JobEvent": "wan_notebook.jobs",
    "Runner": "wan_notebook.jobs",
    "VideoResult": "wan_notebook.results",
    # errors most code catches
    "WanError": "wan_notebook.errors",
    "ValidationError": "wan_notebook.errors",
    "ConfigurationError": "wan_notebook.errors",
    "APIError": "wan_notebook.errors",
    "ContentModerationError": "wan_notebook.errors",
    "TaskFailedError": "wan_notebook.errors",
    "WaitTimeoutError": "wan_notebook.errors",
    "SubmitUncertainError": "wan_notebook.errors",
    # widgets
    "GenerateForm": "wan_notebook.notebook.form",
    "Gallery": "wan_notebook.notebook.gallery",
    "BatchGrid": "wan_notebook.notebook.batch",
    # research sweeps (issue 16)
    "sweep": "wan_notebook.sweeps",
    "Sweep": "wan_notebook.sweeps",
    "SweepView": "wan_notebook.notebook.sweep_view",
    "compare": "wan_notebook.notebook.compare",
    # IPython extension: %load_ext wan_notebook
    "load_ipython_extension": "wan_notebook.notebook",
    "unload_ipython_extension": "wan_notebook.notebook",
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
