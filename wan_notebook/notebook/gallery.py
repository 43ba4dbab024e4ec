"""``Gallery`` (``%wanvideo gallery``): the saved videos of an outputs folder as cards.

Each card shows the poster, the prompt, model, size, duration, date and task id, and the
``%%wanvideo`` cell that makes the same request again; Play swaps the poster for the player.
The text box and the model menu filter through :meth:`OutputStore.results`. The gallery
refreshes itself when a job in this kernel saves a video into its folder: every job started
by the magic, a :class:`~wan_notebook.notebook.form.GenerateForm` or a
:class:`~wan_notebook.notebook.batch.BatchGrid` is announced with :func:`track_job`, and each
open gallery subscribes to its ``saved`` event. :meth:`Gallery.refresh` (and the Refresh
button) re-reads the folder for anything else.

The gallery is also static HTML and text (``_repr_html_``), so the cards survive nbconvert
and GitHub, where no widget renders. Everything taken from a result is escaped.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import catalog
from . import render
from .cell_text import cell_params, wanvideo_cell
from .form_labels import _label
from .job_slot import WIDGET_MIME
from .tracking import add_watcher, track_job

if TYPE_CHECKING:
    from ..jobs import Job, JobEvent
    from ..store.records import SavedResult

__all__ = ["Gallery", "track_job"]

PROMPT_CLIP = 200


# ------------------------------------------------------------------------------ one card


def _when(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


def card_facts(saved: SavedResult) -> dict[str, str]:
    """What a card says about a result, as plain text."""
    request = saved.request or {}
    media = saved.media or {}
    size = str(request.get("size") or "")
    if not size and media.get("width"):
        size = f"{media['width']}*{media['height']}"
    duration = request.get("duration") or media.get("duration")
    return {
        "prompt": saved.prompt,
        "model": saved.model,
        "size": size or "?",
        "duration": f"{float(duration):g} s" if duration else "?",
        "date": _when(saved.created_at),
        "task_id": saved.task_id,
    }


def reproducing_cell(saved: SavedResult) -> Any:
    """The ``%%wanvideo`` cell that asks for the same request (a :class:`CellText`)."""
    prompt, params, notes = cell_params(saved.request or {"prompt": saved.prompt})
    cell = wanvideo_cell(prompt, params)
    cell.notes = notes + cell.notes
    return cell


def _poster_html(saved: SavedResult, width: int) -> str:
    if saved.poster is not None:
        return (
            f'<img class="wan-poster" src="{render.esc(render.src_for(saved.poster))}" '
            f'width="{width}" alt="{render.esc(saved.prompt[:PROMPT_CLIP])}" '
            'style="max-width:100%;height:auto">'
        )
    return (
        f'<div style="width:{width}px;height:{width * 9 // 16}px;background:#e5e7eb;'
        'display:flex;align-items:center;justify-content:center;color:#4b5563">'
        "no poster</div>"
    )


def _caption_html(saved: SavedResult) -> str:
    facts = card_facts(saved)
    prompt = facts["prompt"]
    clipped = render.clip(prompt, PROMPT_CLIP)
    cell = reproducing_cell(saved)
    notes = "".join(f"<div><small>{render.esc(n)}</small></div>" for n in cell.notes)
    meta = " · ".join(render.esc(facts[k]) for k in ("model", "size", "duration", "date"))
    return (
        f'<div style="white-space:pre-wrap" title="{render.esc(prompt)}">{render.esc(clipped)}'
        f"</div><small>{meta}<br>task <code>{render.esc(facts['task_id'])}</code></small>"
        "<details><summary><small>%%wanvideo cell</small></summary>"
        f'<pre style="white-space:pre-wrap;font-size:11px">{render.esc(cell)}</pre>{notes}'
        "</details>"
    )


def card_html(saved: SavedResult, *, embed: bool = False, width: int = 256) -> str:
    """One static card: the player (poster first, the poster image where ``<video>`` is
    blocked) and the caption."""
    player = render.video_html(
        saved.video, poster=saved.poster, embed=embed, width=width, label=saved.prompt
    )
    return (
        f'<figure class="wan-card" style="display:inline-block;width:{width + 8}px;'
        f'margin:4px;vertical-align:top;font-size:12px">{player}'
        f"<figcaption>{_caption_html(saved)}</figcaption></figure>"
    )


def _display_data(html: str, text: str) -> dict[str, Any]:
    return {"output_type": "display_data", "data": {"text/html": html, "text/plain": text},
            "metadata": {}}  # fmt: skip


class _Card:
    """The widget card of one result: media (poster or player), caption, Play button."""

    def __init__(self, gallery: Gallery, saved: SavedResult) -> None:
        import ipywidgets as w

        self.gallery = gallery
        self.saved = saved
        self.playing = False
        width = gallery.card_width
        # an Output renders through the notebook, which resolves the relative file paths
        self.media = w.Output(layout={"width": f"{width + 4}px"})
        self.caption = w.HTML(_caption_html(saved), layout={"width": f"{width + 4}px"})
        short = render.clip(saved.prompt, 60)
        self.play = w.Button(
            description="Play", icon="play", tooltip=f"play the video: {short}",
            layout={"width": "auto"},
        )  # fmt: skip
        self.play.on_click(lambda _b: self.toggle())
        self.box = w.VBox(
            [self.media, self.play, self.caption],
            layout={"border": "1px solid #e5e7eb", "padding": "4px", "margin": "2px"},
        )
        self._show()

    def _show(self) -> None:
        saved, width = self.saved, self.gallery.card_width
        if self.playing:
            html = render.video_html(
                saved.video,
                poster=saved.poster,
                embed=self.gallery.embed,
                width=width,
                label=saved.prompt,
                autoplay=True,
            )  # fmt: skip  (Play means play: the click is the user gesture autoplay needs)
            self.play.description, self.play.icon = "Poster", "image"
        else:
            html = _poster_html(saved, width)
            self.play.description, self.play.icon = "Play", "play"
        self.media.outputs = (_display_data(html, render.src_for(saved.video)),)

    @property
    def media_html(self) -> str:
        return str(self.media.outputs[0]["data"]["text/html"])

    def toggle(self, playing: bool | None = None) -> None:
        self.playing = (not self.playing) if playing is None else playing
        self._show()


class Gallery:
    """The saved videos of an outputs folder, newest first, filtered by text and model.

    ``output_dir`` defaults to the magic's folder (``%config WanVideoMagic.directory``) or
    ``wan_outputs``; ``text``/``model`` are the initial filters; ``limit`` caps the cards;
    ``embed`` inlines the players as base64 (Colab, sharing); ``widgets`` forces the
    interactive view on or off (default: inside a kernel with ipywidgets).
    """

    def __init__(
        self,
        output_dir: str | os.PathLike[str] | None = None,
        *,
        text: str = "",
        model: str | None = None,
        limit: int | None = None,
        embed: bool = False,
        widgets: bool | None = None,
        card_width: int = 256,
    ) -> None:
        from ..store import OutputStore
        from .panel import widgets_usable
        from .runner_source import _loaded_magic

        if output_dir is None:
            magic = _loaded_magic()
            output_dir = magic.directory if magic is not None else "wan_outputs"
        if model:
            model = catalog.get_model(model).id  # KeyError names the known models
        self.store = OutputStore(output_dir)
        self.limit = limit
        self.embed = embed
        self.card_width = card_width
        self.refreshes = 0
        #: the results the filters let through, newest first
        self.results: list[SavedResult] = []
        self._text = text
        self._model = model or ""
        self._handle: Any = None
        self._watched: weakref.WeakSet[Job] = weakref.WeakSet()
        self._cards: dict[str, _Card] = {}
        use_widgets = widgets_usable() if widgets is None else widgets
        self._w: Any = None
        if use_widgets:
            self._build_widgets()
        for job in add_watcher(self):
            self.watch(job)
        self.refresh()

    # ------------------------------------------------------------------ widgets

    def _build_widgets(self) -> None:
        import ipywidgets as w

        class _W:
            pass

        ui = _W()
        ui.text = _label(
            w.Text, value=self._text, description="Filter",
            placeholder="words in the prompt", continuous_update=True,
        )  # fmt: skip
        ui.model = _label(
            w.Dropdown, description="Model",
            options=[("all models", ""), *((m, m) for m in catalog.model_ids())],
            value=self._model,
        )  # fmt: skip
        ui.refresh = w.Button(
            description="Refresh", icon="refresh", tooltip="read the outputs folder again"
        )
        ui.count = w.Label()
        columns = f"repeat(auto-fill, minmax({self.card_width + 16}px, 1fr))"
        ui.grid = w.GridBox(layout={"grid_template_columns": columns, "grid_gap": "4px"})
        ui.text.observe(lambda c: self.filter(text=c["new"]), names="value")
        ui.model.observe(lambda c: self.filter(model=c["new"]), names="value")
        ui.refresh.on_click(lambda _b: self.refresh())
        ui.box = w.VBox([w.HBox([ui.text, ui.model, ui.refresh, ui.count]), ui.grid])
        self._w = ui

    @property
    def widget(self) -> Any:
        """The interactive view (None when built without widgets)."""
        return None if self._w is None else self._w.box

    @property
    def cards(self) -> list[Any]:
        """The widget cards shown now, in order (empty without widgets)."""
        return [self._cards[r.task_id] for r in self.results if r.task_id in self._cards]

    def card(self, task_id: str) -> Any:
        """The widget card of one task id."""
        return self._cards[task_id]

    # ------------------------------------------------------------------ data

    @property
    def text(self) -> str:
        return self._text

    @property
    def model(self) -> str:
        return self._model

    def filter(self, *, text: str | None = None, model: str | None = None) -> None:
        """Change the filters (also what the widgets call) and show the matching results."""
        if text is not None:
            self._text = text
        if model is not None:
            self._model = catalog.get_model(model).id if model else ""
        if self._w is not None:
            if self._w.text.value != self._text:
                self._w.text.value = self._text
            if self._w.model.value != self._model:
                self._w.model.value = self._model
        self._reload(publish=self._w is None)

    def refresh(self) -> None:
        """Re-read the outputs folder (no network) and update every view."""
        self._reload(publish=True)

    def _reload(self, *, publish: bool) -> None:
        if self.store.index_path.exists():
            self.results = self.store.results(
                model=self._model or None, text=self._text or None, limit=self.limit
            )
        else:
            self.results = []
        self.refreshes += 1
        if self._w is not None:
            self._sync_widgets()
        if publish and self._handle is not None:
            from .panel import _latest_parent

            with _latest_parent():
                self._handle.update(self._bundle(), raw=True)

    def _sync_widgets(self) -> None:
        ui = self._w
        for saved in self.results:
            card = self._cards.get(saved.task_id)
            if card is None or card.saved.video != saved.video:
                self._cards[saved.task_id] = _Card(self, saved)
        ui.grid.children = tuple(self._cards[r.task_id].box for r in self.results)
        ui.count.value = self._summary()

    def play(self, task_id: str) -> None:
        """Show the player on one card (the Play button)."""
        card = self._cards.get(task_id)
        if card is None:
            raise KeyError(f"no card for task {task_id!r} in this gallery")
        card.toggle(True)

    # ------------------------------------------------------------------ live updates

    def watch(self, job: Job) -> None:
        """Refresh when ``job`` saves a video into this gallery's folder."""
        if job in self._watched or job.done():
            return
        self._watched.add(job)
        ref = weakref.ref(self)

        def on_event(event: JobEvent) -> None:
            gallery = ref()
            if gallery is None or event.kind != "saved" or event.result is None:
                return
            with contextlib.suppress(OSError):
                if Path(event.result.path).resolve().parent != gallery.store.root.resolve():
                    return
            gallery.refresh()

        job.subscribe(on_event)

    # ------------------------------------------------------------------ display

    def _summary(self) -> str:
        where = render.src_for(self.store.root)
        filters = []
        if self._text:
            filters.append(f"text {self._text!r}")
        if self._model:
            filters.append(f"model {self._model}")
        how = f" matching {' and '.join(filters)}" if filters else ""
        n = len(self.results)
        return f"{n} saved video{'s' if n != 1 else ''} in {where}{how}"

    def html(self) -> str:
        """The gallery as static HTML (every card, escaped; players reference the files)."""
        head = f"<div><b>Wan gallery</b> · {render.esc(self._summary())}</div>"
        if not self.results:
            body = (
                "<div><small>No saved videos yet: a %%wanvideo cell, the form or "
                "generate() saves them here.</small></div>"
            )
        else:
            body = "".join(card_html(r, embed=self.embed, width=self.card_width)
                           for r in self.results)  # fmt: skip
        return (
            '<div class="wan-gallery" style="font-family:sans-serif;font-size:13px">'
            f"{head}<div>{body}</div></div>"
        )

    def text_view(self) -> str:
        """The gallery as plain text, one line per result."""
        lines = [self._summary()]
        for r in self.results:
            facts = card_facts(r)
            prompt = " ".join(r.prompt.split())[:60]
            lines.append(
                f"  {render.src_for(r.video)}  {facts['model']} {facts['size']} "
                f"{facts['duration']} {facts['date']} {facts['task_id']}  {prompt!r}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text_view()

    def _repr_html_(self) -> str:
        return self.html()

    def _bundle(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text/plain": self.text_view(), "text/html": self.html()}
        if self._w is not None:
            data[WIDGET_MIME] = {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self._w.box.model_id,
            }
        return data

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return self._bundle()

    def show(self) -> Gallery:
        """Display the gallery once; refreshes then update that output in place."""
        from IPython.display import display

        self._handle = display(self._bundle(), raw=True, display_id=True)
        return self
