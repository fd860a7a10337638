"""Charts for notebooks: figures over time from DataFrames (backup size, duration, RTO, RPO).

matplotlib is imported when a chart is drawn, never at import time. Figures are built with
:class:`matplotlib.figure.Figure` (not ``pyplot``): no global state, nothing shown twice, and no
backend switch. A :class:`Chart` displays as a PNG in JupyterLab, papermill records, nbval and
the HTML rendering alike (the last expression of a cell shows it); ``chart.figure`` is the
matplotlib figure for further tweaking or saving.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from noa_lib.ops.backup.history import HistoryResult


@dataclass(frozen=True)
class Panel:
    """One subplot: ``column`` of ``frame`` over ``started_at``, divided by ``scale``."""

    title: str
    frame: pd.DataFrame
    column: str
    unit: str = ""
    scale: float = 1.0
    threshold: float | None = None  # drawn as a dashed line (in the panel's unit)
    failed: pd.Series | None = None  # boolean mask of failed runs, marked in red


@dataclass(frozen=True, eq=False)
class Chart:
    """A figure that displays itself in notebooks (PNG) and describes itself as text."""

    figure: Figure
    title: str

    def png(self, dpi: int = 100) -> bytes:
        """The chart as PNG bytes."""
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()

    def __repr__(self) -> str:
        return f"<Chart {self.title!r}: {len(self.figure.axes)} panel(s)>"


def time_series_chart(panels: Sequence[Panel], *, title: str, columns: int = 2) -> Chart:
    """One subplot per panel in a grid; empty panels say that nothing is recorded yet."""
    from matplotlib.figure import Figure

    rows = max(1, -(-len(panels) // columns))
    figure = Figure(figsize=(6 * columns, 3.2 * rows), layout="constrained")
    figure.suptitle(title)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, panel in zip(axes, panels, strict=False):
        _draw(ax, panel)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return Chart(figure, title)


def _draw(ax: Axes, panel: Panel) -> None:
    ax.set_title(panel.title, fontsize=10)
    frame = panel.frame
    if panel.column not in frame.columns or frame[panel.column].dropna().empty:
        ax.text(0.5, 0.5, "nothing recorded yet", ha="center", va="center",
                transform=ax.transAxes, color="grey")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    rows = frame[frame[panel.column].notna()]
    times = rows["started_at"].dt.tz_convert(None)
    values = rows[panel.column].astype(float) / panel.scale
    ax.plot(times, values, marker="o", markersize=3, linewidth=1.2)
    if panel.failed is not None:
        mask = panel.failed.reindex(rows.index, fill_value=False).astype(bool)
        if mask.any():
            ax.scatter(times[mask], values[mask], color="#c62828", marker="x", zorder=3,
                       label="failed")
            ax.legend(loc="best", fontsize=8)
    if panel.threshold is not None:
        ax.axhline(panel.threshold, color="#ffb300", linestyle="--", linewidth=1)
    ax.set_ylabel(panel.unit)
    ax.grid(True, alpha=0.3)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)


def backup_history_chart(result: HistoryResult, *, rpo_hours: float | None = None) -> Chart:
    """Backup size and duration (``full_backup`` runs) and RTO/RPO (drills) over time.

    Sizes fall back to the drills' ``size_bytes`` when no ``full_backup`` run recorded one.
    ``rpo_hours`` draws the RPO bound.
    """
    from noa_lib.show.history import show_history_backups, show_history_drills

    drills, backups = show_history_drills(result), show_history_backups(result)
    sizes = backups if backups["size_bytes"].notna().any() else drills
    failed = (drills["status"] == "failed") | (drills["checks_failed"].fillna(0) > 0)
    panels = [
        Panel("Backup size", sizes, "size_bytes", "MB", scale=1e6),
        Panel("Backup duration (full_backup)", backups, "duration_s", "s"),
        Panel("RTO: restore time (drills)", drills, "restore_seconds", "s", failed=failed),
        Panel("RPO: backup age at drill", drills, "backup_age_hours", "h",
              threshold=rpo_hours, failed=failed),
    ]
    since = f" since {result.since:%Y-%m-%d}" if result.since is not None else ""
    return time_series_chart(panels, title=f"Backup history{since}")


__all__ = ["Chart", "Panel", "backup_history_chart", "time_series_chart"]
