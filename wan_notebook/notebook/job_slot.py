"""One job under the form (live widget, then final HTML) and the widget-view MIME type."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..jobs import Job
    from .panel import StatusPanel

__all__ = ["WIDGET_MIME"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class _JobSlot:
    """One job under the form: the panel's live widget, then its final static view.

    The slot is an ``Output`` widget whose outputs are the panel's mime bundle: a widget view
    while the job runs, then HTML (rendered by the notebook, which resolves the video's
    relative path the same way as for a ``%%wanvideo`` cell's output).
    """

    def __init__(self, panel: StatusPanel, job: Job) -> None:
        import ipywidgets as w

        self.panel = panel
        self.job = job
        self.output = w.Output(layout={"border": "1px solid #e5e7eb", "margin": "4px 0"})
        self.final = False
        self._unsubscribe: Any = None
        panel.follow(job)
        self.sync()
        if not self.final:
            self._unsubscribe = job.subscribe(self._on_event)

    def _on_event(self, _event: Any) -> None:
        if not self.final and WIDGET_MIME not in self.panel.bundle():
            self.sync()

    def sync(self) -> None:
        """Show the panel's current bundle (called once live, once final)."""
        bundle = self.panel.bundle()
        self.final = WIDGET_MIME not in bundle
        self.output.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)
        if self.final and self._unsubscribe is not None:
            self._unsubscribe()

    @property
    def html(self) -> str:
        """The slot's current HTML view."""
        return str(self.output.outputs[0]["data"].get("text/html", ""))
