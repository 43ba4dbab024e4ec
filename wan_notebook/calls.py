"""What both client shells share: the result type, argument checks, create answers."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any, NamedTuple

from . import protocol
from .errors import ServiceError, ValidationError
from .protocol import Task, TaskSummary
from .retry import submit_uncertain
from .transport import Answer, ClientCore, Deadline

__all__ = ["GenerateResult", "created", "deadline_of", "task_id_of", "upload_parts"]


class GenerateResult(NamedTuple):
    """What :meth:`WanClient.generate` returns (unpacks as ``task, path``)."""

    task: Task
    path: Path


def task_id_of(task_or_id: Task | TaskSummary | str) -> tuple[str, Task | None]:
    if isinstance(task_or_id, Task):
        return task_or_id.task_id, task_or_id
    if isinstance(task_or_id, TaskSummary):
        return task_or_id.task_id, None
    if isinstance(task_or_id, str) and task_or_id.strip():
        return task_or_id.strip(), None
    raise ValidationError(
        f"task {task_or_id!r} is not a task id or Task",
        param="task",
        value=task_or_id,
        allowed="a Task or a task id string",
    )


def upload_parts(path: Path, policy: protocol.UploadPolicy) -> tuple[dict, str]:
    size = path.stat().st_size
    if policy.max_file_size_mb and size > policy.max_file_size_mb * 1024 * 1024:
        raise ValidationError(
            f"audio file {path.name} is {size / 1e6:.1f} MB, over the upload limit of "
            f"{policy.max_file_size_mb:g} MB",
            param="audio_url",
            value=str(path),
            allowed=f"at most {policy.max_file_size_mb:g} MB",
        )
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return policy.form_fields(path.name, mime), mime


def created(core: ClientCore, answer: Answer, ctx: dict[str, Any]) -> Task:
    """The task of a 200 create answer; anything but a well-formed one is uncertain (a task
    may exist: never "nothing happened, try again")."""
    try:
        task = protocol.parse_create(answer.status_code, answer.content, answer.headers)
    except ServiceError as exc:
        why = f"HTTP 200 but {exc.service_message or 'a malformed answer'}"
    else:
        if task.task_id:
            return task
        why = "HTTP 200 without a task id"
    raise submit_uncertain(ctx["model"], ctx["submitted_at"], why)


def deadline_of(timeout: float | None) -> Deadline | None:
    return None if timeout is None else Deadline.after(timeout)
