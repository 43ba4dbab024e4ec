"""Temporary-file uploads, as the SDK does them for local files (PROTOCOL 11.6).

``GET /api/v1/uploads?action=getPolicy`` issues a signed POST policy whose ``upload_host``
points back at the emulator; the multipart ``POST`` stores the file under the form field
``key`` (confined to the upload folder); ``oss://<key>`` then resolves to that file.
Each upload remembers the model its policy was issued for and when it was stored, so a create
for another model, or after :data:`FILE_TTL_S`, can be refused as the service does
(PROTOCOL 17.2: "bound to the model", 48 h).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from .replies import OssFailure

ACCESS_KEY_ID = "LTAI-wan-emulator"
POLICY_TTL_S = 300
MAX_FILE_MB = 100
#: Temporary files live 48 h (PROTOCOL 17.2).
FILE_TTL_S = 48 * 3600
_META = ".meta"
_CAPACITY_MB = 999_999_999
_MAX_KEY_LEN = 1023


def safe_key(key: str) -> bool:
    """Whether ``key`` is a plain relative object name: no ``..``, no absolute path, no NUL."""
    if not key or len(key) > _MAX_KEY_LEN or key.startswith("/") or "\\" in key:
        return False
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


class UploadStore:
    """Issues upload policies, checks and stores uploads, resolves ``oss://`` URLs."""

    def __init__(self, root: Path, secret: bytes, *, max_bytes: int = MAX_FILE_MB << 20) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._root_real = self.root.resolve()
        self._secret = secret
        self.max_bytes = max_bytes

    def _sign(self, policy: str) -> str:
        mac = hmac.new(self._secret, policy.encode(), hashlib.sha1)
        return base64.b64encode(mac.digest()).decode()

    def issue(self, *, key_index: int, upload_host: str, model: str = "") -> dict[str, Any]:
        """A fresh policy (the ``data`` object of the getPolicy response) for ``model``."""
        owner = hashlib.sha256(self._secret + f"key:{key_index}".encode()).hexdigest()[:24]
        day = datetime.now().strftime("%Y-%m-%d")
        upload_dir = f"dashscope-instant/{owner}/{day}/{uuid.uuid4()}"
        expires = datetime.fromtimestamp(time.time() + POLICY_TTL_S, tz=timezone.utc)
        doc = {
            "expiration": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "conditions": [
                ["content-length-range", 0, self.max_bytes],
                ["starts-with", "$key", upload_dir],
                {"bucket": "dashscope-file-emulator"},
                {"x-oss-object-acl": "private"},
                {"x-oss-forbid-overwrite": "true"},
                {"x-emulator-model": model},  # what the upload is bound to (signed)
            ],
        }
        policy = base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()
        return {
            "policy": policy,
            "signature": self._sign(policy),
            "upload_dir": upload_dir,
            "upload_host": upload_host,
            "expire_in_seconds": POLICY_TTL_S,
            "max_file_size_mb": self.max_bytes >> 20,
            "capacity_limit_mb": _CAPACITY_MB,
            "oss_access_key_id": ACCESS_KEY_ID,
            "x_oss_object_acl": "private",
            "x_oss_forbid_overwrite": "true",
        }

    def verify(self, fields: Mapping[str, str]) -> str:
        """Check a POST form against the policy it carries; return the object key."""
        policy = fields.get("policy", "")
        if fields.get("OSSAccessKeyId") != ACCESS_KEY_ID or not policy:
            raise OssFailure(403, "InvalidAccessKeyId", "The OSS Access Key Id does not exist.")
        if not hmac.compare_digest(
            self._sign(policy).encode(), fields.get("Signature", "").encode()
        ):
            raise OssFailure(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not match."
            )
        try:
            doc = json.loads(base64.b64decode(policy, validate=True))
            expiration = datetime.strptime(doc["expiration"], "%Y-%m-%dT%H:%M:%S.000Z")
            prefix = next(
                c[2]
                for c in doc["conditions"]
                if isinstance(c, list) and c[:2] == ["starts-with", "$key"]
            )
        except (ValueError, KeyError, TypeError, StopIteration) as exc:
            raise OssFailure(400, "InvalidPolicyDocument", "Invalid Policy.") from exc
        if expiration.replace(tzinfo=timezone.utc).timestamp() < time.time():
            raise OssFailure(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        key = fields.get("key", "")
        if not safe_key(key):
            raise OssFailure(400, "InvalidObjectName", "The specified object name is not valid.")
        if not key.startswith(prefix + "/"):
            raise OssFailure(
                403, "AccessDenied", "Invalid according to Policy: Policy Condition failed: key."
            )
        return key

    @staticmethod
    def policy_model(fields: Mapping[str, str]) -> str:
        """The model a (verified) policy was issued for ("" if none)."""
        try:
            doc = json.loads(base64.b64decode(fields.get("policy", "")))
        except ValueError:
            return ""
        for c in doc.get("conditions", []):
            if isinstance(c, dict) and "x-emulator-model" in c:
                return str(c["x-emulator-model"])
        return ""

    def _meta_path(self, key: str) -> Path:
        path = self.root.joinpath(_META, *key.split("/"))
        return path.with_name(path.name + ".json")

    def remember(self, key: str, model: str, at: float | None = None) -> None:
        """Record the model an upload is bound to and when it was stored."""
        meta = self._meta_path(key)
        meta.parent.mkdir(parents=True, exist_ok=True)
        at = time.time() if at is None else at
        meta.write_text(json.dumps({"model": model, "at": at}), "utf-8")

    def binding(self, url: str) -> tuple[str, float] | None:
        """``(model, stored_at)`` of an ``oss://`` upload, or None if unknown."""
        try:
            data = json.loads(self._meta_path(url[len("oss://") :]).read_text("utf-8"))
            return str(data["model"]), float(data["at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def path_for(self, key: str) -> Path:
        """Where ``key`` lives; raises if it would escape the upload folder."""
        if not safe_key(key):
            raise OssFailure(400, "InvalidObjectName", "The specified object name is not valid.")
        path = self.root.joinpath(*key.split("/"))
        if not path.resolve().is_relative_to(self._root_real):
            raise OssFailure(400, "InvalidObjectName", "The specified object name is not valid.")
        return path

    def store(self, key: str, src: IO[bytes], *, forbid_overwrite: bool) -> Path:
        """Copy an uploaded file into place atomically (blocking; run in a thread)."""
        path = self.path_for(key)
        if forbid_overwrite and path.exists():
            raise OssFailure(409, "FileAlreadyExists", "The object you specified already exists.")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
                size = out.tell()
            if size > self.max_bytes:
                raise OssFailure(
                    413, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size."
                )
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def resolve(self, url: str) -> Path | None:
        """The local file of an ``oss://<key>`` URL, or ``None`` if there is no such upload."""
        if not url.startswith("oss://"):
            return None
        try:
            path = self.path_for(url[len("oss://") :])
        except OssFailure:
            return None
        return path if path.is_file() else None
