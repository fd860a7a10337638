"""Is continuous WAL archiving working, and is point-in-time recovery possible? (read-only)

:func:`archiving_status` asks the server (one read-only session) and reads the backup bucket's
catalogue (:mod:`noa_lib.ops.backup.wal_catalog`), then judges, one finding per check:

``archive settings``
    ``archive_mode`` on, an ``archive_command``/``archive_library`` set, ``wal_level`` ≥
    replica (critical otherwise); ``archive_timeout`` 0 is a warning (a quiet server may keep a
    commit out of the archive indefinitely).
``wal archiving``
    ``pg_stat_archiver``: a failure after the last success is critical (the same judgement as
    the database-health runbook).
``archive destination``
    the file the server last archived must be in ``s3://<bucket>/wal/<system id>/``; if not,
    ``archive_command`` stores WAL somewhere else (critical).
``newest segment``
    age of the newest archived segment against ``max_wal_age_minutes`` (warning) and 4× that
    (critical) — but only while WAL is waiting to be archived: a server that wrote nothing since
    its newest archived segment is idle, not late.
``wal gaps``
    missing segments after the newest base backup's start segment are critical (PITR cannot
    cross them); older gaps are warnings (they only shorten the window).
``base backups``
    none complete → critical; the newest older than ``max_base_backup_age_hours`` → warning;
    incomplete ones (no manifest) are named.
``pitr window``
    from the end of the oldest base backup whose WAL reaches the newest segment unbroken, to the
    newest archived segment (its archive time; :func:`noa_lib.ops.backup.pitr.pitr_window` reads
    the exact newest commit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, ParameterError, PreconditionFailed
from noa_lib.ops import database_checks
from noa_lib.ops.backup import wal_catalog as cat
from noa_lib.ops.backup.catalog import iso
from noa_lib.ops.backup.wal_rows import (
    BaseBackupRow,
    TimelineRow,
    base_backup_rows,
    timeline_rows,
)
from noa_lib.ops.findings import Finding, Status

CRITICAL_FACTOR = 4.0

SERVER_SQL = """
SELECT current_setting('archive_mode') AS archive_mode,
       current_setting('archive_command') AS archive_command,
       coalesce(current_setting('archive_library', true), '') AS archive_library,
       current_setting('wal_level') AS wal_level,
       current_setting('archive_timeout') AS archive_timeout,
       pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS current_lsn,
       (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline,
       now() AS now
"""


@dataclass(frozen=True)
class ServerView:
    """What the server said: its settings, WAL position and ``pg_stat_archiver`` row."""

    settings: Mapping[str, Any]
    archiver: Mapping[str, Any]


@dataclass(frozen=True, eq=False)
class ArchivingReport:
    """The findings of :func:`archiving_status`, the catalogue behind them and key figures.

    ``figures``: ``archived_count``, ``failed_count``, ``newest_segment``,
    ``newest_segment_age_s``, ``wal_gaps``, ``base_backups``, ``newest_base_backup_age_h``,
    ``pitr_window_start``.
    """

    findings: list[Finding]
    catalog: cat.WalCatalog | None
    figures: dict[str, float | int | str | None] = field(default_factory=dict)

    def base_backups(self) -> tuple[BaseBackupRow, ...]:
        """One row per base backup (newest first), incomplete ones included and marked."""
        return base_backup_rows(self.catalog)

    def wal(self) -> tuple[TimelineRow, ...]:
        """One row per timeline: first and newest segment, count, gaps."""
        return timeline_rows(self.catalog)


def archiving_status(
    target: Target,
    *,
    max_wal_age_minutes: float = 15.0,
    max_base_backup_age_hours: float = 26.0,
    now: datetime | None = None,
) -> ArchivingReport:
    """Check WAL archiving and PITR readiness of ``target`` (read-only).

    Returns:
        An :class:`ArchivingReport`. A backend that cannot be reached turns its checks into
        ``unreachable`` findings; the others still run.

    Raises:
        ParameterError: a threshold is not positive.
    """
    for name, value in (
        ("max_wal_age_minutes", max_wal_age_minutes),
        ("max_base_backup_age_hours", max_base_backup_age_hours),
    ):
        if not value > 0:
            raise ParameterError(
                f"{name} must be > 0, got {value!r}", name=name, accepted="a positive number"
            )
    findings: list[Finding] = []
    server = _read_server(target, findings)
    catalog: cat.WalCatalog | None = None
    system_id = str(server.settings["system_identifier"]) if server is not None else None
    try:
        catalog = cat.load_catalog(target, system_id)
    except (ClientError, ConfigError, PreconditionFailed) as exc:
        findings.append(
            Finding(
                check="wal catalogue",
                status=Status.UNREACHABLE,
                message=f"cannot read the backup bucket: {exc}",
            )
        )
    moment = now or (server.settings["now"] if server is not None else cat.now_utc())
    figures: dict[str, float | int | str | None] = {}
    if server is not None:
        findings.append(settings_finding(server.settings))
        archiver, archiver_figures = database_checks.archiving_finding([dict(server.archiver)])
        findings.append(archiver)
        figures["archived_count"] = archiver_figures["archived_count"]
        figures["failed_count"] = archiver_figures["archive_failed_count"]
    if catalog is not None:
        if server is not None:
            findings.append(destination_finding(target, server, catalog))
        findings.append(
            freshness_finding(catalog, server, moment, max_wal_age_minutes=max_wal_age_minutes)
        )
        findings.append(gaps_finding(catalog))
        findings.append(
            base_backups_finding(catalog, moment, max_age_hours=max_base_backup_age_hours)
        )
        findings.append(window_finding(catalog))
        figures.update(catalog_figures(catalog, moment))
    return ArchivingReport(findings=findings, catalog=catalog, figures=figures)


def _read_server(target: Target, findings: list[Finding]) -> ServerView | None:
    if target.postgres is None:
        findings.append(
            Finding(
                check="archive settings",
                status=Status.SKIPPED,
                message=f"PostgreSQL is not configured for target {target.name}",
            )
        )
        return None
    from noa_lib.clients import postgres

    try:
        with postgres.connect(target.postgres, read_only=True) as conn:
            settings = postgres.query(conn, SERVER_SQL)[0]
            archiver = postgres.query(conn, database_checks.ARCHIVER_SQL)[0]
    except (ClientError, ConfigError) as exc:
        findings.append(
            Finding(check="archive settings", status=Status.UNREACHABLE, message=str(exc))
        )
        return None
    return ServerView(settings=dict(settings), archiver=dict(archiver))


# --------------------------------------------------------------------------- judgements


def settings_finding(settings: Mapping[str, Any]) -> Finding:
    """``archive_mode``, ``archive_command``/``archive_library``, ``wal_level``, timeout."""
    mode = str(settings["archive_mode"])
    command = str(settings["archive_command"] or "").strip()
    library = str(settings.get("archive_library") or "").strip()
    level = str(settings["wal_level"])
    timeout = str(settings["archive_timeout"])
    evidence = {
        "archive_mode": mode,
        "archive_command": command,
        "archive_library": library,
        "wal_level": level,
        "archive_timeout": timeout,
        "sql": SERVER_SQL,
    }
    problems = []
    if mode == "off":
        problems.append("archive_mode is off (set it to on and restart)")
    if not command and not library:
        problems.append("neither archive_command nor archive_library is set")
    if level == "minimal":
        problems.append("wal_level is minimal (needs replica; restart)")
    if problems:
        return Finding(
            check="archive settings",
            status=Status.CRITICAL,
            message="WAL is not archived: " + "; ".join(problems) + " — PITR is impossible",
            value=mode,
            evidence=evidence,
        )
    archiver = command or f"archive_library {library}"
    if timeout in ("0", "0s", "0ms"):
        return Finding(
            check="archive settings",
            status=Status.WARNING,
            message=(
                f"archiving is on ({archiver}) but archive_timeout is 0: on a quiet server a "
                "commit can stay out of the archive until the segment fills"
            ),
            value=mode,
            evidence=evidence,
        )
    return Finding(
        check="archive settings",
        status=Status.OK,
        message=f"archive_mode {mode}, wal_level {level}, archive_timeout {timeout}: {archiver}",
        value=mode,
        evidence=evidence,
    )


def destination_finding(target: Target, server: ServerView, catalog: cat.WalCatalog) -> Finding:
    """The file the server last archived is in this bucket (else WAL goes somewhere else)."""
    last = server.archiver.get("last_archived_wal")
    where = f"s3://{catalog.bucket}/{catalog.wal_prefix}"
    if not last:
        return Finding(
            check="archive destination",
            status=Status.SKIPPED,
            message="the server has not archived anything since its statistics were reset",
            evidence={"prefix": where},
        )
    from noa_lib.clients.s3_objects import open_bucket

    settings = target.s3
    assert settings is not None  # the catalogue was read from it
    try:
        with open_bucket(settings) as bucket:
            stored = bucket.head(f"{catalog.wal_prefix}{last}")
    except ClientError as exc:
        return Finding(check="archive destination", status=Status.UNREACHABLE, message=str(exc))
    if stored is None:
        return Finding(
            check="archive destination",
            status=Status.CRITICAL,
            message=(
                f"the server reports {last} as archived but it is not in {where}: "
                "archive_command stores WAL somewhere else, so this bucket cannot serve PITR"
            ),
            value=str(last),
            evidence={"prefix": where, "last_archived_wal": last},
        )
    return Finding(
        check="archive destination",
        status=Status.OK,
        message=f"the last archived file {last} is in {where}",
        value=str(last),
        evidence={"prefix": where, "last_archived_wal": last},
    )


def freshness_finding(
    catalog: cat.WalCatalog,
    server: ServerView | None,
    now: datetime,
    *,
    max_wal_age_minutes: float,
) -> Finding:
    """Age of the newest archived segment, judged only while WAL waits to be archived."""
    newest = catalog.newest_segment
    threshold = f"warning {max_wal_age_minutes:g} min, critical {max_wal_age_minutes * 4:g} min"
    where = f"s3://{catalog.bucket}/{catalog.wal_prefix}"
    if newest is None:
        return Finding(
            check="newest segment",
            status=Status.CRITICAL,
            message=f"no WAL segment is archived in {where}: PITR is impossible",
            threshold=threshold,
        )
    age_min = max(0.0, (now - newest.archived_at).total_seconds() / 60.0)
    evidence: dict[str, Any] = {
        "segment": newest.name,
        "archived_at": iso(newest.archived_at),
        "prefix": where,
    }
    pending = _pending_bytes(catalog, newest, server)
    if pending is not None:
        evidence["unarchived_bytes"] = pending
    if pending is not None and pending <= 0:
        return Finding(
            check="newest segment",
            status=Status.OK,
            message=(
                f"{newest.name} archived {age_min:.1f} min ago; the server has written no WAL "
                "since (idle), so nothing is waiting"
            ),
            value=round(age_min, 1),
            threshold=threshold,
            unit="min",
            evidence=evidence,
        )
    if age_min >= max_wal_age_minutes * CRITICAL_FACTOR:
        status = Status.CRITICAL
    elif age_min >= max_wal_age_minutes:
        status = Status.WARNING
    else:
        status = Status.OK
    waiting = (
        f"; {pending / (1 << 20):.1f} MiB of WAL written since is not archived yet"
        if pending
        else ""
    )
    return Finding(
        check="newest segment",
        status=status,
        message=f"newest archived segment {newest.name} is {age_min:.1f} min old{waiting}",
        value=round(age_min, 1),
        threshold=threshold,
        unit="min",
        evidence=evidence,
    )


def _pending_bytes(
    catalog: cat.WalCatalog, newest: cat.WalSegment, server: ServerView | None
) -> int | None:
    """WAL bytes the server wrote after the newest archived segment (``None``: unknown)."""
    if server is None or not server.settings.get("current_lsn"):
        return None
    if int(server.settings.get("timeline") or 0) != newest.timeline:
        return None
    current = cat.parse_lsn(str(server.settings["current_lsn"]))
    return current - (newest.segno + 1) * catalog.segment_size


def gaps_finding(catalog: cat.WalCatalog) -> Finding:
    """Gaps since the newest base backup (critical) and before it (warning)."""
    newest = catalog.newest_base_backup
    gaps = catalog.gaps()
    if newest is None:
        if not gaps:
            return Finding(
                check="wal gaps",
                status=Status.OK if catalog.segments else Status.SKIPPED,
                message=f"no gap in {len(catalog.segments)} archived segment(s)",
                value=0,
            )
        return Finding(
            check="wal gaps",
            status=Status.WARNING,
            message=f"{len(gaps)} gap(s): " + "; ".join(g.describe() for g in gaps[:5]),
            value=len(gaps),
            evidence={"gaps": [asdict(g) for g in gaps]},
        )
    chain = catalog.chain(newest)
    recent = catalog.gaps(since=newest.start_wal_segment)
    older = [g for g in gaps if g not in recent]
    evidence = {
        "since": newest.start_wal_segment,
        "gaps_since_newest_base_backup": [asdict(g) for g in recent],
        "older_gaps": [asdict(g) for g in older],
    }
    if chain.missing_start and not recent:
        return Finding(
            check="wal gaps",
            status=Status.CRITICAL,
            message=(
                f"the start segment {newest.start_wal_segment} of the newest base backup "
                f"({newest.stamp}) is not archived: PITR from it is impossible"
            ),
            value=1,
            evidence=evidence,
        )
    if recent:
        return Finding(
            check="wal gaps",
            status=Status.CRITICAL,
            message=(
                f"{len(recent)} gap(s) since the newest base backup ({newest.stamp}): "
                + "; ".join(g.describe() for g in recent[:5])
                + " — PITR cannot cross a gap"
            ),
            value=len(recent),
            evidence=evidence,
        )
    if older:
        return Finding(
            check="wal gaps",
            status=Status.WARNING,
            message=(
                f"no gap since the newest base backup; {len(older)} older gap(s) limit PITR to "
                f"after them: " + "; ".join(g.describe() for g in older[:3])
            ),
            value=0,
            evidence=evidence,
        )
    return Finding(
        check="wal gaps",
        status=Status.OK,
        message=(
            f"no gap: {len(chain.segments)} consecutive segment(s) from "
            f"{newest.start_wal_segment} (newest base backup) to "
            f"{chain.last.name if chain.last else '-'}"
        ),
        value=0,
        evidence=evidence,
    )


def base_backups_finding(
    catalog: cat.WalCatalog, now: datetime, *, max_age_hours: float
) -> Finding:
    """Complete base backups exist and the newest is recent enough."""
    newest = catalog.newest_base_backup
    where = f"s3://{catalog.bucket}/{cat.BASE_PREFIX}{catalog.system_identifier}/"
    incomplete = (
        f"; {len(catalog.incomplete)} incomplete (ignored): "
        + "; ".join(f"{i.prefix} ({i.reason})" for i in catalog.incomplete[:3])
        if catalog.incomplete
        else ""
    )
    evidence = {
        "prefix": where,
        "complete": [b.stamp for b in catalog.base_backups],
        "incomplete": [asdict(i) for i in catalog.incomplete],
    }
    if newest is None:
        return Finding(
            check="base backups",
            status=Status.CRITICAL,
            message=(
                f"no complete base backup in {where}: PITR is impossible; take one "
                f"(take_base_backup=True){incomplete}"
            ),
            value=0,
            evidence=evidence,
        )
    age = newest.age_hours(now)
    status = Status.WARNING if age >= max_age_hours or catalog.incomplete else Status.OK
    return Finding(
        check="base backups",
        status=status,
        message=(
            f"{len(catalog.base_backups)} base backup(s); newest {newest.stamp} is {age:.1f} h "
            f"old ({newest.size_bytes / (1 << 20):.0f} MiB){incomplete}"
        ),
        value=round(age, 2),
        threshold=f"warning >= {max_age_hours:g} h",
        unit="h",
        evidence=evidence,
    )


def window_start(catalog: cat.WalCatalog) -> cat.BaseBackup | None:
    """The oldest base backup whose WAL reaches the newest segment of its timeline unbroken."""
    for backup in catalog.base_backups:
        chain = catalog.chain(backup)
        if not chain.missing_start and chain.gap is None and chain.segments:
            return backup
    return None


def window_finding(catalog: cat.WalCatalog) -> Finding:
    """The PITR window the archive supports now."""
    first = window_start(catalog)
    newest = catalog.newest_segment
    if first is None or newest is None:
        return Finding(
            check="pitr window",
            status=Status.CRITICAL,
            message="no base backup has unbroken WAL up to the newest segment: no PITR window",
        )
    end = iso(newest.archived_at)
    return Finding(
        check="pitr window",
        status=Status.OK,
        message=(
            f"PITR possible from {iso(first.ended_at)} (end of base backup {first.stamp}) to "
            f"about {end} (newest segment {newest.name} archived)"
        ),
        value=iso(first.ended_at),
        evidence={"start": iso(first.ended_at), "end_approx": end, "base_backup": first.stamp},
    )


def catalog_figures(catalog: cat.WalCatalog, now: datetime) -> dict[str, float | int | str | None]:
    """The record's figures taken from the catalogue."""
    newest = catalog.newest_segment
    backup = catalog.newest_base_backup
    since = backup.start_wal_segment if backup is not None else None
    first = window_start(catalog)
    return {
        "newest_segment": newest.name if newest else None,
        "newest_segment_age_s": (
            round((now - newest.archived_at).total_seconds(), 1) if newest else None
        ),
        "wal_gaps": len(catalog.gaps(since=since)),
        "base_backups": len(catalog.base_backups),
        "newest_base_backup_age_h": round(backup.age_hours(now), 2) if backup else None,
        "pitr_window_start": iso(first.ended_at) if first else None,
    }


__all__ = [
    "ArchivingReport",
    "archiving_status",
    "base_backups_finding",
    "destination_finding",
    "freshness_finding",
    "gaps_finding",
    "settings_finding",
    "window_finding",
    "window_start",
]
