"""Backup history for a notebook: the recorded drills and backups of a
:class:`~noa_lib.ops.backup.history.HistoryResult` as tables.

Columns: ``run_id``, ``started_at`` (UTC timestamps), ``status``, ``outcome_status``, the
figures the analysis reads (:data:`~noa_lib.ops.backup.history.DRILL_FIGURES` or
:data:`~noa_lib.ops.backup.history.BACKUP_FIGURES`, numeric, NaN where a run did not record
one), then any other figure the runs recorded, in first-seen order (one clashing with the first
four is named ``figure_<name>``). Oldest first; the columns are there when no run is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from noa_lib.ops.backup.history import (
    BACKUP_FIGURES,
    BASE_COLUMNS,
    DRILL_FIGURES,
    HistoryResult,
    RecordedRun,
)

if TYPE_CHECKING:
    import pandas as pd


def runs_frame(runs: Sequence[RecordedRun], figures: Sequence[str], title: str) -> pd.DataFrame:
    """One row per run (see the module docstring for the columns)."""
    import pandas as pd

    extra: dict[str, str] = {}  # figure name -> column, first seen first
    for run in runs:
        for name in run.figures:
            if name not in figures:
                extra.setdefault(name, f"figure_{name}" if name in BASE_COLUMNS else name)
    rows: list[dict[str, Any]] = []
    for run in runs:
        row: dict[str, Any] = {
            "run_id": run.run_id,
            "started_at": run.started_at,
            "status": run.status,
            "outcome_status": run.outcome_status,
        }
        row.update({name: run.value(name) for name in figures})
        row.update({column: run.figures.get(name) for name, column in extra.items()})
        rows.append(row)
    columns = [*BASE_COLUMNS, *figures, *extra.values()]
    frame = pd.DataFrame(rows, columns=columns)
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    for name in figures:
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame.attrs["title"] = title
    return frame


def show_history_drills(result: HistoryResult) -> pd.DataFrame:
    """The recorded restore drills (``backup/validate_backup`` runs) in the window."""
    return runs_frame(result.drills, DRILL_FIGURES, "restore drills")


def show_history_backups(result: HistoryResult) -> pd.DataFrame:
    """The recorded backups (``backup/full_backup`` runs) in the window."""
    return runs_frame(result.backups, BACKUP_FIGURES, "backups")


__all__ = ["runs_frame", "show_history_backups", "show_history_drills"]
