"""Signed, expiring video URLs (``/files/<task_id>.mp4?Expires=...&Signature=...``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


class UrlSigner:
    """HMAC-SHA256 over the task id and the ``Expires`` value, with a per-server secret."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def sign(self, task_id: str, expires: int) -> str:
        """The ``Signature`` query value for this task id and expiry."""
        mac = hmac.new(self._secret, f"{task_id}\n{expires}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:20]).decode().rstrip("=")

    def verify(self, task_id: str, expires: str, signature: str) -> bool:
        """Whether the signature matches (constant-time); malformed values are just invalid."""
        if not expires.isdigit() or len(expires) > 12 or not signature:
            return False
        expected = self.sign(task_id, int(expires))
        return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
