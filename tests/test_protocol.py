"""Sans-IO protocol: building calls and lenient parsing (PROTOCOL 4, 6, 9, 11.4, 11.6)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from wan_notebook import errors, protocol
from wan_notebook.request import VideoRequest

SEED_QUERY = {  # the seed's Python-SDK example ("code": null), as the SDK printed it
    "status_code": 200,
    "request_id": "167f3beb-3dd0-47fe-a83c-xxxxxx",
    "code": None,
    "message": "",
    "output": {
        "task_id": "5b65411f-d946-4e29-859e-xxxxxx",
        "task_status": "SUCCEEDED",
        "video_url": "https://dashscope-result-bj.oss-accelerate.aliyuncs.com/xxx.mp4?Expires=xxx",
        "submit_time": "2025-10-23 11:47:23.879",
        "scheduled_time": "2025-10-23 11:47:34.351",
        "end_time": "2025-10-23 11:52:35.323",
        "orig_prompt": "a fox",
    },
    "usage": {
        "video_count": 1, "video_duration": 0, "video_ratio": "", "duration": 10,
        "size": "1280*720", "input_video_duration": 0, "output_video_duration": 10, "SR": 720,
    },
}  # fmt: skip
SEED_JAVA = {  # the seed's Java example: SR as a string, float durations, "code": ""
    "request_id": "c1209113",
    "output": {
        "task_id": "966cebcd",
        "task_status": "SUCCEEDED",
        "video_url": "https://x/y.mp4?Expires=1",
        "submit_time": "2026-01-22 23:13:40.553",
        "scheduled_time": "2026-01-22 23:13:49.415",
        "end_time": "2026-01-22 23:17:56.380",
    },
    "usage": {"video_count": 1, "duration": 10.0, "size": "1280*720",
              "input_video_duration": 0.0, "output_video_duration": 10.0, "SR": "720"},
    "status_code": 200,
    "code": "",
    "message": "",
}  # fmt: skip


def test_build_create_headers_and_body():
    req = VideoRequest.create("a cat", size="1280*720")
    spec = protocol.build_create(req.to_body(), workspace="ws1")
    assert (spec.method, spec.path) == ("POST", protocol.CREATE_PATH)
    assert spec.headers["X-DashScope-Async"] == "enable"
    assert spec.headers["X-DashScope-WorkSpace"] == "ws1"
    assert "X-DashScope-OssResourceResolve" not in spec.headers
    assert "Authorization" not in spec.headers
    assert spec.json == req.to_body()
    spec = protocol.build_create(req.to_body(audio_url="oss://d/a.wav"))
    assert spec.headers["X-DashScope-OssResourceResolve"] == "enable"


def test_build_query_cancel_list_policy():
    assert protocol.build_query("abc").path == "/tasks/abc"
    assert protocol.build_query("a/../b").path == "/tasks/a%2F..%2Fb"
    c = protocol.build_cancel("abc")
    assert (c.method, c.path, c.json) == ("POST", "/tasks/abc/cancel", None)
    with pytest.raises(ValueError):
        protocol.build_query("")
    spec = protocol.build_list(
        model="wan2.6-t2v", status="SUCCEEDED",
        start_time=datetime(2025, 9, 29, 0, 0, 0, tzinfo=protocol.SERVICE_TZ),
        end_time="20250929235959", page_no=2, page_size=5,
    )  # fmt: skip
    assert spec.params == {
        "page_no": "2", "page_size": "5", "model_name": "wan2.6-t2v", "status": "SUCCEEDED",
        "start_time": "20250929000000", "end_time": "20250929235959",
    }  # fmt: skip
    # the window is on the service's clock (UTC+8): other zones and naive local time convert
    utc = datetime(2025, 9, 28, 16, 0, 0, tzinfo=timezone.utc)
    assert protocol.format_list_time(utc) == "20250929000000"
    local = datetime(2025, 9, 29, 0, 0, 0)
    assert protocol.format_list_time(local) == local.astimezone(protocol.SERVICE_TZ).strftime(
        "%Y%m%d%H%M%S"
    )
    with pytest.raises(ValueError):
        protocol.build_list(start_time="2025-09-29")
    p = protocol.build_upload_policy("wan2.6-t2v")
    assert p.params == {"action": "getPolicy", "model": "wan2.6-t2v"}


def test_parse_seed_python_example():
    t = protocol.parse_query(200, json.dumps(SEED_QUERY).encode(), task_id="ignored")
    assert t.task_id == "5b65411f-d946-4e29-859e-xxxxxx"
    assert t.status == "SUCCEEDED" and t.succeeded and t.is_terminal
    assert t.code is None and t.message is None
    assert t.submit_time == datetime(2025, 10, 23, 11, 47, 23, 879000, tzinfo=protocol.SERVICE_TZ)
    assert t.queue_seconds == pytest.approx(10.472)
    assert t.run_seconds == pytest.approx(300.972)
    assert t.usage["SR"] == 720 and t.video_seconds == 10
    assert t.raw["request_id"] == SEED_QUERY["request_id"] == t.request_id


def test_parse_seed_java_example_lenient_numbers():
    t = protocol.parse_query(200, SEED_JAVA)
    assert t.usage["SR"] == 720 and t.usage["duration"] == 10.0
    assert t.code is None and t.video_seconds == 10.0


def test_parse_documented_examples():
    pending = {
        "request_id": "aa01",
        "output": {
            "task_id": "t",
            "task_status": "PENDING",
            "submit_time": "2025-09-29 14:18:52.331",
        },
    }
    t = protocol.parse_query(200, pending)
    assert t.status == "PENDING" and not t.is_terminal and t.scheduled_time is None
    failed = {
        "request_id": "e5",
        "output": {
            "task_id": "t",
            "task_status": "FAILED",
            "code": "InvalidParameter",
            "message": "The size is not match xxxxxx",
        },
    }
    t = protocol.parse_query(200, failed)
    assert (t.code, t.message, t.is_terminal, t.succeeded) == (
        "InvalidParameter",
        "The size is not match xxxxxx",
        True,
        False,
    )
    legacy = {
        "output": {"task_id": "t", "task_status": "SUCCEEDED", "actual_prompt": "rich"},
        "usage": {"video_count": 1, "video_duration": 5, "video_ratio": "832*480"},
    }
    t = protocol.parse_query(200, legacy)
    assert t.actual_prompt == "rich" and t.video_seconds == 5.0
    unknown = {"request_id": "a4", "output": {"task_id": "502a", "task_status": "UNKNOWN"}}
    assert protocol.parse_query(200, unknown).is_terminal  # fmt: skip


def test_parse_lenient_oddities():
    t = protocol.parse_query(200, b'{"request_id": "r"}', task_id="tid")
    assert (t.task_id, t.status, t.is_terminal) == ("tid", "", False)
    t = protocol.parse_query(200, {"output": None, "task_id": "x", "task_status": "RUNNING"})
    assert t.status == "RUNNING"
    t = protocol.parse_query(
        200,
        {"output": {"task_id": "x", "task_status": "SUSPENDED", "new_field": [1]}, "usage": None},
    )
    assert t.status == "SUSPENDED" and not t.is_known_status and not t.is_terminal
    assert t.raw["output"]["new_field"] == [1] and t.usage == {}
    t = protocol.parse_query(
        200,
        {
            "output": {
                "task_id": "x",
                "task_status": "RUNNING",
                "submit_time": "garbage",
                "end_time": 12,
            }
        },
    )
    assert t.submit_time is None and t.end_time is None
    with pytest.raises(errors.ServiceError):
        protocol.parse_query(200, b"<html>oops</html>")


def test_parse_time_forms():
    # the service's time strings are Beijing time (UTC+8), whatever the machine's zone
    beijing = protocol.SERVICE_TZ
    assert protocol.parse_time("2025-09-29 14:18:52") == datetime(
        2025, 9, 29, 14, 18, 52, tzinfo=beijing
    )
    assert protocol.parse_time("2025-09-29T14:18:52.5") == datetime(
        2025, 9, 29, 14, 18, 52, 500000, tzinfo=beijing
    )
    assert protocol.parse_time("2025-09-29 14:18:52.331") == protocol.parse_time(1759126732331)
    assert protocol.parse_time(1759126732331) == datetime(
        2025, 9, 29, 6, 18, 52, 331000, tzinfo=timezone.utc
    )
    for bad in (None, "", "nope", True, float("nan"), -5):
        assert protocol.parse_time(bad) is None


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (401, "InvalidApiKey", errors.AuthenticationError),
        (403, "AccessDenied", errors.PermissionDeniedError),
        (404, "ModelNotFound", errors.NotFoundError),
        (400, "InvalidParameter", errors.InvalidRequestError),
        (400, "DataInspectionFailed", errors.ContentModerationError),
        (429, "Throttling.RateQuota", errors.RateLimitError),
        (429, "Throttling.AllocationQuota", errors.QuotaExceededError),
        (500, "InternalError", errors.ServiceError),
        (503, "ModelUnavailable", errors.ServiceError),
        (400, "UnsupportedOperation", errors.InvalidRequestError),
    ],
)
def test_error_mapping(status, code, cls):
    body = json.dumps({"request_id": "rq-1", "code": code, "message": "msg here"})
    e = protocol.parse_error(status, body.encode(), {"Retry-After": "3"}, context="ctx")
    assert type(e) is cls
    assert e.code == code and e.status_code == status and e.request_id == "rq-1"
    assert "msg here" in str(e) and "rq-1" in str(e)
    if cls is errors.RateLimitError:
        assert e.retry_after == 3.0
    with pytest.raises(cls):
        protocol.parse_create(status, body)


def test_error_non_json_and_msg_field():
    e = protocol.parse_error(502, b"<html>Bad   Gateway</html>", {})
    assert e.code == "Unknown" and "Bad Gateway" in str(e) and isinstance(e, errors.ServiceError)
    e = protocol.parse_error(400, {"code": "X", "msg": "from msg"})
    assert e.service_message == "from msg"


def test_retry_after_forms():
    now = datetime(2025, 1, 1, tzinfo=timezone.utc)
    assert protocol.parse_retry_after("2") == 2.0
    assert protocol.parse_retry_after("-4") == 0.0
    later = (now + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert protocol.parse_retry_after(later, now=now) == pytest.approx(30)
    assert protocol.parse_retry_after("soon") is None
    assert protocol.parse_retry_after(None) is None


def test_create_without_output_gives_empty_id():
    t = protocol.parse_create(200, {"request_id": "r", "code": "", "message": ""})
    assert t.task_id == ""
    t = protocol.parse_create(
        200,
        {
            "request_id": "r",
            "output": {"task_id": "t1", "task_status": "PENDING", "video_url": ""},
            "usage": None,
        },
    )
    assert (t.task_id, t.status, t.video_url) == ("t1", "PENDING", None)


def test_cancel_parse():
    assert protocol.parse_cancel(200, {"request_id": "f1"}) == "f1"
    body = {
        "request_id": "x",
        "code": "UnsupportedOperation",
        "message": "Failed to cancel the task, please confirm if the task is in PENDING status.",
    }
    with pytest.raises(errors.InvalidRequestError, match="PENDING"):
        protocol.parse_cancel(400, body, task_id="t")


def test_list_parse_documented_example():
    body = {
        "request_id": "f6",
        "total": 1,
        "total_page": 1,
        "page_no": 1,
        "page_size": 10,
        "data": [
            {
                "task_id": "eff1",
                "status": "SUCCEEDED",
                "model_name": "wan2.6-t2v",
                "region": "cn-beijing",
                "request_id": "caa6",
                "gmt_create": 1759126732331,
                "start_time": 1759126739290,
                "end_time": 1759127019407,
                "extra": 1,
            },
            {"no_id": True},
            "junk",
        ],
    }
    page = protocol.parse_list(200, body)
    assert len(page.items) == 1 and not page.has_more
    item = page.items[0]
    assert (item.task_id, item.status, item.model, item.region) == (
        "eff1",
        "SUCCEEDED",
        "wan2.6-t2v",
        "cn-beijing",
    )
    assert item.created.tzinfo is timezone.utc and item.end_time > item.start_time
    assert item.raw["extra"] == 1
    page = protocol.parse_list(200, {"total": "25", "data": []}, page_no=2, page_size=10)
    assert page.has_more and page.total == 25
    page = protocol.parse_list(200, {"output": {"total": 3, "total_page": 1, "data": []}})
    assert page.total == 3 and not page.has_more


def test_upload_policy():
    body = {
        "request_id": "r",
        "data": {
            "policy": "cG9s",
            "signature": "sig",
            "upload_dir": "dashscope-instant/abc/2025",
            "upload_host": "https://up.example",
            "oss_access_key_id": "LTAI",
            "x_oss_object_acl": "private",
            "x_oss_forbid_overwrite": "true",
            "expire_in_seconds": 300,
            "max_file_size_mb": "100",
            "capacity_limit_mb": 999,
        },
    }
    p = protocol.parse_upload_policy(200, body)
    assert p.oss_url("a.wav") == "oss://dashscope-instant/abc/2025/a.wav"
    fields = p.form_fields("a.wav", "audio/x-wav")
    assert fields["key"] == "dashscope-instant/abc/2025/a.wav"
    assert fields["OSSAccessKeyId"] == "LTAI" and fields["x-oss-forbid-overwrite"] == "true"
    assert fields["success_action_status"] == "200" and p.max_file_size_mb == 100.0
    with pytest.raises(errors.ServiceError, match="signature"):
        protocol.parse_upload_policy(200, {"data": {**body["data"], "signature": ""}})
