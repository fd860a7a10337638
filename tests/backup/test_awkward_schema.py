"""The awkward database through the runbooks: full_backup → validate_backup → pitr_restore →
database_health, each run by the runner against a target whose dbname is that database.

One database (:mod:`.awkward_schema`), created in the private sandbox for this module and dropped
after; four runbook runs (plus the base backup PITR starts from). What each run must prove:

* ``full_backup``: the manifest counts every table (partitions, parents, children, the unlogged
  one) exactly as the source has it, keyed by the quoted names, and finds the key timestamp
  columns of tables whose names need quoting;
* ``validate_backup``: the drill restores it and every check is ok — tables, exact row counts,
  newest data, sequences — and SQL assertions prove large objects, the materialized view's data,
  sequences, enums, generated columns, partitions, inheritance, functions, triggers, comments and
  extensions came back identical;
* ``pitr_restore``: recovery stops between two markers with the awkward objects present and
  identical (the unlogged table comes back empty, as PostgreSQL defines);
* ``database_health``: completes with no unreachable check, and names the bloated table quoted.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from noa_lib.clients import pgserver
from noa_lib.config import Target
from noa_lib.ops.backup.catalog import scan_dumps
from noa_lib.records.runner import ExitCode, RunRequest, RunResult, run

from . import awkward_schema
from .conftest import PrivateSandbox

pytestmark = pytest.mark.integration

DATABASE = "Noa_Awkward-DB"  # mixed case and a hyphen: what database names (S3 keys) accept
TARGET = "awkward"
UNLOGGED = '"with space"."scratch pad"'

COUNTS_SQL = """
SELECT format('%I.%I', n.nspname, c.relname) AS key, c.oid::regclass::text AS rel
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname <> ALL(ARRAY['pg_catalog', 'information_schema'])
  AND n.nspname NOT LIKE 'pg\\_%'
"""


@dataclass(frozen=True)
class Awkward:
    box: PrivateSandbox
    target: Target
    reports: Path
    counts: dict[str, int]  # format('%I.%I') → count(*)
    fingerprint: dict[str, str | None]
    timings: dict[str, float]

    def connect(self, port: int | None = None, dbname: str = DATABASE) -> psycopg.Connection[Any]:
        pg = self.target.postgres
        assert pg is not None
        return psycopg.connect(host="127.0.0.1", port=port or pg.port, user=pg.user,
                               dbname=dbname, password=self.box.secret("pg_password"),
                               autocommit=True, connect_timeout=10)

    def run(self, runbook: str, **parameters: Any) -> tuple[RunResult, dict[str, Any]]:
        started = time.monotonic()
        result = run(RunRequest(runbook, parameters, target=TARGET, reports_dir=self.reports,
                                html=False))
        self.timings[runbook] = round(time.monotonic() - started, 1)
        assert result.record is not None, result.message
        meta = json.loads(Path(result.record).read_text())["metadata"]["noa"]
        return result, meta


def counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """``count(*)`` of every table of the database, keyed like the manifest."""
    out = {}
    for key, rel in conn.execute(COUNTS_SQL).fetchall():
        out[str(key)] = int(conn.execute(f"SELECT count(*) FROM {rel}").fetchone()[0])  # type: ignore[index]
    return out


def _config(box: PrivateSandbox, root: Path) -> Path:
    """The private sandbox's target as ``awkward``, its database the awkward one."""
    text = (box.state_dir / "target.toml").read_text()
    text = text.replace("[targets.sandbox", f"[targets.{TARGET}")
    text = text.replace('dbname = "noa"', f'dbname = "{DATABASE}"')
    text = text.replace('"file:secrets/', f'"file:{box.state_dir}/secrets/')
    assert f'dbname = "{DATABASE}"' in text and "file:secrets/" not in text
    path = root / "noa.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def awkward(pitr_sandbox: PrivateSandbox) -> Iterator[Awkward]:
    root = Path(tempfile.mkdtemp(prefix="noa-awkward-"))
    root.chmod(0o755)  # restore directories live under it: the postgres user traverses it
    assert pitr_sandbox.target.postgres is not None
    target = replace(pitr_sandbox.target, name=TARGET,
                     postgres=replace(pitr_sandbox.target.postgres, dbname=DATABASE))
    admin = psycopg.connect(host="127.0.0.1", port=target.postgres.port,  # type: ignore[union-attr]
                            user=target.postgres.user, dbname="postgres",  # type: ignore[union-attr]
                            password=pitr_sandbox.secret("pg_password"), autocommit=True)
    timings: dict[str, float] = {}
    try:
        started = time.monotonic()
        admin.execute(f'CREATE DATABASE "{DATABASE}" TEMPLATE template0 ENCODING "UTF8"')
        box = Awkward(pitr_sandbox, target, root / "reports", {}, {}, timings)
        with box.connect() as conn:
            awkward_schema.create(conn)
            box = replace(box, counts=counts(conn), fingerprint=awkward_schema.fingerprint(conn))
        timings["create database"] = round(time.monotonic() - started, 2)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("NOA_CONFIG", str(_config(pitr_sandbox, root)))
            mp.setenv("NOA_SCRATCH_DIR", str(root))
            mp.delenv("NOA_TARGET", raising=False)
            mp.delenv("NOA_NOTEBOOKS_DIR", raising=False)
            yield box
    finally:
        print(f"\n[awkward schema] seconds: {timings}")
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.close()
        shutil.rmtree(root, ignore_errors=True)


