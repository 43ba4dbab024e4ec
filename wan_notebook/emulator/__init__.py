"""A local, faithful emulator of the DashScope video-generation HTTP API.

The official ``dashscope`` SDK and our own client work against it unchanged. Videos are
synthetic (a caption of the prompt over moving colour, optionally with a tone or the supplied
audio), rendered as real H.264 MP4 files. ``Emulator`` is imported lazily so that importing
this package stays cheap (no starlette, uvicorn or PyAV until a server is built).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

#: The key the emulator accepts when no other key is configured.
DEMO_API_KEY = "sk-wan-emulator-demo"

__all__ = ["DEMO_API_KEY", "Emulator"]

if TYPE_CHECKING:
    from .server import Emulator


def __getattr__(name: str) -> Any:
    if name == "Emulator":
        from .server import Emulator

        return Emulator
    raise AttributeError(f"module 'wan_notebook.emulator' has no attribute {name!r}")


def __dir__() -> list[str]:
    return list(__all__)
