"""The types a point-in-time restore is planned and carried out with: target and plan.

:mod:`noa_lib.ops.backup.pitr` validates and builds a :class:`RestorePlan`;
:mod:`noa_lib.ops.backup.pitr_restore` carries it out. Both import these types from here, so
neither imports the other's module for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from noa_lib.config import Target
from noa_lib.errors import ParameterError
from noa_lib.ops.backup import wal_catalog as cat
from noa_lib.ops.backup.catalog import iso
from noa_lib.ops.backup.pitr_window import BackupWindow
from noa_lib.ops.safety import Change, Plan

LATEST = "latest"

TargetKind = Literal["latest", "time", "lsn"]


# --------------------------------------------------------------------------- recovery target


@dataclass(frozen=True)
class RecoveryTarget:
    """Where recovery should stop: the end of the archive, a time, or an LSN."""

    kind: TargetKind
    time: datetime | None = None
    lsn: str | None = None

    def describe(self) -> str:
        if self.kind == "time" and self.time is not None:
            return f"time {iso(self.time)}"
        if self.kind == "lsn":
            return f"LSN {self.lsn}"
        return "latest (end of the archived WAL)"

    def settings(self) -> dict[str, str]:
        """The ``recovery_target_*`` settings for PostgreSQL."""
        if self.kind == "time" and self.time is not None:
            return {"recovery_target_time": self.time.astimezone(UTC).isoformat()}
        if self.kind == "lsn" and self.lsn is not None:
            return {"recovery_target_lsn": self.lsn}
        return {}


def parse_target(target_time: str = LATEST, target_lsn: str | None = None) -> RecoveryTarget:
    """The recovery target of the runbook's parameters.

    Raises:
        ParameterError: an unparsable time, a time without time zone, an invalid LSN, or both a
            time and an LSN.
    """
    text = (target_time or "").strip()
    lsn = (target_lsn or "").strip() or None
    if lsn is not None:
        if text.lower() not in ("", LATEST):
            raise ParameterError(
                f"give target_time or target_lsn, not both (got {text!r} and {lsn!r})",
                name="target_lsn",
                accepted="target_lsn with target_time='latest'",
            )
        try:
            value = cat.parse_lsn(lsn)
        except ValueError as exc:
            raise ParameterError(
                f"target_lsn: {exc}", name="target_lsn", accepted="an LSN such as 0/3000060"
            ) from None
        return RecoveryTarget("lsn", lsn=cat.format_lsn(value))
    if text.lower() in ("", LATEST):
        return RecoveryTarget("latest")
    accepted = "'latest' or ISO 8601 with a time zone, e.g. 2026-11-26T10:15:00Z"
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ParameterError(
            f"target_time {text!r} is not a time: use {accepted}",
            name="target_time",
            accepted=accepted,
        ) from None
    if moment.tzinfo is None:
        raise ParameterError(
            f"target_time {text!r} has no time zone; say which one: {accepted}",
            name="target_time",
            accepted=accepted,
        )
    return RecoveryTarget("time", time=moment.astimezone(UTC))


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True, eq=False)
class RestorePlan:
    """A validated restore: what it uses, where it goes, what it stops at.

    :attr:`plan` is the :class:`~noa_lib.ops.safety.Plan` to show and apply.
    """

    target: Target
    recovery: RecoveryTarget
    backup: cat.BaseBackup
    segments: tuple[cat.WalSegment, ...]
    window: BackupWindow
    system_identifier: str
    restore_dir: Path
    port: int
    keep_running: bool
    bucket: str
    # what applying :attr:`plan` runs (:func:`noa_lib.ops.backup.pitr_restore.restore`), given
    # by :func:`~noa_lib.ops.backup.pitr.plan_pitr` so these types need not import it
    perform: Callable[[RestorePlan], object] = field(repr=False, compare=False)

    @property
    def wal_range(self) -> str:
        if not self.segments:
            return "(none: only the WAL inside the base backup)"
        return f"{self.segments[0].name} … {self.segments[-1].name}"

    @property
    def expected_end(self) -> str:
        """Where recovery should end, as planned."""
        if self.recovery.kind == "latest":
            end = self.window.end
            return f"newest archived commit {iso(end)}" if end else "end of the archived WAL"
        return self.recovery.describe()

    @property
    def plan(self) -> Plan:
        size = sum(s.size for s in self.segments)
        cluster = f"new cluster 127.0.0.1:{self.port}"
        after = (
            f"left running on port {self.port} (stop it with noa.stop_restored_cluster)"
            if self.keep_running
            else "stopped and its directory removed after verification"
        )
        changes = (
            Change(cluster, "data directory", "(none)", str(self.restore_dir / "data")),
            Change(
                cluster,
                "base backup",
                "-",
                f"{self.backup.stamp} (ended {iso(self.backup.ended_at)}, "
                f"{self.backup.size_bytes / (1 << 20):.0f} MiB)",
            ),
            Change(
                cluster,
                "WAL to replay",
                "-",
                f"{self.wal_range} ({len(self.segments)} segment(s), {size / (1 << 20):.0f} MiB "
                f"from s3://{self.bucket}/{cat.WAL_PREFIX}{self.system_identifier}/)",
            ),
            Change(cluster, "recovery target", "-", self.expected_end),
            Change(cluster, "afterwards", "-", after),
        )
        return Plan(
            action=f"point-in-time restore to {self.recovery.describe()}",
            target=self.target,
            changes=changes,
            perform=lambda: self.perform(self),
            rollback=(
                f"stop the restored cluster (pg_ctl stop -D {self.restore_dir / 'data'}) and "
                f"delete {self.restore_dir}; the source cluster is never touched"
            ),
        )


__all__ = ["LATEST", "RecoveryTarget", "RestorePlan", "TargetKind", "parse_target"]
