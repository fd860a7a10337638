"""Pure parts of dumps and drills: manifest validation, key layout, part sizes, require_ok."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from noa_lib.clients.s3_stream import MAX_PARTS, MIN_PART_SIZE, choose_part_size
from noa_lib.errors import ParameterError, StepFailed
from noa_lib.ops.backup.catalog import check_database_name, dump_prefix, parse_manifest
from noa_lib.ops.backup.scratch import check_scratch_name
from noa_lib.ops.backup.validate import named_prefix
from noa_lib.ops.findings import Finding, Status, require_ok

MiB = 1 << 20
KEY = "dumps/noa/20261126T020000Z-full/manifest.json"
GOOD: dict[str, Any] = {
    "schema": 1,
    "kind": "full",
    "database": "noa",
    "object_key": "dumps/noa/20261126T020000Z-full/dump.pgdump",
    "server_version": "15.18",
    "pg_dump_version": "15.18",
    "started_at": "2026-11-26T02:00:00.000000Z",
    "ended_at": "2026-11-26T02:00:04.500000Z",
    "duration_s": 4.5,
    "size_bytes": 1234,
    "sha256": "a" * 64,
    "tables": {"public.users": {"row_estimate": 10, "rows": 10}},
    "max_timestamps": {"public.users.created_at": "2026-11-26T01:59:00.000000Z"},
    "tool_versions": {"pg_dump": "15.18"},
    "sse": "AES256",
    "target": "prod",
}


def test_a_complete_manifest_parses() -> None:
    backup = parse_manifest(GOOD, manifest_key=KEY)
    assert backup.prefix == "dumps/noa/20261126T020000Z-full/"
    assert backup.keys == (KEY, GOOD["object_key"])
    assert backup.started_at == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert backup.tables["public.users"].rows == 10
    assert backup.age_hours(datetime(2026, 11, 27, 2, 0, tzinfo=UTC)) == 24
    assert backup.large_objects is None  # written before large objects were counted
    assert parse_manifest({**GOOD, "large_objects": 3}, manifest_key=KEY).large_objects == 3


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: m.pop("sha256"), "field 'sha256' is missing"),
        (lambda m: m.update(size_bytes="12"), "field 'size_bytes' has the wrong type"),
        (lambda m: m.update(schema=2), "schema 2 is not supported"),
        (lambda m: m.update(kind="incremental"), "kind 'incremental' is not one of"),
        (lambda m: m.update(kind="schema-only"), "does not match the key"),
        (lambda m: m.update(database="other"), "does not match the key"),
        (lambda m: m.update(object_key="elsewhere/dump.pgdump"), "object_key"),
        (lambda m: m.update(sha256="XYZ"), "sha256 is not 64 lowercase hex digits"),
        (lambda m: m.update(started_at="yesterday"), "not ISO 8601"),
        (lambda m: m.update(tables={"t": {}}), "no integer row_estimate"),
        (lambda m: m.update(sse=5), "sse must be a string or null"),
        (lambda m: m.update(large_objects=True), "large_objects must be a whole number"),
        (lambda m: m.update(large_objects=-1), "large_objects must be a whole number"),
    ],
)
def test_an_incomplete_or_inconsistent_manifest_is_refused(change: Any, reason: str) -> None:
    manifest = copy.deepcopy(GOOD)
    change(manifest)
    with pytest.raises(ValueError, match=reason):
        parse_manifest(manifest, manifest_key=KEY)


def test_keys_follow_the_shared_layout() -> None:
    moment = datetime(2026, 11, 26, 2, 0, 7, 999, tzinfo=UTC)
    assert dump_prefix("noa", moment, "schema-only") == "dumps/noa/20261126T020007Z-schema-only/"
    assert named_prefix("dumps/noa/20261126T020007Z-full/dump.pgdump") == (
        "dumps/noa/20261126T020007Z-full/"
    )
    assert named_prefix("dumps/noa/20261126T020007Z-full") == "dumps/noa/20261126T020007Z-full/"
    with pytest.raises(ParameterError, match="database 'no/pe' is not valid"):
        check_database_name("no/pe")
    with pytest.raises(ParameterError, match="not the source database"):
        check_scratch_name("noa", "noa")
    with pytest.raises(ParameterError):
        check_scratch_name("Drill; DROP", "noa")


def test_part_sizes_respect_s3_limits() -> None:
    assert choose_part_size(1 * MiB) == MIN_PART_SIZE
    assert choose_part_size(16 * MiB) == 16 * MiB
    huge = 400 * 1024**3  # 400 GiB: 16 MiB parts would need 25,600 parts
    size = choose_part_size(16 * MiB, huge)
    assert size % MiB == 0 and huge * 1.5 / size <= MAX_PARTS


def test_require_ok_names_every_failed_check() -> None:
    findings = [
        Finding("freshness", Status.OK, "fresh"),
        Finding("integrity", Status.CRITICAL, "sha256 differs"),
        Finding("restore", Status.SKIPPED, "not run"),
        Finding("sequences", Status.WARNING, "close"),
    ]
    with pytest.raises(StepFailed) as failed:
        require_ok(findings)
    assert str(failed.value) == "1 check failed: integrity (critical) — sha256 differs"
    with pytest.raises(StepFailed, match="2 checks failed: integrity .*; sequences"):
        require_ok(findings, fail_on=Status.WARNING)
    require_ok(findings[:1] + findings[2:3])
