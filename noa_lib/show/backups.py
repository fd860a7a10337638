"""Backups and restore drills as tables for a notebook (pure rendering, pandas imported lazily)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from noa_lib.ops.backup.catalog import DumpBackup, DumpInventory
from noa_lib.ops.backup.validate import DrillResult

if TYPE_CHECKING:
    import pandas as pd

BACKUP_COLUMNS = [
    "started_at",
    "database",
    "kind",
    "size_mib",
    "age_h",
    "sse",
    "tables",
    "sha256",
    "status",
    "key",
]
DRILL_COLUMNS = ["table", "expected", "restored", "basis", "status"]
MiB = 1 << 20


def backups_table(
    backups: DumpInventory | Iterable[DumpBackup], *, now: datetime | None = None
) -> pd.DataFrame:
    """One row per dump, newest first: backups, then (for an inventory) orphans with the reason
    they are not backups in ``status``.

    Returns:
        A DataFrame with :data:`BACKUP_COLUMNS` (empty, with the columns, when there is nothing).
    """
    import pandas as pd

    moment = now or datetime.now(UTC)
    orphans = backups.orphans if isinstance(backups, DumpInventory) else ()
    valid = backups.backups if isinstance(backups, DumpInventory) else tuple(backups)
    rows = [
        {
            "started_at": b.started_at.strftime("%Y-%m-%d %H:%M:%SZ"),
            "database": b.database,
            "kind": b.kind,
            "size_mib": round(b.size_bytes / MiB, 2),
            "age_h": round(b.age_hours(moment), 1),
            "sse": b.sse or "none",
            "tables": len(b.tables),
            "sha256": b.sha256[:12],
            "status": "backup",
            "key": b.prefix,
        }
        for b in valid
    ]
    rows += [
        {
            "started_at": o.last_modified.strftime("%Y-%m-%d %H:%M:%SZ"),
            "database": o.prefix.split("/")[1] if o.prefix.count("/") >= 2 else "",
            "kind": "",
            "size_mib": round(o.size_bytes / MiB, 2),
            "age_h": round((moment - o.last_modified).total_seconds() / 3600, 1),
            "sse": "",
            "tables": None,
            "sha256": "",
            "status": f"NOT A BACKUP: {o.reason}",
            "key": o.prefix,
        }
        for o in orphans
    ]
    return pd.DataFrame(rows, columns=BACKUP_COLUMNS)


def drill_table(drill: DrillResult) -> pd.DataFrame:
    """Per-table row counts of a drill: expected (exact count at backup time or estimate),
    restored, how they were compared, ok/critical.

    Returns:
        A DataFrame with :data:`DRILL_COLUMNS` (empty when nothing was restored).
    """
    import pandas as pd

    rows = [
        {
            "table": t.table,
            "expected": t.expected,
            "restored": t.restored,
            "basis": t.basis,
            "status": str(t.status),
        }
        for t in drill.tables
    ]
    return pd.DataFrame(rows, columns=DRILL_COLUMNS)


__all__ = ["BACKUP_COLUMNS", "DRILL_COLUMNS", "backups_table", "drill_table"]
