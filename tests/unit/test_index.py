"""The records index: real SQLite files and real record notebooks under ``tmp_path``."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from noa_lib.errors import ParameterError
from noa_lib.records.index import SCHEMA_VERSION, RecordIndex, RecordSummary, parse_since
from noa_lib.records.metadata import read_record_metadata

T0 = datetime(2026, 11, 26, 22, 15, tzinfo=UTC)


def make_meta(
    n: int,
    *,
    runbook: str = "monitoring/database_health",
    at: datetime = T0,
    status: str = "succeeded",
    target: str = "sandbox",
    trigger: str = "manual",
    outcome: str | None = "ok",
    figures: dict[str, Any] | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    run_id = run_id or f"r-{at:%Y%m%dT%H%M%SZ}-{n:06x}"
    rel = f"{runbook}/{at:%Y%m%dT%H%M%SZ}_{run_id}.ipynb"
    return {
        "schema": 1,
        "run_id": run_id,
        "runbook": runbook,
        "area": runbook.split("/")[0],
        "source": {"path": f"notebooks/{runbook}.ipynb", "sha256": "0" * 64},
        "git_commit": "abc123",
        "target": target,
        "operator": "root@host",
        "trigger": {"kind": trigger, "fingerprint": None},
        "started_at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "ended_at": (at + timedelta(seconds=4)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "duration_s": 4.2,
        "status": status,
        "exit_code": 0 if status == "succeeded" else 1,
        "error": None,
        "parameters": {"target": target},
        "outcome": {
            "status": outcome,
            "summary": f"run {n}",
            "figures": figures if figures is not None else {"cache_hit_pct": 99.0},
            "findings": [],
        },
        "timeline": [],
        "record": {"ipynb": rel, "html": rel.removesuffix(".ipynb") + ".html"},
    }


def write_record(root: Path, meta: dict[str, Any], *, cells: list[Any] | None = None) -> Path:
    """A record notebook laid out as nbformat writes it (indent=1, sorted keys)."""
    path = root / meta["record"]["ipynb"]
    path.parent.mkdir(parents=True, exist_ok=True)
    notebook = {
        "cells": cells or [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": ["# x"]}],
        "metadata": {"kernelspec": {"name": "python3"}, "noa": meta},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1, sort_keys=True) + "\n")
    return path


@pytest.fixture
def index(tmp_path: Path) -> RecordIndex:
    return RecordIndex(tmp_path)


def ids(records: list[RecordSummary]) -> list[str]:
    return [r.run_id for r in records]


# -- add and query -------------------------------------------------------------------------------


def test_index_file_is_wal_with_schema_version_and_indexes(index: RecordIndex) -> None:
    index.add(make_meta(1))
    conn = sqlite3.connect(index.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    finally:
        conn.close()
    assert {"records_runbook_started", "records_status_started", "records_started"} <= names


def test_query_filters(index: RecordIndex) -> None:
    metas = [
        make_meta(1, at=T0 - timedelta(days=10)),
        make_meta(2, at=T0 - timedelta(days=2), status="failed", outcome="critical"),
        make_meta(3, at=T0 - timedelta(days=1), runbook="backup/validate_backup", trigger="cron"),
        make_meta(4, at=T0, target="staging", trigger="alert"),
    ]
    for meta in metas:
        index.add(meta)
    r1, r2, r3, r4 = (m["run_id"] for m in metas)
    assert ids(index.query(runbook="monitoring/database_health")) == [r4, r2, r1]
    assert ids(index.query(status="failed")) == [r2]
    assert ids(index.query(since=T0 - timedelta(days=3))) == [r4, r3, r2]
    assert ids(index.query(since=(T0 - timedelta(days=3)).replace(tzinfo=None))) == [r4, r3, r2]
    assert ids(index.query(target="staging")) == [r4]
    assert ids(index.query(trigger="cron")) == [r3]
    assert ids(index.query(runbook="monitoring/database_health", status="succeeded")) == [r4, r1]
    assert index.query(runbook="nope/none") == []


def test_query_newest_first_and_limit(index: RecordIndex) -> None:
    metas = [make_meta(i, at=T0 + timedelta(minutes=(i * 7) % 10)) for i in range(10)]
    for meta in metas:
        index.add(meta)
    newest_first = [m["run_id"] for m in sorted(metas, key=lambda m: m["started_at"], reverse=True)]
    assert ids(index.query(limit=None)) == newest_first
    assert ids(index.query(limit=3)) == newest_first[:3]
    assert len(index.query()) == 10
    assert index.query(limit=0) == []
    with pytest.raises(ParameterError):
        index.query(limit=-1)


def test_summary_fields(index: RecordIndex) -> None:
    meta = make_meta(7, status="failed", outcome="warning", trigger="alert")
    index.add(meta)
    (summary,) = index.query()
    assert summary == RecordSummary(
        run_id=meta["run_id"],
        runbook="monitoring/database_health",
        target="sandbox",
        status="failed",
        outcome_status="warning",
        started_at=T0,
        duration_s=4.2,
        operator="root@host",
        trigger="alert",
        path=meta["record"]["ipynb"],
        html=meta["record"]["html"],
        summary="run 7",
    )
    assert summary.started_at.tzinfo is not None


def test_add_upserts(index: RecordIndex) -> None:
    meta = make_meta(1, status="failed")
    index.add(meta)
    index.add({**meta, "status": "succeeded"})
    assert [r.status for r in index.query()] == ["succeeded"]


def test_add_rejects_metadata_without_run_id(index: RecordIndex) -> None:
    meta = make_meta(1)
    del meta["run_id"]
    with pytest.raises(ValueError, match="run_id"):
        index.add(meta)


def test_missing_root_reads_empty_and_is_not_created(tmp_path: Path) -> None:
    index = RecordIndex(tmp_path / "absent")
    assert index.query() == []
    assert index.get("r-1") is None
    assert index.rebuild() == 0
    assert list(index.figures("a/b").columns) == [
        "run_id",
        "started_at",
        "status",
        "outcome_status",
    ]
    assert not (tmp_path / "absent").exists()


# -- get -----------------------------------------------------------------------------------------


def test_get_by_id_and_prefix(index: RecordIndex) -> None:
    a = make_meta(0xAAA, run_id="r-20261126T221500Z-3fa2c1")
    b = make_meta(0xBBB, run_id="r-20261126T221500Z-3fb000")
    c = make_meta(0xCCC, run_id="r-20261127T080000Z-000001")
    for meta in (a, b, c):
        index.add(meta)
    assert index.get(a["run_id"]) == a
    assert index.get("r-20261126T221500Z-3fa") == a
    assert index.get("r-20261127") == c
    assert index.get("r-2027") is None
    with pytest.raises(ParameterError) as excinfo:
        index.get("r-20261126T2215")
    assert a["run_id"] in str(excinfo.value) and b["run_id"] in str(excinfo.value)
    with pytest.raises(ParameterError):
        index.get("  ")


def test_exact_id_wins_over_longer_ids_with_it_as_prefix(index: RecordIndex) -> None:
    index.add(make_meta(1, run_id="r-1"))
    index.add(make_meta(2, run_id="r-10"))
    found = index.get("r-1")
    assert found is not None and found["run_id"] == "r-1"


# -- rebuild -------------------------------------------------------------------------------------


def test_rebuild_finds_records_written_without_the_index(tmp_path: Path) -> None:
    metas = [make_meta(i, at=T0 + timedelta(hours=i)) for i in range(5)]
    for meta in metas:
        write_record(tmp_path, meta)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "plain.ipynb").write_text(json.dumps({"cells": [], "metadata": {}}))
    checkpoints = tmp_path / "monitoring" / ".ipynb_checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "x-checkpoint.ipynb").write_text("{}")
    index = RecordIndex(tmp_path)
    assert index.rebuild() == 5
    assert sorted(ids(index.query())) == sorted(m["run_id"] for m in metas)
    assert index.get(metas[2]["run_id"]) == metas[2]


def test_rebuild_uses_the_file_location_and_drops_deleted_records(index: RecordIndex) -> None:
    kept = make_meta(1)
    gone = make_meta(2, at=T0 + timedelta(minutes=1))
    moved = make_meta(3, at=T0 + timedelta(minutes=2))
    write_record(index.root, kept)
    index.add(kept)
    index.add(gone)  # indexed, but its file never existed
    moved_path = index.root / "archive" / "x" / "moved.ipynb"
    moved_path.parent.mkdir(parents=True)
    write_record(index.root, moved).rename(moved_path)
    assert index.rebuild() == 2
    assert {r.run_id: (r.path, r.html) for r in index.query()} == {
        kept["run_id"]: (kept["record"]["ipynb"], kept["record"]["html"]),
        moved["run_id"]: ("archive/x/moved.ipynb", "archive/x/moved.html"),
    }


def test_rebuild_skips_corrupt_notebooks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = make_meta(1)
    write_record(tmp_path, good)
    bad_dir = tmp_path / "monitoring" / "database_health"
    (bad_dir / "garbage.ipynb").write_text("this is not json")
    truncated = write_record(tmp_path, make_meta(2, at=T0 + timedelta(hours=1)))
    truncated.write_text(truncated.read_text()[:-40])
    (bad_dir / "list.ipynb").write_text("[1, 2]")
    (bad_dir / "binary.ipynb").write_bytes(b"\xff\xfe\x00garbage")
    no_run_id = make_meta(3, at=T0 + timedelta(hours=2))
    del no_run_id["run_id"]
    write_record(tmp_path, {**no_run_id, "record": {"ipynb": "monitoring/database_health/n.ipynb"}})
    index = RecordIndex(tmp_path)
    with caplog.at_level(logging.WARNING, logger="noa_lib.records.index"):
        assert index.rebuild() == 1
    assert ids(index.query()) == [good["run_id"]]
    warned = caplog.text
    for name in ("garbage.ipynb", truncated.name, "list.ipynb", "binary.ipynb", "n.ipynb"):
        assert name in warned


def test_missing_index_is_rebuilt_by_query(tmp_path: Path) -> None:
    meta = make_meta(1)
    write_record(tmp_path, meta)
    index = RecordIndex(tmp_path)
    assert not index.path.exists()
    assert ids(index.query()) == [meta["run_id"]]
    assert index.path.exists()


def test_add_with_missing_index_also_indexes_existing_files(tmp_path: Path) -> None:
    old = make_meta(1)
    write_record(tmp_path, old)
    new = make_meta(2, at=T0 + timedelta(hours=1))
    write_record(tmp_path, new)
    RecordIndex(tmp_path).add(new)
    assert ids(RecordIndex(tmp_path).query()) == [new["run_id"], old["run_id"]]


@pytest.mark.parametrize(
    "damage",
    ["garbage", "empty", "old-schema", "no-records-table"],
)
def test_broken_index_is_rebuilt(tmp_path: Path, damage: str) -> None:
    meta = make_meta(1)
    write_record(tmp_path, meta)
    index = RecordIndex(tmp_path)
    index.rebuild()
    if damage == "garbage":
        index.path.write_bytes(b"definitely not an sqlite database" * 200)
    elif damage == "empty":
        index.path.write_bytes(b"")
    else:
        conn = sqlite3.connect(index.path)
        statement = (
            "UPDATE schema_version SET version = 0"
            if damage == "old-schema"
            else "DROP TABLE records"
        )
        conn.execute(statement)
        conn.commit()
        conn.close()
    assert ids(index.query()) == [meta["run_id"]]
    assert index.get(meta["run_id"]) == meta
    conn = sqlite3.connect(index.path)
    assert conn.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


def test_corrupt_index_is_rebuilt_by_add(tmp_path: Path) -> None:
    old, new = make_meta(1), make_meta(2, at=T0 + timedelta(hours=1))
    write_record(tmp_path, old)
    index = RecordIndex(tmp_path)
    index.rebuild()
    index.path.write_bytes(b"\x00garbage" * 512)
    write_record(tmp_path, new)
    index.add(new)
    assert ids(index.query()) == [new["run_id"], old["run_id"]]


# -- reading record files ------------------------------------------------------------------------


def test_read_record_metadata_large_and_compact_notebooks(tmp_path: Path) -> None:
    meta = make_meta(1)
    big_output = {"output_type": "stream", "name": "stdout", "text": ["x" * 1000] * 600}
    cells = [{"cell_type": "code", "metadata": {"noa": "decoy"}, "outputs": [big_output]}]
    big = write_record(tmp_path, meta, cells=cells)
    assert big.stat().st_size > 512 * 1024
    assert read_record_metadata(big) == meta
    compact = tmp_path / "compact.ipynb"
    compact.write_text(json.dumps({"cells": [], "metadata": {"noa": meta}, "nbformat": 4}))
    assert read_record_metadata(compact) == meta
    huge_meta = {**meta, "timeline": [{"kind": "x", "summary": "y" * 1000}] * 400}
    assert read_record_metadata(write_record(tmp_path, huge_meta)) == huge_meta
    plain = tmp_path / "plain.ipynb"
    plain.write_text(json.dumps({"cells": [], "metadata": {"kernelspec": {}}}, indent=1))
    assert read_record_metadata(plain) is None


# -- figures -------------------------------------------------------------------------------------


def test_figures_dataframe(index: RecordIndex) -> None:
    rb = "backup/validate_backup"
    index.add(make_meta(1, runbook=rb, at=T0, figures={"rpo_s": 600, "rto_s": 40.5}))
    index.add(make_meta(2, runbook=rb, at=T0 - timedelta(days=1), figures={"rpo_s": 900}))
    index.add(
        make_meta(3, runbook=rb, at=T0 + timedelta(days=1), status="failed", outcome="critical",
                  figures={"rpo_s": 86400, "status": "x"})
    )  # fmt: skip
    index.add(make_meta(4, runbook="monitoring/database_health", figures={"other": 1}))
    frame = index.figures(rb)
    assert list(frame.columns) == [
        "run_id",
        "started_at",
        "status",
        "outcome_status",
        "rpo_s",
        "rto_s",
        "figure_status",
    ]
    assert list(frame["rpo_s"]) == [900, 600, 86400]
    assert frame["rto_s"].isna().tolist() == [True, False, True]
    assert frame["rto_s"][1] == 40.5
    assert list(frame["status"]) == ["succeeded", "succeeded", "failed"]
    assert list(frame["outcome_status"]) == ["ok", "ok", "critical"]
    assert frame["started_at"][1] == T0
    assert str(frame["started_at"].dt.tz) == "UTC"
    recent = index.figures(rb, since=T0)
    assert len(recent) == 2
    empty = index.figures("nope/none")
    assert list(empty.columns) == ["run_id", "started_at", "status", "outcome_status"]
    assert empty.empty


# -- parse_since ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", T0 - timedelta(days=7)),
        ("12h", T0 - timedelta(hours=12)),
        ("30m", T0 - timedelta(minutes=30)),
        ("2w", T0 - timedelta(weeks=2)),
        (" 3D ", T0 - timedelta(days=3)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T08:00Z", datetime(2026, 11, 1, 8, tzinfo=UTC)),
        ("2026-11-01T08:00:00+02:00", datetime(2026, 11, 1, 6, tzinfo=UTC)),
        ("2026-11-01 08:00", datetime(2026, 11, 1, 8, tzinfo=UTC)),
    ],
)
def test_parse_since_forms(text: str, expected: datetime) -> None:
    parsed = parse_since(text, now=T0)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_parse_since_relative_to_now() -> None:
    before = datetime.now(UTC)
    parsed = parse_since("1h")
    assert before - timedelta(hours=1, seconds=1) <= parsed <= datetime.now(UTC)


@pytest.mark.parametrize(
    "text", ["", "7", "7y", "d7", "-3d", "yesterday", "2026-13-01", "1.5h", "99999999999d"]
)
def test_parse_since_errors(text: str) -> None:
    with pytest.raises(ParameterError) as excinfo:
        parse_since(text)
    message = str(excinfo.value)
    assert "--since" in message and "7d" in message and "ISO" in message
    assert excinfo.value.name == "--since"


# -- concurrency ---------------------------------------------------------------------------------


def test_concurrent_adds_from_threads(index: RecordIndex) -> None:
    index.add(make_meta(0))  # create the index; the threads then contend on writes only
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            own = RecordIndex(index.root) if offset % 2 else index  # shared and separate objects
            for i in range(25):
                own.add(make_meta(offset * 100 + i + 1, at=T0 + timedelta(seconds=i)))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(index.query(limit=None)) == 1 + 8 * 25


_WORKER = """
import json, sys
from datetime import timedelta
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from test_index import T0, make_meta, write_record
from noa_lib.records.index import RecordIndex
root, worker = Path(sys.argv[1]), int(sys.argv[2])
index = RecordIndex(root)
for i in range(20):
    meta = make_meta(worker * 1000 + i, at=T0 + timedelta(minutes=i))
    write_record(root, meta)  # the record is in place before add(), as the runner does it
    index.add(meta)
