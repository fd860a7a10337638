"""Streamed dumps against the project sandbox: round trip, manifest, catalogue, lock, clients."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest

from noa_lib.clients.pgdump import client_env, find_tools, start_dump
from noa_lib.clients.s3_objects import open_bucket
from noa_lib.clients.s3_stream import download, upload_stream
from noa_lib.errors import ClientError, PreconditionFailed, StepFailed
from noa_lib.ops.backup.catalog import get_dump, list_dumps, scan_dumps
from noa_lib.ops.backup.dump import full_backup
from noa_lib.ops.backup.preflight import backup_preflight, backup_report, plan_full_backup
from noa_lib.ops.safety import apply_plan
from tests.backup import dump_support as support
from tests.backup.dump_support import ScratchDb

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MiB = 1 << 20


@pytest.fixture(scope="module")
def db(sandbox_target) -> Iterator[ScratchDb]:
    yield from support.database_fixture(sandbox_target)


def test_round_trip_writes_dump_then_manifest_with_every_field(db: ScratchDb) -> None:
    result = full_backup(db.target, database=db.name, part_size=5 * MiB)
    backup = result.backup
    prefix = backup.prefix
    assert prefix.startswith(db.prefix) and prefix.endswith("-full/")
    assert support.keys(db)[-2:] == [prefix + "dump.pgdump", prefix + "manifest.json"]

    stored = support.read_object(db, backup.object_key)
    assert len(stored) == backup.size_bytes > 1 * MiB
    assert hashlib.sha256(stored).hexdigest() == backup.sha256
    assert stored[:5] == b"PGDMP"  # custom-format archive

    manifest = json.loads(support.read_object(db, backup.manifest_key))
    for field in ("schema", "kind", "database", "object_key", "server_version", "pg_dump_version",
                  "started_at", "ended_at", "duration_s", "size_bytes", "sha256", "tables",
                  "max_timestamps", "tool_versions", "sse", "target"):
        assert field in manifest, field
    assert manifest["schema"] == 1 and manifest["kind"] == "full"
    assert manifest["database"] == db.name and manifest["target"] == "sandbox"
    assert manifest["object_key"] == backup.object_key
    assert manifest["sha256"] == backup.sha256 and manifest["size_bytes"] == len(stored)
    assert manifest["started_at"].endswith("Z") and manifest["ended_at"] >= manifest["started_at"]
    assert manifest["sse"] == "AES256"
    assert manifest["server_version"].startswith("15.")
    assert manifest["pg_dump_version"] == manifest["tool_versions"]["pg_dump"]
    assert {"pg_restore", "noa_lib", "python"} <= set(manifest["tool_versions"])
    # exact counts taken in the snapshot pg_dump read
    assert manifest["tables"]["public.events"] == {"row_estimate": 20_000, "rows": 20_000}
    assert manifest["tables"]["public.accounts"]["rows"] == 100
    assert set(manifest["max_timestamps"]) == {"public.events.created_at",
                                               "public.accounts.updated_at"}
    with db.connect() as conn:
        newest = conn.execute("SELECT max(created_at) FROM events").fetchone()
    assert newest is not None
    assert manifest["max_timestamps"]["public.events.created_at"] == (
        newest[0].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    )

    listed = list_dumps(db.target, db.name)
    assert listed[0] == backup
    assert get_dump(db.target, prefix) == backup
    assert get_dump(db.target, backup.object_key) == backup
    assert result.figures()["backup_key"] == prefix and result.mb_per_s > 0
    assert support.pending_uploads(db) == []


def test_newest_first_and_kinds(db: ScratchDb) -> None:
    full_backup(db.target, database=db.name)
    schema = full_backup(db.target, database=db.name, kind="schema-only").backup
    assert schema.kind == "schema-only" and schema.max_timestamps == {}
    assert all(t.rows is None for t in schema.tables.values())
    everything = list_dumps(db.target, db.name)
    assert everything[0] == schema
    assert [b.started_at for b in everything] == sorted(
        (b.started_at for b in everything), reverse=True
    )
    assert len({b.prefix for b in everything}) == len(everything)  # no overwrite within 1 s
    assert list_dumps(db.target, db.name, kind="full")[0].kind == "full"
    assert schema.size_bytes < everything[1].size_bytes


def test_object_without_manifest_is_not_a_backup(db: ScratchDb) -> None:
    before = list_dumps(db.target, db.name)
    prefix = f"{db.prefix}20200101T000000Z-full/"
    support.write_object(db, prefix + "dump.pgdump", b"PGDMP" + os.urandom(1000))
    inventory = scan_dumps(db.target, db.name)
    assert list(inventory.backups) == before
    orphan = next(o for o in inventory.orphans if o.prefix == prefix)
    assert "no manifest" in orphan.reason and orphan.manifest is None
    with pytest.raises(PreconditionFailed, match="is not a backup: no manifest"):
        get_dump(db.target, prefix)
    # a manifest that does not parse is no better
    support.write_object(db, prefix + "manifest.json", b'{"schema": 1, "kind": "full"}')
    orphan = next(o for o in scan_dumps(db.target, db.name).orphans if o.prefix == prefix)
    assert "manifest invalid: field 'database' is missing" in orphan.reason
    support.delete_object(db, prefix + "manifest.json")
    support.delete_object(db, prefix + "dump.pgdump")


def test_dry_run_plans_and_writes_nothing(db: ScratchDb) -> None:
    checks = backup_preflight(db.target, database=db.name)
    assert {f.check: str(f.status) for f in checks.findings} == {
        "postgres": "ok", "pg_dump": "ok", "bucket": "ok", "lock": "ok"
    }
    plan = plan_full_backup(db.target, preflight=checks)
    assert [c.resource.rsplit("/", 1)[1] for c in plan.changes[:2]] == [
        "dump.pgdump", "manifest.json"
    ]
    assert f"s3://{db.bucket}/{db.prefix}" in plan.changes[0].resource
    before = support.keys(db)
    applied = apply_plan(plan, dry_run=True)
    report = backup_report(applied, checks)
    assert support.keys(db) == before
    assert report.figures["dry_run"] is True
    assert [str(f.status) for f in report.findings if f.check == "backup"] == ["skipped"]


def test_a_second_backup_is_refused_while_the_first_holds_the_lock(db: ScratchDb) -> None:
    """The first backup runs in another process and its pg_dump waits for a table lock we hold
    (so it is reliably mid-run, upload started); the second fails at once naming it; killing the
    first frees the lock and the next run clears the upload the killed one left behind."""
    env = {**os.environ, "NOA_CONFIG": str(ROOT / "noa.toml")}
    code = (  # no exact counts: only pg_dump touches the locked table
        "from noa_lib.ops.targets import load_target\n"
        "from noa_lib.ops.backup.dump import full_backup\n"
        f"full_backup(load_target('sandbox'), database={db.name!r}, exact_count_max_rows=0)\n"
    )
    blocker = db.connect()
    blocker.execute("BEGIN")
    blocker.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
    first = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not support.pending_uploads(db):  # created once pg_dump is waiting on the lock
            assert first.poll() is None, "the first backup ended early"
            assert time.monotonic() < deadline, "the first backup never started its upload"
            time.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(PreconditionFailed) as refused:
            full_backup(db.target, database=db.name)
        assert time.monotonic() - started < 10
        message = str(refused.value)
        assert f"another full_backup of {db.name} on sandbox is running (pid {first.pid} on" in (
            message
        )
        assert "since" in message
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        blocker.execute("ROLLBACK")
        blocker.close()
    # The dead run's session is gone with it: the lock is free, its upload is cleared.
    deadline = time.monotonic() + 30
    while True:
        try:
            again = full_backup(db.target, database=db.name)
            break
        except PreconditionFailed:
            assert time.monotonic() < deadline, "the lock outlived its process"
            time.sleep(0.5)
    assert again.stale_uploads_aborted >= 1
    assert support.pending_uploads(db) == []


def test_pg_dump_gets_the_password_from_a_private_file_only(db: ScratchDb) -> None:
    pg = db.target.postgres
    assert pg is not None and pg.password is not None
    secret = pg.password.resolve()
    tools = find_tools(15)
    assert tools.major >= 15 and Path(tools.pg_dump).is_file()
    with client_env(pg) as env:
        passfile = Path(env["PGPASSFILE"])
        assert str(passfile).startswith(f"/proc/{os.getpid()}/fd/")  # in memory, never on disk
        assert passfile.stat().st_mode & 0o777 == 0o600
        assert passfile.read_text().endswith(":" + secret + "\n")
        assert "PGPASSWORD" not in env
    assert not passfile.exists()
    with start_dump(tools, pg, dbname=db.name, schema_only=True) as dump:
        cmdline = Path(f"/proc/{dump.pid}/cmdline").read_bytes()
        environ = Path(f"/proc/{dump.pid}/environ").read_bytes()
        data = dump.stdout.read()
        dump.finish()
    assert secret.encode() not in cmdline and secret.encode() not in environ
    assert b"PGPASSFILE=" in environ and data.startswith(b"PGDMP")


def test_upload_stream_parts_sha_and_download(db: ScratchDb) -> None:
    assert db.target.s3 is not None
    payload = os.urandom(12 * MiB + 123)
    key = f"{db.prefix}stream-test/blob"
    with open_bucket(db.target.s3) as bucket:
        up = upload_stream(bucket, key, io.BytesIO(payload), part_size=5 * MiB, workers=2)
        assert (up.size_bytes, up.parts, up.sse) == (len(payload), 3, "AES256")
        assert up.sha256 == hashlib.sha256(payload).hexdigest()
        sink = io.BytesIO()
        got = download(bucket, key, sink, range_size=4 * MiB)
        assert got.sha256 == up.sha256 and sink.getvalue() == payload
        assert download(bucket, key).sha256 == up.sha256  # hash only

        def refuse(size: int, sha: str) -> None:
            raise StepFailed(f"producer failed after {size} bytes")

        with pytest.raises(StepFailed, match="producer failed"):
            upload_stream(bucket, key + "-2", io.BytesIO(payload), part_size=5 * MiB,
                          before_complete=refuse)
        assert bucket.head(key + "-2") is None
        bucket.delete(key)
    assert support.pending_uploads(db) == []


def test_a_failing_stream_aborts_the_upload(db: ScratchDb) -> None:
    assert db.target.s3 is not None

    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
            if self.sent > 7 * MiB:
                raise OSError("pipe broke")
            n = len(buffer)
            buffer[:n] = b"x" * n
            self.sent += n
            return n

    broken = io.BufferedReader(Broken())
    with open_bucket(db.target.s3) as bucket, pytest.raises(ClientError, match="broke.*aborted"):
        upload_stream(bucket, f"{db.prefix}broken/blob", broken, part_size=5 * MiB)
    assert support.pending_uploads(db) == []
