"""How much a cache hit costs: OutputStore.lookup() of a saved result vs hashing its file.

lookup() trusts size + mtime recorded in the index and hashes only when they changed; the
baseline is the sha256 a naive "verify on every lookup" would pay. Also times journal writes.

    python benchmarks/store_lookup.py [size_mb]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import wan_notebook.store.saving as saving
from wan_notebook._fsutil import sha256_file
from wan_notebook.protocol import Task
from wan_notebook.request import VideoRequest
from wan_notebook.store import OutputStore

# The file is random bytes, not an MP4: skip the media probe and poster (not what is measured).
saving.media_probe = lambda video: None
saving.make_poster = lambda video, poster: None


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


def main() -> None:
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp:
        store = OutputStore(Path(tmp) / "out")
        request = VideoRequest.create("benchmark fox")
        record = store.record_submitted(request, "bench-task-0001")
        store.root.mkdir(exist_ok=True)
        with open(record.paths.video, "wb") as f:
            for _ in range(size_mb):
                f.write(os.urandom(1 << 20))
        store.record_status(record.task_id, "SUCCEEDED")
        task = Task(task_id=record.task_id, status="SUCCEEDED")
        save = timed(lambda: store.save_result(request, task, record.paths.video), 1)
        base = timed(lambda: sha256_file(record.paths.video), 3)
        hit = timed(lambda: store.lookup(request), 20)
        n = 100
        reqs = [VideoRequest.create("journal", seed=i) for i in range(n)]
        t = time.perf_counter()
        for i, r in enumerate(reqs):
            store.record_submitted(r, f"journal-{i:05d}")
        write = (time.perf_counter() - t) / n * 1000
        print(f"file {size_mb} MB")
        print(f"baseline sha256 of the file : {base:9.2f} ms")
        print(f"lookup() cache hit          : {hit:9.2f} ms  ({base / hit:.0f}x faster)")
        print(f"record_submitted() (1 txn)  : {write:9.2f} ms")
        print(f"save_result() (hash+sidecar): {save:9.2f} ms")


if __name__ == "__main__":
    main()