"""


def test_concurrent_adds_from_processes_starting_without_an_index(tmp_path: Path) -> None:
    for i in range(30):  # records from before, not in any index yet
        write_record(tmp_path, make_meta(50_000 + i, at=T0 - timedelta(days=1, minutes=i)))
    here = str(Path(__file__).parent)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(tmp_path), str(n), here],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(1, 6)
    ]
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    index = RecordIndex(tmp_path)
    assert index.path.exists()
    assert len(index.query(limit=None)) == 30 + 5 * 20
    assert index.rebuild() == 30 + 5 * 20


def test_records_of_an_incident_and_an_index_of_schema_1_upgrades(index: RecordIndex) -> None:
    """The incident column answers ``reports list --incident``; an index written before it
    (schema 1, no such column) is rebuilt from the files, not queried blindly."""
    ours = {**make_meta(1), "incident": "INC-20261204-0231"}
    other = {**make_meta(2, at=T0 + timedelta(minutes=1)), "incident": "INC-20261204-0232"}
    for meta in (ours, other, make_meta(3, at=T0 + timedelta(minutes=2))):
        write_record(index.root, meta)
        index.add(meta)
    [found] = index.query(incident="INC-20261204-0231")
    assert found.run_id == ours["run_id"] and found.incident == "INC-20261204-0231"
    assert len(index.query()) == 3
    conn = sqlite3.connect(index.path)
    conn.execute("UPDATE schema_version SET version = 1")
    conn.execute("DROP INDEX records_incident_started")
    conn.execute("ALTER TABLE records DROP COLUMN incident")
    conn.commit()
    conn.close()
    assert ids(index.query(incident="INC-20261204-0232")) == [other["run_id"]]
