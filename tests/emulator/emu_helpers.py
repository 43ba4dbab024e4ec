"""A thin raw-HTTP client bound to one emulator, for the emulator tests."""

from __future__ import annotations

import time
from typing import Any

import httpx

from wan_notebook.emulator import Emulator

CREATE = "/services/aigc/video-generation/video-synthesis"
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"}


class Api:
    """Raw HTTP against an emulator, as a client would send it (httpx, real sockets)."""

    def __init__(self, emu: Emulator, key: str | None = None) -> None:
        self.emu = emu
        self.key = key if key is not None else emu.api_key
        self.http = httpx.Client(timeout=30.0)

    def headers(self, **extra: str) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.key}", "X-DashScope-Async": "enable"}
        h.update(extra)
        return h

    def create_raw(self, body: Any, *, path: str = CREATE, **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", None) or self.headers()
        if isinstance(body, (bytes, str)):
            return self.http.post(self.emu.base_url + path, content=body, headers=headers, **kw)
        return self.http.post(self.emu.base_url + path, json=body, headers=headers, **kw)

    def create(
        self,
        prompt: str = "a red fox in the snow",
        *,
        model: str = "wan2.5-t2v-preview",
        inp: dict[str, Any] | None = None,
        **params: Any,
    ) -> httpx.Response:
        params.setdefault("size", "832*480")
        body = {"model": model, "input": {"prompt": prompt, **(inp or {})}, "parameters": params}
        return self.create_raw(body)

    def submit(self, prompt: str = "a red fox in the snow", **kw: Any) -> str:
        r = self.create(prompt, **kw)
        assert r.status_code == 200, r.text
        return r.json()["output"]["task_id"]

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(self.emu.base_url + path, headers=self.headers(), **kw)

    def query(self, task_id: str) -> dict[str, Any]:
        r = self.get(f"/tasks/{task_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def cancel(self, task_id: str) -> httpx.Response:
        return self.http.post(
            f"{self.emu.base_url}/tasks/{task_id}/cancel",
            headers={"Authorization": f"Bearer {self.key}"},
        )

    def wait(
        self, task_id: str, *, until: set[str] | None = None, timeout: float = 30.0
    ) -> dict[str, Any]:
        until = until or TERMINAL
        deadline = time.monotonic() + timeout
        while True:
            body = self.query(task_id)
            if body["output"]["task_status"] in until:
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"task {task_id} still {body['output']['task_status']}")
            time.sleep(0.02)

    def close(self) -> None:
        self.http.close()
