"""Point-in-time recovery on a private sandbox: markers at known times, restores between them.

The source (the private sandbox's PostgreSQL) must stay untouched: same postmaster, same
``postmaster.pid``, data directory not modified at its top level, still serving, nothing archived
on a new timeline. Invalid targets are refused before any process starts.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from noa_lib.clients.s3 import client as s3_client
from noa_lib.errors import ParameterError, PreconditionFailed
from noa_lib.ops.backup import pitr
from noa_lib.ops.backup import wal as walcheck
from noa_lib.ops.backup import wal_catalog as cat
from noa_lib.ops.backup.catalog import iso
from noa_lib.ops.backup.pitr_restore import RestoreResult, restore, stop_restored_cluster
from noa_lib.ops.findings import Status
from noa_lib.ops.safety import apply_plan
from noa_lib.show.pitr import ROW_COUNT_COLUMNS, WINDOW_COLUMNS, show_pitr_window, show_row_counts

from .conftest import PrivateSandbox

pytestmark = pytest.mark.integration


def _pg(box: PrivateSandbox, port: int | None = None) -> psycopg.Connection[Any]:
    pg = box.target.postgres
    assert pg is not None
    return psycopg.connect(host="127.0.0.1", port=port or pg.port, user=pg.user,
                           dbname=pg.dbname, password=box.secret("pg_password"),
                           autocommit=True, connect_timeout=10)


@pytest.fixture(scope="module", autouse=True)
def scratch() -> Iterator[Path]:
    """A private scratch area (0755: the postgres user traverses it) for default restore dirs, so
    concurrent runs elsewhere on the machine cannot be mistaken for ours."""
    root = Path(tempfile.mkdtemp(prefix="noa-pitr-scratch-"))
    root.chmod(0o755)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NOA_SCRATCH_DIR", str(root))
        yield root
    shutil.rmtree(root, ignore_errors=True)


def _processes_in(root: Path) -> set[int]:
    """Pids of processes whose command line names ``root`` (a postmaster started there)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(root).encode() in (entry / "cmdline").read_bytes():
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def _archive_current_segment(box: PrivateSandbox) -> None:
    """Switch WAL and wait until the switched segment is in the archive."""
    with _pg(box) as conn:
        segment = str(conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0])
        conn.execute("SELECT pg_switch_wal()")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            last = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0]
            if last is not None and str(last)[:24] >= segment:
                return
            time.sleep(0.3)
    raise AssertionError(f"{segment} was not archived within 60 s")


@dataclass(frozen=True)
class Markers:
    t1: datetime  # just before marker T1 was inserted (server clock)
    between: datetime  # strictly between the two commits
    t2: datetime


@pytest.fixture(scope="module")
def markers(pitr_sandbox: PrivateSandbox) -> Markers:
    with _pg(pitr_sandbox) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS pitr_marker (name text PRIMARY KEY,"
                     " at timestamptz NOT NULL DEFAULT clock_timestamp())")
        t1 = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        conn.execute("INSERT INTO pitr_marker (name) VALUES ('T1')")
        time.sleep(1.0)
        between = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        time.sleep(1.0)
        t2 = conn.execute("SELECT clock_timestamp()").fetchone()[0]
        conn.execute("INSERT INTO pitr_marker (name) VALUES ('T2')")
    _archive_current_segment(pitr_sandbox)
    return Markers(t1=t1, between=between, t2=t2)


@dataclass(frozen=True)
class SourceState:
    pid: int
    pid_file: str
    data_mtime: float


def _source_state(box: PrivateSandbox) -> SourceState:
    data = box.state_dir / "pg" / "data"
    pid_file = (data / "postmaster.pid").read_text()
    return SourceState(int(pid_file.split("\n", 1)[0]), pid_file, data.stat().st_mtime)


@pytest.fixture
def restored() -> Iterator[list[RestoreResult]]:
    """Results to stop at the end of a test, whatever happened."""
    kept: list[RestoreResult] = []
    yield kept
    for result in kept:
        stop_restored_cluster(result)


def _markers_in(box: PrivateSandbox, result: RestoreResult) -> list[str]:
    with _pg(box, result.port) as conn:
        rows = conn.execute("SELECT name FROM pitr_marker ORDER BY name").fetchall()
    return [str(r[0]) for r in rows]


def test_invalid_targets_are_refused_before_anything_starts(
    pitr_sandbox: PrivateSandbox, markers: Markers, scratch: Path
) -> None:
    target = pitr_sandbox.target
    window = pitr.pitr_window(target)
    assert window.start is not None and window.end is not None
    earliest = window.windows[0].start
    table = show_pitr_window(window)  # newest base backup first
    assert list(table.columns) == WINDOW_COLUMNS and len(table) == len(window.windows)
    assert table.loc[0, "base_backup"] == window.windows[-1].backup.stamp
    assert table.loc[0, "from"] == iso(window.windows[-1].start)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"target_time": "yesterday at noon"}, "is not a time"),
        ({"target_time": "2026-11-26T10:00:00"}, "no time zone"),
        ({"target_time": (earliest - timedelta(days=1)).isoformat()}, "before the end of the"),
        ({"target_time": (window.end + timedelta(hours=1)).isoformat()}, "after the newest"),
        ({"target_lsn": "nonsense"}, "not an LSN"),
        ({"target_time": markers.between.isoformat(), "target_lsn": "0/3000000"}, "not both"),
        ({"target_lsn": "0/1"}, "before the end of the earliest base backup"),
        ({"restore_dir": "relative/dir"}, "absolute path"),
        ({"restore_dir": str(pitr_sandbox.state_dir)}, "not an empty directory"),
    ]
    for kwargs, words in cases:
        with pytest.raises(ParameterError) as info:
            pitr.plan_pitr(target, window=window, **kwargs)
        assert words in str(info.value), (kwargs, str(info.value))
        if words.startswith(("before the end of the", "after the newest")):
            assert "restorable" in str(info.value)  # the message names the window
    time.sleep(0.5)
    assert not _processes_in(scratch), "a PostgreSQL process was started"
    assert not any(scratch.iterdir()), "a restore directory was created"


