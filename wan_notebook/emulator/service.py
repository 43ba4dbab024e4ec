"""The local emulator as a service: one background process per state folder, found and reused.

``%wanvideo connect`` / ``%wanvideo emulator`` / ``wanvideo emulator --background`` call
:func:`ensure`: it returns the emulator already serving from the folder, or starts one as a
detached process (its own session, stdio to ``emulator.log``) bound to 127.0.0.1 only. The
process writes ``state.json`` (pid, port, key, speed, region) once it accepts requests and keeps
its tasks in ``tasks.sqlite`` there, so a kernel restart, and even a restart of the emulator
process, loses nothing. :func:`stop` ends it. The folder is ``$WAN_NOTEBOOK_EMULATOR_DIR``, else
``$XDG_CACHE_HOME/wan-notebook/emulator`` (``~/.cache/...``); tests point the variable at a
temporary folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError

__all__ = ["ENV_DIR", "ServiceInfo", "ensure", "find", "state_dir", "stop"]

ENV_DIR = "WAN_NOTEBOOK_EMULATOR_DIR"
STATE_FILE = "state.json"
LOG_FILE = "emulator.log"
KEY_FILE = "key"
HOST = "127.0.0.1"
#: the child processes this process started (kept so they are not reported as leaked)
_children: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True)
class ServiceInfo:
    """A running background emulator, as its state file describes it (the key stays hidden)."""

    pid: int
    port: int
    speed: float
    region: str | None
    directory: Path
    _key: str

    @property
    def root_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """The DashScope base URL to give a client."""
        return self.root_url + "/api/v1"

    @property
    def api_key(self) -> str:
        """The key this emulator accepts (random per state folder, kept in ``key``, 0600)."""
        return self._key

    def __repr__(self) -> str:
        return f"ServiceInfo(pid={self.pid}, {self.base_url}, speed={self.speed:g})"

    def stats(self) -> dict[str, Any]:
        """The emulator's counters (its admin endpoint)."""
        import httpx

        r = httpx.get(self.root_url + "/_emulator/stats", headers=self._auth(), timeout=10)
        r.raise_for_status()
        return r.json()

    def set_speed(self, speed: float) -> ServiceInfo:
        """Change the running emulator's speed; returns the updated info (state file too)."""
        import httpx

        r = httpx.post(
            self.root_url + "/_emulator/speed", headers=self._auth(), json={"speed": speed},
            timeout=10,
        )  # fmt: skip
        r.raise_for_status()
        with contextlib.suppress(OSError, ValueError):
            data = json.loads((self.directory / STATE_FILE).read_text())
            if data.get("pid") == self.pid:
                _write_json(self.directory, {**data, "speed": float(speed)})
        return dataclasses.replace(self, speed=float(speed))

    def _auth(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + self._key}


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """The state folder: ``$WAN_NOTEBOOK_EMULATOR_DIR``, else the user's cache folder."""
    e = os.environ if env is None else env
    given = e.get(ENV_DIR, "").strip()
    if given:
        return Path(given).expanduser()
    cache = e.get("XDG_CACHE_HOME", "").strip() or str(Path("~/.cache").expanduser())
    return Path(cache) / "wan-notebook" / "emulator"


def _prepare(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One starter at a time per folder (two kernels connecting at once start one emulator)."""
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def service_key(directory: Path) -> str:
    """The folder's API key, created (0600) on first use and kept across restarts."""
    path = directory / KEY_FILE
    with contextlib.suppress(FileNotFoundError):
        key = path.read_text().strip()
        if key:
            return key
    key = "sk-wan-emulator-" + secrets.token_hex(16)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def write_state(directory: Path, *, port: int, speed: float, region: str | None) -> None:
    """Called by the emulator process once it serves: publish pid, port, speed, region."""
    data = {"pid": os.getpid(), "port": port, "speed": speed, "region": region,
            "started": time.time()}  # fmt: skip
    _write_json(directory, data)


def _write_json(directory: Path, data: dict[str, Any]) -> None:
    tmp = directory / f".{STATE_FILE}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, directory / STATE_FILE)


def clear_state(directory: Path, pid: int) -> None:
    """Remove the state file if it still names ``pid`` (the emulator process, on exit)."""
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError, OSError):
        if json.loads((directory / STATE_FILE).read_text())["pid"] == pid:
            (directory / STATE_FILE).unlink()


