"""Retry policy: what is retried, how long we wait, and the uncertain-submit message."""

from __future__ import annotations

from datetime import datetime

import pytest

from wan_notebook.errors import SubmitUncertainError
from wan_notebook.retry import Failure, RetryPolicy, Verdict, submit_uncertain

P = RetryPolicy(max_retries=3, base_delay=0.5, max_delay=8.0, max_retry_after=30.0)


@pytest.mark.parametrize("kind", ["query", "list", "cancel", "upload_policy"])
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_idempotent_calls_retry_transient_statuses(kind, status):
    assert P.verdict(kind, 0, status=status) is Verdict.RETRY
    assert P.verdict(kind, 3, status=status) is Verdict.RAISE  # out of retries


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408, 413])
def test_permanent_statuses_raise(status):
    assert P.verdict("query", 0, status=status) is Verdict.RAISE
    assert P.verdict("create", 0, status=status) is Verdict.RAISE


@pytest.mark.parametrize("failure", list(Failure))
def test_network_errors_retry_for_queries(failure):
    assert P.verdict("query", 0, failure=failure) is Verdict.RETRY


def test_create_only_retried_when_no_task_can_exist():
    assert P.verdict("create", 0, status=429) is Verdict.RETRY
    assert P.verdict("create", 0, status=503) is Verdict.RETRY
    assert P.verdict("create", 0, failure=Failure.NOT_SENT) is Verdict.RETRY
    assert P.verdict("create", 3, status=429) is Verdict.RAISE
    for status in (500, 502, 504):
        assert P.verdict("create", 0, status=status) is Verdict.UNCERTAIN
    assert P.verdict("create", 0, failure=Failure.AFTER_SEND) is Verdict.UNCERTAIN


def test_full_jitter_backoff_is_capped():
    assert P.backoff(0, lambda: 1.0) == 0.5
    assert P.backoff(2, lambda: 1.0) == 2.0
    assert P.backoff(10, lambda: 1.0) == 8.0
    assert P.backoff(100, lambda: 0.25) == 2.0
    assert P.backoff(3, lambda: 0.0) == 0.0


def test_retry_after_wins_and_is_capped():
    assert P.delay(0, 5.0, lambda: 1.0) == 5.0
    assert P.delay(0, 3600.0, lambda: 1.0) == 30.0
    assert P.delay(1, None, lambda: 0.5) == 0.5


def test_submit_uncertain_message_says_how_to_look():
    at = datetime(2025, 9, 29, 14, 5, 0)
    e = submit_uncertain("wan2.6-t2v", at, "ReadTimeout")
    assert isinstance(e, SubmitUncertainError)
    text = str(e)
    assert "may exist" in text and "NOT resent" in text and "ReadTimeout" in text
    assert "client.list(model='wan2.6-t2v', start_time=datetime(2025, 9, 29, 14, 5))" in text
    assert "wanvideo list" in text
    assert e.model == "wan2.6-t2v" and e.submitted_at.startswith("2025-09-29T14:05")
