"""Rendering for ``incident/oom_kills`` and ``incident/disk_space``: pods and cleanup tables,
the memory trend against the limit and the volume's fill trend (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from noa_lib.show.charts import Chart

if TYPE_CHECKING:
    import pandas as pd

    from noa_lib.ops.resources.disk import DiskDiagnosis
    from noa_lib.ops.resources.oom import OomDiagnosis


def _times(points: Sequence[tuple[float, float]]) -> pd.DatetimeIndex:
    import pandas as pd

    return pd.to_datetime([t for t, _ in points], unit="s")


def oom_pods_table(d: OomDiagnosis) -> pd.DataFrame:
    """The service's pods: ready, restarts, last termination reason, version, started."""
    import pandas as pd

    rows = [{"pod": p.name, "ready": p.ready, "restarts": p.restarts,
             "last termination": p.last_termination or "", "version": p.version,
             "started": p.started} for p in d.pods]
    return pd.DataFrame(rows, columns=["pod", "ready", "restarts", "last termination",
                                       "version", "started"])


def memory_trend_chart(d: OomDiagnosis) -> Chart:
    """Each container's working set as a share of its limit over the window, with the 80 %
    verify line and the limit."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.6), layout="constrained")
    ax = figure.subplots()
    title = (f"{d.namespace}/{d.deployment}: memory working set / limit over {d.params.window} "
             f"— {d.verdict.cause}")
    ax.set_title(title, fontsize=10)
    drawn = 0
    for series in d.trend:
        if len(series.points) < 2:
            continue
        ax.plot(_times(series.points), [v for _, v in series.points], linewidth=1.2,
                label=series.labels.get("pod", "?"))
        drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "no memory series in the window", ha="center", va="center",
                transform=ax.transAxes, color="grey")
    ax.axhline(80, color="#ffb300", linestyle="--", linewidth=1, label="80 % (verify)")
    ax.axhline(100, color="#c62828", linestyle=":", linewidth=1, label="limit")
    ax.set_ylabel("% of the memory limit")
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.legend(loc="best", fontsize=7)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    return Chart(figure, title)


def disk_trend_chart(d: DiskDiagnosis) -> Chart:
    """Used bytes over the window against the capacity, with the 70/80/90 % lines."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.6), layout="constrained")
    ax = figure.subplots()
    title = f"{d.namespace}/{d.pvc}: used over {d.params.window} — {d.ttf.describe()}"
    ax.set_title(title, fontsize=10)
    gib = 2**30
    points = d.trend[0].points if d.trend else ()
    if len(points) >= 2:
        ax.plot(_times(points), [v / gib for _, v in points], linewidth=1.2, label="used")
    else:
        ax.text(0.5, 0.5, "no volume stats in the window", ha="center", va="center",
                transform=ax.transAxes, color="grey")
    if d.capacity:
        ax.axhline(d.capacity / gib, color="#c62828", linestyle=":", linewidth=1,
                   label="capacity")
        for pct, colour in ((70, "#2e7d32"), (80, "#ffb300"), (90, "#ef6c00")):
            ax.axhline(d.capacity * pct / 100 / gib, color=colour, linestyle="--",
                       linewidth=0.8, label=f"{pct} %")
    ax.set_ylabel("GiB")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=7)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    return Chart(figure, title)


def cleanup_table(d: DiskDiagnosis) -> pd.DataFrame:
    """What could be cleaned up instead of (or besides) growing the volume — to review, this
    runbook deletes nothing."""
    import pandas as pd

    return pd.DataFrame({"candidate": list(d.candidates)})


__all__ = ["cleanup_table", "disk_trend_chart", "memory_trend_chart", "oom_pods_table"]
