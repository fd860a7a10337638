"""Point-in-time recovery into a NEW cluster: the target, the plan (validation), the outcome.

The source cluster is never touched: everything comes from the backup bucket and the restored copy
is a separate, isolated cluster (see :mod:`noa_lib.ops.backup.pitr_restore`).

:func:`plan_pitr` validates everything **before anything starts** and returns a
:class:`RestorePlan`:

* the target: ``target_time`` ``"latest"`` or ISO 8601 *with* a time zone, or ``target_lsn`` —
  anything else is a :class:`~noa_lib.errors.ParameterError` naming the accepted forms;
* the window (:mod:`noa_lib.ops.backup.pitr_window`): a time before the end of the earliest base
  backup, or after the newest transaction end in the archived WAL, is a ``ParameterError`` naming
  the restorable window; no base backup, or a WAL gap between the chosen base backup and the
  target, is a :class:`~noa_lib.errors.PreconditionFailed` (PITR cannot cross a gap);
* what it uses: the newest base backup that ends at or before the target, its unbroken WAL, a
  destination (``restore_dir``, else a fresh directory under ``$NOA_SCRATCH_DIR`` or the temp
  dir, never inside the source's data directory, with room for the cluster and the WAL) and a
  free loopback port.

Its :attr:`RestorePlan.plan` is shown (dry run) or applied with
:func:`~noa_lib.ops.safety.apply_plan`, which runs :func:`noa_lib.ops.backup.pitr_restore.restore`;
:func:`pitr_outcome` turns either into findings and figures for the record.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from noa_lib.clients import pgserver
from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, ParameterError, PreconditionFailed
from noa_lib.ops.backup import wal_catalog as cat
from noa_lib.ops.backup.catalog import iso, require_s3
from noa_lib.ops.backup.pitr_plan import LATEST, RecoveryTarget, RestorePlan, parse_target
from noa_lib.ops.backup.pitr_restore import RestoreResult, restore, result_of
from noa_lib.ops.backup.pitr_window import BackupWindow, PitrWindow, binaries_for, pitr_window
from noa_lib.ops.backup.scratch import SCRATCH_ENV, check_space, scratch_root
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.safety import Applied

_UNSAFE_PATH = re.compile(r"['\"%\\\n\r\t]")

def plan_pitr(
    target: Target,
    *,
    target_time: str = LATEST,
    target_lsn: str | None = None,
    restore_dir: str | None = None,
    keep_running: bool = False,
    window: PitrWindow | None = None,
) -> RestorePlan:
    """Validate a point-in-time restore of ``target`` and choose what it uses. Starts nothing.

    Returns:
        The :class:`RestorePlan`.

    Raises:
        ParameterError: the target time/LSN is unparsable or outside the window (the message
            names the window), or ``restore_dir`` is unusable.
        PreconditionFailed: no base backup, a WAL gap on the way to the target, binaries
            missing, not enough free space for the restored cluster.
        ConfigError / Unavailable / Timeout / ClientError: configuration or S3.
    """
    recovery = parse_target(target_time, target_lsn)
    destination = _check_restore_dir(restore_dir)
    require_s3(target)
    window = window or pitr_window(target)
    catalog = window.catalog
    if not window.windows:
        raise PreconditionFailed(
            f"no complete base backup of cluster {catalog.system_identifier} in "
            f"s3://{catalog.bucket}/{cat.BASE_PREFIX}: nothing to restore; take one with "
            "backup/wal_archiving (take_base_backup=True, dry_run=False)"
        )
    chosen = _choose(recovery, window)
    if destination is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        root = scratch_root()
        destination = root / f"noa-pitr-{catalog.system_identifier}-{stamp}-{os.getpid()}"
    _check_destination(target, destination)
    binaries_for(chosen.backup, ("pg_ctl", "postgres", "pg_waldump"))
    check_space(destination.parent, _space_estimate(chosen))
    return RestorePlan(
        target=target,
        recovery=recovery,
        backup=chosen.backup,
        segments=chosen.chain.segments,
        window=chosen,
        system_identifier=catalog.system_identifier,
        restore_dir=destination,
        port=pgserver.free_port(),
        keep_running=keep_running,
        bucket=catalog.bucket,
        perform=restore,
    )


def _space_estimate(chosen: BackupWindow) -> int:
    """Bytes a restore of ``chosen`` writes: the cluster's data (as the manifest recorded it, else
    four times the compressed backup) plus the WAL segments it downloads."""
    data = chosen.backup.manifest.get("database_bytes")
    cluster = int(data) if isinstance(data, int) and data > 0 else chosen.backup.size_bytes * 4
    return cluster + sum(s.size for s in chosen.chain.segments)


def _choose(recovery: RecoveryTarget, window: PitrWindow) -> BackupWindow:
    windows = list(window.windows)
    span = window.describe()
    if recovery.kind == "latest":
        newest = windows[-1]
        _require_unbroken(newest)
        return newest
    if recovery.kind == "time":
        assert recovery.time is not None
        moment = recovery.time
        earliest = windows[0].start
        if moment < earliest:
            raise ParameterError(
                f"target_time {iso(moment)} is before the end of the earliest base backup "
                f"({iso(earliest)}); restorable window: {span}",
                name="target_time",
                accepted=span,
            )
        candidates = [w for w in windows if w.start <= moment]
        for w in reversed(candidates):
            if w.end is not None and moment <= w.end:
                return w
        newest = candidates[-1]
        if newest.chain.gap is not None or newest.chain.missing_start:
            _require_unbroken(newest, moment)
        end = window.end
        raise ParameterError(
            f"target_time {iso(moment)} is after the newest archived WAL (newest archived commit "
            f"{iso(end) if end else 'none'}); restorable window: {span}. Use "
            "target_time='latest' for everything archived, or archive the current segment "
            "first (pg_switch_wal()) if the target is more recent",
            name="target_time",
            accepted=span,
        )
    assert recovery.lsn is not None
    wanted = cat.parse_lsn(recovery.lsn)
    first_stop = cat.parse_lsn(windows[0].backup.stop_lsn)
    lsn_span = "; ".join(
        f"{w.backup.stop_lsn} … {w.last_lsn} (base backup {w.backup.stamp})"
        for w in windows
        if w.last_lsn is not None
    )
    if wanted < first_stop:
        raise ParameterError(
            f"target_lsn {recovery.lsn} is before the end of the earliest base backup "
            f"({windows[0].backup.stop_lsn}); restorable LSNs: {lsn_span or 'none'}",
            name="target_lsn",
            accepted=lsn_span,
        )
    candidates = [w for w in windows if cat.parse_lsn(w.backup.stop_lsn) <= wanted]
    for w in reversed(candidates):
        if w.last_lsn is not None and wanted <= cat.parse_lsn(w.last_lsn):
            return w
    newest = candidates[-1]
    if newest.chain.gap is not None or newest.chain.missing_start:
        _require_unbroken(newest)
    raise ParameterError(
        f"target_lsn {recovery.lsn} is after the last archived WAL record; restorable LSNs: "
        f"{lsn_span or 'none'}",
        name="target_lsn",
        accepted=lsn_span,
    )


def _require_unbroken(w: BackupWindow, moment: datetime | None = None) -> None:
    chain = w.chain
    if chain.missing_start:
        gap = chain.gap.describe() if chain.gap is not None else "nothing is archived after it"
        raise PreconditionFailed(
            f"PITR from base backup {w.backup.stamp} is impossible: its start segment "
            f"{w.backup.start_wal_segment} is not archived ({gap})"
        )
    if chain.gap is not None:
        reach = iso(w.end) if w.end is not None else iso(w.start)
        what = f"to {iso(moment)}" if moment is not None else "to the newest archived WAL"
        raise PreconditionFailed(
            f"PITR {what} must cross a gap in the archive: {chain.gap.describe()}. From base "
            f"backup {w.backup.stamp} the archive reaches only {reach}; restore to a time up to "
            "then, or take a new base backup (WAL after the gap needs one)"
        )


def _check_restore_dir(restore_dir: str | None) -> Path | None:
    if restore_dir is None or not restore_dir.strip():
        return None
    path = Path(restore_dir.strip()).expanduser()
    accepted = "an absolute path of a directory that does not exist yet (or is empty)"
    if not path.is_absolute() or _UNSAFE_PATH.search(str(path)):
        raise ParameterError(
            f"restore_dir {restore_dir!r} must be an absolute path without quotes, '%' or "
            "backslashes",
            name="restore_dir",
            accepted=accepted,
        )
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ParameterError(
            f"restore_dir {path} exists and is not an empty directory; nothing is overwritten",
            name="restore_dir",
            accepted=accepted,
        )
    if not path.parent.is_dir():
        raise ParameterError(
            f"restore_dir {path}: its parent {path.parent} does not exist",
            name="restore_dir",
            accepted=accepted,
        )
    return path


def _check_destination(target: Target, destination: Path) -> None:
    if _UNSAFE_PATH.search(str(destination)):
        raise PreconditionFailed(
            f"the restore directory {destination} contains quotes, '%' or backslashes; set "
            f"restore_dir or {SCRATCH_ENV} to another place"
        )
    pgserver.check_traversable(destination.parent, pgserver.run_as())
    source = _source_data_directory(target)
    if source is not None:
        resolved = destination.resolve()
        if resolved == source or source in resolved.parents or resolved in source.parents:
            raise ParameterError(
                f"restore_dir {destination} overlaps the source cluster's data directory "
                f"{source}; the source is never touched: choose another directory",
                name="restore_dir",
                accepted="a directory outside the source's data directory",
            )


def _source_data_directory(target: Target) -> Path | None:
    """The source's data directory when the source runs on this machine (else ``None``)."""
    pg = target.postgres
    local = pg is not None and (pg.host in ("127.0.0.1", "localhost", "::1") or pg.host[:1] == "/")
    if pg is None or not local:
        return None
    from noa_lib.clients import postgres

    try:
        with postgres.connect(pg, read_only=True) as conn:
            rows = postgres.query(
                conn, "SELECT current_setting('data_directory', true) AS data_directory"
            )
    except (ClientError, ConfigError):
        return None
    value = rows[0]["data_directory"] if rows else None
    return Path(str(value)).resolve() if value else None


