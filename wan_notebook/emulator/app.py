"""The starlette application: every route of PROTOCOL 12, plus the admin endpoints.

Each route answers with and without a trailing slash (the SDK's aiohttp variants add one).
"""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from .. import catalog
from . import views
from .clock import SimClock
from .faults import FaultRule, FaultRules
from .middleware import AccessLog, CatchAll, DateHeader, SpeedHeader
from .ratelimit import RateLimiter
from .rendering import audio_source
from .replies import (
    MESSAGES,
    ApiFailure,
    OssFailure,
    default_code,
    error_response,
    failure_response,
    new_request_id,
    oss_error_response,
)
from .signing import UrlSigner
from .stats import Stats
from .tasks import Task, TaskStore, snapshot
from .uploads import UploadStore
from .validation import MAX_BODY_BYTES, invalid, parse_json, validate_create, validate_list
from .wire import DropResponse, TruncatedFileResponse

SYNC_MESSAGE = "current user api does not support synchronous calls"
URL_ERROR = (
    "url error, please check url! For details, see: "
    "https://help.aliyun.com/zh/model-studio/developer-reference/error-code"
)
#: A body larger than this is not even drained before the 413.
_DRAIN_LIMIT = 16 << 20
_VIDEO_NAME = re.compile(r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.mp4")


@dataclass
class Context:
    """Everything the routes share (built by :class:`~wan_notebook.emulator.server.Emulator`)."""

    keys: tuple[str, ...]
    clock: SimClock
    store: TaskStore
    faults: FaultRules
    uploads: UploadStore
    signer: UrlSigner
    limiter: RateLimiter
    stats: Stats
    rate_limits: bool
    log_enabled: Callable[[], bool]
    snapshot: Callable[[], dict[str, Any]]
    set_speed: Callable[[float], None]
    #: extra files served on the video route (``Emulator.add_file``): id -> path
    files: dict[str, Path] = field(default_factory=dict)
    #: the region emulated (``None``: every model of the catalog is offered)
    region: str | None = None
    #: reject a size/duration the model does not offer with HTTP 400 at create (instead of the
    #: service's accepted-then-FAILED task)
    strict_create: bool = False


def api_key_id(key_index: int) -> str:
    """The public id of a configured key (never derived from the key's text)."""
    return str(100001 + key_index)


def _authenticate(ctx: Context, request: Request) -> int:
    header = request.headers.get("authorization", "").strip()
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header or (scheme.lower() == "bearer" and not token):
        raise ApiFailure(401, "InvalidApiKey", "No API-key provided.")
    found = -1
    if scheme.lower() == "bearer":
        for i, key in enumerate(ctx.keys):
            if hmac.compare_digest(token.encode(), key.encode()) and found < 0:
                found = i
    if found < 0:
        raise ApiFailure(401, "InvalidApiKey", "Invalid API-key provided.")
    return found


def _throttle(ctx: Context, bucket: tuple[Any, ...], limit: int) -> None:
    if not ctx.rate_limits:
        return
    wait = ctx.limiter.hit(bucket, limit)
    if wait is not None:
        raise ApiFailure(429, "Throttling.RateQuota", headers={"Retry-After": str(wait)})


async def _apply(rule: FaultRule | None, *, oss: bool = False) -> Response | None:
    """The response for the generic fault kinds (error, drop, slow); None to carry on."""
    if rule is None:
        return None
    if rule.kind == "error":
        status = rule.status or 500
        code = rule.code or default_code(status)
        message = rule.message or MESSAGES.get(code, code)
        headers = {}
        if rule.retry_after is not None:
            headers["Retry-After"] = f"{rule.retry_after:g}"
        if oss:
            return oss_error_response(status, code, message, headers=headers)
        return error_response(status, code, message, headers=headers)
    if rule.kind == "drop" and not rule.after:
        return DropResponse()
    if rule.kind == "slow" and not rule.after:
        await asyncio.sleep(rule.delay or 0.0)
    return None


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > _DRAIN_LIMIT:
        raise ApiFailure(413, "BadRequest.TooLarge")
    data = bytearray()
    too_large = False
    async for chunk in request.stream():
        if too_large:
            continue  # drain so the client can read our answer
        data += chunk
        if len(data) > limit:
            too_large = True
            data.clear()
    if too_large:
        raise ApiFailure(413, "BadRequest.TooLarge")
    return bytes(data)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _prompt_of(ctx: Context, task_id: str) -> str | None:
    return ctx.store.view(task_id, lambda t, _now: t.request.prompt if t else None)


def build_app(ctx: Context) -> ASGIApp:
    """The emulator's ASGI app: access log and catch-all around the starlette router."""

    def video_url(base: str) -> Callable[[Task, float], str]:
        def make(task: Task, expires_in_sim: float) -> str:
            expires = int(time.time() + ctx.clock.wall_delay(expires_in_sim)) + 1
            sig = ctx.signer.sign(task.task_id, expires)
            return f"{base}/files/{task.task_id}.mp4?Expires={expires}&Signature={sig}"

        return make

    def create_endpoint(service: str) -> Callable[[Request], Any]:
        async def create(request: Request) -> Response:
            ctx.stats.request("create")
            key = _authenticate(ctx, request)
            if request.headers.get("x-dashscope-async", "").strip().lower() != "enable":
                raise ApiFailure(403, "AccessDenied", SYNC_MESSAGE)
            payload = parse_json(await _read_body(request, MAX_BODY_BYTES))
            oss = request.headers.get("x-dashscope-ossresourceresolve", "").strip().lower()
            req = validate_create(
                payload,
                service=service,
                oss_resolve=oss == "enable",
                oss_exists=lambda url: ctx.uploads.resolve(url) is not None,
                region=ctx.region,
                strict=ctx.strict_create,
                uploads=ctx.uploads,
            )
            # limits are per account (every key of it), as documented (PROTOCOL 8)
            _throttle(ctx, ("submit", req.model.id), req.model.submit_rps)
            rule = ctx.faults.check("create", prompt=req.prompt)
            answer = await _apply(rule)
            if answer is not None:
                return answer
            fail = req.deferred_error
            if rule is not None and rule.kind == "moderate_input":
                raise ApiFailure(
                    rule.status or 400, rule.code or "DataInspectionFailed", rule.message
                )
            if rule is not None and rule.kind == "fail_task":
                code = rule.code or "InternalError.Algo"
                fail = (code, rule.message or MESSAGES.get(code, code))
            request_id = new_request_id()
            audio = audio_source(req.model, req.audio_url, ctx.uploads.resolve)
            audio = audio if req.sound else None  # Wan3.0 audio: false
            task = ctx.store.create(
                req, key_index=key, request_id=request_id, audio=audio, fail=fail
            )
            if rule is not None and rule.kind == "drop" and rule.after:
                return DropResponse()
            if rule is not None and rule.kind == "slow" and rule.after:
                await asyncio.sleep(rule.delay or 0.0)  # the task exists; the answer waits
            return JSONResponse(
                {
                    "request_id": request_id,
                    "output": {"task_id": task.task_id, "task_status": "PENDING"},
                }
            )

        return create

    async def task_route(route: str, request: Request) -> tuple[str, Response | None]:
        """What query and cancel share: count, authenticate, the 20 QPS limit, faults.
        Returns the task id and a fault's answer (None: answer normally)."""
        ctx.stats.request(route)
        _authenticate(ctx, request)
        _throttle(ctx, ("tasks",), catalog.QUERY_QPS)
        task_id = request.path_params["task_id"]
        return task_id, await _apply(ctx.faults.check(route, prompt=_prompt_of(ctx, task_id)))

    async def query(request: Request) -> Response:
        task_id, answer = await task_route("query", request)
        if answer is not None:
            return answer
        make_url = video_url(_base(request))
        body = ctx.store.view(
            task_id, lambda t, now: views.query_body(ctx.store, t, task_id, now, make_url)
        )
        return JSONResponse({"request_id": new_request_id(), **body})

    async def cancel(request: Request) -> Response:
        task_id, answer = await task_route("cancel", request)
        if answer is not None:
            return answer
        if not ctx.store.cancel(task_id):
            raise ApiFailure(400, "UnsupportedOperation")
        return JSONResponse({"request_id": new_request_id()})

    async def list_tasks(request: Request) -> Response:
        ctx.stats.request("list")
        _authenticate(ctx, request)
        _throttle(ctx, ("tasks",), catalog.QUERY_QPS)
        answer = await _apply(ctx.faults.check("list"))
        if answer is not None:
            return answer
        q = validate_list(request.query_params, int(ctx.clock.wall() * 1000))
        total, items = ctx.store.select(
            q,
            lambda t, now: views.list_item(
                t, ctx.store.status(t, now), api_key_id(t.key_index), region_id
            ),
        )
        return JSONResponse(
            {
                "request_id": new_request_id(),
                "total": total,
                "total_page": views.total_pages(total, q.page_size),
                "page_no": q.page_no,
                "page_size": q.page_size,
                "data": items,
            }
        )

    async def upload_policy(request: Request) -> Response:
        ctx.stats.request("upload_policy")
        key = _authenticate(ctx, request)
        answer = await _apply(ctx.faults.check("upload_policy"))
        if answer is not None:
            return answer
        if request.query_params.get("action") != "getPolicy":
            raise invalid("action must be getPolicy.")
        if not request.query_params.get("model"):
            raise invalid('Required parameter "model" missing from request.')
        data = ctx.uploads.issue(
            key_index=key, upload_host=_base(request) + "/oss",
            model=request.query_params["model"],
        )  # fmt: skip
        return JSONResponse({"request_id": new_request_id(), "data": data})

    async def upload(request: Request) -> Response:
        ctx.stats.request("upload")
        answer = await _apply(ctx.faults.check("upload"), oss=True)
        if answer is not None:
            return answer
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > ctx.uploads.max_bytes + (1 << 20):
            raise OssFailure(
                413, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size."
            )
        try:
            form = await request.form(max_files=1, max_fields=32)
        except HTTPException as exc:
            raise OssFailure(400, "InvalidArgument", f"Malformed POST form: {exc.detail}") from exc
        try:
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            file = form.get("file")
            if not isinstance(file, UploadFile):
                raise OssFailure(400, "InvalidArgument", "The form has no file field.")
            key = ctx.uploads.verify(fields)
            forbid = fields.get("x-oss-forbid-overwrite", "false").lower() == "true"
            await run_in_threadpool(ctx.uploads.store, key, file.file, forbid_overwrite=forbid)
            ctx.uploads.remember(key, ctx.uploads.policy_model(fields))  # issue 14: binding
        finally:
            await form.close()
        return Response(status_code=200 if fields.get("success_action_status") == "200" else 204)

    async def video(request: Request) -> Response:
        ctx.stats.request("video")
        match = _VIDEO_NAME.fullmatch(request.path_params["name"])
        if match is None:
            raise OssFailure(404, "NoSuchKey", "The specified key does not exist.")
        task_id = match.group(1)
        qp = request.query_params
        if not ctx.signer.verify(task_id, qp.get("Expires", ""), qp.get("Signature", "")):
            raise OssFailure(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not match."
            )
        added = ctx.files.get(task_id)
        if added is not None:  # Emulator.add_file: expires at its signed Expires instant
            info = (added, int(qp["Expires"]) < time.time(), None)
        else:
            info = ctx.store.view(
                task_id,
                lambda t, now: (
                    (t.video_path, ctx.store.video_expired(t, now), t.request.prompt)
                    if t is not None and t.status == "SUCCEEDED" and t.video_path is not None
                    else None
                ),
            )
        if info is None:
            raise OssFailure(404, "NoSuchKey", "The specified key does not exist.")
        path, expired, prompt = info
        if expired:
            raise OssFailure(403, "AccessDenied", "Request has expired.")
        rule = ctx.faults.check("video", prompt=prompt)
        answer = await _apply(rule, oss=True)
        if answer is not None:
            return answer
        if rule is not None and rule.kind == "expire_url":
            raise OssFailure(403, "AccessDenied", "Request has expired.")
        if rule is not None and rule.kind == "truncate":
            return TruncatedFileResponse(path, "video/mp4")
        return FileResponse(path, media_type="video/mp4")

    # -- admin ---------------------------------------------------------------------------

    async def admin_json(request: Request) -> Any:
        return parse_json(await _read_body(request, MAX_BODY_BYTES))

    async def admin_stats(request: Request) -> Response:
        ctx.stats.request("admin")
        _authenticate(ctx, request)
        return JSONResponse(ctx.snapshot())

    async def admin_faults(request: Request) -> Response:
        ctx.stats.request("admin")
        _authenticate(ctx, request)
        if request.method == "GET":
            return JSONResponse({"rules": ctx.faults.rules()})
        if request.method == "DELETE":
            return JSONResponse({"cleared": ctx.faults.clear()})
        fields = await admin_json(request)
        if not isinstance(fields, dict):
            raise invalid("The body must be a JSON object of fault fields.")
        try:
            rule_id = ctx.faults.add(**fields)
        except (TypeError, ValueError) as exc:
            raise invalid(str(exc)) from exc
        return JSONResponse({"id": rule_id})

    async def admin_fault_remove(request: Request) -> Response:
        ctx.stats.request("admin")
        _authenticate(ctx, request)
        raw = request.path_params["rule_id"]
        if not raw.isdigit() or not ctx.faults.remove(int(raw)):
            raise ApiFailure(404, "NotFound", f"No fault rule {raw!r}.")
        return JSONResponse({"removed": int(raw)})

    async def admin_expire(request: Request) -> Response:
        ctx.stats.request("admin")
        _authenticate(ctx, request)
        task_id = request.path_params["task_id"]
        if not ctx.store.expire(task_id):
            raise ApiFailure(404, "NotFound", "No such task.")
        return JSONResponse({"task_id": task_id, "expired": True})

    async def admin_speed(request: Request) -> Response:
        ctx.stats.request("admin")
        _authenticate(ctx, request)
        fields = await admin_json(request)
        speed = fields.get("speed") if isinstance(fields, dict) else None
        try:
            ctx.set_speed(speed)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise invalid(f"speed must be a positive number: {exc}") from exc
        return JSONResponse({"speed": ctx.clock.speed})

    async def admin_task(request: Request) -> Response:
        ctx.stats.request("admin")
        _authenticate(ctx, request)
        task_id = request.path_params["task_id"]
        snap = ctx.store.view(task_id, lambda t, now: snapshot(ctx.store, t, now) if t else None)
        if snap is None:
            raise ApiFailure(404, "NotFound", "No such task.")
        return JSONResponse(snap)

    region_id = catalog.get_region(ctx.region).region_id if ctx.region else views.REGION_ID
    api = "/api/v1"
    routes: list[BaseRoute] = []

    def add(path: str, endpoint: Callable[[Request], Any], methods: list[str]) -> None:
        routes.append(Route(path, endpoint, methods=methods))
        routes.append(Route(path + "/", endpoint, methods=methods))

    add(
        f"{api}/services/aigc/video-generation/video-synthesis",
        create_endpoint("video-generation"),
        ["POST"],
    )
    add(
        f"{api}/services/aigc/image2video/video-synthesis", create_endpoint("image2video"), ["POST"]
    )
    add(f"{api}/tasks", list_tasks, ["GET"])
    add(f"{api}/tasks/{{task_id}}", query, ["GET"])
    add(f"{api}/tasks/{{task_id}}/cancel", cancel, ["POST"])
    add(f"{api}/uploads", upload_policy, ["GET"])
    add("/oss", upload, ["POST"])
    add("/files/{name}", video, ["GET", "HEAD"])
    add("/_emulator/stats", admin_stats, ["GET"])
    add("/_emulator/faults", admin_faults, ["GET", "POST", "DELETE"])
    add("/_emulator/faults/{rule_id}", admin_fault_remove, ["DELETE"])
    add("/_emulator/expire/{task_id}", admin_expire, ["POST"])
    add("/_emulator/speed", admin_speed, ["POST"])
    add("/_emulator/tasks/{task_id}", admin_task, ["GET"])

    async def on_api_failure(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiFailure)
        return failure_response(exc)

    async def on_oss_failure(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OssFailure)
        return oss_error_response(exc.status, exc.code, exc.message)

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        ctx.stats.request("other")
        if exc.status_code == 404:  # the service answers an unknown path with a 400
            return error_response(400, "InvalidParameter", URL_ERROR)
        if exc.status_code == 405:
            return error_response(
                405, "InvalidParameter", "Method not allowed.", headers=exc.headers
            )
        return error_response(exc.status_code, default_code(exc.status_code), str(exc.detail))

    app = Starlette(
        routes=routes,
        exception_handlers={
            ApiFailure: on_api_failure,
            OssFailure: on_oss_failure,
            HTTPException: on_http_error,
        },
    )
    app.router.redirect_slashes = False
    logged = AccessLog(CatchAll(app), count=ctx.stats.status, enabled=ctx.log_enabled)
    return SpeedHeader(DateHeader(logged, ctx.clock), speed=lambda: ctx.clock.speed)
