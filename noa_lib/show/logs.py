"""Log investigation results for notebooks: pattern tables, sources, counts over time.

Pure rendering of :class:`noa_lib.ops.logs.investigate.LogInvestigation` (pandas/matplotlib are
imported when a table or chart is built), including the counts per minute over the window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from noa_lib.ops.logs.investigate import LogInvestigation
from noa_lib.ops.logs.parse import LogLine
from noa_lib.ops.logs.patterns import normalize
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
    """The ``top`` patterns, most frequent first (columns :data:`PATTERN_COLUMNS`), indexed
    ``#`` from 1 — the number :func:`log_timeline_chart` labels each pattern with."""
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
    return pd.DataFrame(rows, columns=PATTERN_COLUMNS,
                        index=pd.RangeIndex(1, len(rows) + 1, name="#"))


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


def per_minute(lines: Iterable[LogLine], patterns: Sequence[str] | None = None,
               *, freq: str = "1min") -> pd.DataFrame:
    """Lines per minute (``freq``) for each pattern in ``patterns`` (default: all) plus a
    ``total`` column; a UTC ``DatetimeIndex`` named ``time``. Lines without a time are left out.
    """
    import pandas as pd

    rows = [(line.time, normalize(line.message)) for line in lines if line.time is not None]
    if not rows:
        empty = pd.DataFrame(columns=[*(patterns or []), "total"], dtype="int64")
        empty.index = pd.DatetimeIndex([], tz="UTC", name="time")
        return empty
    frame = pd.DataFrame(rows, columns=["time", "pattern"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    counts = (frame.assign(n=1).pivot_table(index="time", columns="pattern", values="n",
                                            aggfunc="sum", fill_value=0)
              .resample(freq).sum())
    wanted = list(patterns) if patterns is not None else list(counts.columns)
    out = counts.reindex(columns=wanted, fill_value=0).astype("int64")
    out["total"] = counts.sum(axis=1).astype("int64")
    out.index.name = "time"
    out.columns.name = None
    return out


def log_timeline(result: LogInvestigation, top: int = 5, freq: str = "1min") -> pd.DataFrame:
    """Kept lines per minute (``freq``) for the ``top`` patterns and in ``total``, zero-filled
    over the whole window of ``result``; a UTC ``DatetimeIndex`` named ``time``."""
    import pandas as pd

    patterns = [g.pattern for g in result.groups[:top]]
    frame = per_minute(result.lines, patterns, freq=freq)
    grid = pd.date_range(pd.Timestamp(result.since).floor(freq), pd.Timestamp(result.until)
                         .floor(freq), freq=freq, tz="UTC", name="time")
    return frame.reindex(grid, fill_value=0)


def log_timeline_chart(result: LogInvestigation, top: int = 5) -> Chart:
    """Lines per minute of the ``top`` patterns (stacked areas) and the total, over the window.

    Patterns are labelled by their number in :func:`patterns_frame` and their level, never by
    their text: a chart is an image, which redaction cannot read, and log text can carry
    secrets."""
    from matplotlib.figure import Figure

    frame = log_timeline(result, top=top)
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
            levels = {g.pattern: g.level for g in result.groups}
            ax.stackplot(times, *(frame[c].to_numpy() for c in patterns),
                         labels=[f"#{i} ({levels.get(p, '?')})"
                                 for i, p in enumerate(patterns, start=1)], alpha=0.7)
        ax.plot(times, frame["total"].to_numpy(), color="black", linewidth=1.2,
                label="all patterns")
        ax.legend(loc="upper left", fontsize=7)
    ax.set_ylabel("lines / min")
    ax.grid(True, alpha=0.3)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    return Chart(figure, title)


__all__ = ["PATTERN_COLUMNS", "log_timeline", "log_timeline_chart", "patterns_frame",
           "patterns_table", "per_minute", "sources_frame"]
