"""Backup history from the records index: the figures earlier drills and backups recorded.

Reads the outcome figures of ``backup/validate_backup`` and ``backup/full_backup`` runs from
:class:`~noa_lib.records.index.RecordIndex` (nothing is re-run) and hands them to
:func:`noa_lib.ops.backup.history.analyse_history`. It lives in ``records`` because ops may not
import the records layer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from noa_lib.config import load_config
from noa_lib.errors import ParameterError
from noa_lib.ops.backup.history import (
    BACKUP_RUNBOOK,
    DRILL_RUNBOOK,
    HistoryResult,
    HistoryThresholds,
    RecordedRun,
    analyse_history,
)
from noa_lib.records.index import RecordIndex


def backup_history(
    reports_dir: Path | None = None,
    *,
    since: datetime | None = None,
    days: int | None = None,
    target: str | None = None,
    now: datetime | None = None,
    thresholds: HistoryThresholds | None = None,
) -> HistoryResult:
    """Drills and backups recorded since ``since`` (or the last ``days``), with trend findings.

    ``reports_dir`` defaults to the configured records root (``noa.toml``'s ``reports_dir`` or
    ``NOA_REPORTS_DIR``); ``target`` keeps only runs against that target.

    Raises:
        ParameterError: ``days`` below 1, or both ``since`` and ``days`` given.
    """
    if days is not None and since is not None:
        raise ParameterError("give since or days, not both", name="days")
    moment = now or datetime.now(UTC)
    if days is not None:
        if days < 1:
            raise ParameterError(f"days must be 1 or more, not {days}", name="days",
                                 accepted="a whole number of days >= 1")
        since = moment - timedelta(days=days)
    index = RecordIndex(reports_dir if reports_dir is not None else load_config().reports_dir)
    drills = _runs(index, DRILL_RUNBOOK, since, target)
    backups = _runs(index, BACKUP_RUNBOOK, since, target)
    return analyse_history(drills, backups, now=moment, since=since, thresholds=thresholds)


def _runs(index: RecordIndex, runbook: str, since: datetime | None,
          target: str | None) -> list[RecordedRun]:
    runs = [RecordedRun(*row) for row in index.figure_rows(runbook, since=since)]
    if target is None or not runs:
        return runs
    ids = {r.run_id for r in index.query(runbook=runbook, since=since, target=target, limit=None)}
    return [r for r in runs if r.run_id in ids]


__all__ = ["backup_history"]
