"""Media inputs: uploading a 20 MB image, reusing it, and what keying inputs by content costs.

* upload: ``media_in.prepare`` of a 20 MB BMP (19.97 MB, the wan2.6 image limit is 20 MiB)
  through the emulator's temporary-upload flow (getPolicy + multipart POST to its OSS route, the
  file written to a temp file first) vs the baseline, one raw ``httpx`` multipart POST of the
  same bytes to the same route with a policy fetched beforehand (the transfer alone).
* reuse: the same ``prepare`` again with the upload memory: no upload at all.
* hashing: ``coerce()`` of the 20 MB file (read, sha256, format sniff, thumbnail) and of a
  1920x1080 NumPy array (PNG encoding, sha256, thumbnail) vs the baseline, a bare
  ``hashlib.sha256`` of the same bytes.

    python benchmarks/inputs.py [--quick]      (--quick: one repeat instead of three)
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

try:
    from . import _common as common
except ImportError:  # run as a script
    import _common as common  # type: ignore[no-redef]

from wan_notebook.client import WanClient
from wan_notebook.emulator import Emulator
from wan_notebook.media_in import UploadMemory, coerce, prepare

MB = 1_000_000
MODEL = "wan2.6-i2v"


def best(fn: Any, repeat: int) -> float:
    """The fastest of ``repeat`` runs, seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def big_image(folder: Path) -> Path:
    """A 2580x2580 BMP of noise: 19.97 MB, incompressible, under the 20 MiB limit."""
    arr = np.random.default_rng(0).integers(0, 255, (2580, 2580, 3), dtype=np.uint8)
    path = folder / "big.bmp"
    Image.fromarray(arr).save(path)
    return path


def raw_post(client: WanClient, http: httpx.Client, path: Path, name: str) -> float:
    """Baseline: the multipart POST alone, streamed from the file on a warm connection (the
    policy is fetched outside the timing). Returns its seconds."""
    from wan_notebook import protocol

    spec = protocol.build_upload_policy(MODEL)
    resp = client._call(spec, {"what": "get upload policy"})
    policy = protocol.parse_upload_policy(resp.status_code, resp.content, resp.headers)
    fields = policy.form_fields(name, "image/bmp")
    t = time.perf_counter()
    with path.open("rb") as f:
        r = http.post(policy.upload_host, data=fields, files={"file": (name, f, "image/bmp")})
    seconds = time.perf_counter() - t
    assert r.status_code in (200, 204), r.text
    return seconds


def run(quick: bool) -> common.Report:
    repeat = 1 if quick else 3
    rows: list[list[Any]] = []
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = big_image(folder)
        size = path.stat().st_size
        emu = Emulator(speed=200.0, state_dir=folder / "emu").start()
        try:
            with WanClient(emu.api_key, base_url=emu.base_url) as client:
                inp = coerce(path, "image")
                ours: list[float] = []
                for i in range(repeat):
                    mem = UploadMemory(folder / f"mem{i}")
                    ours.append(best(lambda mem=mem: prepare(client, MODEL, (inp,), mem), 1))
                up = min(ours)
                with httpx.Client() as http:
                    http.get(emu.base_url.split("/api/")[0] + "/oss")  # warm the connection
                    base = min(raw_post(client, http, path, f"raw{i}.bmp") for i in range(repeat))
                mem = UploadMemory(folder / "mem0")
                reuse = best(lambda: prepare(client, MODEL, (inp,), mem), repeat)
                uploads = emu.stats()["requests"]["upload"]
        finally:
            emu.stop()
        rows.append([f"upload {size / MB:.2f} MB (s)", up, base, common.ratio(up, base)])
        rows.append(["upload throughput (MB/s)", size / MB / up, size / MB / base,
                     common.ratio(base, up)])  # fmt: skip
        rows.append(["re-run within 48 h (s)", reuse, up, common.ratio(reuse, up)])
        figures.update(upload_s=up, raw_post_s=base, reuse_s=reuse, size_mb=size / MB)

        data = path.read_bytes()
        sha = best(lambda: hashlib.sha256(data).hexdigest(), repeat)
        key_file = best(lambda: coerce(path, "image"), repeat)
        rows.append(
            ["coerce 20 MB file (ms)", key_file * 1e3, sha * 1e3, common.ratio(key_file, sha)]
        )

        arr = np.random.default_rng(1).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
        sha_arr = best(lambda: hashlib.sha256(arr.tobytes()).hexdigest(), repeat)
        key_arr = best(lambda: coerce(arr, "image"), repeat)
        rows.append(["coerce 1920x1080 array (ms)", key_arr * 1e3, sha_arr * 1e3,
                     common.ratio(key_arr, sha_arr)])  # fmt: skip
        png = io.BytesIO()
        Image.fromarray(arr).save(png, format="PNG")
        figures.update(coerce_file_ms=key_file * 1e3, sha_file_ms=sha * 1e3,
                       coerce_array_ms=key_arr * 1e3, png_bytes=png.tell())  # fmt: skip
    return {
        "name": "inputs",
        "title": "inputs: a 20 MB image through the temporary upload, and keying inputs by content",
        "columns": ["figure", "ours", "baseline", "ratio"],
        "rows": rows,
        # one upload per memory in the timed runs plus the raw posts; the reuse made none
        "must_be_zero": {"extra uploads": uploads - 2 * repeat},
        "notes": [
            "upload baseline: one raw httpx multipart POST streaming the same file on a warm "
            "connection (policy fetched outside the timing); ours adds getPolicy, writing the "
            "temp file and the retry loop",
            "coerce baseline: a bare sha256 of the same bytes; ours also sniffs the format "
            "with Pillow and draws a 64 px thumbnail (an array is PNG-encoded first)",
        ],
        "figures": figures,
    }


def main(argv: list[str] | None = None) -> int:
    return common.main_for(run, __doc__ or "", argv)


if __name__ == "__main__":
    raise SystemExit(main())
