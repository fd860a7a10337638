"""The NOA dashboards as charts: one figure per board, a subplot per panel, thresholds as lines.

matplotlib is imported when a chart is drawn. Figures are :class:`matplotlib.figure.Figure`
objects wrapped in :class:`noa_lib.show.charts.Chart`, which displays as a PNG in JupyterLab,
papermill records and nbval alike — no pyplot state, no backend switch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from noa_lib.ops.dashboards import Dashboard, Panel
from noa_lib.show.charts import Chart

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_LINES = 8
"""Series drawn per panel; the rest (smallest means) are left out and the legend says so."""
WARNING_COLOUR = "#ffb300"
CRITICAL_COLOUR = "#c62828"


def dashboard_chart(board: Dashboard, *, columns: int = 2) -> Chart:
    """One figure for ``board``: every panel's series over time, warning and critical bounds
    as dashed lines where the panel's metric has a threshold, "no data" where empty."""
    from matplotlib.figure import Figure

    panels = board.panels
    rows = max(1, -(-len(panels) // columns))
    figure = Figure(figsize=(6.4 * columns, 3.0 * rows), layout="constrained")
    span = board.end - board.start
    figure.suptitle(f"{board.title} — last {_span(span.total_seconds())} "
                    f"(step {board.step:g} s, rate window {board.rate_window})")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, panel in zip(axes, panels, strict=False):
        _draw(ax, panel)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return Chart(figure, f"{board.title} dashboard")


def _draw(ax: Axes, panel: Panel) -> None:
    import pandas as pd

    ax.set_title(panel.title, fontsize=10)
    frame = panel.frame.dropna(axis=1, how="all")
    if frame.empty:
        reason = (panel.error or "no data")[:90]
        ax.text(0.5, 0.5, f"no data\n{reason}" if panel.error else "no data", ha="center",
                va="center", transform=ax.transAxes, color="grey", fontsize=8, wrap=True)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    hidden = 0
    if len(frame.columns) > MAX_LINES:
        keep = frame.mean().sort_values(ascending=False).index[:MAX_LINES]
        hidden = len(frame.columns) - MAX_LINES
        frame = frame[keep]
    times = pd.DatetimeIndex(frame.index).tz_convert(None)
    for column in frame.columns:
        ax.plot(times, frame[column], linewidth=1.1, label=str(column))
    limit = panel.threshold
    if limit is not None:
        ax.axhline(limit.warning, color=WARNING_COLOUR, linestyle="--", linewidth=1,
                   label=f"warning {limit.warning:g}{limit.unit}")
        ax.axhline(limit.critical, color=CRITICAL_COLOUR, linestyle="--", linewidth=1,
                   label=f"critical {limit.critical:g}{limit.unit}")
    ax.set_ylabel(panel.unit)
    ax.grid(True, alpha=0.3)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    title = f"+{hidden} more" if hidden else None
    ax.legend(loc="best", fontsize=7, title=title, title_fontsize=7)


def _span(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:g} d"
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 60:g} min"


__all__ = ["dashboard_chart"]
