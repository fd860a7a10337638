"""Performing a point-in-time restore: a new cluster from a base backup and archived WAL.

:func:`restore` takes a validated :class:`~noa_lib.ops.backup.pitr_plan.RestorePlan`: the base
backup is streamed from the bucket and extracted (size and SHA-256 checked against the manifest),
the WAL segments of the plan are downloaded into a private directory (size and the archiver's
``x-amz-meta-sha256`` checked), and the copy is configured to be isolated from the source:
its own port on 127.0.0.1, ``archive_mode = off`` (it must never push WAL of its new timeline
into the source's archive), its own ``pg_hba.conf``, no replication settings, ``ssl = off``.
``restore_command`` copies from the private directory; ``recovery_target_time``/``_lsn`` (none for
latest), ``recovery_target_action = 'promote'``, ``recovery_target_timeline = 'current'``.

Verification, once the cluster is promoted: the last replayed transaction
(``pg_last_xact_replay_timestamp()``) must be exactly the newest transaction end at or before the
target, computed independently from the downloaded WAL with ``pg_waldump``; the server log must
show where recovery stopped (or, for latest, that the last archived segment was replayed). Row
counts of the largest tables show the data is readable.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

from noa_lib.clients import pgserver
from noa_lib.clients.s3_objects import Bucket, open_bucket
from noa_lib.config import PostgresSettings, Target
from noa_lib.errors import ClientError, ConfigError, NoaError, PreconditionFailed, StepFailed
from noa_lib.ops.backup import wal_catalog as cat
from noa_lib.ops.backup.catalog import iso, require_s3
from noa_lib.ops.backup.lock import require_postgres
from noa_lib.ops.backup.pitr_plan import RecoveryTarget, RestorePlan
from noa_lib.ops.backup.pitr_window import binaries_for, fetch_segment
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.safety import Applied

RECOVERY_TIMEOUT_S = 1800.0
MAX_TABLES_COUNTED = 20
COUNT_TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class RestoreResult:
    """What :func:`restore` did and found.

    ``recovered_to`` is the time of the last replayed commit (ISO UTC; ``None`` when no commit was
    replayed after the base backup), ``recovered_lsn`` the last replayed WAL position.
    ``row_counts`` maps ``schema.table`` to exact row counts in the restored database. When
    ``kept_running`` the cluster still runs on ``port`` with its data in ``data_dir``.
    """

    plan: RestorePlan
    findings: tuple[Finding, ...]
    restore_seconds: float
    segments_replayed: int
    recovered_to: str | None
    recovered_lsn: str | None
    timeline: int | None
    stop_reason: str
    row_counts: Mapping[str, int]
    data_dir: Path
    port: int
    kept_running: bool
    log_excerpt: tuple[str, ...] = field(default_factory=tuple)

    @property
    def verified(self) -> bool:
        return all(f.status in (Status.OK, Status.SKIPPED) for f in self.findings)

    def connection_settings(self) -> PostgresSettings:
        """Settings to connect to the restored cluster as the target's user."""
        return _restored_settings(self.plan.target, self.port)