def _read_state(directory: Path) -> ServiceInfo | None:
    try:
        data = json.loads((directory / STATE_FILE).read_text())
        key = (directory / KEY_FILE).read_text().strip()
        return ServiceInfo(
            pid=int(data["pid"]), port=int(data["port"]), speed=float(data["speed"]),
            region=data.get("region"), directory=directory, _key=key,
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return all(not (child.pid == pid and child.poll() is not None) for child in _children)


def _is_ours(pid: int, directory: Path) -> bool:
    """Whether ``pid`` is an emulator process serving ``directory`` (never signal a process
    that merely reuses a stale pid). Linux ``/proc``; elsewhere: unknown, so no."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"wan_notebook.emulator" in argv and str(directory).encode() in argv


def _answers(info: ServiceInfo) -> bool:
    """Whether the emulator at ``info`` answers as ours (its admin endpoint takes our key)."""
    try:
        info.stats()
    except Exception:
        return False
    return True


def find(directory: Path | None = None) -> ServiceInfo | None:
    """The emulator serving from ``directory`` (default :func:`state_dir`), or ``None``.

    A state file whose process is gone or does not answer is stale: ``None``.
    """
    directory = (directory or state_dir()).absolute()
    info = _read_state(directory)
    if info is None or not _alive(info.pid) or not _answers(info):
        return None
    return info


def ensure(
    directory: Path | None = None,
    *,
    speed: float = 30.0,
    region: str | None = None,
    timeout: float = 60.0,
) -> tuple[ServiceInfo, bool]:
    """The folder's running emulator, or a new one started in the background.

    Returns ``(info, started)``. A running emulator is reused as it is (``speed`` and
    ``region`` apply to a new one only; :meth:`ServiceInfo.set_speed` changes the speed).
    """
    if not speed > 0:
        raise ConfigurationError(f"speed must be positive, got {speed!r}")
    if region is not None:
        from .. import catalog

        region = catalog.get_region(region).name  # ValueError names the allowed regions
    directory = _prepare((directory or state_dir()).absolute())
    with _locked(directory):
        info = find(directory)
        if info is not None:
            return info, False
        stale = _read_state(directory)
        if stale is not None and _alive(stale.pid) and _is_ours(stale.pid, directory):
            _terminate(stale.pid, timeout=10.0)  # alive but not answering: replace it
        with contextlib.suppress(FileNotFoundError):
            (directory / STATE_FILE).unlink()
        service_key(directory)
        proc = _spawn(directory, speed=speed, region=region)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the emulator process exited with status {proc.returncode}; "
                    f"see {directory / LOG_FILE}"
                )
            info = _read_state(directory)
            if info is not None and info.pid == proc.pid and _answers(info):
                return info, True
            time.sleep(0.05)
        _terminate(proc.pid, timeout=5.0)
        raise RuntimeError(f"the emulator did not start within {timeout:g} s; see "
                           f"{directory / LOG_FILE}")  # fmt: skip


def _spawn(directory: Path, *, speed: float, region: str | None) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "wan_notebook.emulator", "--serve-state", str(directory),
           "--host", HOST, "--port", "0", "--speed", repr(float(speed)), "--quiet"]  # fmt: skip
    if region:
        cmd += ["--region", region]
    log = open(directory / LOG_FILE, "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # outlives the kernel; no Ctrl-C/SIGHUP of its group
            close_fds=True,
            cwd=str(directory),
        )
    finally:
        log.close()
    _children.append(proc)
    return proc


def _terminate(pid: int, *, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
    for child in _children:
        if child.pid == pid:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=1.0)


def stop(directory: Path | None = None, *, timeout: float = 15.0) -> ServiceInfo | None:
    """Stop the folder's emulator (SIGTERM, then SIGKILL); returns what was stopped, or
    ``None`` if none was running. Its tasks stay on disk for the next one."""
    directory = (directory or state_dir()).absolute()
    if not directory.is_dir():
        return None
    with _locked(directory):
        info = _read_state(directory)
        if info is None:
            return None
        running = _alive(info.pid) and _is_ours(info.pid, directory)
        if running:
            _terminate(info.pid, timeout=timeout)
        with contextlib.suppress(FileNotFoundError):
            (directory / STATE_FILE).unlink()
        return info if running else None
