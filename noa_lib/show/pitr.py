"""WAL archiving and point-in-time recovery for a notebook: typed results as tables.

:func:`show_base_backups` and :func:`show_wal_timelines` render an
:class:`~noa_lib.ops.backup.wal.ArchivingReport`; :func:`show_pitr_window` a
:class:`~noa_lib.ops.backup.pitr_window.PitrWindow`; :func:`show_row_counts` a
:class:`~noa_lib.ops.backup.pitr.PitrOutcome`. Each table has its columns even when empty (no
catalogue, no base backup, a dry run).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from noa_lib.ops.backup.catalog import iso
from noa_lib.ops.backup.pitr import PitrOutcome
from noa_lib.ops.backup.pitr_window import PitrWindow
from noa_lib.ops.backup.wal import ArchivingReport

if TYPE_CHECKING:
    import pandas as pd

BASE_BACKUP_COLUMNS = ["base_backup", "ended_at", "size_mib", "start_segment", "stop_segment",
                       "state"]
TIMELINE_COLUMNS = ["timeline", "first_segment", "newest_segment", "segments", "gaps",
                    "newest_at"]
WINDOW_COLUMNS = ["base_backup", "from", "to (newest archived commit)", "wal_segments",
                  "first_segment", "last_segment", "gap_after"]
ROW_COUNT_COLUMNS = ["table", "rows"]


def _frame(rows: Iterable[dict[str, Any]], columns: list[str], title: str) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=columns)
    frame.attrs["title"] = title
    return frame


def show_base_backups(report: ArchivingReport) -> pd.DataFrame:
    """One row per base backup, newest first, then the incomplete ones with the reason in
    ``state`` (:data:`BASE_BACKUP_COLUMNS`)."""
    return _frame((asdict(r) for r in report.base_backups()), BASE_BACKUP_COLUMNS,
                  "base backups")


def show_wal_timelines(report: ArchivingReport) -> pd.DataFrame:
    """Archived WAL per timeline: first and newest segment, count, gaps, newest archive time
    (:data:`TIMELINE_COLUMNS`)."""
    return _frame((asdict(r) for r in report.wal()), TIMELINE_COLUMNS, "archived WAL")


def show_pitr_window(window: PitrWindow) -> pd.DataFrame:
    """One row per base backup, newest first: from its end to the newest archived commit, its
    WAL segments and the gap after them (:data:`WINDOW_COLUMNS`)."""
    rows = (
        {
            "base_backup": w.backup.stamp,
            "from": iso(w.start),
            "to (newest archived commit)": iso(w.end) if w.end else "",
            "wal_segments": len(w.chain.segments),
            "first_segment": w.chain.segments[0].name if w.chain.segments else "",
            "last_segment": w.chain.last.name if w.chain.last else "",
            "gap_after": w.chain.gap.describe() if w.chain.gap else "",
        }
        for w in reversed(window.windows)
    )
    return _frame(rows, WINDOW_COLUMNS, "PITR window")


def show_row_counts(outcome: PitrOutcome) -> pd.DataFrame:
    """Rows per table of the restored database (:data:`ROW_COUNT_COLUMNS`); empty for a dry
    run."""
    counts = outcome.result.row_counts if outcome.result is not None else {}
    rows = ({"table": k, "rows": v} for k, v in counts.items())
    return _frame(rows, ROW_COUNT_COLUMNS, "restored row counts")


__all__ = [
    "BASE_BACKUP_COLUMNS",
    "ROW_COUNT_COLUMNS",
    "TIMELINE_COLUMNS",
    "WINDOW_COLUMNS",
    "show_base_backups",
    "show_pitr_window",
    "show_row_counts",
    "show_wal_timelines",
]