def restore(plan: RestorePlan, *, timeout: float = RECOVERY_TIMEOUT_S) -> RestoreResult:
    """Perform ``plan``: new cluster from the base backup + WAL, promoted, verified.

    Unless ``plan.keep_running``, the cluster is stopped and its directory removed before this
    returns (also on failure).

    Returns:
        The :class:`RestoreResult`; a verification problem is a ``critical`` finding in it.

    Raises:
        StepFailed: the restored cluster did not come up (the recovery log's tail is included).
        PreconditionFailed: the base backup does not match its manifest (size or SHA-256), or a
            WAL segment is damaged.
        Unavailable / Timeout / ClientError: S3 failed.
        OSError: the disk is full.
    """
    t0 = time.monotonic()
    bins = binaries_for(plan.backup, ("pg_ctl", "postgres", "pg_waldump"))
    who = pgserver.run_as()
    root = plan.restore_dir
    data = root / "data"
    wal_dir = root / "wal"
    log_file = root / "postgres.log"
    root.mkdir(mode=0o700, exist_ok=True)
    if any(root.iterdir()):
        raise PreconditionFailed(f"{root} is not empty; nothing was restored")
    port = plan.port if not pgserver.port_open(plan.port) else pgserver.free_port()
    keep = False
    try:
        data.mkdir(mode=0o700)
        wal_dir.mkdir(mode=0o700)
        with open_bucket(require_s3(plan.target)) as bucket:
            _extract_base(bucket, plan.backup, data)
            for seg in plan.segments:
                fetch_segment(bucket, seg, wal_dir / seg.name)
        scan = (
            pgserver.scan_wal(bins, wal_dir, plan.segments[0].name, plan.segments[-1].name)
            if plan.segments
            else None
        )
        _write_recovery_config(root, data, wal_dir, port, plan.recovery)
        log_file.touch(mode=0o600)
        who.own_tree(root)
        try:
            pgserver.start_cluster(
                bins, data, port=port, log_file=log_file, who=who, timeout=timeout
            )
        except NoaError as exc:
            raise StepFailed(
                f"the restored cluster did not come up from base backup {plan.backup.stamp} "
                f"with target {plan.recovery.describe()}: {exc}"
            ) from None
        state = _inspect(plan.target, port)
        log = _read_log(log_file)
        findings = _verify(plan, state, log, scan, port)
        counts, count_finding = _row_counts(plan.target, port)
        findings.append(count_finding)
        replay_ts = state.get("replay_ts")
        result = RestoreResult(
            plan=plan,
            findings=tuple(findings),
            restore_seconds=round(time.monotonic() - t0, 2),
            segments_replayed=len(log.restored),
            recovered_to=iso(replay_ts) if isinstance(replay_ts, datetime) else None,
            recovered_lsn=str(state.get("replay_lsn") or "") or None,
            timeline=int(state["timeline"]) if state.get("timeline") is not None else None,
            stop_reason=log.stop or log.end or "end of the archived WAL",
            row_counts=counts,
            data_dir=data,
            port=port,
            kept_running=plan.keep_running,
            log_excerpt=log.excerpt,
        )
        keep = plan.keep_running
        return result
    finally:
        if not keep:
            pgserver.stop_cluster(bins, data, who=who)
            shutil.rmtree(root, ignore_errors=True)


def stop_restored_cluster(result: RestoreResult | Applied | None) -> str:
    """Stop a cluster kept running by :func:`restore` and delete its directory.

    Accepts the :class:`RestoreResult` or the :class:`~noa_lib.ops.safety.Applied` wrapping it;
    anything else (a dry run) is a no-op.

    Returns:
        A sentence saying what was done.
    """
    found = result_of(result)
    if found is None or not found.kept_running:
        return "nothing to stop: no restored cluster was left running"
    bins = binaries_for(found.plan.backup, ("pg_ctl", "postgres"))
    pgserver.stop_cluster(bins, found.data_dir, who=pgserver.run_as())
    shutil.rmtree(found.plan.restore_dir, ignore_errors=True)
    return f"stopped the restored cluster on port {found.port} and removed {found.plan.restore_dir}"


def result_of(value: RestoreResult | Applied | None) -> RestoreResult | None:
    if isinstance(value, RestoreResult):
        return value
    if isinstance(value, Applied) and isinstance(value.result, RestoreResult):
        return value.result
    return None


