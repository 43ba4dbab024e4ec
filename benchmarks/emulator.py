"""Emulator benchmarks: render time vs simulated generation time, and query throughput.

Run: ``python benchmarks/emulator.py``. Prints

1. seconds to render a 5 s clip at 832*480, 1280*720 and 1920*1080 with ``render_video``
   (fresh output, so no cache), next to the simulated generation time of wan2.5-t2v-preview at
   speed 30 (rendering must stay well under it, or it, not the clock, sets the pace);
2. (issue 13) render time of the new-protocol extremes next to their simulated generation time
   at speed 30: wan2.7-t2v 5 s at 1080P 4:3 (1648*1248) and a 30 s Wan3.0 clip (1080P 16:9);
3. query throughput (requests/s, p50/p95 latency) of 50 concurrent pollers (httpx.AsyncClient)
   against one emulator with rate limits off, and the same against a trivial starlette endpoint
   served by the same stack (uvicorn h11 + the emulator's protocol and socket setup) as the
   baseline. Each server runs in its own process so that client and server do not share a GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from wan_notebook import catalog

SIZES = ("832*480", "1280*720", "1920*1080")

_SERVER = r"""
import sys, threading, time
mode = sys.argv[1]
if mode == "emulator":
    import httpx
    from wan_notebook.emulator import Emulator
    emu = Emulator(rate_limits=False, speed=0.001).start()
    r = httpx.post(
        emu.base_url + "/services/aigc/video-generation/video-synthesis",
        headers={"Authorization": f"Bearer {emu.api_key}", "X-DashScope-Async": "enable"},
        json={"model": "wan2.5-t2v-preview", "input": {"prompt": "bench"},
              "parameters": {"size": "832*480"}},
    )
    task_id = r.json()["output"]["task_id"]
    print(f"{emu.base_url}/tasks/{task_id} {emu.api_key}", flush=True)
else:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from wan_notebook.emulator.server import _bind
    from wan_notebook.emulator.wire import WireProtocol

    async def hello(request):
        out = {"task_id": "t", "task_status": "PENDING"}
        return JSONResponse({"request_id": "x", "output": out})

    app = Starlette(routes=[Route("/hello", hello)])
    sock = _bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, http=WireProtocol, lifespan="off", log_config=None,
                                           access_log=False))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}/hello none", flush=True)
sys.stdin.read()
"""


def bench_render(repeats: int) -> None:
    from wan_notebook.emulator.render import render_video

    model = catalog.get_model("wan2.5-t2v-preview")
    print("render of a 5 s clip (render_video, fresh file) vs simulated generation at speed 30")
    print(f"  {'size':>10} {'render s':>9} {'simulated s':>12} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            w, h = (int(x) for x in size.split("*"))
            times = []
            for i in range(repeats):
                t = time.perf_counter()
                render_video(
                    Path(tmp) / f"{size.replace('*', 'x')}-{i}.mp4",
                    width=w,
                    height=h,
                    duration=5.0,
                    fps=model.fps,
                    prompt="a red fox in a trench coat walks through a neon-lit market",
                    seed=i,
                    audio="tone",
                )
                times.append(time.perf_counter() - t)
            best = min(times)
            simulated = model.expected_seconds(size, 5) / 30.0
            print(f"  {size:>10} {best:9.2f} {simulated:12.2f} {best / simulated:6.2f}")


def bench_render_new_protocol() -> None:
    """Issue 13: the largest wan2.7 cell and Wan3.0's longest clip, one fresh render each."""
    from wan_notebook.emulator.render import render_video

    cases = (
        ("wan2.7-t2v", "1080P", "4:3", 5),
        ("wan3.0-video", "1080P", "16:9", 30),
    )
    print("new protocol: render (fresh file) vs simulated generation at speed 30")
    print(f"  {'model':>13} {'cell':>11} {'size':>10} {'s':>3} {'render s':>9} {'simulated s':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for model_id, res, ratio, seconds in cases:
            model = catalog.get_model(model_id)
            size = model.pixel_size(res, ratio)
            assert size is not None
            w, h = (int(x) for x in size.split("*"))
            t = time.perf_counter()
            render_video(
                Path(tmp) / f"{model_id}-{w}x{h}.mp4",
                width=w,
                height=h,
                duration=float(seconds),
                fps=model.fps,
                prompt="a red fox in a trench coat walks through a neon-lit market",
                seed=1,
                audio="tone",
            )
            took = time.perf_counter() - t
            simulated = model.expected_seconds(size, seconds) / 30.0
            cell = f"{res} {ratio}"
            print(
                f"  {model_id:>13} {cell:>11} {size:>10} {seconds:>3} {took:9.2f} {simulated:12.2f}"
            )


async def _poll(url: str, key: str, pollers: int, per_poller: int) -> tuple[float, list[float]]:
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=pollers, max_keepalive_connections=pollers)
    latencies: list[float] = []
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(client.get(url, headers=headers) for _ in range(pollers)))  # warm

        async def poller() -> None:
            for _ in range(per_poller):
                t = time.perf_counter()
                r = await client.get(url, headers=headers)
                latencies.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text

        t0 = time.perf_counter()
        await asyncio.gather(*(poller() for _ in range(pollers)))
        wall = time.perf_counter() - t0
    return wall, latencies


def bench_queries(pollers: int, per_poller: int) -> None:
    print(f"\nquery throughput: {pollers} concurrent pollers x {per_poller} GETs (keep-alive)")
    print(f"  {'server':>22} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for mode, label in (("baseline", "starlette hello"), ("emulator", "emulator GET /tasks/id")):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            url, key = proc.stdout.readline().split()
            wall, lat = asyncio.run(_poll(url, key, pollers, per_poller))
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)
        q = statistics.quantiles(lat, n=20)
        print(f"  {label:>22} {len(lat) / wall:8.0f} {q[9] * 1000:8.1f} {q[18] * 1000:8.1f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=2, help="renders per size (best is shown)")
    p.add_argument("--pollers", type=int, default=50)
    p.add_argument("--requests", type=int, default=40, help="GETs per poller")
    args = p.parse_args()
    bench_render(args.repeats)
    bench_render_new_protocol()
    bench_queries(args.pollers, args.requests)


if __name__ == "__main__":
    main()
