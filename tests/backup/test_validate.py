"""The restore drill against the project sandbox: a good backup passes, every bad one fails and
the findings (and a run's record) name the check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from noa_lib.errors import StepFailed
from noa_lib.ops.backup.dump import full_backup
from noa_lib.ops.backup.validate import DrillResult, validate_backup
from noa_lib.ops.findings import Status, require_ok
from tests.backup import dump_support as support
from tests.backup.dump_support import ScratchDb

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20


@pytest.fixture(scope="module")
def db(sandbox_target) -> Iterator[ScratchDb]:
    yield from support.database_fixture(sandbox_target)


def statuses(drill: DrillResult) -> dict[str, str]:
    return {f.check: str(f.status) for f in drill.findings}


def message(drill: DrillResult, check: str) -> str:
    return next(f.message for f in drill.findings if f.check == check)


def database_exists(db: ScratchDb, name: str) -> bool:
    return name in support.scratch_databases(db) or bool(
        db.connect(db.target.postgres.dbname if db.target.postgres else "postgres")
        .execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        .fetchone()
    )


def test_a_good_backup_restores_and_passes_every_check(db: ScratchDb) -> None:
    backup = full_backup(db.target, database=db.name).backup
    drill = validate_backup(
        db.target,
        database=db.name,
        rpo_hours=1.0,
        assertions=[
            "SELECT count(*) = 100 FROM accounts",
            "SELECT min(id) = 1 FROM events",
        ],
        jobs=2,
    )
    assert drill.ok, drill.findings
    assert statuses(drill) == {
        "freshness": "ok", "manifest": "ok", "scratch-space": "ok", "integrity": "ok",
        "scratch-database": "ok", "restore": "ok", "tables": "ok", "row-counts": "ok",
        "newest-data": "ok", "large-objects": "ok", "sequences": "ok", "assertion 1": "ok",
        "assertion 2": "ok",
        "cleanup": "ok",
    }
    figures = drill.figures
    assert figures["backup_key"] == backup.prefix and figures["size_bytes"] == backup.size_bytes
    assert 0 <= figures["backup_age_hours"] < 0.5
    assert figures["restore_seconds"] >= figures["pg_restore_seconds"] > 0
    assert figures["tables_checked"] == 2 and figures["rows_checked"] == 20_100
    assert figures["checks_failed"] == 0
    assert {(t.table, t.basis, t.restored) for t in drill.tables} == {
        ("public.accounts", "exact", 100), ("public.events", "exact", 20_000)
    }
    assert drill.scratch_database and not database_exists(db, drill.scratch_database)
    require_ok(drill.findings)  # does not raise


def test_a_false_assertion_and_a_tight_rpo_fail_the_drill_by_name(db: ScratchDb) -> None:
    full_backup(db.target, database=db.name)
    drill = validate_backup(
        db.target, database=db.name, rpo_hours=0.0, assertions=["SELECT count(*) = 0 FROM events"]
    )
    assert drill.failed_checks == ["newest-data", "assertion 1"]
    assert "beyond the RPO of 0 h" in message(drill, "newest-data")
    assert "returned False, expected true" in message(drill, "assertion 1")
    assert statuses(drill)["cleanup"] == "ok"
    with pytest.raises(StepFailed, match=r"2 checks failed: newest-data .*assertion 1"):
        require_ok(drill.findings)


def test_a_stale_backup_fails_freshness(db: ScratchDb) -> None:
    full_backup(db.target, database=db.name, kind="schema-only")
    drill = validate_backup(db.target, database=db.name, max_age_hours=1e-6)
    assert drill.failed_checks == ["freshness"]
    assert "no valid backup newer than 1e-06 h" in message(drill, "freshness")
    # the schema-only dump was not picked for a full drill: the newest *full* one was
    assert drill.backup is not None and drill.backup.kind == "full"


def test_corrupted_dump_fails_integrity_and_is_not_restored(db: ScratchDb) -> None:
    backup = full_backup(db.target, database=db.name).backup
    data = bytearray(support.read_object(db, backup.object_key))
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    support.write_object(db, backup.object_key, bytes(data))
    scratch = support.unique_name("noa_drill_corrupt")
    drill = validate_backup(db.target, database=db.name, scratch_database=scratch)
    assert drill.backup == backup
    assert drill.failed_checks == ["integrity"]
    assert "does not match its manifest" in message(drill, "integrity")
    assert "it was not restored" in message(drill, "integrity")
    assert statuses(drill)["restore"] == "skipped" and statuses(drill)["tables"] == "skipped"
    assert not database_exists(db, scratch)
    assert drill.figures["checks_failed"] == 1 and drill.figures["restore_seconds"] is None


def test_truncated_dump_fails_integrity(db: ScratchDb) -> None:
    backup = full_backup(db.target, database=db.name).backup
    data = support.read_object(db, backup.object_key)
    support.write_object(db, backup.object_key, data[: len(data) // 2])
    drill = validate_backup(db.target, database=db.name)
    assert drill.backup == backup  # the newest one is checked, not silently skipped
    assert drill.failed_checks == ["integrity"]
    assert "truncated" in message(drill, "integrity")
    assert statuses(drill)["restore"] == "skipped"


def test_missing_manifest_means_no_backup(db: ScratchDb) -> None:
    support.clear_prefix(db)
    backup = full_backup(db.target, database=db.name).backup
    support.delete_object(db, backup.manifest_key)
    drill = validate_backup(db.target, database=db.name)
    assert drill.backup is None and drill.failed_checks == ["freshness"]
    assert "no complete full backup exists (1 dump(s) without a valid manifest ignored)" in (
        message(drill, "freshness")
    )
    named = validate_backup(db.target, backup=backup.prefix)
    assert named.failed_checks == ["freshness"]
    assert "is not a backup: no manifest" in message(named, "freshness")


def test_full_scratch_disk_fails_cleanly(db: ScratchDb) -> None:
    backup = full_backup(db.target, database=db.name).backup
    assert backup.size_bytes > 2 * MiB
    mount = Path(tempfile.mkdtemp(prefix="noa-tiny-scratch-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        scratch = support.unique_name("noa_drill_full")
        drill = validate_backup(
            db.target, database=db.name, scratch_dir=mount, scratch_database=scratch
        )
        assert drill.failed_checks == ["scratch-space"]
        assert f"scratch area {mount} has" in message(drill, "scratch-space")
        assert "set scratch_dir" in message(drill, "scratch-space")
        assert list(mount.iterdir()) == []  # nothing left behind
        assert not database_exists(db, scratch)
    finally:
        subprocess.run(["umount", str(mount)], check=True)
        mount.rmdir()


def test_existing_scratch_database_is_refused_and_left_alone(db: ScratchDb) -> None:
    full_backup(db.target, database=db.name)
    taken = support.unique_name("noa_drill_taken")
    pg = db.target.postgres
    assert pg is not None
    with db.connect(pg.dbname) as admin:
        admin.execute(f'CREATE DATABASE "{taken}"')
    try:
        with db.connect(taken) as conn:
            conn.execute("CREATE TABLE precious (x int)")
        drill = validate_backup(db.target, database=db.name, scratch_database=taken)
        assert drill.failed_checks == ["scratch-database"]
        assert f"scratch database {taken} already exists" in message(drill, "scratch-database")
        assert "never drops a database it did not create" in message(drill, "scratch-database")
        with db.connect(taken) as conn:  # still there, untouched
            assert conn.execute("SELECT to_regclass('precious') IS NOT NULL").fetchone() == (True,)
    finally:
        with db.connect(pg.dbname) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{taken}" WITH (FORCE)')


def test_cli_run_fails_with_exit_1_naming_the_check_when_the_newest_backup_is_corrupt(
    db: ScratchDb, tmp_path: Path
) -> None:
    backup = full_backup(db.target, database=db.name).backup
    data = bytearray(support.read_object(db, backup.object_key))
    data[-100] ^= 0x01
    support.write_object(db, backup.object_key, bytes(data))
    reports = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOA_")}
    env.update(NOA_CONFIG=str(ROOT / "noa.toml"), NOA_REPORTS_DIR=str(reports))
    noa = shutil.which("noa", path=str(Path(sys.executable).parent))
    assert noa is not None
    proc = subprocess.run(
        [noa, "run", "backup/validate_backup", "--target", "sandbox", "--trigger", "cron",
         "-p", "database", db.name],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    records = list(reports.rglob("*.ipynb"))
    assert len(records) == 1
    meta = json.loads(records[0].read_text())["metadata"]["noa"]
    assert meta["status"] == "failed" and meta["trigger"]["kind"] == "cron"
    assert meta["error"]["ename"] == "StepFailed"
    assert "1 check failed: integrity" in meta["error"]["evalue"]
    outcome = meta["outcome"]
    assert outcome["status"] == str(Status.CRITICAL)
    assert outcome["figures"]["checks_failed"] == 1
    assert outcome["figures"]["backup_key"] == backup.prefix
    failed = [f["check"] for f in outcome["findings"] if f["status"] == "critical"]
    assert failed == ["integrity"]
