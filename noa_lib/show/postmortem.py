"""The post-incident review rendered: the Markdown draft (Google SRE post-mortem sections) and
its tables for the notebook."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from noa_lib.ops.postmortem import Review

if TYPE_CHECKING:
    import pandas as pd

TO_FILL = "_(to fill in)_"
NOT_RECORDED = "not recorded"


def review_markdown(review: Review) -> str:
    """The post-mortem draft of ``review`` as Markdown: summary, impact, timeline, detection and
    response times, the sections to fill (root cause, trigger, resolution, lessons learned) and
    the action items table."""
    inc, times, d = review.incident, review.times, review.durations
    lines = [
        f"# Post-mortem: {inc.get('id')} — {inc.get('title')}",
        "",
        "_Draft generated from the incident and its records; fill in the sections marked to fill._",
        "",
        "## Summary",
        "",
        f"- Severity: {inc.get('severity')}",
        f"- Commander: {inc.get('commander') or NOT_RECORDED}",
        f"- Status: {inc.get('status')}",
        *[f"- {name.capitalize()}: {_at(times.get(key))}" for name, key in (
            ("impact started", "impact_start"), ("detected", "detected"),
            ("acknowledged (investigating)", "acknowledged"), ("mitigated", "mitigated"),
            ("resolved", "resolved"))],
        "",
        "## Impact",
        "",
        f"- Duration (impact start → resolved): {_duration(d.get('impact_s'))}",
        *[f"- {name.replace('_', ' ').capitalize()}: "
          f"{NOT_RECORDED if review.impact.get(name) is None else review.impact[name]}"
          for name in ("requests_failed", "organizations_hit")],
        "",
        "## Detection and response",
        "",
        f"- Impact start: {_at(times.get('impact_start'))} ({review.impact_source})",
        f"- MTTD (impact start → detected): {_duration(d.get('mttd_s'))}",
        f"- Time to acknowledge (detected → investigating): {_duration(d.get('tta_s'))}",
        f"- Impact start → acknowledged: {_duration(_sum(d.get('mttd_s'), d.get('tta_s')))}",
        f"- Time to mitigate (detected → mitigated): {_duration(d.get('ttm_s'))}",
        f"- MTTR (detected → resolved): {_duration(d.get('mttr_s'))}",
        "",
        "## Timeline (UTC)",
        "",
        "| time | kind | what | runbook | run | by |",
        "|---|---|---|---|---|---|",
        *[_row(e) for e in review.timeline],
        "",
    ]
    for section in ("Root cause", "Trigger", "Resolution"):
        lines += [f"## {section}", "", TO_FILL, ""]
    lines += ["## Lessons learned", ""]
    for part in ("What went well", "What went wrong", "Where we got lucky"):
        lines += [f"### {part}", "", TO_FILL, ""]
    lines += ["## Action items", "", "| action | owner | due | status |", "|---|---|---|---|"]
    lines += [f"| {_cell(a.action)} | {_cell(a.owner)} | {a.due} | {a.status} |"
              for a in review.action_items] or [f"| {TO_FILL} | | | |"]
    return "\n".join(lines) + "\n"


def show_review(review: Review) -> Any:
    """The draft as a Markdown display object (what the notebook shows)."""
    from IPython.display import Markdown

    return Markdown(review_markdown(review))  # type: ignore[no-untyped-call]


def review_timeline_table(review: Review) -> pd.DataFrame:
    """One row per timeline event: at, kind, text, runbook, run_id, by."""
    import pandas as pd

    columns = ["at", "kind", "text", "runbook", "run_id", "by"]
    frame = pd.DataFrame([{c: e.get(c) for c in columns} for e in review.timeline],
                         columns=columns)
    frame.attrs["title"] = "timeline"
    return frame


def review_times_table(review: Review) -> pd.DataFrame:
    """The review's times and durations (seconds), one row per measure."""
    import pandas as pd

    rows = [("MTTD", "impact_start", "detected", "mttd_s"),
            ("time to acknowledge", "detected", "acknowledged", "tta_s"),
            ("time to mitigate", "detected", "mitigated", "ttm_s"),
            ("MTTR", "detected", "resolved", "mttr_s"),
            ("impact duration", "impact_start", "resolved", "impact_s")]
    return pd.DataFrame(
        [{"measure": name, "from": _at(review.times.get(a)), "to": _at(review.times.get(b)),
          "seconds": review.durations.get(key)} for name, a, b, key in rows],
        columns=["measure", "from", "to", "seconds"],
    )


def _row(event: Mapping[str, Any]) -> str:
    return (f"| {_cell(str(event.get('at', '')).replace('T', ' ')[:19])} "
            f"| {_cell(event.get('kind'))} | {_cell(event.get('text'))} "
            f"| {_cell(event.get('runbook'))} | {_cell(event.get('run_id'))} "
            f"| {_cell(event.get('by'))} |")


def _sum(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _at(moment: datetime | None) -> str:
    return NOT_RECORDED if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "not reached"
    minutes, sec = divmod(abs(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours} h {minutes:02d} min {sec:02d} s" if hours else f"{minutes} min {sec:02d} s"
    return f"{seconds} s ({'-' if seconds < 0 else ''}{text})"


__all__ = ["review_markdown", "review_times_table", "review_timeline_table", "show_review"]