def _findings(meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["check"]: f for f in meta["outcome"]["findings"]}


def _not_ok(meta: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["check"], f["status"], f["message"]) for f in meta["outcome"]["findings"]
            if f["status"] not in ("ok", "skipped")]


@pytest.fixture(scope="module")
def dumped(awkward: Awkward) -> dict[str, Any]:
    result, meta = awkward.run("backup/full_backup", dry_run=False)
    assert result.exit_code == ExitCode.SUCCEEDED, (result.message, meta.get("error"))
    return meta


def test_the_fixture_is_as_awkward_as_promised(awkward: Awkward) -> None:
    names = set(awkward.counts)
    for quoted in ('"Über Schema"."select"', '"quote""inside"."quote""inside"', '"日本語"."日本語"',
                   '"dot.ted"."a.b"', '"select"."Events default"', '"MixedCase"."Child"', UNLOGGED):
        assert quoted in names, sorted(names)
    assert awkward.counts['"select"."Events"'] == 1400
    assert awkward.counts['"MixedCase"."Parent"'] == 52  # with its children
    assert awkward.fingerprint["large objects"].startswith("3 ")  # type: ignore[union-attr]
    assert awkward.fingerprint["partitions"].count("=") == 3  # type: ignore[union-attr]
    assert awkward.fingerprint["extensions"] == ",".join(
        sorted([*awkward_schema.EXTENSIONS, "plpgsql"]))


def test_backup_manifest_counts_every_table_and_the_drill_reproduces_everything(
    awkward: Awkward, dumped: dict[str, Any]
) -> None:
    inventory = scan_dumps(awkward.target, DATABASE)
    assert len(inventory.backups) == 1, inventory
    manifest = inventory.backups[0]
    assert {k: v.rows for k, v in manifest.tables.items()} == awkward.counts
    stamps = set(manifest.max_timestamps)
    for column in ('"Über Schema"."select".created_at', '"日本語"."日本語".created_at',
                   '"quote""inside"."quote""inside".inserted_at',
                   '"MixedCase"."MixedCase".updated_at', '"select"."Events 2026-12".created_at'):
        assert column in stamps, sorted(stamps)

    asserted = awkward_schema.assertions(awkward.fingerprint)
    result, meta = awkward.run("backup/validate_backup", assertions=asserted, rpo_hours=1.0)
    assert result.exit_code == ExitCode.SUCCEEDED, (_not_ok(meta), meta.get("error"))
    found = _findings(meta)
    for check in ("tables", "row-counts", "newest-data", "large-objects", "sequences", "restore",
                  "cleanup"):
        assert found[check]["status"] == "ok", found[check]
    assert manifest.large_objects == 3 and found["large-objects"]["value"] == 3
    # every extension is trusted, so none is left out (uuid-ossp's comment tag is quoted)
    assert found["restore"]["evidence"]["skipped_extensions"] == [], found["restore"]
    assert found["row-counts"]["message"].startswith(
        f"{sum(awkward.counts.values())} rows in {len(awkward.counts)} tables match the dump "
        f"({len(awkward.counts)} exact counts"), found["row-counts"]["message"]
    for i, name in enumerate(awkward_schema.FINGERPRINT, start=1):
        assert found[f"assertion {i}"]["status"] == "ok", (name, found[f"assertion {i}"])
    assert not _not_ok(meta)


