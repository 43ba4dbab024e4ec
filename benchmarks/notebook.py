"""Notebook-surface costs, each next to a baseline measured in the same run.

1. Bytes one video adds to the .ipynb: our final panel by reference and with --embed, against
   ``IPython.display.Video(path, embed=True)``.
2. ``%load_ext wan_notebook`` time against ``import ipywidgets`` (fresh subprocesses, median).
3. Round-trip latency of a trivial cell in a real kernel with no jobs, then while 20
   ``--background`` jobs run against a slow emulator.

Run: ``python benchmarks/notebook.py`` (needs the emulator extra; takes about a minute).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPS = 7
FAST = "--model wan2.5-t2v-preview --size 832*480"


def output_bytes(bundle: dict) -> int:
    """Size of one display_data output as nbformat writes it."""
    import nbformat

    out = nbformat.v4.new_output("display_data", data=bundle)
    return len(json.dumps(out, indent=1).encode())


def bench_bytes(folder: Path) -> None:
    from IPython.display import Video

    from wan_notebook import api
    from wan_notebook.emulator import Emulator
    from wan_notebook.notebook.render import PanelState, panel_html, panel_text

    os.chdir(folder)
    with Emulator(speed=200.0, rate_limits=False) as emu:
        result = api.generate(
            "a red fox in a trench coat", model="wan2.5-t2v-preview", size="832*480",
            api_key=emu.api_key, base_url=emu.base_url,
        )  # fmt: skip
    size = result.path.stat().st_size

    def final(embed: bool) -> dict:
        st = PanelState(prompt=result.prompt, model=result.model, size="832*480", duration=5,
                        task_id=result.task_id, status="SUCCEEDED", phase="saved",
                        history=[("PENDING", 0.0), ("RUNNING", 0.4), ("SUCCEEDED", 1.2)],
                        result=result, embed=embed)  # fmt: skip
        bundle = {"text/plain": panel_text(st), "text/html": panel_html(st)}
        return bundle

    video = Video(str(result.path), embed=True)
    base = output_bytes({"text/plain": repr(video), "text/html": video._repr_html_()})
    ref, emb = output_bytes(final(False)), output_bytes(final(True))
    print(f"1. bytes added to the .ipynb per video (MP4 {size:,} B, 832x480 5 s)")
    print(f"   baseline IPython.display.Video(embed=True): {base:>10,} B")
    print(f"   %%wanvideo (reference, default):           {ref:>10,} B  ({ref / base:.3%})")
    print(f"   %%wanvideo --embed (video + poster <img>): {emb:>10,} B  ({emb / base:.2f}x)")


def _time_in_fresh_process(snippet: str) -> float:
    code = (
        "import time\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\nt = time.perf_counter()\n"
        f"{snippet}\nprint(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def bench_load() -> None:
    ext = "wan_notebook" if _has_root_extension() else "wan_notebook.notebook"
    load = [_time_in_fresh_process(f"ip.run_line_magic('load_ext', '{ext}')") for _ in range(REPS)]
    widgets = [_time_in_fresh_process("import ipywidgets") for _ in range(REPS)]
    print(f"2. import cost in a fresh IPython process (median of {REPS})")
    print(f"   baseline import ipywidgets:      {statistics.median(widgets) * 1000:7.1f} ms")
    print(f"   %load_ext {ext + ':':<22}{statistics.median(load) * 1000:7.1f} ms")


def _has_root_extension() -> bool:
    import wan_notebook

    try:
        return callable(wan_notebook.load_ipython_extension)
    except AttributeError:
        return False


def bench_latency(folder: Path) -> None:
    from jupyter_client.manager import start_new_kernel

    from wan_notebook.emulator import Emulator

    ext = "wan_notebook" if _has_root_extension() else "wan_notebook.notebook"
    with Emulator(speed=0.2, rate_limits=False, concurrency=False) as emu:
        env = dict(os.environ, DASHSCOPE_API_KEY=emu.api_key, DASHSCOPE_HTTP_BASE_URL=emu.base_url)
        km, kc = start_new_kernel(kernel_name="python3", cwd=str(folder), env=env)
        try:

            def run(code: str) -> float:
                t = time.perf_counter()
                reply = kc.execute_interactive(code, timeout=60, output_hook=lambda msg: None)
                assert reply["content"]["status"] == "ok", reply["content"]
                return time.perf_counter() - t

            run(f"%load_ext {ext}\n%config WanVideoMagic.poll_scale = 0.005")
            for _ in range(5):
                run("1 + 1")
            idle = [run("1 + 1") for _ in range(30)]
            run(
                "for i in range(20):\n"
                f"    get_ipython().run_cell_magic('wanvideo', '{FAST} --background --new',"
                " f'fox number {i}')"
            )
            time.sleep(2.0)
            busy = [run("1 + 1") for _ in range(30)]
            phases: list[str] = []
            kc.execute_interactive(
                "import collections\nm = get_ipython()._wan_notebook_magic\n"
                "print(dict(collections.Counter(j.phase for j in m.jobs)))",
                timeout=60,
                output_hook=lambda msg: phases.append(msg["content"].get("text", "")),
            )
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    p = statistics.median
    print("3. trivial cell round trip in a kernel (median of 30, p90 in brackets)")
    print(
        f"   baseline, no jobs:            {p(idle) * 1000:6.1f} ms [{sorted(idle)[26] * 1000:.1f}]"
    )
    print(
        f"   while 20 background jobs run: {p(busy) * 1000:6.1f} ms "
        f"[{sorted(busy)[26] * 1000:.1f}]  ({(p(busy) - p(idle)) * 1000:+.1f} ms)"
    )
    print(f"   job phases during the measurement: {''.join(phases).strip()}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = os.getcwd()
        try:
            bench_bytes(Path(tmp))
        finally:
            os.chdir(home)
        bench_load()
        bench_latency(Path(tmp))


if __name__ == "__main__":
    main()
