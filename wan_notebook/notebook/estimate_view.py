"""The form's live cost estimate and its "max cost" box (issue 15).

:class:`EstimateView` is two widgets under the form's settings: the estimate of the current
request (updated on every change, from :func:`wan_notebook.cost.estimate_cost`), and a text
box for a per-click cap. :meth:`EstimateView.guard` runs the same checks as ``generate``'s
``max_cost`` and the folder budget before the form submits anything.
"""

from __future__ import annotations

from typing import Any

from ..budget import parse_budget
from ..cost import CostEstimate, money
from ..errors import ValidationError
from . import costing, render

__all__ = ["EstimateView"]


class EstimateView:
    """Live estimate + max-cost box; ``source`` is the form's :class:`RunnerSource`."""

    def __init__(self, source: Any, max_cost: float | str | None = None) -> None:
        import ipywidgets as w

        self.source = source
        self.label = w.HTML()
        self.max_cost = w.Text(
            value="" if max_cost is None else str(max_cost),
            description="Max cost",
            placeholder='none, or e.g. 2 or "2 USD"',
            tooltip="Generate refuses when the estimate's high exceeds this",
        )
        self.widget = w.VBox([w.HBox([self.max_cost]), self.label])
        self.estimate: CostEstimate | None = None

    def _where(self) -> tuple[str | None, str | None]:
        magic = self.source.magic
        if magic is not None:
            _, base_url, region, _ = magic._settings()
            return region, base_url
        return self.source.region, self.source.base_url

    def cap(self) -> str | None:
        """The max-cost box's text (None when empty)."""
        text = self.max_cost.value.strip()
        return text or None

    def update(self, request: Any) -> None:
        """Show the estimate of ``request`` (None: the form is not valid yet)."""
        if request is None:
            self.estimate = None
            self.label.value = ""
            return
        region, base_url = self._where()
        self.estimate = est = costing.estimate([request], region, base_url)
        if est is None:
            self.label.value = ""
            return
        amount = "unknown (no price for this model here)" if est.unknown else est.range_text()
        text = f"Estimated cost: {amount} ({est.region})"
        if est.lines and est.lines[0].known:
            line = est.lines[0]
            text += f" · {line.tier}, {money(line.price_per_second, est.currency)}/s"
        warn = self._cap_problem(est)
        style = "color:#b91c1c" if warn else "color:#374151"
        extra = f"<br><b>{render.esc(warn)}</b>" if warn else ""
        self.label.value = f'<small role="status" style="{style}">{render.esc(text)}{extra}</small>'

    def _cap_problem(self, est: CostEstimate) -> str:
        try:
            cap = parse_budget(self.cap(), est.currency, "max cost")
        except ValidationError as exc:
            return str(exc)
        if cap is None:
            return ""
        if est.unknown:
            return "the price is unknown, so Generate refuses under a max cost"
        if est.high > cap + 1e-9:
            return f"above the max cost {money(cap, est.currency)}: Generate refuses"
        return ""

    def guard(self, request: Any, new: bool) -> Any:
        """The max cost and the folder budget, before anything is sent; returns the
        reservation (release it when the job ends)."""
        region, base_url = self._where()
        magic = self.source.magic
        _, held = costing.guard_job_start(
            [request], self.cap(), folder_budget=getattr(magic, "budget", None), region=region,
            base_url=base_url, directory=self.source.directory, new=new, param="max cost",
        )  # fmt: skip
        return held
