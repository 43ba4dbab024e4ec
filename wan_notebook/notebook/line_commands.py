"""The ``%wanvideo SUBCOMMAND`` line forms (``LineCommands``, a mixin of ``WanVideoMagic``)."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone
from typing import Any

from IPython.core.error import UsageError

from .. import checks
from ..errors import ValidationError
from . import render

__all__ = ["SUBCOMMANDS", "LineCommands"]

#: ``%wanvideo <subcommand>``: one-line help for each.
SUBCOMMANDS: dict[str, str] = {
    "status": "status ID - the task's status on the service (and in the store)",
    "attach": "attach ID [--background] [--embed] [-o NAME] - follow a task and save its video",
    "cancel": "cancel ID - cancel a PENDING task",
    "list": "list [--limit N] [--local] - tasks in the store and on the service (24 h)",
    "gallery": "gallery [--limit N] [--embed] - the saved videos of the outputs folder",
    "form": "form - a widget form: pick model, size, duration...; Generate runs a job",
    "config": "config - effective settings and where the API key comes from",
    "key": "key - type an API key, kept for this session only",
    "emulator": "emulator [--speed X] [--region R] | emulator stop - the local background "
    "emulator (synthetic videos; outlives the kernel)",
    "connect": "connect [--speed X] - the configured service if a key is set, else the emulator",
}


class _LineParser(argparse.ArgumentParser):
    """argparse for the line subcommands: mistakes are one-line UsageErrors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"%wanvideo {self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise UsageError(message or f"%wanvideo {self.prog}")


def _line_parser(name: str) -> _LineParser:
    return _LineParser(prog=name, add_help=False)