# --------------------------------------------------------------------------- notebook outcome


@dataclass(frozen=True, eq=False)
class PitrOutcome:
    """Findings and figures of a pitr_restore run (dry run or real)."""

    findings: list[Finding]
    figures: dict[str, float | int | str | None]
    result: RestoreResult | None


def pitr_outcome(plan: RestorePlan, applied: Applied) -> PitrOutcome:
    """What to record for ``plan`` once :func:`~noa_lib.ops.safety.apply_plan` returned."""
    result = result_of(applied)
    figures: dict[str, float | int | str | None] = {
        "target_time": iso(plan.recovery.time) if plan.recovery.time else LATEST,
        "target_lsn": plan.recovery.lsn,
        "base_backup": plan.backup.stamp,
        "restore_seconds": None,
        "segments_replayed": None,
        "recovered_to": None,
    }
    planned = Finding(
        check="restore plan",
        status=Status.OK,
        message=(
            f"base backup {plan.backup.stamp} + WAL {plan.wal_range} → {plan.expected_end}; "
            f"destination {plan.restore_dir} on port {plan.port}"
        ),
        evidence={"window": plan.window.describe()},
    )
    if result is None:
        dry = replace(planned, message="DRY RUN — " + planned.message + " (nothing started)")
        return PitrOutcome([dry], figures, None)
    figures.update(
        restore_seconds=result.restore_seconds,
        segments_replayed=result.segments_replayed,
        recovered_to=result.recovered_to or result.recovered_lsn,
        recovered_lsn=result.recovered_lsn,
        kept_running_port=result.port if result.kept_running else None,
    )
    findings = [planned, *result.findings]
    if result.kept_running:
        findings.append(
            Finding(
                check="restored copy",
                status=Status.OK,
                message=(
                    f"left running on 127.0.0.1:{result.port} (data in {result.data_dir}); when "
                    "done: noa.stop_restored_cluster(applied), or as postgres `pg_ctl stop -D "
                    f"{result.data_dir}` and delete {plan.restore_dir}"
                ),
                evidence={"port": result.port, "data_dir": str(result.data_dir)},
            )
        )
    return PitrOutcome(findings, figures, result)


__all__ = [
    "LATEST",
    "PitrOutcome",
    "RecoveryTarget",
    "RestorePlan",
    "RestoreResult",
    "parse_target",
    "pitr_outcome",
    "pitr_window",
    "plan_pitr",
]
