"""A retention plan as tables for a notebook: keep/delete with the rule, and the gaps.

WAL segments are folded into runs of consecutive segments with the same decision and reason, so a
week of WAL is a few rows, not thousands. pandas is imported when a table is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from noa_lib.ops.backup.retention import Decision, RetentionPlan

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

COLUMNS = ["action", "kind", "series", "item", "created (UTC)", "objects", "size (MB)", "why"]
_ACTION_STYLE = {
    "delete": "background-color: #c62828; color: white; font-weight: bold",
    "keep": "background-color: #2e7d32; color: white",
}


def retention_frame(plan: RetentionPlan) -> pd.DataFrame:
    """One row per backup (and per run of WAL segments): deletions first, then newest first."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    wal: list[Decision] = []

    def flush() -> None:
        if wal:
            rows.append(_wal_row(wal))
            wal.clear()

    backups = [d for d in plan.decisions if d.item.kind != "wal"]
    for decision in sorted(backups, key=lambda d: (d.keep, d.item.kind, d.item.series,
                                                   -d.item.created_at.timestamp())):
        rows.append(_row(decision, decision.item.key, 1))
    segments = sorted((d for d in plan.decisions if d.item.kind == "wal"),
                      key=lambda d: (d.item.series, d.item.history, d.item.segment or "",
                                     d.item.key))
    for decision in segments:
        if wal and (wal[-1].keep != decision.keep or wal[-1].why != decision.why
                    or wal[-1].item.series != decision.item.series):
            flush()
        wal.append(decision)
    flush()
    return pd.DataFrame(rows, columns=COLUMNS)


def _row(decision: Decision, name: str, count: int, size: int | None = None) -> dict[str, Any]:
    item = decision.item
    return {
        "action": "keep" if decision.keep else "delete",
        "kind": item.kind,
        "series": item.series,
        "item": name,
        "created (UTC)": f"{item.created_at:%Y-%m-%d %H:%M}",
        "objects": count if item.kind == "wal" else len(item.object_keys),
        "size (MB)": round((item.size_bytes if size is None else size) / 1e6, 1),
        "why": decision.why,
    }


def _wal_row(run: list[Decision]) -> dict[str, Any]:
    first, last = run[0].item, run[-1].item
    name = first.key.rsplit("/", 1)[-1]
    if len(run) > 1:
        name = f"{name} … {last.key.rsplit('/', 1)[-1]} ({len(run)} files)"
    return _row(run[0], name, len(run), sum(d.item.size_bytes for d in run))


def retention_table(plan: RetentionPlan) -> Styler:
    """:func:`retention_frame` styled: the action cell in colour (delete red, keep green)."""
    frame = retention_frame(plan)

    def colour(action: object) -> str:
        return _ACTION_STYLE.get(str(action), "")

    return (frame.style.map(colour, subset=["action"]).hide(axis="index")
            .format({"size (MB)": "{:,.1f}"})
            .set_properties(subset=["created (UTC)", "item"], **{"white-space": "nowrap"})
            .set_properties(subset=["why"], **{"text-align": "left"}))


def gaps_frame(plan: RetentionPlan) -> pd.DataFrame:
    """The gaps of the plan: series, level, bucket and the message (empty when none)."""
    import pandas as pd

    return pd.DataFrame(
        [{"kind": g.kind, "series": g.series, "level": g.level, "bucket": g.bucket,
          "gap": g.message} for g in plan.gaps],
        columns=["kind", "series", "level", "bucket", "gap"],
    )


__all__ = ["COLUMNS", "gaps_frame", "retention_frame", "retention_table"]