class _Hashing:
    """A readable stream that hashes and counts what passes through it."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._raw.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data


def _extract_base(bucket: Bucket, backup: cat.BaseBackup, data: Path) -> None:
    from noa_lib.clients.s3 import mapped_errors

    with mapped_errors(bucket.settings):
        body = bucket.s3.get_object(Bucket=bucket.name, Key=backup.object_key)["Body"]
        try:
            stream = _Hashing(body)
            pgserver.extract_tar_gz(cast("IO[bytes]", stream), data)
        finally:
            body.close()
    expected = backup.objects[cat.BASE_NAME]
    if stream.size != int(expected["size_bytes"]) or stream.sha256.hexdigest() != backup.sha256:
        raise PreconditionFailed(
            f"base backup {backup.stamp} does not match its manifest (read {stream.size} bytes, "
            f"sha256 {stream.sha256.hexdigest()[:16]}…; manifest {expected['size_bytes']} "
            f"bytes, {backup.sha256[:16]}…): it is damaged and was not restored"
        )
    if not (data / "PG_VERSION").is_file():
        raise PreconditionFailed(f"base backup {backup.stamp} holds no PG_VERSION: not a cluster")


def _write_recovery_config(
    root: Path, data: Path, wal_dir: Path, port: int, recovery: RecoveryTarget
) -> None:
    hba = root / "pg_hba.conf"
    hba.write_text(
        "# Written by noa-runbooks pitr_restore: password logins over loopback only.\n"
        "host all all 127.0.0.1/32 md5\n"
    )
    if not (data / "postgresql.conf").is_file():  # clusters whose config lives in /etc
        (data / "postgresql.conf").write_text("# minimal configuration for a restored copy\n")
    for name in ("standby.signal", "postmaster.pid", "postmaster.opts"):
        (data / name).unlink(missing_ok=True)
    fetch = f"test -f '{wal_dir}/%f' && cp '{wal_dir}/%f' '%p'"
    settings: dict[str, str] = {
        "port": str(port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",
        "hba_file": str(hba),
        "ssl": "off",
        "archive_mode": "off",
        "archive_command": "",
        "hot_standby": "off",
        "primary_conninfo": "",
        "primary_slot_name": "",
        "synchronous_standby_names": "",
        "logging_collector": "off",
        "cluster_name": "noa-pitr",
        "restore_command": fetch,
        "recovery_target_action": "promote",
        "recovery_target_timeline": "current",
        **recovery.settings(),
    }
    lines = ["\n# Added by noa-runbooks pitr_restore: an isolated, restored copy.\n"]
    lines += [f"{k} = '{v.replace(chr(39), chr(39) * 2)}'\n" for k, v in settings.items()]
    with open(data / "postgresql.auto.conf", "a", encoding="utf-8") as fh:
        fh.writelines(lines)
    (data / "recovery.signal").touch()


def _restored_settings(target: Target, port: int) -> PostgresSettings:
    pg = require_postgres(target)
    return replace(pg, host="127.0.0.1", port=port, sslmode="disable")


_STATE_SQL = """
SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_xact_replay_timestamp() AS replay_ts,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline,
       (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier
"""


def _inspect(target: Target, port: int) -> dict[str, Any]:
    from noa_lib.clients import postgres

    with postgres.connect(_restored_settings(target, port), read_only=True) as conn:
        return dict(postgres.query(conn, _STATE_SQL)[0])


@dataclass(frozen=True)
class _Log:
    restored: tuple[str, ...]
    stop: str
    end: str
    excerpt: tuple[str, ...]


_RESTORED_RE = re.compile(r'restored log file "([0-9A-F]{24})" from archive')
_INTERESTING = (
    "starting point-in-time recovery",
    "starting archive recovery",
    "consistent recovery state reached",
    "recovery stopping",
    "redo done at",
    "last completed transaction",
    "selected new timeline",
    "archive recovery complete",
    "database system is ready",
)


def _read_log(path: Path) -> _Log:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    restored = tuple(
        dict.fromkeys(m.group(1) for line in lines if (m := _RESTORED_RE.search(line)))
    )
    stop = next((_after_level(line) for line in lines if "recovery stopping" in line), "")
    end = next((_after_level(line) for line in lines if "last completed transaction" in line), "")
    excerpt = tuple(_after_level(line) for line in lines if any(k in line for k in _INTERESTING))
    return _Log(restored, stop, end, excerpt)


def _after_level(line: str) -> str:
    for level in ("LOG:", "FATAL:", "ERROR:", "WARNING:"):
        if level in line:
            return line.split(level, 1)[1].strip()
    return line.strip()


def _verify(
    plan: RestorePlan,
    state: Mapping[str, Any],
    log: _Log,
    scan: pgserver.WalScan | None,
    port: int,
) -> list[Finding]:
    findings: list[Finding] = []
    promoted = not state.get("in_recovery")
    same = str(state.get("system_identifier")) == plan.system_identifier
    findings.append(
        Finding(
            check="restored cluster",
            status=Status.OK if promoted and same else Status.CRITICAL,
            message=(
                f"PostgreSQL on 127.0.0.1:{port} from base backup {plan.backup.stamp}: "
                f"{'promoted' if promoted else 'STILL IN RECOVERY'} to timeline "
                f"{state.get('timeline')}; system identifier "
                f"{'matches' if same else 'DOES NOT MATCH'} the source"
            ),
            value=state.get("timeline"),
            evidence={"log": list(log.excerpt)},
        )
    )
    replay_ts = state.get("replay_ts")
    replay_lsn = state.get("replay_lsn")
    evidence: dict[str, Any] = {
        "target": plan.recovery.describe(),
        "replayed_commit": iso(replay_ts) if isinstance(replay_ts, datetime) else None,
        "replayed_lsn": replay_lsn,
        "stop": log.stop,
        "segments_restored": list(log.restored),
    }
    commits = scan.commits if scan is not None else ()
    if plan.recovery.kind == "time":
        assert plan.recovery.time is not None
        moment = plan.recovery.time
        expected = max((c for c in commits if c <= moment), default=None)
        evidence["expected_commit"] = iso(expected) if expected else None
        ok = _same_time(replay_ts, expected) and bool(log.stop)
        message = (
            f"recovered to {evidence['replayed_commit']}, the newest commit at or before the "
            f"target {iso(moment)}; {log.stop or 'no stop line in the log'}"
            if ok
            else f"expected the last replayed commit to be {evidence['expected_commit']} (newest "
            f"at or before {iso(moment)}), the cluster replayed up to "
            f"{evidence['replayed_commit']}; log: {log.stop or 'no recovery stop line'}"
        )
    elif plan.recovery.kind == "lsn":
        assert plan.recovery.lsn is not None
        reached = replay_lsn is not None and cat.parse_lsn(str(replay_lsn)) >= cat.parse_lsn(
            plan.recovery.lsn
        )
        ok = reached and bool(log.stop)
        message = (
            f"replayed up to {replay_lsn} (target {plan.recovery.lsn}); {log.stop}"
            if ok
            else f"replayed up to {replay_lsn}, short of the target {plan.recovery.lsn}; "
            f"log: {log.stop or 'no recovery stop line'}"
        )
    else:
        expected = max(commits) if commits else None
        evidence["expected_commit"] = iso(expected) if expected else None
        last = plan.segments[-1].name if plan.segments else None
        consumed = last is None or last in log.restored
        ok = consumed and _same_time(replay_ts, expected)
        message = (
            f"replayed every archived segment up to {last} and the newest archived commit "
            f"{evidence['expected_commit']}"
            if ok
            else f"expected to replay up to {last} and commit {evidence['expected_commit']}; "
            f"replayed {log.restored[-1] if log.restored else 'no segment'} and commit "
            f"{evidence['replayed_commit']}"
        )
    findings.append(
        Finding(
            check="recovery target",
            status=Status.OK if ok else Status.CRITICAL,
            message=message,
            value=evidence["replayed_commit"] or (str(replay_lsn) if replay_lsn else None),
            threshold=plan.recovery.describe(),
            evidence=evidence,
        )
    )
    return findings


def _same_time(value: Any, expected: datetime | None) -> bool:
    if expected is None:
        return value is None
    return isinstance(value, datetime) and abs((value - expected).total_seconds()) < 1e-5


def _row_counts(target: Target, port: int) -> tuple[dict[str, int], Finding]:
    from noa_lib.clients import postgres

    counts: dict[str, int] = {}
    skipped: list[str] = []
    try:
        with postgres.connect(
            _restored_settings(target, port), read_only=True, statement_timeout_ms=COUNT_TIMEOUT_MS
        ) as conn:
            tables = postgres.query(
                conn,
                "SELECT n.nspname AS schema, c.relname AS name, "
                "format('%%I.%%I', n.nspname, c.relname) AS key FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', "
                "'information_schema') AND n.nspname NOT LIKE 'pg\\_%%' "
                "ORDER BY c.relpages DESC, 1, 2 LIMIT %s",
                (MAX_TABLES_COUNTED,),
            )
            for row in tables:
                name = str(row["key"])
                statement = postgres.sql.SQL("SELECT count(*) AS n FROM {}.{}").format(
                    postgres.sql.Identifier(str(row["schema"])),
                    postgres.sql.Identifier(str(row["name"])),
                )
                try:
                    counts[name] = int(postgres.query(conn, statement)[0]["n"])
                except ClientError:
                    skipped.append(name)
    except (ClientError, ConfigError) as exc:
        return counts, Finding(
            check="row counts", status=Status.WARNING, message=f"could not count rows: {exc}"
        )
    total = sum(counts.values())
    return counts, Finding(
        check="row counts",
        status=Status.OK if not skipped else Status.WARNING,
        message=(
            f"{len(counts)} table(s) readable, {total} rows"
            + (f"; not counted (timeout/error): {', '.join(skipped)}" if skipped else "")
        ),
        value=total,
        unit="rows",
        evidence={"counts": counts},
    )


__all__ = ["RestoreResult", "restore", "result_of", "stop_restored_cluster"]
