"""The file side of a download: ``.part`` file, Range resume, size cap, verify, rename.

A download never fills the disk and never outlives its deadline: the expected size bounds
what is written (:func:`video_byte_cap`: a generous multiple of what the task's duration and
resolution can produce, within a hard cap), a declared length over the cap or over the free
space is refused before a byte is written, and the shells check the deadline between chunks.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from . import protocol
from ._fsutil import move_no_clobber
from .errors import CorruptVideoError, DownloadError, DownloadTimeoutError, VideoExpiredError
from .protocol import Task
from .retry import RetryPolicy
from .transport import declared_length

__all__ = [
    "DOWNLOAD_ATTEMPTS",
    "DOWNLOAD_TIMEOUT",
    "HARD_MAX_VIDEO_BYTES",
    "MIN_VIDEO_CAP",
    "Download",
    "video_byte_cap",
    "video_url_of",
]

DOWNLOAD_ATTEMPTS = 5
#: The default bound on one whole download (all attempts), seconds.
DOWNLOAD_TIMEOUT = 1800.0
#: No video is larger: 1 GiB (a 15 s 1080p Wan video is ~10-30 MB).
HARD_MAX_VIDEO_BYTES = 1 << 30
#: The smallest cap, whatever the task says.
MIN_VIDEO_CAP = 32 << 20
#: Bytes a video may take per pixel per frame, and the safety factor over that.
_BYTES_PER_PIXEL_FRAME = 1 / 8
_FPS = 30
_SAFETY = 4
#: Free space kept on the disk besides the video (small: notebooks also live on small disks,
#: and the index and sidecar need only kilobytes).
_DISK_MARGIN = 1 << 20


def _pixels(usage: dict[str, Any]) -> int:
    for key in ("size", "video_ratio", "resolution"):
        value = usage.get(key)
        if isinstance(value, str) and "*" in value:
            w, _, h = value.partition("*")
            if w.strip().isdigit() and h.strip().isdigit():
                return int(w) * int(h)
    return 1920 * 1080


def video_byte_cap(task: Task | None) -> int:
    """The most bytes a download of ``task``'s video may bring: duration x resolution x a
    generous bitrate x 4, at least :data:`MIN_VIDEO_CAP`, at most
    :data:`HARD_MAX_VIDEO_BYTES` (that hard cap when nothing is known)."""
    if task is None:
        return HARD_MAX_VIDEO_BYTES
    seconds = task.video_seconds or 15.0
    estimate = seconds * _FPS * _pixels(task.usage) * _BYTES_PER_PIXEL_FRAME * _SAFETY
    return int(min(HARD_MAX_VIDEO_BYTES, max(MIN_VIDEO_CAP, estimate)))


def video_url_of(task_or_url: Task | str, task_id: str | None) -> tuple[str, str | None]:
    """The URL to fetch and the task id to name in errors."""
    if isinstance(task_or_url, Task):
        if not task_or_url.video_url:
            raise DownloadError(
                f"task {task_or_url.task_id} has no video_url (status {task_or_url.status})",
                task_id=task_or_url.task_id,
            )
        return task_or_url.video_url, task_id or task_or_url.task_id
    return str(task_or_url), task_id


class Download:
    """One download's file and its decisions (shared by both clients)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        task_id: str | None,
        verify: Callable[[Path], Any] | None,
        on_progress: Callable[[int, int | None], Any] | None,
        overwrite: bool = True,
        max_bytes: int = HARD_MAX_VIDEO_BYTES,
    ) -> None:
        self.overwrite = overwrite
        self.path = Path(path)
        # one .part per process: two processes downloading one task never write one file
        self.part = self.path.with_name(f"{self.path.name}.{os.getpid()}.part")
        self.task_id = task_id
        self.verify = verify
        self.on_progress = on_progress
        self.max_bytes = max_bytes
        self.have = 0
        self.total: int | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = self.part.open("wb")
        self.errors: list[str] = []
        #: the server's Retry-After on the last 429/503 (honoured before the next attempt)
        self.retry_after: float | None = None
        #: a failure no retry can fix (an unsupported or invalid URL)
        self.permanent: str | None = None

    def label(self) -> str:
        return f"task {self.task_id}" if self.task_id else "the video"

    def headers(self) -> dict[str, str]:
        return {"Range": f"bytes={self.have}-"} if self.have else {}

    def start(self, resp: httpx.Response) -> bool:
        """Check the status; returns False when this attempt should be retried."""
        status = resp.status_code
        if status == 403:
            self.abort()
            raise VideoExpiredError(
                f"the video URL of {self.label()} was refused (HTTP 403): signed URLs expire "
                "24 h after the task finished, and the video cannot be fetched again",
                task_id=self.task_id,
            )
        if status in (200, 206):
            if status == 200 and self.have:
                self.file.seek(0)
                self.file.truncate()
                self.have = 0
            if status == 206:
                crange = resp.headers.get("content-range", "")
                try:
                    start = int(crange.split()[1].split("-")[0])
                    total_text = crange.rsplit("/", 1)[1]
                    self.total = int(total_text) if total_text != "*" else self.total
                except (IndexError, ValueError):
                    start = -1
                if start != self.have:
                    self.file.seek(0)
                    self.file.truncate()
                    self.have = 0
                    self.errors.append(f"bad Content-Range {crange!r}")
                    return False
            else:
                self.total = declared_length(resp.headers)
            self._check_room()
            return True
        if status in (429, 500, 502, 503, 504):
            self.errors.append(f"HTTP {status}")
            self.retry_after = protocol.parse_retry_after(resp.headers.get("retry-after"))
            return False
        self.abort()
        raise DownloadError(
            f"downloading {self.label()} failed: HTTP {status}", task_id=self.task_id
        )

    def _check_room(self) -> None:
        """Refuse a declared size over the cap or over the free space, before writing."""
        if self.total is None:
            return
        if self.total > self.max_bytes:
            self.abort()
            raise DownloadError(
                f"{self.label()}: the server announced {self.total} bytes, more than the "
                f"{self.max_bytes} a video of this duration and size can take; nothing was "
                "saved",
                task_id=self.task_id,
            )
        try:
            free = shutil.disk_usage(self.part.parent).free
        except OSError:
            return
        if self.total - self.have + _DISK_MARGIN > free:
            self.abort()
            raise DownloadError(
                f"disk full: {self.label()} needs {self.total - self.have} bytes and "
                f"{self.path.parent} has {free} free; free some space and download again",
                task_id=self.task_id,
            )

    def write(self, chunk: bytes) -> None:
        if self.have + len(chunk) > self.max_bytes:
            self.abort()
            raise DownloadError(
                f"{self.label()}: the server sent more than {self.max_bytes} bytes, more than "
                "a video of this duration and size can take; stopped and removed the "
                "partial file",
                task_id=self.task_id,
            )
        try:
            self.file.write(chunk)
        except OSError as exc:
            reason = exc.errno, exc.strerror
        else:
            reason = None
        if reason is not None:
            self.abort()
            if reason[0] == errno.ENOSPC:
                raise DownloadError(
                    f"disk full while saving {self.label()} to {self.path}: free some space "
                    "and download again (the partial file was removed)",
                    task_id=self.task_id,
                )
            raise DownloadError(f"cannot write {self.part}: {reason[1]}", task_id=self.task_id)
        self.have += len(chunk)
        if self.on_progress is not None:
            self.on_progress(self.have, self.total)

    def complete(self) -> bool:
        return self.total is None or self.have >= self.total

    def failed(self, why: str) -> None:
        self.errors.append(why)

    def pause(self, failures: int, retry: RetryPolicy, rand: Callable[[], float]) -> float:
        """Seconds to wait before the next attempt: the server's Retry-After if it sent one,
        else backoff by the number of attempts that failed without any progress."""
        delay = retry.delay(max(failures - 1, 0), self.retry_after, rand)
        self.retry_after = None
        return delay

    def give_up(self) -> DownloadError:
        self.abort()
        if self.permanent is not None:
            return DownloadError(
                f"cannot download {self.label()}: {self.permanent} (nothing was fetched)",
                task_id=self.task_id,
            )
        return DownloadError(
            f"downloading {self.label()} failed: {DOWNLOAD_ATTEMPTS} attempts brought no data ("
            + "; ".join(self.errors[-3:])
            + ")",
            task_id=self.task_id,
        )

    def timed_out(self, seconds: float | None) -> DownloadTimeoutError:
        """The error when the download's deadline passed (the partial file is removed)."""
        self.abort()
        within = f" within {seconds:g} s" if seconds is not None else " before the deadline"
        return DownloadTimeoutError(
            f"downloading {self.label()} did not finish{within} ({self.have} of "
            f"{self.total if self.total is not None else '?'} bytes arrived); the video stays "
            "on the service until its URL expires: download it again later",
            task_id=self.task_id,
        )

    def finish(self) -> Path:
        try:
            self.file.flush()
            os.fsync(self.file.fileno())
        except OSError as exc:
            full = exc.errno == errno.ENOSPC
        else:
            full = None
        if full is not None:
            self.abort()
            if full:
                raise DownloadError(
                    f"disk full while saving {self.label()} to {self.path}", task_id=self.task_id
                )
            raise DownloadError(f"cannot write {self.part}", task_id=self.task_id)
        self.file.close()
        if self.total is not None and self.have != self.total:
            self.abort()
            raise CorruptVideoError(
                f"{self.label()}: got {self.have} bytes, expected {self.total}",
                task_id=self.task_id,
            )
        if self.verify is not None:
            self._verify()
        if self.overwrite:
            os.replace(self.part, self.path)
        else:
            try:
                move_no_clobber(self.part, self.path)
            except FileExistsError:
                clobber = True
            else:
                clobber = False
            if clobber:
                self.part.unlink(missing_ok=True)
                raise DownloadError(
                    f"{self.path.name} already exists; not overwriting it", task_id=self.task_id
                )
        _fsync_dir(self.path.parent)
        return self.path

    def _verify(self) -> None:
        assert self.verify is not None
        try:
            self.verify(self.part)
        except DownloadError:
            self.abort()
            raise
        except Exception as exc:
            why = str(exc)
        else:
            return
        self.abort()
        raise CorruptVideoError(
            f"{self.label()}: the downloaded file failed verification: {why}",
            task_id=self.task_id,
        )

    def abort(self) -> None:
        try:
            self.file.close()
        finally:
            self.part.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
