"""The service's error vocabulary and the response shapes the emulator answers with.

API routes answer errors as ``{request_id, code, message}`` JSON (PROTOCOL 7); the OSS-like
routes (upload host, signed video URLs) answer OSS-style XML, as a real bucket would.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from xml.sax.saxutils import escape

from starlette.responses import JSONResponse, Response

#: Documented messages per code (PROTOCOL 7). Used when a failure gives no message of its own.
MESSAGES: dict[str, str] = {
    "InvalidParameter": (
        "Required parameter(s) missing or invalid, please check the request parameters."
    ),
    "DataInspectionFailed": "Input or output data may contain inappropriate content.",
    # Wording UNCERTAIN (PROTOCOL 7): the code is documented, the message is not.
    "IPInfringementSuspect": "Input data is suspected of infringing intellectual property.",
    "BadRequest.EmptyInput": "Required input parameter missing from request.",
    "BadRequest.EmptyParameters": 'Required parameter "parameters" missing from request.',
    "BadRequest.EmptyModel": 'Required parameter "model" missing from request.',
    "BadRequest.TooLarge": "Payload Too Large",
    "BadRequest.InputDownloadFailed": "Failed to download the input file.",
    "BadRequest.UnsupportedFileFormat": "Input file format is not supported.",
    "InvalidURL": "Invalid URL provided in your request.",
    "Arrearage": "Access denied, please make sure your account is in good standing.",
    "UnsupportedOperation": (
        "Failed to cancel the task, please confirm if the task is in PENDING status."
    ),
    "InvalidApiKey": "Invalid API-key provided.",
    "AccessDenied": "Access denied.",
    "AccessDenied.Unpurchased": (
        "Access to model denied. Please make sure you are eligible for using the model."
    ),
    "Model.AccessDenied": "Model access denied.",
    "Workspace.AccessDenied": "Workspace access denied.",
    "ModelNotFound": "Model can not be found.",
    "WorkSpaceNotFound": "WorkSpace can not be found.",
    "RequestTimeOut": "Request timed out, please try again later.",
    "Throttling": "Requests throttling triggered.",
    "Throttling.RateQuota": "Requests rate limit exceeded, please try again later.",
    "Throttling.AllocationQuota": "Allocated quota exceeded, please increase your quota limit.",
    "InternalError": (
        "An internal error has occured, please try again later or contact service support."
    ),
    "InternalError.Algo": "An internal error occurred during model inference.",
    "InternalError.Timeout": "The model inference timed out.",
    "SystemError": "A system error occurred.",
    "ModelServiceFailed": "The model service failed.",
    "ModelUnavailable": "Model is unavailable, please try again later.",
}

#: The code an injected error uses when the rule names only a status.
CODE_FOR_STATUS: dict[int, str] = {
    400: "InvalidParameter",
    401: "InvalidApiKey",
    403: "AccessDenied",
    404: "ModelNotFound",
    408: "RequestTimeOut",
    413: "BadRequest.TooLarge",
    415: "BadRequest.UnsupportedFileFormat",
    429: "Throttling.RateQuota",
    500: "InternalError",
    502: "InternalError",
    503: "ModelUnavailable",
    504: "InternalError.Timeout",
}


def new_request_id() -> str:
    """A fresh request id in the service's UUID shape."""
    return str(uuid.uuid4())


def default_code(status: int) -> str:
    """The code the service most plausibly uses for a bare HTTP status."""
    if status in CODE_FOR_STATUS:
        return CODE_FOR_STATUS[status]
    return "InternalError" if status >= 500 else "InvalidParameter"


class ApiFailure(Exception):
    """Raised inside a route to answer ``{request_id, code, message}`` with ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message if message is not None else MESSAGES.get(code, code)
        self.headers = dict(headers or {})
        super().__init__(f"{status} {code}: {self.message}")


class OssFailure(Exception):
    """Raised inside an OSS-like route (upload host, video file) to answer OSS XML."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        super().__init__(f"{status} {code}: {message}")


def error_response(
    status: int,
    code: str,
    message: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
) -> JSONResponse:
    """The service's error body with ``Content-Type: application/json``."""
    body = {
        "request_id": request_id or new_request_id(),
        "code": code,
        "message": message if message is not None else MESSAGES.get(code, code),
    }
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def failure_response(exc: ApiFailure) -> JSONResponse:
    """Turn an :class:`ApiFailure` into its JSON response."""
    return error_response(exc.status, exc.code, exc.message, headers=exc.headers)


def oss_error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """An OSS-style XML error, as a real result bucket answers (e.g. expired signatures)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n'
        f"  <Code>{escape(code)}</Code>\n  <Message>{escape(message)}</Message>\n"
        f"  <RequestId>{new_request_id().replace('-', '').upper()[:24]}</RequestId>\n"
        "  <HostId>emulator.oss.local</HostId>\n</Error>\n"
    )
    return Response(body, status_code=status, media_type="application/xml", headers=headers)
