"""Log investigation results for notebooks: pattern tables, sources, counts over time.

Pure rendering of :class:`noa_lib.ops.logs.investigate.LogInvestigation` (pandas/matplotlib are
imported when a table or chart is built).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from noa_lib.ops.logs.investigate import LogInvestigation
from noa_lib.show.charts import Chart

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

PATTERN_COLUMNS = ["count", "share", "level", "pattern", "first seen", "last seen", "pods",
                   "example"]
LEVEL_STYLE = {
    "critical": "background-color: #c62828; color: white; font-weight: bold",
    "error": "background-color: #ef5350; color: white",
    "warning": "background-color: #ffb300; color: black",
}


def _time(value: object) -> str:
    return value.strftime("%H:%M:%S") if hasattr(value, "strftime") else ""


def patterns_frame(result: LogInvestigation, top: int = 15) -> pd.DataFrame:
    """The ``top`` patterns, most frequent first (columns :data:`PATTERN_COLUMNS`)."""
    import pandas as pd

    rows = [
        {
            "count": g.count,
            "share": f"{g.share:.0%}",
            "level": g.level,
            "pattern": g.pattern,
            "first seen": _time(g.first),
            "last seen": _time(g.last),
            "pods": ", ".join(g.pods) if len(g.pods) <= 3 else f"{len(g.pods)} pods",
            "example": g.example[:200],
        }
        for g in result.groups[:top]
    ]
    return pd.DataFrame(rows, columns=PATTERN_COLUMNS)


def patterns_table(result: LogInvestigation, top: int = 15) -> Styler:
    """The patterns as a styled table (level coloured, captioned with the search)."""
    frame = patterns_frame(result, top)
    grep = f", matching {result.grep!r}" if result.grep else ""
    caption = (f"{result.service}: {len(result.lines)} {result.min_level}+ lines in "
               f"{result.window}{grep} — {len(result.groups)} pattern(s)")
    return (frame.style.map(lambda v: LEVEL_STYLE.get(str(v), ""), subset=["level"])
            .hide(axis="index").set_caption(caption)
            .set_properties(subset=["pattern", "example"], **{"text-align": "left"}))


def sources_frame(result: LogInvestigation) -> pd.DataFrame:
    """One row per container log read: pod, container, previous?, lines, error."""
    import pandas as pd

    rows = [{"pod": s.pod, "container": s.container, "previous": s.previous,
             "lines": s.lines, "error": s.error or ""} for s in result.sources]
    return pd.DataFrame(rows, columns=["pod", "container", "previous", "lines", "error"])


def log_timeline_chart(result: LogInvestigation, top: int = 5) -> Chart:
    """Lines per minute of the ``top`` patterns (stacked areas) and the total, over the window."""
    from matplotlib.figure import Figure

    frame = result.timeline(top=top)
    figure = Figure(figsize=(11, 3.6), layout="constrained")
    ax = figure.subplots()
    title = f"{result.service}: {result.min_level}+ log lines per minute ({result.window})"
    ax.set_title(title, fontsize=10)
    import pandas as pd

    times = pd.DatetimeIndex(frame.index).tz_convert(None)
    patterns = [c for c in frame.columns if c != "total"]
    if frame.empty or int(frame["total"].sum()) == 0:
        ax.text(0.5, 0.5, f"no {result.min_level}+ lines in the window", ha="center",
                va="center", transform=ax.transAxes, color="grey")
    else:
        if patterns:
            ax.stackplot(times, *(frame[c].to_numpy() for c in patterns),
                         labels=[p[:60] for p in patterns], alpha=0.7)
        ax.plot(times, frame["total"].to_numpy(), color="black", linewidth=1.2,
                label="all patterns")
        ax.legend(loc="upper left", fontsize=7)
    ax.set_ylabel("lines / min")
    ax.grid(True, alpha=0.3)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    return Chart(figure, title)


__all__ = ["PATTERN_COLUMNS", "log_timeline_chart", "patterns_frame", "patterns_table",
           "sources_frame"]
