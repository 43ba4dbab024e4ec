"""Research sweeps: prompts x seeds x models x params, journaled, resumable, as a table.

``sweep(...)`` validates every cell and returns a :class:`Sweep`; ``Sweep.run()`` (or
``arun``/``start``) runs it under the quota, resuming whatever a previous run (any kernel,
any process) left; ``Sweep.results()`` is a pandas DataFrame and ``Sweep.export()`` writes
parquet, CSV, a Hugging Face VideoFolder or VBench's file naming.
"""

from __future__ import annotations

from .cells import Cell, build_cells, load_prompts
from .core import Sweep, SweepStatus, sweep

__all__ = ["Cell", "Sweep", "SweepStatus", "build_cells", "load_prompts", "sweep"]
