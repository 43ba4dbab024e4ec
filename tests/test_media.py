"""media.py on real MP4 files: probing with and without PyAV, box checks, verification, posters.

Files come from the emulator's renderer plus PyAV-written variants (moov at the end,
fragmented) and byte-level edits of them (truncation, 64-bit sizes, damaged data).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from wan_notebook import media
from wan_notebook.emulator.render import render_video
from wan_notebook.errors import CorruptVideoError, DownloadError

W, H, FPS = 320, 192, 24


def _boxes(data: bytes) -> list[tuple[str, int, int]]:
    """(type, offset, size) of the top-level boxes (test-side reader, 32-bit sizes only)."""
    out, offset = [], 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        out.append((kind.decode(), offset, size))
        offset += size
    return out


def _pyav_mp4(path: Path, *, movflags: str | None, audio: bool = True) -> Path:
    """A small H.264 (+AAC) MP4 written directly with PyAV (no faststart unless asked)."""
    options = {"movflags": movflags} if movflags else {}
    with av.open(str(path), "w", format="mp4", options=options) as c:
        vs = c.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = 256, 144, "yuv420p"
        vs.options = {"preset": "ultrafast", "g": str(FPS)}
        a = None
        if audio:
            a = c.add_stream("aac", rate=48_000)
            a.layout = "mono"
        for i in range(FPS):  # one second
            img = np.full((144, 256, 3), (i * 9) % 256, np.uint8)
            img[:, (i * 8) % 256 :] = 200
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            c.mux(vs.encode(frame))
        c.mux(vs.encode(None))
        if a is not None:
            t = np.arange(48_000, dtype=np.float32) / 48_000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for s in range(0, tone.size, 1024):
                af = av.AudioFrame.from_ndarray(
                    tone[s : s + 1024].reshape(1, -1), format="fltp", layout="mono"
                )
                af.sample_rate, af.pts, af.time_base = 48_000, s, Fraction(1, 48_000)
                c.mux(a.encode(af))
            c.mux(a.encode(None))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    common = dict(width=W, height=H, fps=FPS, prompt="a lighthouse in a storm", seed=3)
    return {
        "tone": render_video(d / "tone.mp4", duration=2.0, audio="tone", **common),
        "silent": render_video(d / "silent.mp4", duration=1.5, audio=None, **common),
        "moov_last": _pyav_mp4(d / "moov_last.mp4", movflags=None),
        "fragmented": _pyav_mp4(
            d / "frag.mp4", movflags="frag_keyframe+empty_moov+default_base_moof", audio=False
        ),
    }


@pytest.fixture
def tone(files: dict[str, Path], tmp_path: Path) -> tuple[Path, bytes]:
    """A private copy directory and the bytes of the 2 s clip with sound."""
    return tmp_path, files["tone"].read_bytes()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------------------------------
# probe


@pytest.mark.parametrize("name", ["tone", "silent", "moov_last"])
def test_probe_boxes_agrees_with_pyav(files: dict[str, Path], name: str) -> None:
    with_av = media.probe(files[name])
    pure = media.probe_boxes(files[name])
    assert media.is_pyav_available()
    assert (pure.width, pure.height, pure.has_audio) == (
        with_av.width,
        with_av.height,
        with_av.has_audio,
    )
    assert (pure.video_codec, pure.audio_codec) == (with_av.video_codec, with_av.audio_codec)
    assert pure.fps == pytest.approx(with_av.fps, abs=0.01)
    assert pure.duration == pytest.approx(with_av.duration, abs=1 / FPS)


def test_probe_reports_what_was_rendered(files: dict[str, Path]) -> None:
    info = media.probe(files["tone"])
    assert info == media.VideoInfo(
        width=W,
        height=H,
        fps=24.0,
        duration=pytest.approx(2.0, abs=1 / FPS),  # type: ignore[arg-type]
        has_audio=True,
        video_codec="h264",
        audio_codec="aac",
    )
    silent = media.probe_boxes(files["silent"])
    assert (silent.has_audio, silent.audio_codec) == (False, None)
    assert silent.duration == pytest.approx(1.5, abs=1 / FPS)
    assert info.to_dict() == {
        "width": W,
        "height": H,
        "fps": 24.0,
        "duration": info.duration,
        "has_audio": True,
        "video_codec": "h264",
        "audio_codec": "aac",
    }
    json.dumps(info.to_dict())


def test_probe_boxes_reads_a_fragmented_file(files: dict[str, Path]) -> None:
    """Fragmented MP4 (no sample tables in moov): size and codec still come out."""
    pure = media.probe_boxes(files["fragmented"])
    assert (pure.width, pure.height, pure.video_codec, pure.has_audio) == (256, 144, "h264", False)
    media.check_boxes(files["fragmented"])


def test_without_pyav_probe_falls_back_to_the_boxes(files: dict[str, Path]) -> None:
    """A child interpreter where ``import av`` fails: media imports, probe uses the boxes,
    verify_mp4 still checks structure, make_poster returns None."""
    code = f"""
