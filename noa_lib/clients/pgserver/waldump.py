"""Transaction ends and the last record of archived WAL, read with ``pg_waldump``."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from noa_lib.clients._errors import safe
from noa_lib.clients.pgserver.binaries import PgBinaries
from noa_lib.clients.tool_output import plain_env
from noa_lib.errors import PreconditionFailed

_COMMIT_RE = re.compile(
    r"lsn: ([0-9A-F]+/[0-9A-F]+),.*desc: (COMMIT|ABORT)(?:_PREPARED)? "
    r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC"
)
_RECORD_LSN_RE = re.compile(r"lsn: ([0-9A-F]+/[0-9A-F]+),")


@dataclass(frozen=True)
class WalScan:
    """What ``pg_waldump`` read: transaction end times, the last record's LSN.

    ``commits`` holds the times (UTC, WAL order) of every COMMIT and ABORT record: both end a
    transaction, both can stop recovery at a ``recovery_target_time`` and both set
    ``pg_last_xact_replay_timestamp()``.
    """

    commits: tuple[datetime, ...]
    commit_lsns: tuple[str, ...]
    last_lsn: str | None
    records: int
    note: str = ""

    @property
    def last_commit(self) -> datetime | None:
        """The newest commit/abort time, or ``None`` when the WAL holds none."""
        return max(self.commits) if self.commits else None


def scan_wal(bins: PgBinaries, wal_dir: Path, first: str, last: str) -> WalScan:
    """Read the WAL segments ``first`` … ``last`` in ``wal_dir`` with ``pg_waldump``.

    The end of the newest segment is usually not a complete record (the next segment is not
    there), so ``pg_waldump``'s complaint about it is kept as :attr:`WalScan.note`, not raised.

    Raises:
        PreconditionFailed: ``pg_waldump`` read no record at all (its error is included).
    """
    result = subprocess.run(
        [bins.tool("pg_waldump"), "--path", str(wal_dir), first, last],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**plain_env(), "TZ": "UTC", "LC_ALL": "C"},
    )
    commits: list[datetime] = []
    commit_lsns: list[str] = []
    last_lsn: str | None = None
    records = 0
    for line in result.stdout.splitlines():
        match = _RECORD_LSN_RE.search(line)
        if match is None:
            continue
        records += 1
        last_lsn = match.group(1)
        commit = _COMMIT_RE.search(line)
        if commit is not None:
            commits.append(datetime.fromisoformat(commit.group(3)).replace(tzinfo=UTC))
            commit_lsns.append(commit.group(1))
    note = safe(result.stderr.strip())
    if records == 0:
        raise PreconditionFailed(
            f"pg_waldump read no WAL record from {first}…{last} in {wal_dir}: "
            f"{note or 'no output'}"
        )
    return WalScan(tuple(commits), tuple(commit_lsns), last_lsn, records, note)


__all__ = ["WalScan", "scan_wal"]
