"""Shared pieces of the claim/reconcile scenarios of ``chaos.py --claims`` and
``crash.py --claims`` (issue 11 cases 1-3): counting tasks per prompt on the emulator and
checking a folder against them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wan_notebook.store import OutputStore

PARAMS = {"model": "wan2.5-t2v-preview", "size": "832*480", "duration": 5}


def tasks_by_prompt(emu: Any, prefix: str) -> dict[str, list[str]]:
    """prompt -> task ids of every emulator task whose prompt starts with ``prefix``."""
    from wan_notebook.client import WanClient

    out: dict[str, list[str]] = {}
    with WanClient(emu.api_key, base_url=emu.base_url) as client:
        for item in client.list(page_size=100):
            snap = emu.task(item.task_id)
            if snap is not None and snap["prompt"].startswith(prefix):
                out.setdefault(snap["prompt"], []).append(item.task_id)
    return out


def audit(
    emu: Any, folder: Path, prefix: str, prompts: list[str], results: list[Any]
) -> dict[str, int]:
    """duplicates / lost / swapped / stuck for one round (``results``: outcomes per prompt,
    exceptions included; several lists may be concatenated, one per process)."""
    made = tasks_by_prompt(emu, prefix)
    store = OutputStore(folder)
    duplicates = sum(max(0, len(ids) - 1) for ids in made.values())
    lost = sum(1 for ids in made.values() for t in ids if store.get(t) is None)
    stuck = sum(1 for r in results if isinstance(r, BaseException) or r is None)
    swapped = 0
    repeated = prompts * (len(results) // max(len(prompts), 1))
    for prompt, result in zip(repeated, results, strict=True):
        if isinstance(result, BaseException) or result is None:
            continue
        snap = emu.task(result.task_id)
        if snap is None or snap["prompt"] != prompt:
            swapped += 1
    return {"duplicates": duplicates, "lost": lost, "swapped": swapped, "stuck": stuck}
