"""What the service checks about an ``audio_url`` after accepting a task (PROTOCOL 2.2, 19).

The file must be audio (wav or mp3) lasting 3 to 30 s; otherwise the task FAILS with the
service's codes. The check runs in a render worker, right after the download.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MAX_SECONDS", "MIN_SECONDS", "InputFileInvalid", "check_audio"]

MIN_SECONDS = 3.0
MAX_SECONDS = 30.0


class InputFileInvalid(Exception):
    """The input file is not acceptable; ``code`` and ``message`` are what the task shows."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def audio_seconds(path: Path) -> float:
    """The length of the first audio stream in seconds (ValueError: not decodable audio)."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ValueError("no audio stream")
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000
            samples = 0
            rate = stream.rate or 1
            for frame in container.decode(stream):
                samples += frame.samples
            return samples / rate
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc


def check_audio(path: Path) -> None:
    """Raise :class:`InputFileInvalid` unless ``path`` is audio of 3 to 30 seconds."""
    try:
        seconds = audio_seconds(path)
    except ValueError:
        raise InputFileInvalid(
            "InvalidFile.Format",
            "Input file format is not supported: audio_url must be wav or mp3.",
        ) from None
    if not MIN_SECONDS <= seconds <= MAX_SECONDS + 0.05:
        raise InputFileInvalid(
            "InvalidFile.Duration",
            f"Invalid file duration. The file duration must be {MIN_SECONDS:g} s ~ "
            f"{MAX_SECONDS:g} s (audio_url lasts {seconds:.1f} s).",
        )