def test_restore_between_markers_has_t1_not_t2_and_source_untouched(
    pitr_sandbox: PrivateSandbox, markers: Markers, restored: list[RestoreResult]
) -> None:
    target = pitr_sandbox.target
    before = _source_state(pitr_sandbox)
    plan = pitr.plan_pitr(target, target_time=markers.between.isoformat(), keep_running=True)
    assert plan.recovery.kind == "time" and plan.backup.ended_at <= markers.between
    applied = apply_plan(plan.plan, dry_run=False)
    result = applied.result
    assert isinstance(result, RestoreResult)
    restored.append(result)
    outcome = pitr.pitr_outcome(plan, applied)
    assert all(f.status is Status.OK for f in outcome.findings), [
        (f.check, f.message) for f in outcome.findings]
    assert _markers_in(pitr_sandbox, result) == ["T1"]
    recovered = datetime.fromisoformat(str(result.recovered_to).replace("Z", "+00:00"))
    assert markers.t1 <= recovered <= markers.between
    assert "recovery stopping before commit" in result.stop_reason
    assert result.segments_replayed >= 1 and result.timeline == 2
    figures = outcome.figures
    assert figures["target_time"] == iso(markers.between.astimezone(UTC))
    assert figures["base_backup"] == plan.backup.stamp and figures["restore_seconds"]
    counts = show_row_counts(outcome)
    assert list(counts.columns) == ROW_COUNT_COLUMNS
    assert dict(zip(counts["table"], counts["rows"], strict=True)) == dict(result.row_counts)
    assert result.row_counts

    after = _source_state(pitr_sandbox)
    assert after == before, "the source cluster was touched"
    with _pg(pitr_sandbox) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM pitr_marker ORDER BY 1")] == [
            "T1", "T2"]
        assert conn.execute("SELECT timeline_id FROM pg_control_checkpoint()").fetchone()[0] == 1

    message = stop_restored_cluster(result)
    restored.clear()
    assert "stopped" in message and not plan.restore_dir.exists()


def test_latest_restore_has_both_markers_and_archives_nothing(
    pitr_sandbox: PrivateSandbox, markers: Markers, restored: list[RestoreResult]
) -> None:
    target = pitr_sandbox.target
    plan = pitr.plan_pitr(target, keep_running=True)  # latest
    result = restore(plan)
    restored.append(result)
    assert result.verified, [(f.check, f.message) for f in result.findings]
    assert _markers_in(pitr_sandbox, result) == ["T1", "T2"]
    assert result.recovered_to is not None
    stop_restored_cluster(result)
    restored.clear()
    # the restored copy (timeline 2) must never have archived into the source's prefix
    catalog = cat.load_catalog(target)
    assert {s.timeline for s in catalog.segments} == {1} and not catalog.histories

    dry = apply_plan(plan.plan, dry_run=True)
    outcome = pitr.pitr_outcome(plan, dry)
    assert [f.check for f in outcome.findings] == ["restore plan"]
    assert outcome.findings[0].message.startswith("DRY RUN")
    assert outcome.figures["restore_seconds"] is None and not plan.restore_dir.exists()
    assert show_row_counts(outcome).empty and list(show_row_counts(outcome).columns) == [
        "table", "rows"]


def test_gap_is_critical_and_pitr_across_it_is_refused(
    pitr_sandbox: PrivateSandbox, markers: Markers
) -> None:
    target = pitr_sandbox.target
    with _pg(pitr_sandbox) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS gap_probe (n int)")
    for n in range(3):  # three more segments after the markers
        with _pg(pitr_sandbox) as conn:
            conn.execute("INSERT INTO gap_probe VALUES (%s)", (n,))
        _archive_current_segment(pitr_sandbox)
    catalog = cat.load_catalog(target)
    chain = catalog.chain(catalog.newest_base_backup)  # type: ignore[arg-type]
    assert len(chain.segments) >= 3 and chain.gap is None
    victim = chain.segments[-2]
    assert pitr_sandbox.target.s3 is not None
    s3 = s3_client(pitr_sandbox.target.s3)
    saved = s3.get_object(Bucket="noa-backups", Key=victim.key)
    body, metadata = saved["Body"].read(), saved["Metadata"]
    s3.delete_object(Bucket="noa-backups", Key=victim.key)
    try:
        report = walcheck.archiving_status(target)
        gaps = next(f for f in report.findings if f.check == "wal gaps")
        assert gaps.status is Status.CRITICAL and victim.name in gaps.message
        assert report.figures["wal_gaps"] == 1
        with pytest.raises(PreconditionFailed, match="gap") as info:
            pitr.plan_pitr(target)  # latest must cross the gap
        assert victim.name in str(info.value)
        # a time before the gap is still restorable from the same base backup
        before_gap = pitr.plan_pitr(target, target_time=markers.between.isoformat())
        assert before_gap.segments[-1].segno < victim.segno
    finally:
        s3.put_object(Bucket="noa-backups", Key=victim.key, Body=body, Metadata=metadata)
    assert hashlib.sha256(body).hexdigest() == metadata["sha256"]
    healed = walcheck.archiving_status(target)
    assert next(f for f in healed.findings if f.check == "wal gaps").status is Status.OK
