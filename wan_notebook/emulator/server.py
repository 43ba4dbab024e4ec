"""``Emulator``: the server in a background thread, with its control surface for tests."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import DEMO_API_KEY
from .faults import FaultRules

log = logging.getLogger("wan_notebook.emulator")
_access_log = logging.getLogger("wan_notebook.emulator.access")


class Emulator:
    """A local DashScope video API on loopback (see ``briefs/emulator-api.md``).

    ``speed`` simulated seconds pass per wall second; ``lifetime`` is in simulated seconds.
    ``region`` (e.g. ``"singapore"``) offers only the models the catalog lists there; others
    answer "Model not exist.". ``strict_create`` rejects a size or duration the model does not
    offer with HTTP 400 at create instead of the service's accepted-then-FAILED task.
    ``state_dir`` keeps renders, the URL-signing secret and the tasks there (SQLite), so a
    new emulator on the same folder carries on with them (the background service uses it).
    ``clock_offset`` (seconds, default 0) sets the service's wall clock apart from this
    machine's (``-600``: ten minutes behind, as seen by a client whose clock is 10 min fast).
    ``fast_render`` renders tiny (64 px wide, 1 fps) but valid H.264 videos, for scale tests.
    ``rate_clock`` is the monotonic clock the rate limits read (default: the wall's); tests
    turn one by hand so a busy machine cannot spread a burst over two windows.
    Use as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] = (DEMO_API_KEY,),
        speed: float = 30.0,
        seed: int = 0,
        lifetime: float = 86400.0,
        storage: str | Path | None = None,
        rate_limits: bool = True,
        concurrency: bool = True,
        log: bool = False,
        render_workers: int = 2,
        region: str | None = None,
        strict_create: bool = False,
        state_dir: str | Path | None = None,
        clock_offset: float = 0.0,
        fast_render: bool = False,
        rate_clock: Callable[[], float] | None = None,
    ) -> None:
        keys = tuple(api_keys)
        if isinstance(api_keys, str) or not keys or not all(isinstance(k, str) and k for k in keys):
            raise ValueError("api_keys must be a non-empty sequence of non-empty strings")
        if not isinstance(lifetime, (int, float)) or not lifetime > 0:
            raise ValueError(f"lifetime must be a positive number of seconds, got {lifetime!r}")
        if not isinstance(render_workers, int) or render_workers < 1:
            raise ValueError("render_workers must be a positive integer")
        from .. import catalog
        from .clock import SimClock

        self._region = catalog.get_region(region).name if region is not None else None
        self._strict_create = bool(strict_create)
        self._state_dir = Path(state_dir) if state_dir is not None else None
        if self._state_dir is not None and storage is None:
            storage = self._state_dir / "data"
        self._host = host
        self._port = port
        self._keys = keys
        self._clock = SimClock(speed, clock_offset)
        self._seed = seed
        self._lifetime = float(lifetime)
        self._storage_arg = Path(storage) if storage is not None else None
        self._rate_limits = rate_limits
        self._concurrency = concurrency
        self._log = log
        self._render_workers = render_workers
        self._fast_render = bool(fast_render)  # tiny videos for scale tests (fastrender.py)
        self._rate_clock = rate_clock
        self.faults = FaultRules(seed)
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._store: Any = None
        self._renderer: Any = None
        self._stats: Any = None
        self._storage: Path | None = None
        self._own_storage = False
        self._handler: logging.Handler | None = None
        self._old_level: int | None = None
        self._bound_port: int | None = None
        self._ctx: Any = None

    # -- properties ------------------------------------------------------------------------

    @property
    def root_url(self) -> str:
        """``http://<host>:<port>`` (available once started)."""
        if self._bound_port is None:
            raise RuntimeError("the emulator is not running; call start() first")
        host = self._host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._bound_port}"

    @property
    def base_url(self) -> str:
        """The DashScope base URL to give a client: ``{root_url}/api/v1``."""
        return self.root_url + "/api/v1"

    @property
    def api_key(self) -> str:
        """The first accepted key."""
        return self._keys[0]

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second."""
        return self._clock.speed

    @property
    def storage(self) -> Path | None:
        """Where renders and uploads live while running."""
        return self._storage

    @property
    def region(self) -> str | None:
        """The emulated region's name, or ``None`` (every model offered)."""
        return self._region

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __repr__(self) -> str:
        where = self.root_url if self._bound_port is not None else "stopped"
        return f"Emulator({where}, speed={self.speed:g}, keys={len(self._keys)})"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind, start serving in a background thread, and return once requests are accepted."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the emulator is already running")
            import uvicorn

            from .app import Context, build_app
            from .ratelimit import RateLimiter
            from .rendering import RenderPool
            from .signing import UrlSigner
            from .stats import Stats
            from .tasks import TaskStore
            from .uploads import UploadStore
            from .wire import WireProtocol

            if self._storage_arg is None:
                self._storage = Path(tempfile.mkdtemp(prefix="wan-emulator-"))
                self._own_storage = True
            else:
                self._storage = self._storage_arg
                self._storage.mkdir(parents=True, exist_ok=True)
            secret = secrets.token_bytes(32)
            journal = None
            if self._state_dir is not None:
                from .journal import TaskJournal

                secret = _persistent_secret(self._state_dir / "secret")
                journal = TaskJournal(self._state_dir / "tasks.sqlite")
            self._journal = journal
            self._stats = Stats()
            self._renderer = RenderPool(
                self._storage / "renders", self._render_workers, fast=self._fast_render
            )
            self._store = TaskStore(
                clock=self._clock,
                seed=self._seed,
                lifetime=self._lifetime,
                concurrency=self._concurrency,
                renderer=self._renderer,
                journal=journal,
            )
            uploads = UploadStore(self._storage / "oss", secret)
            ctx = Context(
                keys=self._keys,
                clock=self._clock,
                store=self._store,
                faults=self.faults,
                uploads=uploads,
                signer=UrlSigner(secret),
                limiter=RateLimiter(self._rate_clock),
                stats=self._stats,
                rate_limits=self._rate_limits,
                log_enabled=lambda: self._log,
                snapshot=self.stats,
                set_speed=self.set_speed,
                region=self._region,
                strict_create=self._strict_create,
            )
            self._uploads = uploads
            self._ctx = ctx
            self._setup_logging()
            sock = _bind(self._host, self._port)
            self._bound_port = sock.getsockname()[1]
            config = uvicorn.Config(
                build_app(ctx),
                http=WireProtocol,
                ws="none",
                lifespan="off",
                loop="asyncio",
                log_config=None,
                access_log=False,
                server_header=False,
                date_header=False,  # app.DateHeader sends the emulator's own clock
                timeout_graceful_shutdown=2,
            )
            server = uvicorn.Server(config)
            self._server = server
            self._store.start()
            thread = threading.Thread(
                target=server.run, kwargs={"sockets": [sock]}, name="wan-emulator", daemon=True
            )
            self._thread = thread
            thread.start()
            for _ in range(1000):
                if server.started or not thread.is_alive():
                    break
                thread.join(0.01)
            if not server.started:
                sock.close()
                self._teardown()
                raise RuntimeError("the emulator server did not start")
            self._sock = sock
        log.info("emulator listening on %s (speed %g)", self.root_url, self.speed)
        return self

    def stop(self) -> None:
        """Stop serving, stop the workers, and remove the temporary storage."""
        with self._lock:
            if self._thread is None:
                return
            self._teardown()

    def _teardown(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._store is not None:
            self._store.stop()
        if self._renderer is not None:
            self._renderer.shutdown()
        journal, self._journal = getattr(self, "_journal", None), None
        if journal is not None:
            journal.close()
        sock = getattr(self, "_sock", None)
        if sock is not None:
            sock.close()
            self._sock = None
        if self._own_storage and self._storage is not None:
            shutil.rmtree(self._storage, ignore_errors=True)
        self._thread = None
        self._server = None
        self._bound_port = None
        self._restore_logging()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _setup_logging(self) -> None:
        if not self._log:
            return
        if _access_log.getEffectiveLevel() > logging.INFO:
            self._old_level = _access_log.level
            _access_log.setLevel(logging.INFO)
        if not logging.getLogger().handlers and not _access_log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s emulator %(message)s"))
            _access_log.addHandler(handler)
            self._handler = handler

    def _restore_logging(self) -> None:
        if self._handler is not None:
            _access_log.removeHandler(self._handler)
            self._handler = None
        if self._old_level is not None:
            _access_log.setLevel(self._old_level)
            self._old_level = None

    # -- control ---------------------------------------------------------------------------

    def set_speed(self, speed: float) -> None:
        """Change the simulated speed from now on."""
        self._clock.set_speed(speed)
        if self._store is not None:
            self._store.wake()

    def expire(self, task_id: str) -> bool:
        """Expire a task (queries -> UNKNOWN) and its video URL (-> 403) right now."""
        if self._store is None:
            return False
        return self._store.expire(task_id)

    def add_file(self, path: str | os.PathLike[str], *, expires_in: float | None = None) -> str:
        """Serve an existing file on the signed video route and return its URL.

        For content no task renders (e.g. a 1 GB file for a download benchmark). The URL has
        the shape of a task's ``video_url`` and behaves like one: Range and HEAD requests,
        the signature check, ``video`` fault rules, and a 403 once it expires,
        ``expires_in`` simulated seconds from now (default: ``lifetime``). The file is served
        in place, not copied: keep it until the emulator stops.
        """
        if self._ctx is None or self._bound_port is None:
            raise RuntimeError("the emulator is not running; call start() first")
        file = Path(path).resolve()
        if not file.is_file():
            raise FileNotFoundError(f"no such file: {file}")
        lifetime = self._lifetime if expires_in is None else float(expires_in)
        if not lifetime >= 0:
            raise ValueError(f"expires_in must be >= 0 simulated seconds, got {expires_in!r}")
        file_id = str(uuid.uuid4())
        self._ctx.files[file_id] = file
        expires = int(time.time() + self._clock.wall_delay(lifetime)) + 1
        sig = self._ctx.signer.sign(file_id, expires)
        return f"{self.root_url}/files/{file_id}.mp4?Expires={expires}&Signature={sig}"

    def task(self, task_id: str) -> dict[str, Any] | None:
        """A snapshot of the task's internal state, or ``None`` if there is no such task."""
        if self._store is None:
            return None
        from .tasks import snapshot

        store = self._store
        return store.view(task_id, lambda t, now: snapshot(store, t, now) if t else None)

    def stats(self) -> dict[str, Any]:
        """Counters: requests per route kind, tasks created and by status, response statuses."""
        if self._stats is None:
            from .stats import Stats

            snap = Stats().snapshot()
            return {**snap, "tasks_created": 0, "tasks_by_status": {}, "faults_fired": 0}
        snap = self._stats.snapshot()
        return {
            "requests": snap["requests"],
            "tasks_created": self._store.created,
            "tasks_by_status": self._store.counts_by_status(),
            "status_codes": snap["status_codes"],
            "dropped": snap["dropped"],
            "faults_fired": self.faults.fired_total,
        }


def _persistent_secret(path: Path) -> bytes:
    """The URL-signing secret kept in ``path`` (created 0600 on first use), so signed video
    URLs stay valid across restarts of a persistent emulator."""
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    data = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return data


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock
