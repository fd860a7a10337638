"""The restore drill: prove the newest backup restores, and measure RTO and RPO.

:func:`validate_backup` picks the newest complete dump (or the one named), then, holding the
``validate_backup`` lock of the database:

1. **freshness** — the backup is younger than ``max_age_hours`` (its age is the RPO figure);
2. **manifest** — complete and parseable (else the dump is not a backup at all);
3. **scratch-space** — the scratch area has room; the dump is downloaded into a private
   temporary file there, pre-allocated;
4. **integrity** — size and SHA-256 of the downloaded bytes equal the manifest's (a damaged dump
   is never restored);
5. **restore** — ``pg_restore -j N`` into a scratch database created fresh (``noa_drill_<id>``;
   an existing one is refused, never dropped); download + restore seconds are the RTO figure;
6. the checks of :mod:`.drill_checks` on the restored data (tables, row counts, newest data,
   large objects, sequences, SQL assertions);
7. **cleanup** — the scratch database and the temporary files are removed, whatever happened.

Every outcome is a finding; a check that fails is ``critical`` and the others that could not run
are ``skipped`` with the reason, so the record says exactly which check failed. Feed the findings
to :func:`~noa_lib.ops.findings.require_ok` to make the run fail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from noa_lib.clients.pgdump import find_tools, restore
from noa_lib.clients.postgres import connect, query
from noa_lib.clients.s3_objects import open_bucket
from noa_lib.config import PostgresSettings, Target
from noa_lib.errors import (
    ClientError,
    Conflict,
    ParameterError,
    PreconditionFailed,
    Timeout,
    Unavailable,
)
from noa_lib.ops.backup.catalog import (
    DUMP_NAME,
    MANIFEST_NAME,
    PREFIX,
    DumpBackup,
    DumpInventory,
    check_database_name,
    check_kind,
    require_s3,
    scan_dumps,
)
from noa_lib.ops.backup.drill_checks import TableCheck, check_restored
from noa_lib.ops.backup.lock import operation_lock, require_postgres
from noa_lib.ops.backup.scratch import (
    check_scratch_name,
    check_space,
    fetch_dump,
    new_scratch_name,
    private_dir,
    restorable_list,
    scratch_database,
    scratch_root,
)
from noa_lib.ops.findings import Finding, Status

OPERATION = "validate_backup"
MiB = 1 << 20
CHECKS = (
    "freshness",
    "manifest",
    "scratch-space",
    "integrity",
    "scratch-database",
    "restore",
    "tables",
    "row-counts",
    "newest-data",
    "large-objects",
    "sequences",
)


@dataclass(frozen=True)
class DrillResult:
    """What the drill found: findings (in check order), per-table counts and key figures."""

    backup: DumpBackup | None
    findings: tuple[Finding, ...]
    tables: tuple[TableCheck, ...] = ()
    scratch_database: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def failed_checks(self) -> list[str]:
        """Names of the checks that came out critical."""
        return [f.check for f in self.findings if f.status is Status.CRITICAL]

    @property
    def ok(self) -> bool:
        return not self.failed_checks


@dataclass(frozen=True)
class _Options:
    """How to restore and what to demand of the restored copy."""

    scratch_dir: str | Path | None
    jobs: int
    restore_timeout_s: float | None
    row_tolerance_pct: float
    rpo_hours: float | None
    assertions: tuple[str, ...]


class _Drill:
    """Accumulates findings and figures while the drill runs."""

    def __init__(self, backup: DumpBackup | None) -> None:
        self.backup = backup
        self.findings: list[Finding] = []
        self.tables: list[TableCheck] = []
        self.figures: dict[str, Any] = {
            "backup_key": backup.prefix if backup else None,
            "backup_age_hours": None,
            "restore_seconds": None,
            "download_seconds": None,
            "pg_restore_seconds": None,
            "size_bytes": backup.size_bytes if backup else None,
            "tables_checked": 0,
            "rows_checked": 0,
            "checks_failed": 0,
        }
        self.scratch: str | None = None

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    def fail(self, check: str, message: str, **kw: Any) -> None:
        self.add(Finding(check, Status.CRITICAL, message, **kw))

    def skip_rest(self, reason: str, extra: Sequence[str] = ()) -> None:
        done = {f.check for f in self.findings}
        for check in (*CHECKS, *extra):
            if check not in done:
                self.add(Finding(check, Status.SKIPPED, f"not run: {reason}"))

    def result(self) -> DrillResult:
        self.figures["checks_failed"] = sum(
            1 for f in self.findings if f.status is Status.CRITICAL
        )
        return DrillResult(
            backup=self.backup,
            findings=tuple(self.findings),
            tables=tuple(self.tables),
            scratch_database=self.scratch,
            figures=dict(self.figures),
        )


def validate_backup(
    target: Target,
    *,
    backup: str | None = None,
    database: str | None = None,
    kind: str = "full",
    max_age_hours: float = 26.0,
    row_tolerance_pct: float = 10.0,
    rpo_hours: float | None = None,
    assertions: Sequence[str] = (),
    jobs: int = 2,
    scratch_database: str | None = None,
    scratch_dir: str | Path | None = None,
    restore_timeout_s: float | None = None,
) -> DrillResult:
    """Restore the newest (or the named) dump into a scratch database and check it.

    ``backup`` names a dump by its prefix (``dumps/noa/20261126T020000Z-full/``) or one of its
    keys; otherwise the newest dump of ``kind`` of ``database`` (default: the target's).

    Returns:
        A :class:`DrillResult`; failed checks are ``critical`` findings (see
        :attr:`DrillResult.failed_checks`), figures include ``backup_age_hours`` (RPO) and
        ``restore_seconds`` (RTO: download + restore).

    Raises:
        ParameterError: invalid database, kind, scratch name or thresholds.
        ConfigError: the target lacks a postgres or s3 section.
        PreconditionFailed: another drill of this database is running.
        Unavailable / Timeout: PostgreSQL or S3 is unreachable (infrastructure, not a check).
    """
    pg = require_postgres(target)
    require_s3(target)
    _check_numbers(max_age_hours, row_tolerance_pct, rpo_hours, jobs)
    options = _Options(
        scratch_dir, jobs, restore_timeout_s, row_tolerance_pct, rpo_hours, tuple(assertions)
    )
    if backup is not None and database is None and named_prefix(backup).startswith(PREFIX):
        database = named_prefix(backup)[len(PREFIX) :].split("/", 1)[0]
    db = check_database_name(database or pg.dbname)
    wanted = check_kind(kind)
    name = check_scratch_name(scratch_database or new_scratch_name(), db)
    now = datetime.now(UTC)
    inventory = scan_dumps(target, db)
    chosen, problem = _choose(inventory, backup, wanted)
    drill = _Drill(chosen)
    if chosen is None:
        drill.fail("freshness", problem or f"no backup of {db} found")
        drill.skip_rest("there is no backup to restore")
        return drill.result()
    age = chosen.age_hours(now)
    drill.figures["backup_age_hours"] = round(age, 3)
    drill.add(_freshness(chosen, age, max_age_hours, inventory))
    if problem is not None:  # the newest dump's manifest is fine but its object is damaged
        drill.add(_manifest_finding(chosen))
        drill.fail("integrity", problem, evidence={"key": chosen.object_key})
        drill.skip_rest("the stored dump is damaged")
        return drill.result()
    drill.add(_manifest_finding(chosen))
    with operation_lock(target, OPERATION, db):
        _restore_and_check(drill, target, chosen, name, db, options, now)
    numbered = [f"assertion {i}" for i in range(1, len(assertions) + 1)]
    drill.skip_rest("an earlier check failed", numbered)
    return drill.result()


def _check_numbers(
    max_age_hours: float, row_tolerance_pct: float, rpo_hours: float | None, jobs: int
) -> None:
    for name, value in (
        ("max_age_hours", max_age_hours),
        ("row_tolerance_pct", row_tolerance_pct),
        ("rpo_hours", rpo_hours),
    ):
        if value is not None and (value < 0 or value != value):
            raise ParameterError(
                f"{name} must be a number >= 0, got {value!r}", name=name, accepted="a number >= 0"
            )
    if jobs < 1:
        raise ParameterError(
            f"jobs must be at least 1, got {jobs}", name="jobs", accepted="a whole number >= 1"
        )


def _choose(
    inventory: DumpInventory, named: str | None, kind: str
) -> tuple[DumpBackup | None, str | None]:
    """The backup to drill and, for a damaged one, why it is damaged."""
    damaged = [(o.manifest, o.reason) for o in inventory.orphans if o.manifest is not None]
    if named is not None:
        prefix = named_prefix(named)
        for b in inventory.backups:
            if b.prefix == prefix:
                return b, None
        for manifest, reason in damaged:
            if manifest.prefix == prefix:
                return manifest, f"{prefix}: {reason}"
        for orphan in inventory.orphans:
            if orphan.prefix == prefix:
                return None, f"{prefix} is not a backup: {orphan.reason}"
        return None, f"no dump is stored under {prefix}"
    candidates: list[tuple[DumpBackup, str | None]] = [
        (b, None) for b in inventory.backups if b.kind == kind
    ]
    candidates += [(m, f"{m.prefix}: {r}") for m, r in damaged if m.kind == kind]
    if not candidates:
        skipped = [o for o in inventory.orphans if o.manifest is None]
        note = f" ({len(skipped)} dump(s) without a valid manifest ignored)" if skipped else ""
        return None, f"no complete {kind} backup exists{note}"
    return max(candidates, key=lambda c: c[0].started_at)


def named_prefix(named: str) -> str:
    """The dump prefix (``dumps/<db>/<time>-<kind>/``) of a prefix, manifest or dump key."""
    prefix = named.strip()
    for suffix in (MANIFEST_NAME, DUMP_NAME):
        if prefix.endswith("/" + suffix):
            prefix = prefix[: -len(suffix)]
    return prefix if prefix.endswith("/") else prefix + "/"


def _freshness(
    backup: DumpBackup, age: float, max_age_hours: float, inventory: DumpInventory
) -> Finding:
    incomplete = [o for o in inventory.orphans if o.manifest is None]
    newer = [o.prefix for o in incomplete if o.last_modified > backup.ended_at]
    evidence: dict[str, Any] = {"backup": backup.prefix, "incomplete_newer": newer}
    if age > max_age_hours:
        return Finding(
            "freshness",
            Status.CRITICAL,
            f"no valid backup newer than {max_age_hours:g} h: the newest ({backup.prefix}) is "
            f"{age:.1f} h old",
            value=round(age, 2),
            threshold=max_age_hours,
            unit="h",
            evidence=evidence,
        )
    note = ""
    if newer:
        note = f"; {len(newer)} newer dump(s) have no manifest (interrupted runs, not backups)"
    return Finding(
        "freshness",
        Status.WARNING if newer else Status.OK,
        f"newest backup {backup.prefix} is {age:.1f} h old (limit {max_age_hours:g} h){note}",
        value=round(age, 2),
        threshold=max_age_hours,
        unit="h",
        evidence=evidence,
    )


def _manifest_finding(backup: DumpBackup) -> Finding:
    return Finding(
        "manifest",
        Status.OK,
        f"complete: {len(backup.tables)} tables, {backup.size_bytes / MiB:.1f} MiB, pg_dump "
        f"{backup.pg_dump_version} of PostgreSQL {backup.server_version}, "
        f"encryption {backup.sse or 'none'}",
        value=backup.size_bytes,
        unit="bytes",
        evidence={"manifest": backup.manifest_key, "sha256": backup.sha256},
    )


def _restore_and_check(
    drill: _Drill,
    target: Target,
    backup: DumpBackup,
    name: str,
    db: str,
    options: _Options,
    now: datetime,
) -> None:
    pg = require_postgres(target)
    s3 = require_s3(target)
    try:
        root = scratch_root(options.scratch_dir)
        free = check_space(root, backup.size_bytes)
    except PreconditionFailed as exc:
        drill.fail("scratch-space", str(exc))
        return
    drill.add(
        Finding(
            "scratch-space",
            Status.OK,
            f"{free / MiB:.0f} MiB free in {root} for a {backup.size_bytes / MiB:.1f} MiB dump",
            value=round(free / MiB, 1),
            unit="MiB",
        )
    )
    with private_dir(root) as workdir, open_bucket(s3) as bucket:
        archive = workdir / "dump.pgdump"
        try:
            got = fetch_dump(bucket, backup.object_key, backup.size_bytes, archive)
        except PreconditionFailed as exc:
            drill.fail("scratch-space", str(exc))
            return
        drill.figures["download_seconds"] = round(got.seconds, 3)
        if got.size_bytes != backup.size_bytes or got.sha256 != backup.sha256:
            drill.fail(
                "integrity",
                f"the stored dump does not match its manifest: {got.size_bytes} bytes with "
                f"sha256 {got.sha256[:16]}…, the manifest says {backup.size_bytes} bytes with "
                f"sha256 {backup.sha256[:16]}… (corrupted or truncated); it was not restored",
                value=got.sha256,
                threshold=backup.sha256,
                evidence={"key": backup.object_key, "bytes": got.size_bytes},
            )
            return
        drill.add(
            Finding(
                "integrity",
                Status.OK,
                f"sha256 and size of the {got.size_bytes / MiB:.1f} MiB stored dump match the "
                f"manifest (downloaded in {got.seconds:.1f} s)",
                value=backup.sha256[:16],
            )
        )
        try:
            with scratch_database(pg, db, name) as scratch:
                drill.scratch = name
                drill.add(Finding("scratch-database", Status.OK, f"created {name} (fresh)"))
                _restore(drill, pg, archive, name, workdir, options)
                if drill.figures["pg_restore_seconds"] is not None:
                    with connect(pg, dbname=name, read_only=True, statement_timeout_ms=0) as conn:
                        checks = check_restored(
                            conn,
                            backup,
                            row_tolerance_pct=options.row_tolerance_pct,
                            rpo_hours=options.rpo_hours,
                            assertions=options.assertions,
                            now=now,
                        )
                    drill.findings += checks.findings
                    drill.tables = checks.tables
                    drill.figures["tables_checked"] = len(checks.tables) or len(backup.tables)
                    drill.figures["rows_checked"] = checks.rows_checked
        except Conflict as exc:
            drill.fail("scratch-database", str(exc), evidence={"database": name})
            return
        if scratch.drop_error is not None or not scratch.dropped:
            drill.fail(
                "cleanup",
                f"scratch database {name} could not be dropped: "
                f"{scratch.drop_error or 'still there'}; drop it by hand (DROP DATABASE {name})",
            )
        else:
            drill.add(Finding("cleanup", Status.OK, f"dropped {name}; temporary files removed"))


def _restore(
    drill: _Drill,
    pg: PostgresSettings,
    archive: Path,
    name: str,
    workdir: Path,
    options: _Options,
) -> None:
    with connect(pg, dbname=name, read_only=True) as conn:
        version = query(conn, "SELECT current_setting('server_version_num')::int AS v")
        major = int(version[0]["v"]) // 10000
        tools = find_tools(major)
        use_list, skipped = restorable_list(tools, archive, conn, workdir)
    try:
        run = restore(
            tools,
            pg,
            dbname=name,
            archive=archive,
            jobs=options.jobs,
            use_list=use_list,
            timeout=options.restore_timeout_s,
        )
    except (Unavailable, Timeout):
        raise
    except ClientError as exc:
        drill.fail("restore", str(exc), evidence={"database": name, "jobs": options.jobs})
        return
    download = float(drill.figures["download_seconds"] or 0.0)
    drill.figures["pg_restore_seconds"] = round(run.seconds, 3)
    drill.figures["restore_seconds"] = round(download + run.seconds, 3)
    drill.figures["jobs"] = run.jobs
    note = ""
    if skipped:
        note = (
            f"; left out extension(s) {', '.join(skipped)}: creating them needs a superuser "
            "(restore as one to include them)"
        )
    drill.add(
        Finding(
            "restore",
            Status.OK,
            f"pg_restore -j {run.jobs} into {name} took {run.seconds:.1f} s "
            f"(RTO with download: {download + run.seconds:.1f} s){note}",
            value=round(download + run.seconds, 2),
            unit="s",
            evidence={"skipped_extensions": skipped, "database": name},
        )
    )


__all__ = ["CHECKS", "DrillResult", "named_prefix", "validate_backup"]