import json, sys
sys.modules["av"] = None  # makes "import av" raise ImportError
from wan_notebook import media
print(json.dumps({{
    "available": media.is_pyav_available(),
    "probe": media.probe({str(files["tone"])!r}).to_dict(),
    "verify": media.verify_mp4({str(files["tone"])!r}).to_dict(),
    "poster": media.make_poster({str(files["tone"])!r}, {str(files["tone"])!r} + ".png"),
    "av_loaded": sys.modules.get("av") is not None,
}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    result = json.loads(out.stdout)
    assert result["available"] is False
    assert result["poster"] is None and result["av_loaded"] is False
    assert result["probe"] == result["verify"] == media.probe_boxes(files["tone"]).to_dict()
    with_av = media.probe(files["tone"]).to_dict()
    assert {k: v for k, v in result["probe"].items() if k != "duration"} == {
        k: v for k, v in with_av.items() if k != "duration"
    }
    assert result["probe"]["duration"] == pytest.approx(with_av["duration"], abs=1 / FPS)


def test_media_module_does_not_import_pyav() -> None:
    code = "import sys; import wan_notebook.media; print('av' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_probe_of_garbage_raises_corrupt_video_error(tmp_path: Path) -> None:
    bad = _write(tmp_path / "noise.mp4", os.urandom(4096))
    with pytest.raises(CorruptVideoError, match=r"noise\.mp4"):
        media.probe(bad)
    with pytest.raises(CorruptVideoError, match=r"noise\.mp4"):
        media.probe_boxes(bad)


# ------------------------------------------------------------------------------------------
# check_boxes


@pytest.mark.parametrize("name", ["tone", "silent", "moov_last", "fragmented"])
def test_check_boxes_accepts_good_files(files: dict[str, Path], name: str) -> None:
    media.check_boxes(files[name])


@pytest.mark.parametrize("where", [1, 7, 8, 20, 31, 33, 100, 0.25, 0.5, 0.9, -100, -1])
def test_truncated_files_are_caught(tone: tuple[Path, bytes], where: float) -> None:
    tmp, data = tone
    cut = int(len(data) * where) if isinstance(where, float) else where % len(data)
    path = _write(tmp / "cut.mp4", data[:cut])
    with pytest.raises(CorruptVideoError) as err:
        media.check_boxes(path)
    text = str(err.value)
    assert text.startswith("cut.mp4: ")
    assert str(tmp) not in text  # the name, not the full path
    assert "offset" in text or "no 'm" in text
    assert isinstance(err.value, DownloadError)


def test_truncation_at_a_box_boundary_is_caught(tone: tuple[Path, bytes]) -> None:
    tmp, data = tone
    boxes = _boxes(data)
    for kind, offset, _size in boxes[1:]:
        path = _write(tmp / "cut.mp4", data[:offset])
        with pytest.raises(CorruptVideoError, match=r"no 'm(oov|dat)' box"):
            media.check_boxes(path)
        assert kind in ("moov", "free", "mdat")


def test_moov_last_file_cut_before_its_index(files: dict[str, Path], tmp_path: Path) -> None:
    data = files["moov_last"].read_bytes()
    moov = next(b for b in _boxes(data) if b[0] == "moov")
    path = _write(tmp_path / "cut.mp4", data[: moov[1]])
    with pytest.raises(CorruptVideoError, match="no 'moov' box"):
        media.check_boxes(path)


def test_empty_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(CorruptVideoError, match="empty"):
        media.check_boxes(_write(tmp_path / "empty.mp4", b""))
    with pytest.raises(CorruptVideoError, match="not an MP4 file"):
        media.check_boxes(_write(tmp_path / "noise.mp4", bytes(range(256)) * 20))
    html = b"<html><body>403 Forbidden: the signed URL has expired</body></html>"
    with pytest.raises(CorruptVideoError, match="offset 0"):
        media.check_boxes(_write(tmp_path / "page.mp4", html))


def test_file_must_start_with_ftyp(tone: tuple[Path, bytes]) -> None:
    tmp, data = tone
    boxes = _boxes(data)
    ftyp = boxes[0]
    assert ftyp[0] == "ftyp"
    rest = data[ftyp[2] :]
    with pytest.raises(CorruptVideoError, match="does not start with an 'ftyp'"):
        media.check_boxes(_write(tmp / "noftyp.mp4", rest))


def test_trailing_bytes_after_the_last_box(tone: tuple[Path, bytes]) -> None:
    tmp, data = tone
    with pytest.raises(CorruptVideoError, match=rf"5 stray byte\(s\) at offset {len(data)}"):
        media.check_boxes(_write(tmp / "tail.mp4", data + b"\0" * 5))
    with pytest.raises(CorruptVideoError, match=rf"no valid box at offset {len(data)}"):
        media.check_boxes(_write(tmp / "tail.mp4", data + b"\xff" * 64))


def test_broken_child_box_inside_moov(tone: tuple[Path, bytes]) -> None:
    tmp, data = tone
    moov = next(b for b in _boxes(data) if b[0] == "moov")
    first_child = moov[1] + 8  # mvhd
    size = struct.unpack(">I", data[first_child : first_child + 4])[0]
    bad = bytearray(data)
    bad[first_child : first_child + 4] = struct.pack(">I", size + 3)
    with pytest.raises(CorruptVideoError, match=r"inside 'moov'|its parent 'moov'"):
        media.check_boxes(_write(tmp / "child.mp4", bytes(bad)))


def _with_64bit_mdat(data: bytes, extra: int = 0) -> bytes:
    """Replace the 8-byte 'free' box and the 8-byte mdat header (FFmpeg writes them side by
    side) by one 16-byte 64-bit mdat header: payload offsets do not move."""
    boxes = _boxes(data)
    i = next(k for k, b in enumerate(boxes) if b[0] == "mdat")
    free, mdat = boxes[i - 1], boxes[i]
    assert free[0] == "free" and free[2] == 8
    header = struct.pack(">I4sQ", 1, b"mdat", mdat[2] + 8 + extra)
    return data[: free[1]] + header + data[mdat[1] + 8 :]


def test_64bit_box_size_is_understood(tone: tuple[Path, bytes]) -> None:
    tmp, data = tone
    path = _write(tmp / "large.mp4", _with_64bit_mdat(data))
    media.check_boxes(path)
    assert media.verify_mp4(path) == media.probe(path)
    assert media.probe_boxes(path) == media.probe_boxes(_write(tmp / "plain.mp4", data))


def test_64bit_box_size_past_the_end_is_caught(tone: tuple[Path, bytes]) -> None:
    tmp, data = tone
    good = _with_64bit_mdat(data)
    mdat_at = good.index(b"mdat") - 4
    path = _write(tmp / "large.mp4", _with_64bit_mdat(data, extra=1000))
    with pytest.raises(CorruptVideoError, match=rf"'mdat' at offset {mdat_at} .*1000 bytes"):
        media.check_boxes(path)
    cut = _write(tmp / "cut.mp4", good[: mdat_at + 12])
    with pytest.raises(CorruptVideoError, match="cut 64-bit size"):
        media.check_boxes(cut)


def test_truncated_file_with_a_rewritten_mdat_size(tone: tuple[Path, bytes]) -> None:
    """Cut in the media data and the mdat size patched to match: the box chain is valid, but
    the index points past the data, which check_boxes notices."""
    tmp, data = tone
    mdat = next(b for b in _boxes(data) if b[0] == "mdat")
    cut = len(data) - 5000
    bad = bytearray(data[:cut])
    bad[mdat[1] : mdat[1] + 4] = struct.pack(">I", cut - mdat[1])
    path = _write(tmp / "patched.mp4", bytes(bad))
    with pytest.raises(CorruptVideoError, match=r"sample data at offset \d+.*outside"):
        media.check_boxes(path)
    with pytest.raises(CorruptVideoError, match=r"patched\.mp4"):
        media.verify_mp4(path)


# ------------------------------------------------------------------------------------------
# verify_mp4


def test_verify_returns_the_info_of_a_good_file(files: dict[str, Path]) -> None:
    path = files["tone"]
    info = media.verify_mp4(path, expected_size=path.stat().st_size)
    assert info == media.probe(path)
    assert media.verify_mp4(files["moov_last"]).width == 256


def test_verify_checks_the_expected_size(files: dict[str, Path]) -> None:
    path = files["tone"]
    size = path.stat().st_size
    with pytest.raises(
        CorruptVideoError, match=rf"tone\.mp4: {size} bytes .* {size + 10} expected"
    ):
        media.verify_mp4(path, expected_size=size + 10)
    with pytest.raises(CorruptVideoError, match="extra data"):
        media.verify_mp4(path, expected_size=size - 1)


def test_verify_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CorruptVideoError, match=r"gone\.mp4: the file does not exist"):
        media.verify_mp4(tmp_path / "gone.mp4")


@pytest.mark.parametrize("fill", ["zeros", "noise"])
def test_damaged_media_data_is_caught_only_by_decoding(tone: tuple[Path, bytes], fill: str) -> None:
    """The last 10% overwritten: the boxes are intact (decode=False passes), decoding fails."""
    tmp, data = tone
    n = len(data) // 10
    junk = bytes(n) if fill == "zeros" else np.random.default_rng(5).bytes(n)
    path = _write(tmp / "damaged.mp4", data[:-n] + junk)
    media.check_boxes(path)
    media.verify_mp4(path, decode=False)
    with pytest.raises(CorruptVideoError, match=r"^damaged\.mp4: .*decod") as err:
        media.verify_mp4(path, expected_size=len(data))
    assert str(tmp) not in str(err.value)


# ------------------------------------------------------------------------------------------
# posters


def test_poster_is_the_frame_at_the_requested_time(files: dict[str, Path], tmp_path: Path) -> None:
    out = media.make_poster(files["tone"], tmp_path / "p" / "poster.png", at=1.0)
    assert out == tmp_path / "p" / "poster.png"
    assert sorted(p.name for p in out.parent.iterdir()) == ["poster.png"]  # no temp left
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert img.size == (W, H)  # never enlarged
        poster = np.asarray(img.convert("L"), dtype=int)
    with av.open(str(files["tone"])) as c:
        frames = [f.to_ndarray(format="gray").astype(int) for f in c.decode(video=0)]
    diffs = [np.abs(poster - f).mean() for f in frames]
    assert int(np.argmin(diffs)) == FPS  # frame 24 is at t = 1.0 s
    assert diffs[FPS] < 3.0


def test_poster_is_scaled_to_max_width_keeping_the_aspect(
    files: dict[str, Path], tmp_path: Path
) -> None:
    out = media.make_poster(files["silent"], tmp_path / "small.png", max_width=100, at=99.0)
    assert out is not None
    with Image.open(out) as img:
        assert img.size == (100, round(100 * H / W))
        assert np.asarray(img).std() > 10  # a picture, not a blank


def test_poster_of_a_broken_file_raises(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.mp4", b"\0\0\0\x10ftypisom" + os.urandom(500))
    with pytest.raises(CorruptVideoError, match=r"bad\.mp4"):
        media.make_poster(bad, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()