def _archive_current_segment(awkward: Awkward) -> None:
    """Switch WAL and wait for the archive (from the sandbox's database, where the operations
    role may call pg_switch_wal)."""
    with awkward.connect(dbname="noa") as conn:
        segment = str(conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0])  # type: ignore[index]
        conn.execute("SELECT pg_switch_wal()")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            last = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0]  # type: ignore[index]
            if last is not None and str(last)[:24] >= segment:
                return
            time.sleep(0.3)
    raise AssertionError(f"{segment} was not archived within 60 s")


def test_pitr_recovers_to_the_point_with_every_awkward_object(awkward: Awkward) -> None:
    with awkward.connect() as conn:
        conn.execute('INSERT INTO "MixedCase"."Marker ☺" (name) VALUES (\'T1\')')
        time.sleep(1.0)
        between: datetime = conn.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
        time.sleep(1.0)
        conn.execute('INSERT INTO "MixedCase"."Marker ☺" (name) VALUES (\'T2\')')
        source = counts(conn)
    _archive_current_segment(awkward)
    result, meta = awkward.run("backup/pitr_restore", target_time=between.isoformat(),
                               keep_running=True, dry_run=False)
    found = _findings(meta)
    kept = found.get("restored copy", {}).get("evidence", {})
    try:
        assert result.exit_code == ExitCode.SUCCEEDED, (_not_ok(meta), meta.get("error"))
        assert not _not_ok(meta)
        assert found["recovery target"]["status"] == "ok"
        restored_counts = found["row counts"]["evidence"]["counts"]
        assert restored_counts['"日本語"."日本語"'] == 321, restored_counts
        with awkward.connect(int(kept["port"])) as copy:
            markers = [r[0] for r in copy.execute('SELECT name FROM "MixedCase"."Marker ☺"')]
            assert markers == ["T1"]
            copied = awkward_schema.fingerprint(copy)
            # WAL replay may leave a sequence ahead of the source (PostgreSQL logs nextval a few
            # values in advance), never behind; everything else is identical
            for name in ("standalone sequence", "identity"):
                assert int(copied.pop(name) or 0) >= int(awkward.fingerprint[name] or 0), name
            assert copied == {k: v for k, v in awkward.fingerprint.items()
                              if k not in ("standalone sequence", "identity")}
            got = counts(copy)
        expected = {**source, '"MixedCase"."Marker ☺"': 1, UNLOGGED: 0}  # unlogged: reset
        assert got == expected
    finally:
        if kept:
            data_dir = Path(kept["data_dir"])
            bins = pgserver.find_binaries(tools=("pg_ctl", "postgres"))
            pgserver.stop_cluster(bins, data_dir, who=pgserver.run_as())
            shutil.rmtree(data_dir.parent, ignore_errors=True)


def test_database_health_completes_and_names_tables_quoted(awkward: Awkward) -> None:
    result, meta = awkward.run("monitoring/database_health")
    assert result.exit_code == ExitCode.SUCCEEDED, (_not_ok(meta), meta.get("error"))
    found = _findings(meta)
    assert not [f for f in found.values() if f["status"] in ("unreachable", "failed")], found
    bloat = found["table bloat"]
    # 1500 of 4500 tuples of the keyword-named table are dead (autovacuum is off for it)
    assert bloat["status"] == "warning", bloat
    assert '"Über Schema"."select" (33.3 %)' in bloat["message"], bloat["message"]


def test_a_lost_large_object_or_a_missing_column_fails_the_drill_checks(
    awkward: Awkward, dumped: dict[str, Any]
) -> None:
    """The checks against a copy that lacks what the manifest promises (here: the source itself,
    measured against an altered manifest) come out critical, naming the quoted objects."""
    from noa_lib.clients.postgres import connect
    from noa_lib.ops.backup.drill_checks import check_restored

    manifest = scan_dumps(awkward.target, DATABASE).backups[0]
    promised = replace(
        manifest,
        large_objects=4,
        max_timestamps={**manifest.max_timestamps, '"Über Schema"."gone".created_at': "x"},
    )
    assert awkward.target.postgres is not None
    with connect(awkward.target.postgres, read_only=True) as conn:
        found = {f.check: f for f in check_restored(conn, promised).findings}
    assert found["large-objects"].status.value == "critical"
    assert found["large-objects"].message == "3 large object(s) restored, 4 at backup"
    assert found["newest-data"].status.value == "critical"
    assert '"Über Schema"."gone".created_at: the column is missing' in found["newest-data"].message
