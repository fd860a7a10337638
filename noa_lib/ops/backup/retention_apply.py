"""Retention against a real bucket: plan from the catalogs, then delete in a safe order.

:func:`backup_retention` reads the bucket (:mod:`~noa_lib.ops.backup.retention_items`) and plans
(:func:`~noa_lib.ops.backup.retention.plan_retention`). :func:`retention_delete_plan` turns the
plan's deletions into an :class:`~noa_lib.ops.safety.Plan` for :func:`~noa_lib.ops.safety.
apply_plan` (dry run by default, ``confirm`` on protected targets). Its ``perform``:

1. refuses when the plan deletes more than ``max_delete_percent`` of the valid backups at once
   (a wrong clock or policy must not empty a bucket from cron);
2. deletes the **manifests** of every dump and base backup to go, in batches: from then on none of
   them is a backup for any reader, so an interruption never leaves a half-deleted backup that
   still looks valid;
3. deletes their remaining objects, only for the backups whose manifest is gone;
4. deletes WAL **last** and oldest first, and only when every base backup deletion succeeded (a
   base backup that stays keeps the WAL it needs), so the archive never gets a hole.

Keys the store refuses are collected; the step then fails naming them (what was deleted before
stays deleted and is listed in the error and the record's timeline).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from noa_lib.clients.s3_delete import MAX_BATCH, DeleteError, DeleteResult, delete_keys
from noa_lib.clients.s3_objects import open_bucket
from noa_lib.config import Target
from noa_lib.errors import ClientError, ParameterError, PreconditionFailed
from noa_lib.ops.backup.catalog import MANIFEST_NAME, require_s3
from noa_lib.ops.backup.retention import (
    Decision,
    RetentionPlan,
    RetentionPolicy,
    plan_retention,
)
from noa_lib.ops.backup.retention_items import retention_items
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.safety import Change, Plan

_ERRORS_SHOWN = 10


@dataclass(frozen=True)
class DeletionReport:
    """What ``perform`` deleted: backups and WAL objects gone, bytes freed, keys refused."""

    items_deleted: tuple[str, ...]
    objects_deleted: int
    bytes_freed: int
    errors: tuple[DeleteError, ...] = ()
    skipped: tuple[str, ...] = ()  # items not attempted because an earlier step failed

    def describe(self) -> str:
        text = (f"deleted {len(self.items_deleted)} item(s), {self.objects_deleted} object(s), "
                f"{self.bytes_freed / 1e6:.1f} MB")
        if self.errors:
            shown = ", ".join(f"{e.key} ({e.code})" for e in self.errors[:_ERRORS_SHOWN])
            more = f" and {len(self.errors) - _ERRORS_SHOWN} more" if len(self.errors) > 10 else ""
            text += f"; the store refused {len(self.errors)} key(s): {shown}{more}"
        if self.skipped:
            text += f"; {len(self.skipped)} item(s) not attempted"
        return text


def backup_retention(
    target: Target, policy: RetentionPolicy | None = None, *, now: datetime | None = None
) -> RetentionPlan:
    """The retention plan of ``target``'s backup bucket under ``policy`` (nothing is deleted).

    Raises:
        ConfigError: the target has no S3 section.
        NotFound / Unavailable / Timeout / ClientError: the store failed.
    """
    return plan_retention(retention_items(target), now=now, policy=policy)


def delete_percent(plan: RetentionPlan) -> float:
    """Share of the valid backups (dumps and base backups, not WAL) the plan deletes, in %."""
    valid = [d for d in plan.decisions if d.item.valid and d.item.kind != "wal"]
    if not valid:
        return 0.0
    return 100.0 * sum(1 for d in valid if not d.keep) / len(valid)


def deletion_budget(plan: RetentionPlan, max_delete_percent: float) -> Finding:
    """Whether the plan stays within ``max_delete_percent`` (warning when it would be refused)."""
    share = round(delete_percent(plan), 1)
    if share > max_delete_percent:
        return Finding(
            "retention: deletion budget", Status.WARNING,
            f"the plan deletes {share:g} % of the valid backups, more than max_delete_percent="
            f"{max_delete_percent:g}: applying is refused; check the clock and the policy, then "
            "raise max_delete_percent for this run if the plan is right",
            value=share, threshold=max_delete_percent, unit="%",
        )
    return Finding("retention: deletion budget", Status.OK,
                   f"deletes {share:g} % of the valid backups (at most {max_delete_percent:g} %)",
                   value=share, threshold=max_delete_percent, unit="%")


def retention_delete_plan(
    target: Target,
    plan: RetentionPlan,
    *,
    max_delete_percent: float = 50.0,
    batch_size: int = MAX_BATCH,
) -> Plan:
    """A safety :class:`Plan` deleting what ``plan`` deletes, in safe order (module docstring).

    ``perform`` returns a :class:`DeletionReport`.

    Raises:
        ConfigError: the target has no S3 section.
        ParameterError: ``max_delete_percent`` outside 0..100.
    """
    settings = require_s3(target)
    if not 0 <= max_delete_percent <= 100:
        raise ParameterError(
            f"max_delete_percent must be 0..100, not {max_delete_percent}",
            name="max_delete_percent", accepted="a percentage from 0 to 100",
        )
    doomed = plan.deleted
    bucket_name = settings.backup_bucket

    def perform() -> DeletionReport:
        share = delete_percent(plan)
        if share > max_delete_percent:
            raise PreconditionFailed(
                f"the plan deletes {share:.1f} % of the valid backups, more than "
                f"max_delete_percent={max_delete_percent:g}; nothing was deleted"
            )
        with open_bucket(settings) as bucket:
            report = delete_in_safe_order(doomed, lambda keys: delete_keys(
                bucket, keys, batch_size=batch_size))
        if report.errors:
            raise ClientError(f"retention on s3://{bucket_name}: {report.describe()}",
                              backend="S3")
        return report

    return Plan(
        action=f"delete backups outside the retention policy from s3://{bucket_name}",
        target=target,
        changes=tuple(changes(bucket_name, doomed)),
        perform=perform,
        rollback=(
            "deleted objects cannot be restored by this runbook; on a versioned bucket each stays "
            "as a noncurrent version until the lifecycle rule expires it: remove its delete "
            "marker to bring it back"
        ),
    )


def delete_in_safe_order(
    doomed: Sequence[Decision],
    delete: Callable[[Sequence[str]], DeleteResult],
) -> DeletionReport:
    """Delete the items of ``doomed`` through ``delete`` in the safe order of the module."""
    backups = [d.item for d in doomed if d.item.kind != "wal"]
    wal = sorted((d.item for d in doomed if d.item.kind == "wal"),
                 key=lambda i: (i.series, i.segment or "", i.key))
    errors: list[DeleteError] = []
    gone: list[str] = []
    freed = 0
    objects = 0
    manifests = {i.key: [k for k in i.object_keys if k.endswith("/" + MANIFEST_NAME)]
                 for i in backups}
    first = delete([k for keys in manifests.values() for k in keys])
    errors += first.errors
    objects += len(first.deleted)
    refused = {e.key for e in first.errors}
    unmade = [i for i in backups if not refused.intersection(manifests[i.key])]
    attempted = {i.key for i in unmade}
    rest = [k for i in unmade for k in i.object_keys if k not in manifests[i.key]]
    second = delete(rest)
    errors += second.errors
    objects += len(second.deleted)
    refused |= {e.key for e in second.errors}
    for item in unmade:
        if not refused.intersection(item.object_keys):
            gone.append(item.key)
            freed += item.size_bytes
    skipped = [i.key for i in backups if i.key not in attempted]
    if any(i.kind == "basebackup" and i.key not in gone for i in backups):
        skipped += [i.key for i in wal]  # a base backup stays: keep every WAL segment too
    else:
        third = delete([k for i in wal for k in i.object_keys])
        errors += third.errors
        objects += len(third.deleted)
        refused = {e.key for e in third.errors}
        for item in wal:
            if not refused.intersection(item.object_keys):
                gone.append(item.key)
                freed += item.size_bytes
    return DeletionReport(tuple(gone), objects, freed, tuple(errors), tuple(skipped))


def changes(bucket: str, doomed: Iterable[Decision]) -> list[Change]:
    """One change per backup to delete; WAL grouped into runs of consecutive segments."""
    out: list[Change] = []
    wal_run: list[Decision] = []

    def flush() -> None:
        if not wal_run:
            return
        first, last = wal_run[0].item, wal_run[-1].item
        name = first.key if len(wal_run) == 1 else f"{first.key} … {last.key.rsplit('/', 1)[-1]}"
        size = sum(d.item.size_bytes for d in wal_run)
        out.append(Change(f"s3://{bucket}/{name}", "wal",
                          f"{len(wal_run)} segment(s), {size / 1e6:.1f} MB",
                          f"deleted: {wal_run[0].reason}"))
        wal_run.clear()

    ordered = sorted(doomed, key=lambda d: (d.item.kind == "wal", d.item.kind, d.item.series,
                                            d.item.segment or "", d.item.key))
    for decision in ordered:
        item = decision.item
        if item.kind == "wal" and item.valid:
            if wal_run and (wal_run[-1].item.series != item.series
                            or wal_run[-1].reason != decision.reason):
                flush()
            wal_run.append(decision)
            continue
        flush()
        state = "valid backup" if item.valid else f"invalid ({item.note or 'no manifest'})"
        out.append(Change(
            f"s3://{bucket}/{item.key}", item.kind,
            f"{state}, {len(item.object_keys)} object(s), {item.size_bytes / 1e6:.1f} MB, "
            f"{item.created_at:%Y-%m-%d %H:%M}Z",
            f"deleted: {decision.reason}",
        ))
    flush()
    return out


__all__ = [
    "DeletionReport",
    "backup_retention",
    "changes",
    "delete_in_safe_order",
    "delete_percent",
    "deletion_budget",
    "retention_delete_plan",
]
