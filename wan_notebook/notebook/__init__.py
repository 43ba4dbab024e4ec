"""The notebook surface: ``%load_ext wan_notebook`` registers ``%%wanvideo``/``%wanvideo``.

Loading is cheap (no httpx client, no ipywidgets, no network call); on load a short note
offers ``%wanvideo attach <id>`` for every task the outputs folder's journal still has in
flight (read from ``index.sqlite`` only).
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_ipython_extension", "unload_ipython_extension"]

_MAGIC_ATTR = "_wan_notebook_magic"


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics (``%config WanVideoMagic`` lists their settings)."""
    from .magics import WanVideoMagic

    if getattr(ipython, _MAGIC_ATTR, None) is not None:
        return
    magic = WanVideoMagic(shell=ipython)
    ipython.register_magics(magic)
    setattr(ipython, _MAGIC_ATTR, magic)
    _offer_in_flight(magic)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and their settings; stop an emulator started with them."""
    magic = getattr(ipython, _MAGIC_ATTR, None)
    if magic is None:
        return
    magic.close()
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("wanvideo", None)
    ipython.magics_manager.registry.pop(type(magic).__name__, None)
    if magic in getattr(ipython, "configurables", []):
        ipython.configurables.remove(magic)
    setattr(ipython, _MAGIC_ATTR, None)


def _offer_in_flight(magic: Any) -> None:
    """Print one line per journaled PENDING/RUNNING task (no network call)."""
    from pathlib import Path

    if not (Path(magic.directory).expanduser() / "index.sqlite").exists():
        return  # nothing journaled here: skip importing the store at all
    from ..store import OutputStore
    from . import render

    try:
        store = OutputStore(magic.directory)
        records = store.in_flight()
    except Exception as exc:  # a damaged index must not stop the extension from loading
        print(f"wan_notebook: could not read the outputs journal: {exc}")
        return
    if not records:
        return
    lines = [f"wan_notebook: {len(records)} task(s) in {store.root} had not finished:"]
    for rec in records[:10]:
        prompt = render.clip(rec.prompt, 50)
        lines.append(f"  %wanvideo attach {rec.task_id}   ({rec.status}, {prompt!r})")
    if len(records) > 10:
        lines.append(f"  ... and {len(records) - 10} more (%wanvideo list)")
    print("\n".join(lines))
