"""The render worker pool: audio source resolution and ``RenderCache`` calls off the loop."""

from __future__ import annotations

import hashlib
import ipaddress
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import catalog

#: The documented cap on audio inputs (PROTOCOL 2.2).
MAX_AUDIO_BYTES = 15 << 20

#: A render's audio: ``None`` (silent), ``"tone"``, a local file, or ``("url", <loopback URL>)``.
AudioSource = None | str | Path | tuple[str, str]


class InputDownloadFailed(Exception):
    """The audio URL could not be fetched (the task then FAILS like the service's would)."""


def is_loopback_url(url: str) -> bool:
    """Whether an http(s) URL points at this machine (the only URLs the emulator fetches)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme not in ("http", "https"):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def audio_source(
    model: catalog.Model, audio_url: str | None, resolve_oss: Callable[[str], Path | None]
) -> AudioSource:
    """What the render gets: silent models nothing; audio models the supplied audio or a tone.

    The emulator never reaches the internet: an http(s) audio URL off this machine gets the
    generated tone instead.
    """
    if not model.audio:
        return None
    if audio_url is None:
        return "tone"
    if audio_url.lower().startswith("oss://"):
        return resolve_oss(audio_url) or "tone"
    if is_loopback_url(audio_url):
        return ("url", audio_url)
    return "tone"


@dataclass(frozen=True)
class RenderJob:
    """Everything ``RenderCache.get`` needs for one task's video."""

    width: int
    height: int
    duration: float
    fps: int
    prompt: str
    seed: int
    audio: AudioSource
    watermark: bool
    #: Image-to-video inputs (issue 14): ``(role, local path or loopback URL)``.
    media: tuple[tuple[str, str], ...] = ()
    resolution: str = ""


class RenderPool:
    """``workers`` threads rendering through one shared, lazily created ``RenderCache``."""

    def __init__(self, directory: Path, workers: int, *, fast: bool = False) -> None:
        self._dir = directory
        self._fast = fast  # fastrender.FastRenderCache: tiny videos for scale tests
        self._fetched = directory / "fetched"
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="wan-emulator-render")
        self._lock = threading.Lock()
        self._cache: Any = None

    def _get_cache(self) -> Any:
        with self._lock:
            if self._cache is None and self._fast:
                from .fastrender import FastRenderCache

                self._cache = FastRenderCache(self._dir / "fast")
            if self._cache is None:
                from .render import RenderCache  # PyAV is heavy: import on the first render

                self._cache = RenderCache(self._dir / "cache")
            return self._cache

    def submit(self, job: RenderJob) -> Future[Path]:
        """Start rendering; the future holds the MP4 path."""
        return self._executor.submit(self._run, job)

    def _run(self, job: RenderJob) -> Path:
        audio = job.audio
        if isinstance(audio, tuple):
            audio = self._fetch(audio[1])
        if isinstance(audio, Path):
            from .audiocheck import check_audio

            check_audio(audio)  # InputFileInvalid: the task FAILS as the service's would
        if job.media:
            from .render_media import render_media_cached

            return render_media_cached(self._dir / "cache", job, audio, self._fetch_image)
        return self._get_cache().get(
            width=job.width,
            height=job.height,
            duration=job.duration,
            fps=job.fps,
            prompt=job.prompt,
            seed=job.seed,
            audio=audio,
            watermark=job.watermark,
        )

    def _fetch(self, url: str) -> Path:
        import httpx

        try:
            with httpx.stream("GET", url, timeout=30.0) as resp:
                if resp.status_code != 200:
                    raise InputDownloadFailed(f"HTTP {resp.status_code}")
                data = bytearray()
                for chunk in resp.iter_bytes():
                    data += chunk
                    if len(data) > MAX_AUDIO_BYTES:
                        raise InputDownloadFailed("audio larger than 15 MB")
        except httpx.HTTPError as exc:
            raise InputDownloadFailed(type(exc).__name__) from exc
        suffix = Path(urlsplit(url).path).suffix.lower()
        suffix = suffix if suffix in (".wav", ".mp3") else ".bin"
        self._fetched.mkdir(parents=True, exist_ok=True)
        path = self._fetched / (hashlib.sha256(bytes(data)).hexdigest()[:32] + suffix)
        if not path.exists():
            tmp = path.with_name(path.name + f".{threading.get_ident()}.part")
            tmp.write_bytes(bytes(data))
            tmp.replace(path)
        return path

    def _fetch_image(self, url: str) -> bytes | None:
        """An image input's bytes from a loopback URL (None: off this machine, never fetched)."""
        if not is_loopback_url(url):
            return None
        import httpx

        try:
            resp = httpx.get(url, timeout=30.0)
        except httpx.HTTPError as exc:
            raise InputDownloadFailed(type(exc).__name__) from exc
        if resp.status_code != 200:
            raise InputDownloadFailed(f"HTTP {resp.status_code}")
        return resp.content

    def shutdown(self) -> None:
        """Stop the workers; renders not yet started are dropped."""
        self._executor.shutdown(wait=True, cancel_futures=True)
