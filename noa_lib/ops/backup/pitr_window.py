"""The PITR window of a cluster: how far each base backup can be rolled forward.

For a base backup *B* the window runs from the end of *B* (its ``ended_at``, the server's clock)
to the newest commit (or abort) record in the WAL archived without a gap from *B*'s start
segment, read with ``pg_waldump`` from the final archived segments (at most
:data:`TAIL_SEGMENTS` of them are downloaded, newest first, until one holds a transaction end).
That record — not the archive time of the newest segment — is the latest reachable recovery
target: PostgreSQL stops a ``recovery_target_time`` only at a transaction end, so a later target
could never be reached. For LSN targets the window is *B*'s stop LSN … the last archived record.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from noa_lib.clients import pgserver
from noa_lib.clients.s3_objects import Bucket, open_bucket
from noa_lib.clients.s3_stream import download
from noa_lib.config import Target
from noa_lib.errors import PreconditionFailed
from noa_lib.ops.backup import wal_catalog as cat
from noa_lib.ops.backup.catalog import iso, require_s3

TAIL_SEGMENTS = 8  # how far back from the end of the archive to look for the newest commit


@dataclass(frozen=True)
class BackupWindow:
    """What one base backup can reach: its end … the newest archived commit after it."""

    backup: cat.BaseBackup
    chain: cat.Chain
    last_commit: datetime | None
    last_lsn: str | None

    @property
    def start(self) -> datetime:
        return self.backup.ended_at

    @property
    def end(self) -> datetime | None:
        """The newest commit reachable (``None``: no commit archived after the backup)."""
        if self.last_commit is None or self.last_commit < self.backup.ended_at:
            return None
        return self.last_commit

    def describe(self) -> str:
        end = iso(self.end) if self.end is not None else "(no commit archived after it)"
        gap = f"; then {self.chain.gap.describe()}" if self.chain.gap is not None else ""
        return f"{iso(self.start)} … {end} (base backup {self.backup.stamp}{gap})"


@dataclass(frozen=True, eq=False)
class PitrWindow:
    """Every base backup's window, oldest first, with the catalogue they come from."""

    catalog: cat.WalCatalog
    windows: tuple[BackupWindow, ...]

    @property
    def start(self) -> datetime | None:
        reachable = [w.start for w in self.windows if w.end is not None]
        return min(reachable) if reachable else None

    @property
    def end(self) -> datetime | None:
        ends = [w.end for w in self.windows if w.end is not None]
        return max(ends) if ends else None

    def describe(self) -> str:
        if not self.windows:
            return "no base backup: nothing can be restored"
        parts = [w.describe() for w in self.windows if w.end is not None]
        return "; ".join(parts) if parts else "no commit is archived after any base backup"


def pitr_window(target: Target, catalog: cat.WalCatalog | None = None) -> PitrWindow:
    """The PITR window of ``target`` per base backup (reads the final archived WAL, read-only).

    Raises:
        ConfigError: no S3 configured.
        PreconditionFailed: the cluster cannot be determined or ``pg_waldump`` is missing.
        Unavailable / Timeout / ClientError: S3 failed.
    """
    catalog = catalog or cat.load_catalog(target)
    settings = require_s3(target)
    scans: dict[str, tuple[datetime | None, str | None]] = {}
    windows: list[BackupWindow] = []
    with open_bucket(settings) as bucket:
        for backup in catalog.base_backups:
            chain = catalog.chain(backup)
            if not chain.segments:
                windows.append(BackupWindow(backup, chain, None, None))
                continue
            end_name = chain.segments[-1].name
            if end_name not in scans:
                scans[end_name] = _tail_scan(bucket, backup, chain)
            last_commit, last_lsn = scans[end_name]
            windows.append(BackupWindow(backup, chain, last_commit, last_lsn))
    return PitrWindow(catalog=catalog, windows=tuple(windows))


def _tail_scan(
    bucket: Bucket, backup: cat.BaseBackup, chain: cat.Chain
) -> tuple[datetime | None, str | None]:
    """Newest commit time and last record LSN in the final segments of ``chain``."""
    bins = binaries_for(backup, ("pg_waldump", "postgres"))
    segments = chain.segments
    last_lsn: str | None = None
    with tempfile.TemporaryDirectory(prefix="noa-waltail-") as tmp:
        directory = Path(tmp)
        for index in range(len(segments) - 1, max(-1, len(segments) - 1 - TAIL_SEGMENTS), -1):
            seg = segments[index]
            fetch_segment(bucket, seg, directory / seg.name)
            try:
                scan = pgserver.scan_wal(bins, directory, seg.name, seg.name)
            except PreconditionFailed:  # one record spanning the whole segment: look further back
                (directory / seg.name).unlink()
                continue
            if last_lsn is None:
                last_lsn = scan.last_lsn
            if scan.last_commit is not None:
                return scan.last_commit, last_lsn
            (directory / seg.name).unlink()
    return None, last_lsn


def fetch_segment(bucket: Bucket, seg: cat.WalSegment, dest: Path) -> None:
    """Download one segment, checking its size and the sha256 its archiver recorded."""
    from noa_lib.clients.s3 import mapped_errors

    with mapped_errors(bucket.settings):
        head = bucket.s3.head_object(Bucket=bucket.name, Key=seg.key)
    recorded = str(head.get("Metadata", {}).get("sha256", "")).lower()
    with open(dest, "wb") as fh:
        got = download(bucket, seg.key, fh)
    if got.size_bytes != seg.size or (recorded and got.sha256 != recorded):
        raise PreconditionFailed(
            f"WAL segment {seg.name} is damaged in the archive ({got.size_bytes} bytes, sha256 "
            f"{got.sha256[:16]}…, recorded {recorded[:16] or 'none'}…)"
        )


def binaries_for(backup: cat.BaseBackup, tools: tuple[str, ...]) -> pgserver.PgBinaries:
    """The server binaries of the major version that wrote ``backup`` (WAL and data files are
    readable only by the same major version).

    Raises:
        PreconditionFailed: that version's ``tools`` are not installed.
    """
    match = re.match(r"(\d+)", backup.server_version)
    major = int(match.group(1)) if match else None
    return pgserver.find_binaries(major, tools=tools)


__all__ = [
    "TAIL_SEGMENTS",
    "BackupWindow",
    "PitrWindow",
    "binaries_for",
    "fetch_segment",
    "pitr_window",
]