class LineCommands:
    """``%wanvideo status/attach/cancel/list/gallery/form/config/key/emulator/connect``; the
    runners, panels and settings they use are :class:`~.magics.WanVideoMagic`'s."""

    def _line(self, line: str) -> Any:
        words = line.split(None, 1)
        if not words:
            raise UsageError(
                "%wanvideo needs a subcommand (" + ", ".join(SUBCOMMANDS) + "); "
                "%%wanvideo (two %) takes the prompt in the cell body"
            )
        name, rest = words[0], (words[1] if len(words) > 1 else "")
        if name.startswith("-"):
            raise UsageError("options go on a %%wanvideo cell (two %), with the prompt below")
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None or name not in SUBCOMMANDS:
            raise UsageError(f"unknown subcommand {name!r}; use one of " + ", ".join(SUBCOMMANDS))
        return handler(rest)

    def _task_id_arg(self, name: str, rest: str, **extra: Any) -> argparse.Namespace:
        parser = _line_parser(name)
        parser.add_argument("task_id", type=checks.ARG_TASK_ID)
        for flag, kwargs in extra.items():
            parser.add_argument(*flag.split("|"), **kwargs)
        return parser.parse_args(rest.split())

    def _cmd_status(self, rest: str) -> None:
        args = self._task_id_arg("status", rest)
        from ..store import OutputStore

        store = OutputStore(self.directory)
        record = store.get(args.task_id) if store.index_path.exists() else None
        runner = self._runner(None, None, self._job_loop(background=False))
        task = self._drive(lambda: runner.client.get(args.task_id))
        lines = [f"task {task.task_id}: {task.status}"]
        if task.code or task.message:
            lines.append(f"  {task.code or ''}: {task.message or ''}")
        for label, value in (
            ("submitted", task.submit_time),
            ("started", task.scheduled_time),
            ("ended", task.end_time),
        ):
            if value is not None:
                lines.append(f"  {label}: {value.isoformat()}")
        if record is not None:
            lines.append(
                f"  in the store: {record.status}, prompt {render.clip(record.prompt, 80)!r}"
            )
            if record.saved_at is not None:
                lines.append(f"  saved: {render.src_for(record.paths.video)}")
        if not task.is_terminal:
            lines.append(f"  %wanvideo attach {task.task_id}  follows it and saves the video")
        print("\n".join(lines))

    def _cmd_attach(self, rest: str) -> None:
        parser = _line_parser("attach")
        parser.add_argument("task_id", type=checks.ARG_TASK_ID)
        parser.add_argument("--background", "-b", action="store_true")
        parser.add_argument("--embed", action="store_true", default=None)
        parser.add_argument("--dir", dest="directory", type=checks.ARG_OUTPUT_DIR)
        parser.add_argument("--timeout", type=checks.ARG_TIMEOUT)
        parser.add_argument("-o", "--output")
        args = parser.parse_args(rest.split())
        if args.output is not None and not args.output.isidentifier():
            raise UsageError(f"-o {args.output!r} is not a Python name")
        loop = self._job_loop(background=args.background)
        runner = self._runner(args.directory, args.timeout, loop)
        request = runner.store.request_for(args.task_id)
        embed = self.embed if args.embed is None else args.embed
        panel = self._panel(
            request,
            embed=embed,
            cancel_button=args.background,
            prompt=None if request is not None else f"(task {args.task_id})",
        )
        panel.show()
        job = runner.attach(args.task_id)
        return self._run(job, panel, args)

    def _cmd_cancel(self, rest: str) -> None:
        args = self._task_id_arg("cancel", rest)
        for job in reversed(self.jobs):
            if job.task_id == args.task_id and not job.done():
                ok = self._drive(job.cancel)
                print(job.cancel_message or ("canceled" if ok else "not canceled"))
                return
        runner = self._runner(None, None, self._job_loop(background=False))
        self._drive(lambda: runner.client.cancel(args.task_id))
        print(f"task {args.task_id} canceled; nothing is billed for it")

    def _cmd_list(self, rest: str) -> None:
        parser = _line_parser("list")
        parser.add_argument("--limit", type=checks.arg_positive_int("--limit"), default=20)
        parser.add_argument("--local", action="store_true", help="only the store, no network")
        args = parser.parse_args(rest.split())
        from ..store import OutputStore

        store = OutputStore(self.directory)
        lines = [f"in {render.src_for(store.root)}:"]
        local = store.in_flight()  # in-flight first, then saved results
        saved = store.results(limit=args.limit)
        for rec in local[: args.limit]:
            lines.append(
                f"  {rec.task_id}  {rec.status:<9} {rec.model:<20} {render.clip(rec.prompt, 50)!r}"
            )
        for res in saved[: max(0, args.limit - len(local))]:
            lines.append(
                f"  {res.task_id}  {'SAVED':<9} {res.model:<20} {render.clip(res.prompt, 50)!r}"
            )
        if len(lines) == 1:
            lines.append("  (nothing yet)")
        if not args.local:
            lines.append("on the service (last 24 h):")
            try:
                runner = self._runner(None, None, self._job_loop(background=False))
                since = datetime.now(timezone.utc) - timedelta(hours=24)
                items = self._drive(lambda: _collect(runner.client.list(start_time=since),
                                                     args.limit))  # fmt: skip
            except Exception as exc:  # the local part is still useful; say what failed
                lines.append(f"  not listed: {type(exc).__name__}: {exc}")
            else:
                for item in items:
                    lines.append(f"  {item.task_id}  {item.status:<9} {item.model or ''}")
                if not items:
                    lines.append("  (no tasks)")
        print("\n".join(lines))

    def _cmd_gallery(self, rest: str) -> None:
        parser = _line_parser("gallery")
        parser.add_argument("--limit", type=checks.arg_positive_int("--limit"), default=12)
        parser.add_argument("--embed", action="store_true")
        args = parser.parse_args(rest.split())
        from .gallery import Gallery

        Gallery(self.directory, limit=args.limit, embed=args.embed).show()

    def _cmd_form(self, rest: str) -> Any:
        if rest.strip():
            raise UsageError("%wanvideo form takes no arguments; set defaults with %config")
        from .form import GenerateForm

        try:
            return GenerateForm(
                model=self.model, size=self.size, duration=self.duration, seed=self.seed,
                negative_prompt=self.negative_prompt, shot_type=self.shot_type,
                prompt_extend=self.prompt_extend, watermark=self.watermark, embed=self.embed,
                magic=self,
            )  # fmt: skip
        except ValidationError as exc:
            raise UsageError(f"{exc} (from %config WanVideoMagic)".replace("\n", " ")) from None

    def _cmd_config(self, rest: str) -> None:
        from ..settings import resolve_api_key, resolve_base_url

        lines = ["WanVideoMagic settings (change with %config WanVideoMagic.NAME = value):"]
        for name in sorted(self.trait_names(config=True)):
            value = getattr(self, name)
            default = self.traits()[name].default_value
            mark = "" if value == default else "   (set)"
            lines.append(f"  {name:<16} {value!r}{mark}")
        from ..settings import current_connection, resolve_poll_scale

        conn = current_connection()
        if conn is not None:
            lines.append(f"  connection:      {conn.base_url or '(key only)'} (from {conn.source})")
        if self._emulator is not None:
            lines.append(f"  base URL:        {self._emulator.base_url} (local emulator)")
            lines.append("  API key:         the emulator's own key")
        else:
            try:
                url, url_source = resolve_base_url(self.base_url, region=self.region)
                lines.append(f"  base URL:        {url} (from {url_source})")
            except Exception as exc:
                lines.append(f"  base URL:        not resolved: {exc}")
            if self._api_key is not None:
                lines.append("  API key:         set for this session with %wanvideo key")
            else:
                try:
                    _, source = resolve_api_key(None)
                except Exception:
                    lines.append(
                        "  API key:         not found (DASHSCOPE_API_KEY or %wanvideo key)"
                    )
                else:
                    lines.append(f"  API key:         from {source}")
        try:
            scale, scale_source = resolve_poll_scale(self._settings()[3])
            lines.append(f"  poll scale:      {scale:g} (from {scale_source})")
        except Exception as exc:
            lines.append(f"  poll scale:      not resolved: {exc}")
        from ..store import OutputStore

        lines.append(f"  outputs folder:  {OutputStore(self.directory).root}")
        print("\n".join(lines))

    def _cmd_key(self, rest: str) -> None:
        import getpass

        from ..settings import Secret

        value = getpass.getpass("DashScope API key (kept for this session only): ").strip()
        if not value:
            raise UsageError("no key entered; nothing changed")
        self._api_key = Secret(value)
        from ..settings import set_connection

        self._emulator = None  # the key is for a real service: every entry point uses it
        self._connection = set_connection(None, self._api_key, source="%wanvideo key")
        print("API key set for this session (not saved anywhere).")

    def _cmd_emulator(self, rest: str) -> None:
        from .connection import start_emulator

        start_emulator(self, rest, _line_parser("emulator"))

    def _cmd_connect(self, rest: str) -> None:
        """The configured service when an API key is set, else the background emulator."""
        from .connection import connect

        connect(self, rest, _line_parser("connect"))


async def _collect(items: Any, limit: int) -> list[Any]:
    out = []
    async for item in items:
        out.append(item)
        if len(out) >= limit:
            break
    return out
