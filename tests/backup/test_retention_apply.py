"""Retention against the sandbox's real S3 (SeaweedFS): a private versioned bucket with fake dumps,
base backups and WAL laid out as the backup runbooks write them; dry run, confirm, apply."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from noa_lib.clients.s3 import client
from noa_lib.clients.s3_delete import DeleteError, DeleteResult
from noa_lib.config import Target
from noa_lib.errors import PreconditionFailed, UnsafeActionRefused
from noa_lib.ops.backup.catalog import list_dumps
from noa_lib.ops.backup.retention import RetentionItem, RetentionPolicy, plan_retention
from noa_lib.ops.backup.retention_apply import (
    DeletionReport,
    backup_retention,
    delete_in_safe_order,
    deletion_budget,
    retention_delete_plan,
)
from noa_lib.ops.backup.retention_items import retention_items
from noa_lib.ops.findings import Status
from noa_lib.ops.safety import apply_plan
from noa_lib.records.runner import ExitCode, RunRequest, run
from noa_lib.show.retention import gaps_frame, retention_frame, retention_table

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

SYSTEM = "7000000000000000042"
SEG = 16 << 20
WAL_STEP = timedelta(hours=6)
# the plan's "now" lies 3 days after the objects were written, so today's orphans are old enough
NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
EPOCH = NOW - timedelta(days=50)
POLICY = RetentionPolicy(daily_days=30, weekly_days=90, monthly_days=365, pitr_window_days=7,
                         keep_min=3, grace_hours=48)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def seg_name(n: int) -> str:
    return f"00000001{n >> 8:08X}{n & 0xFF:08X}"


def seg_at(moment: datetime) -> int:
    return int((moment - EPOCH) / WAL_STEP) + 2


def dump_objects(at: datetime, body: bytes) -> dict[str, bytes]:
    prefix = f"dumps/noa/{stamp(at)}-full/"
    manifest = {
        "schema": 1, "kind": "full", "database": "noa", "object_key": prefix + "dump.pgdump",
        "server_version": "15.8", "pg_dump_version": "15.8", "started_at": iso(at),
        "ended_at": iso(at + timedelta(minutes=3)), "duration_s": 180.0,
        "size_bytes": len(body), "sha256": hashlib.sha256(body).hexdigest(), "tables": {},
        "max_timestamps": {}, "tool_versions": {"pg_dump": "15.8"}, "sse": None,
        "target": "sandbox",
    }
    return {prefix + "dump.pgdump": body, prefix + "manifest.json": json.dumps(manifest).encode()}


def base_objects(at: datetime, body: bytes) -> dict[str, bytes]:
    prefix = f"basebackups/{SYSTEM}/{stamp(at)}/"
    start, stop = seg_at(at), seg_at(at) + 1
    manifest = {
        "schema": 1, "kind": "basebackup", "system_identifier": SYSTEM,
        "object_key": prefix + "base.tar.gz", "objects": {"base.tar.gz": {"size_bytes": len(body)}},
        "start_lsn": f"0/{start * SEG:X}", "stop_lsn": f"0/{stop * SEG + 0x100:X}",
        "start_wal_segment": seg_name(start), "stop_wal_segment": seg_name(stop), "timeline": 1,
        "wal_segment_size": SEG, "started_at": iso(at), "ended_at": iso(at + timedelta(minutes=5)),
        "size_bytes": len(body), "sha256": hashlib.sha256(body).hexdigest(),
        "server_version": "15.8",
    }
    return {prefix + "base.tar.gz": body, prefix + "manifest.json": json.dumps(manifest).encode()}


def layout() -> dict[str, bytes]:
    objects: dict[str, bytes] = {}
    for back in range(45):  # nightly dumps
        at = (NOW - timedelta(days=back)).replace(hour=2, minute=0, second=0)
        objects.update(dump_objects(at, f"dump {back}".encode() * 10))
    orphan = f"dumps/noa/{stamp(NOW - timedelta(days=3, hours=1))}-full/dump.pgdump"
    objects[orphan] = b"interrupted upload"
    broken = f"dumps/noa/{stamp(NOW - timedelta(days=3, hours=2))}-full/"
    objects[broken + "dump.pgdump"] = b"x"
    objects[broken + "manifest.json"] = b"{ not json"
    for week in range(6):  # weekly base backups
        at = (NOW - timedelta(weeks=week, days=1)).replace(hour=1, minute=0, second=0)
        objects.update(base_objects(at, f"base {week}".encode() * 20))
    objects[f"basebackups/{SYSTEM}/{stamp(NOW - timedelta(days=4))}/base.tar.gz"] = b"no manifest"
    for n in range(seg_at(EPOCH), seg_at(NOW) + 1):
        objects[f"wal/{SYSTEM}/{seg_name(n)}"] = b"wal"
    objects[f"wal/{SYSTEM}/00000002.history"] = b"1\t0/5000000\tno recovery target specified\n"
    first_base = seg_at((NOW - timedelta(weeks=5, days=1)).replace(hour=1, minute=0, second=0))
    objects[f"wal/{SYSTEM}/{seg_name(first_base)}.00000028.backup"] = b"label"
    return objects


@pytest.fixture
def bucket_target(sandbox_target: Target) -> Iterator[Target]:
    """The sandbox target pointed at a private, versioned bucket filled with :func:`layout`."""
    assert sandbox_target.s3 is not None
    name = f"noa-retention-test-{uuid.uuid4().hex[:8]}"
    settings = replace(sandbox_target.s3, backup_bucket=name)
    s3 = client(settings)
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    try:
        for key, body in layout().items():
            s3.put_object(Bucket=name, Key=key, Body=body)
        yield replace(sandbox_target, s3=settings)
    finally:
        versions = s3.get_paginator("list_object_versions").paginate(Bucket=name)
        for page in versions:
            doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                      for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if doomed:
                s3.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})
        s3.delete_bucket(Bucket=name)
        s3.close()


def listing(target: Target) -> set[str]:
    assert target.s3 is not None
    s3 = client(target.s3)
    try:
        keys: set[str] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=target.s3.backup_bucket):
            keys |= {o["Key"] for o in page.get("Contents", [])}
        return keys
    finally:
        s3.close()


def test_items_mirror_the_catalogs(bucket_target: Target) -> None:
    items = retention_items(bucket_target)
    by_kind: dict[tuple[str, bool], int] = {}
    for item in items:
        by_kind[(item.kind, item.valid)] = by_kind.get((item.kind, item.valid), 0) + 1
    wal_count = seg_at(NOW) - seg_at(EPOCH) + 1
    assert by_kind == {("dump", True): 45, ("dump", False): 2, ("basebackup", True): 6,
                       ("basebackup", False): 1, ("wal", True): wal_count + 2}
    stored = listing(bucket_target)
    assert {k for i in items for k in i.object_keys} == stored  # every object belongs to an item
    for item in items:
        if item.kind != "wal" and any(k.endswith("manifest.json") for k in item.object_keys):
            assert item.object_keys[0].endswith("/manifest.json"), item  # manifest first
    broken = next(i for i in items if i.kind == "dump" and not i.valid and "manifest" in i.note
                  and "invalid" in i.note)
    assert broken.series == "noa/full"


def test_dry_run_deletes_nothing_and_apply_deletes_exactly_the_plan(bucket_target: Target) -> None:
    before = listing(bucket_target)
    plan = backup_retention(bucket_target, POLICY, now=NOW)
    doomed = plan.deleted
    kinds = {(d.item.kind, d.item.valid) for d in doomed}
    assert {("dump", True), ("dump", False), ("basebackup", False), ("wal", True)} <= kinds
    assert deletion_budget(plan, 50).status == Status.OK
    frame = retention_frame(plan)
    assert set(frame["action"]) == {"keep", "delete"} and frame["why"].str.len().min() > 0
    assert len(frame) < 100  # WAL folded into runs
    assert retention_table(plan).data.shape == frame.shape
    assert gaps_frame(plan).empty

    delete = retention_delete_plan(bucket_target, plan)
    assert not delete.empty and any(c.field == "wal" for c in delete.changes)
    dry = apply_plan(delete, dry_run=True)
    assert not dry.applied and listing(bucket_target) == before

    guarded = retention_delete_plan(replace(bucket_target, protected=True), plan)
    with pytest.raises(UnsafeActionRefused, match="protected"):
        apply_plan(guarded, dry_run=False)
    assert listing(bucket_target) == before

    applied = apply_plan(delete, dry_run=False)
    report = applied.result
    assert isinstance(report, DeletionReport) and not report.errors and not report.skipped
    expected = before - {k for d in doomed for k in d.item.object_keys}
    assert listing(bucket_target) == expected
    assert sorted(report.items_deleted) == sorted(d.item.key for d in doomed)

    again = backup_retention(bucket_target, POLICY, now=NOW)
    assert again.deleted == ()
    newest = max((d.item for d in plan.kept if d.item.kind == "dump"),
                 key=lambda i: i.created_at)
    assert list_dumps(bucket_target)[0].prefix == newest.key


def test_the_deletion_budget_refuses_before_deleting(bucket_target: Target) -> None:
    before = listing(bucket_target)
    plan = backup_retention(bucket_target, POLICY, now=NOW)
    assert deletion_budget(plan, 1).status == Status.WARNING
    with pytest.raises(PreconditionFailed, match="max_delete_percent=1"):
        apply_plan(retention_delete_plan(bucket_target, plan, max_delete_percent=1),
                   dry_run=False)
    assert listing(bucket_target) == before


def test_young_orphans_survive_the_grace_period(bucket_target: Target) -> None:
    plan = backup_retention(bucket_target, replace(POLICY, grace_hours=24 * 5), now=NOW)
    assert all(d.keep for d in plan.decisions if not d.item.valid)


def test_the_runbook_shows_then_applies_through_the_runner(
    bucket_target: Target, reports_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bucket_target.s3 is not None
    monkeypatch.setenv("NOA_CONFIG", str(ROOT / "noa.toml"))
    monkeypatch.delenv("NOA_NOTEBOOKS_DIR", raising=False)
    monkeypatch.setenv("NOA_TARGET__SANDBOX__S3__BACKUP_BUCKET", bucket_target.s3.backup_bucket)
    before = listing(bucket_target)
    dry = run(RunRequest("backup/retention", {}, target="sandbox", html=False))
    assert dry.exit_code == ExitCode.SUCCEEDED, dry.metadata.get("error")
    figures = dry.metadata["outcome"]["figures"]
    assert figures["deleted"] > 0 and figures["applied"] is False
    assert listing(bucket_target) == before
    assert [e["kind"] for e in dry.metadata["timeline"]] == ["dry-run"]

    applied = run(RunRequest("backup/retention", {"dry_run": "false"}, target="sandbox",
                              html=False))
    assert applied.exit_code == ExitCode.SUCCEEDED, applied.metadata.get("error")
    assert applied.metadata["outcome"]["figures"]["applied"] is True
    assert [e["kind"] for e in applied.metadata["timeline"]] == ["change-applied"]
    after = listing(bucket_target)
    assert after < before and len(before - after) >= figures["deleted"]
    assert backup_retention(bucket_target, POLICY).deleted == ()


# -- the order of deletions, with a store that refuses one manifest --------------------------------


def item(key: str, kind: Any, *objects: str, segment: str | None = None) -> RetentionItem:
    return RetentionItem(key, kind, NOW - timedelta(days=400), 10, True, series="s",
                         objects=objects, segment=segment)


def test_safe_order_manifests_first_wal_last_and_refusals_stop_the_rest() -> None:
    dump = item("dumps/noa/a/", "dump", "dumps/noa/a/manifest.json", "dumps/noa/a/dump.pgdump")
    base = item("basebackups/s/b/", "basebackup", "basebackups/s/b/manifest.json",
                "basebackups/s/b/base.tar.gz")
    wal = [item(f"wal/s/{seg_name(n)}", "wal", segment=seg_name(n)) for n in (7, 3, 5)]
    plan = plan_retention([dump, base, *wal], now=NOW, policy=RetentionPolicy(keep_min=1))
    doomed = [d for d in plan.deleted]
    calls: list[list[str]] = []

    def store(refuse: set[str]) -> Any:
        def delete(keys: Any) -> DeleteResult:
            calls.append(list(keys))
            errors = tuple(DeleteError(k, "AccessDenied", "no") for k in keys if k in refuse)
            return DeleteResult(tuple(k for k in keys if k not in refuse), errors)
        return delete

    # the newest valid backup of each series stays: add older ones to have something to delete
    older = [replace(dump, key="dumps/noa/0/", created_at=NOW - timedelta(days=900),
                     objects=("dumps/noa/0/manifest.json", "dumps/noa/0/dump.pgdump")),
             replace(base, key="basebackups/s/0/", created_at=NOW - timedelta(days=900),
                     objects=("basebackups/s/0/manifest.json", "basebackups/s/0/base.tar.gz"))]
    plan = plan_retention([dump, base, *wal, *older], now=NOW,
                          policy=RetentionPolicy(keep_min=1, daily_days=0, weekly_days=0,
                                                 monthly_days=0, pitr_window_days=0))
    doomed = list(plan.deleted)
    assert {d.item.key for d in doomed} >= {"dumps/noa/0/", "basebackups/s/0/"}
    report = delete_in_safe_order(doomed, store(set()))
    assert calls[0] == ["dumps/noa/0/manifest.json", "basebackups/s/0/manifest.json"]
    assert calls[1] == ["dumps/noa/0/dump.pgdump", "basebackups/s/0/base.tar.gz"]
    assert calls[2] == sorted(calls[2])  # WAL oldest first
    assert not report.errors and len(report.items_deleted) == len(doomed)

    calls.clear()
    report = delete_in_safe_order(doomed, store({"basebackups/s/0/manifest.json"}))
    assert calls[1] == ["dumps/noa/0/dump.pgdump"]  # the refused backup keeps its data
    assert len(calls) == 2, "no WAL is deleted while a base backup stays"
    assert report.errors[0].key == "basebackups/s/0/manifest.json"
    assert "basebackups/s/0/" in report.skipped
    assert "the store refused 1 key(s)" in report.describe()
