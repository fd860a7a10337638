"""WAL archiving into S3: the sandbox's ``wal-push``, the catalogue, the checks, base backups.

Pure functions (segment names, gaps, manifests, judgements) are tested directly; everything else
runs against a private sandbox (real PostgreSQL archiving through curl into real SeaweedFS).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from noa_lib.clients.s3 import client as s3_client
from noa_lib.ops.backup import basebackup
from noa_lib.ops.backup import wal as walcheck
from noa_lib.ops.backup import wal_catalog as cat
from noa_lib.ops.findings import Status
from noa_lib.show.pitr import (
    BASE_BACKUP_COLUMNS,
    TIMELINE_COLUMNS,
    show_base_backups,
    show_wal_timelines,
)
from noa_sandbox import walarchive
from noa_sandbox.layout import Layout

from .conftest import PrivateSandbox

pytestmark = pytest.mark.integration
MiB16 = 16 << 20


# --------------------------------------------------------------------------- pure logic


def test_segment_names_and_lsns() -> None:
    assert cat.parse_lsn("0/E000028") == 0xE000028
    assert cat.format_lsn(0x1_0000_0028) == "1/28"
    assert cat.segment_of_lsn(1, cat.parse_lsn("0/E000028"), MiB16) == "00000001000000000000000E"
    # 256 segments of 16 MiB per 4 GiB "log": segment 0x100 is 1/0
    assert cat.segment_name(2, 0x100, MiB16) == "000000020000000100000000"
    assert cat.parse_segment("000000020000000100000000", MiB16) == (2, 0x100)
    with pytest.raises(ValueError):
        cat.parse_lsn("12345")
    with pytest.raises(ValueError):
        cat.parse_segment("00000001000000000000000", MiB16)


def _segment(tli: int, segno: int, at: datetime) -> cat.WalSegment:
    name = cat.segment_name(tli, segno, MiB16)
    return cat.WalSegment(name, tli, segno, MiB16, at, f"wal/1/{name}")


def _backup(start_segno: int, ended: datetime) -> cat.BaseBackup:
    start = cat.segment_name(1, start_segno, MiB16)
    manifest = {
        "schema": 1, "kind": "basebackup", "system_identifier": "1",
        "object_key": "basebackups/1/20261126T100000Z/base.tar.gz",
        "objects": {"base.tar.gz": {"size_bytes": 10, "sha256": "0" * 64}},
        "start_lsn": cat.format_lsn(start_segno * MiB16 + 0x28),
        "stop_lsn": cat.format_lsn(start_segno * MiB16 + 0x138),
        "start_wal_segment": start, "stop_wal_segment": start, "timeline": 1,
        "wal_segment_size": MiB16, "started_at": "2026-11-26T10:00:00Z",
        "ended_at": ended.strftime("%Y-%m-%dT%H:%M:%SZ"), "size_bytes": 10,
        "sha256": "0" * 64, "server_version": "15.18",
    }
    return cat.parse_manifest(manifest, prefix="basebackups/1/20261126T100000Z/")


def _catalog(segnos: list[int], backups: list[cat.BaseBackup]) -> cat.WalCatalog:
    at = datetime(2026, 11, 26, 12, tzinfo=UTC)
    return cat.WalCatalog(
        bucket="b", system_identifier="1", segment_size=MiB16,
        segments=tuple(_segment(1, n, at) for n in segnos), histories=(),
        base_backups=tuple(backups), incomplete=(),
    )


def test_gaps_chain_and_judgement() -> None:
    ended = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)
    catalog = _catalog([3, 4, 5, 7, 8, 10], [_backup(5, ended)])
    gaps = catalog.gaps()
    assert [(g.first_missing[-2:], g.missing) for g in gaps] == [("06", 1), ("09", 1)]
    assert catalog.gaps(since="000000010000000000000008") == [gaps[1]]
    chain = catalog.chain(catalog.base_backups[0])
    assert [s.segno for s in chain.segments] == [5]
    assert chain.gap is not None and chain.gap.first_missing.endswith("06")
    finding = walcheck.gaps_finding(catalog)
    assert finding.status is Status.CRITICAL and "PITR cannot cross a gap" in finding.message
    # a gap only before the newest base backup shortens the window: a warning
    healed = _catalog([3, 5, 6, 7], [_backup(5, ended)])
    assert walcheck.gaps_finding(healed).status is Status.WARNING
    assert walcheck.gaps_finding(_catalog([5, 6, 7], [_backup(5, ended)])).status is Status.OK
    assert walcheck.window_start(healed) is not None
    assert walcheck.window_start(catalog) is None  # no backup reaches the newest segment


def test_archive_rows_and_their_tables() -> None:
    ended = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)
    gapped = dataclasses.replace(
        _catalog([3, 4, 5, 7, 8], [_backup(5, ended)]),
        incomplete=(cat.Incomplete("basebackups/1/20261126T110000Z/", "no manifest"),),
    )
    report = walcheck.ArchivingReport([], gapped)
    (complete, broken) = report.base_backups()
    assert complete.base_backup == gapped.base_backups[0].stamp and complete.size_mib == 0.0
    assert complete.state.startswith("complete, WAL gap after")
    assert broken.state == "incomplete: no manifest" and broken.size_mib is None
    (timeline,) = report.wal()
    assert (timeline.timeline, timeline.segments, timeline.gaps) == (1, 5, 1)
    assert timeline.newest_segment == cat.segment_name(1, 8, MiB16)
    backups = show_base_backups(report)
    assert list(backups.columns) == BASE_BACKUP_COLUMNS
    assert list(backups["state"]) == [complete.state, broken.state]
    assert show_wal_timelines(report).loc[0, "gaps"] == 1
    nothing = walcheck.ArchivingReport([], None)
    assert nothing.base_backups() == () and nothing.wal() == ()
    assert show_base_backups(nothing).empty
    assert list(show_wal_timelines(nothing).columns) == TIMELINE_COLUMNS


def test_manifest_validation_names_the_field() -> None:
    good = _backup(5, datetime(2026, 11, 26, 10, 5, tzinfo=UTC)).manifest
    for field, value, words in (
        ("sha256", "xyz", "sha256"),
        ("timeline", None, "timeline"),
        ("system_identifier", "2", "system_identifier"),
        ("wal_segment_size", 1000, "power of two"),
    ):
        broken = {**good, field: value}
        with pytest.raises(ValueError, match=words):
            cat.parse_manifest(broken, prefix="basebackups/1/20261126T100000Z/")


def test_settings_and_freshness_judgements() -> None:
    base = {"archive_mode": "on", "archive_command": "wal-push %p %f", "archive_library": "",
            "wal_level": "replica", "archive_timeout": "1min"}
    assert walcheck.settings_finding(base).status is Status.OK
    assert walcheck.settings_finding({**base, "archive_mode": "off"}).status is Status.CRITICAL
    assert walcheck.settings_finding({**base, "archive_command": ""}).status is Status.CRITICAL
    assert walcheck.settings_finding({**base, "archive_timeout": "0"}).status is Status.WARNING

    at = datetime(2026, 11, 26, 12, tzinfo=UTC)
    catalog = _catalog([5, 6], [])
    server = walcheck.ServerView(
        settings={"current_lsn": cat.format_lsn(7 * MiB16), "timeline": 1}, archiver={}
    )
    idle = walcheck.freshness_finding(catalog, server, at + timedelta(hours=5),
                                      max_wal_age_minutes=15)
    assert idle.status is Status.OK and "idle" in idle.message
    busy = walcheck.ServerView(
        settings={"current_lsn": cat.format_lsn(7 * MiB16 + 5000), "timeline": 1}, archiver={}
    )
    for minutes, status in ((5, Status.OK), (20, Status.WARNING), (61, Status.CRITICAL)):
        finding = walcheck.freshness_finding(catalog, busy, at + timedelta(minutes=minutes),
                                             max_wal_age_minutes=15)
        assert finding.status is status, (minutes, finding.message)
    empty = walcheck.freshness_finding(_catalog([], []), None, at, max_wal_age_minutes=15)
    assert empty.status is Status.CRITICAL


# --------------------------------------------------------------------------- private sandbox


def _pg(box: PrivateSandbox) -> psycopg.Connection[Any]:
    pg = box.target.postgres
    assert pg is not None
    return psycopg.connect(host=pg.host, port=pg.port, user=pg.user, dbname=pg.dbname,
                           password=box.secret("pg_password"), autocommit=True,
                           connect_timeout=10)


def _s3(box: PrivateSandbox) -> Any:
    assert box.target.s3 is not None
    return s3_client(box.target.s3)


def _system_id(box: PrivateSandbox) -> str:
    with _pg(box) as conn:
        row = conn.execute("SELECT system_identifier::text FROM pg_control_system()").fetchone()
    assert row is not None
    return str(row[0])


def _wait(predicate: Any, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def test_segments_reach_s3_after_switch_wal(pitr_sandbox: PrivateSandbox) -> None:
    s3 = _s3(pitr_sandbox)
    system_id = _system_id(pitr_sandbox)
    with _pg(pitr_sandbox) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS wal_probe (id serial, note text)")
        conn.execute(
            "INSERT INTO wal_probe (note) SELECT md5(g::text) FROM generate_series(1, 2000) g"
        )
        segment = str(conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0])
        conn.execute("SELECT pg_switch_wal()")
    key = f"wal/{system_id}/{segment}"

    def stored() -> bool:
        try:
            s3.head_object(Bucket="noa-backups", Key=key)
        except Exception:
            return False
        return True

    assert _wait(stored), f"{key} did not appear in S3"
    head = s3.head_object(Bucket="noa-backups", Key=key)
    assert head["ContentLength"] == MiB16
    assert len(head["Metadata"]["sha256"]) == 64
    assert head.get("ServerSideEncryption") == "AES256"
    body = s3.get_object(Bucket="noa-backups", Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == head["Metadata"]["sha256"]
    with _pg(pitr_sandbox) as conn:
        failed, command = conn.execute(
            "SELECT failed_count, current_setting('archive_command') FROM pg_stat_archiver"
        ).fetchone()
    assert failed == 0
    # the key pair lives in a 0600 file of the postgres user, never in settings or the log
    secret = pitr_sandbox.secret("s3_secret_access_key")
    assert secret not in command and "wal-push" in command
    log = (pitr_sandbox.state_dir / "logs" / "postgres.log").read_text(errors="replace")
    assert secret not in log
    tools = Layout(pitr_sandbox.state_dir).pg_tools
    rc = os.stat(tools / walarchive.CURLRC_NAME)
    assert oct(rc.st_mode & 0o777) == "0o600" and rc.st_uid != 0
    assert oct(os.stat(tools / walarchive.SCRIPT_NAME).st_mode & 0o777) == "0o700"


@pytest.fixture
def probe_file() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="noa-walpush-"))
    directory.chmod(0o755)
    path = directory / "segment"
    path.write_bytes(os.urandom(256 * 1024))
    path.chmod(0o644)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
        directory.rmdir()


def _push(box: PrivateSandbox, path: Path, name: str) -> subprocess.CompletedProcess[str]:
    script = walarchive.script_path(Layout(box.state_dir))
    return subprocess.run(["runuser", "-u", "postgres", "--", str(script), str(path), name],
                          capture_output=True, text=True, timeout=120, check=False)


def test_archive_command_is_idempotent_and_never_overwrites(
    pitr_sandbox: PrivateSandbox, probe_file: Path
) -> None:
    s3 = _s3(pitr_sandbox)
    name = f"noa-test-{uuid.uuid4().hex}.probe"  # not a WAL name: invisible to the catalogue
    key = f"wal/{_system_id(pitr_sandbox)}/{name}"
    original = probe_file.read_bytes()
    try:
        first = _push(pitr_sandbox, probe_file, name)
        assert first.returncode == 0, first.stderr
        stored = s3.get_object(Bucket="noa-backups", Key=key)
        assert stored["Body"].read() == original
        assert stored["Metadata"]["sha256"] == hashlib.sha256(original).hexdigest()

        again = _push(pitr_sandbox, probe_file, name)  # PostgreSQL may repeat after a crash
        assert again.returncode == 0, again.stderr
        assert "already archived with identical content" in again.stderr

        probe_file.write_bytes(os.urandom(256 * 1024))  # same name, other content
        refused = _push(pitr_sandbox, probe_file, name)
        assert refused.returncode == 1
        assert "refusing to overwrite" in refused.stderr
        assert s3.get_object(Bucket="noa-backups", Key=key)["Body"].read() == original

        bad = _push(pitr_sandbox, probe_file, "../escape")
        assert bad.returncode == 2 and "refusing file name" in bad.stderr
    finally:
        s3.delete_object(Bucket="noa-backups", Key=key)


def test_base_backup_and_archiving_checks(pitr_sandbox: PrivateSandbox) -> None:
    target = pitr_sandbox.target
    before = cat.load_catalog(target)
    assert before.base_backups, "the sandbox takes a first base backup at `up`"
    plan = basebackup.plan_base_backup(target)
    assert [c.field for c in plan.changes] == ["pg_basebackup", "base backups"]
    assert basebackup.plan_base_backup(target, requested=False).empty

    result = basebackup.take_base_backup(target)
    backup = result.backup
    assert result.wal_archived
    after = cat.load_catalog(target)
    assert after.newest_base_backup == backup
    assert len(after.base_backups) == len(before.base_backups) + 1
    s3 = _s3(pitr_sandbox)
    manifest = json.loads(
        s3.get_object(Bucket="noa-backups", Key=backup.prefix + "manifest.json")["Body"].read()
    )
    for field in ("start_lsn", "stop_lsn", "start_wal_segment", "timeline", "started_at",
                  "ended_at", "size_bytes", "sha256", "server_version"):
        assert manifest[field] not in (None, ""), field
    body = s3.get_object(Bucket="noa-backups", Key=backup.object_key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == backup.sha256 and len(body) == backup.size_bytes
    assert body[:2] == b"\x1f\x8b"  # gzip

    report = walcheck.archiving_status(target)
    by_check = {f.check: f for f in report.findings}
    assert set(by_check) == {"archive settings", "wal archiving", "archive destination",
                             "newest segment", "wal gaps", "base backups", "pitr window"}
    assert all(f.status is Status.OK for f in report.findings), [
        (f.check, f.status, f.message) for f in report.findings]
    figures = report.figures
    assert figures["base_backups"] == len(after.base_backups) and figures["wal_gaps"] == 0
    assert figures["failed_count"] == 0 and int(figures["archived_count"] or 0) > 0
    assert figures["newest_segment"] and figures["pitr_window_start"]
    assert report.base_backups()[0].base_backup == backup.stamp
    assert list(show_base_backups(report)["base_backup"])[0] == backup.stamp
    timelines = show_wal_timelines(report)
    assert list(timelines.columns) == TIMELINE_COLUMNS and int(timelines["gaps"].sum()) == 0
