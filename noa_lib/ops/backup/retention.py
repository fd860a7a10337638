"""Grandfather-father-son retention of backups as a pure plan: what to keep, what to delete, why.

:func:`plan_retention` takes plain :class:`RetentionItem` values (built from the backup catalogs by
:mod:`noa_lib.ops.backup.retention_items`) and decides for each one, without any I/O:

* **GFS** per series (dumps per database and kind, base backups per cluster): the newest valid
  backup of every UTC day inside ``daily_days``, ISO week inside ``weekly_days`` and month inside
  ``monthly_days``, plus the ``keep_min`` newest valid backups whatever their age.
* **PITR**: per cluster, the newest valid base backup that ended before the PITR window starts
  (the oldest one when none did), every base backup inside the window, and every WAL segment from
  that anchor's start segment onwards; for every other kept base backup the WAL between its start
  and stop segments; timeline history files always.
* **Invalid objects** (no or broken manifest, odd WAL names) are deleted only once they are older
  than ``grace_hours``: a young one may be an upload still in progress (manifests are written
  last).

Invariants (property-tested in ``tests/backup/test_retention.py``): the newest valid backup of a
series is never deleted; nothing needed to restore any point inside the PITR window is deleted;
every kept item names its rules; the plan is deterministic (input order does not matter); planning
again after applying a plan, at the same ``now``, deletes nothing more.

Gaps are reported per series for complete days, weeks and months inside their windows, from the
series' first valid backup on ("no daily backup on 2026-11-12", "no monthly backup for 2026-03");
for base backups only weeks and months (WAL covers the days between them), plus a PITR window that
no base backup can reach.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from noa_lib.errors import ParameterError
from noa_lib.ops.backup.calendar import LEVELS, Level, as_utc, bucket_start, buckets, label
from noa_lib.ops.findings import Finding, Status

Kind = Literal["dump", "basebackup", "wal"]
KINDS: tuple[Kind, ...] = ("dump", "basebackup", "wal")
GapLevel = Literal["daily", "weekly", "monthly", "pitr", "none"]
RULE_NEWEST = "newest valid backup"
RULE_PITR = "needed for PITR window"
RULE_HISTORY = "timeline history file"
_UNITS: tuple[tuple[Level, str], ...] = (("daily", "day"), ("weekly", "week"), ("monthly", "month"))
_WAL_REASON = "before the segment the PITR window starts from, and needed by no kept base backup"
_GAPS_SHOWN = 8  # gaps spelled out in a finding's message; all of them are in its evidence


@dataclass(frozen=True)
class RetentionItem:
    """One backup (or WAL object) as retention sees it.

    ``key`` identifies it (a dump's or base backup's prefix, a WAL object's key); ``objects`` are
    the object keys that make it up, in safe deletion order (manifest first). ``series`` is what
    the GFS rules group by: ``<database>/<kind>`` for dumps, the system identifier for base backups
    and WAL. ``valid`` means a complete, parseable manifest (for WAL: a well-formed name); ``note``
    says why not. Base backups carry ``ended_at`` and the WAL segment names they need
    (``start_segment``..``stop_segment``); a WAL item carries its own ``segment`` (``None`` for a
    timeline ``.history`` file).
    """

    key: str
    kind: Kind
    created_at: datetime
    size_bytes: int
    valid: bool
    series: str = ""
    objects: tuple[str, ...] = ()
    note: str = ""
    ended_at: datetime | None = None
    start_segment: str | None = None
    stop_segment: str | None = None
    segment: str | None = None
    history: bool = False

    @property
    def object_keys(self) -> tuple[str, ...]:
        """The keys to delete for this item (``objects``, or ``key`` alone)."""
        return self.objects or (self.key,)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long to keep what (days are measured back from ``now``, buckets in UTC).

    Raises:
        ParameterError: a negative window, ``keep_min`` below 1 or a negative grace period.
    """

    daily_days: int = 30
    weekly_days: int = 90
    monthly_days: int = 365
    pitr_window_days: float = 7.0
    keep_min: int = 3
    grace_hours: float = 48.0

    def __post_init__(self) -> None:
        for name in ("daily_days", "weekly_days", "monthly_days", "pitr_window_days"):
            value = getattr(self, name)
            if value < 0:
                raise ParameterError(
                    f"{name} must be 0 or more days, not {value}", name=name, accepted=">= 0"
                )
        if self.keep_min < 1:
            raise ParameterError(
                f"keep_min must be at least 1, not {self.keep_min}", name="keep_min",
                accepted=">= 1",
            )
        if self.grace_hours < 0:
            raise ParameterError(
                f"grace_hours must be 0 or more, not {self.grace_hours}", name="grace_hours",
                accepted=">= 0",
            )

    def window_days(self, level: Level) -> int:
        """The window of a GFS level in days."""
        return {"daily": self.daily_days, "weekly": self.weekly_days,
                "monthly": self.monthly_days}[level]


@dataclass(frozen=True)
class Decision:
    """Keep or delete one item: the rules that keep it, or the reason it goes."""

    item: RetentionItem
    keep: bool
    rules: tuple[str, ...] = ()
    reason: str = ""

    @property
    def why(self) -> str:
        """The rules (kept) or the reason (deleted) as one line."""
        return "; ".join(self.rules) if self.keep else self.reason


@dataclass(frozen=True)
class Gap:
    """A bucket of a series without any valid backup (or a PITR window that cannot be covered)."""

    series: str
    kind: Kind
    level: GapLevel
    bucket: str
    message: str


@dataclass(frozen=True)
class RetentionPlan:
    """The outcome of :func:`plan_retention`: one decision per item (sorted) and the gaps."""

    now: datetime
    policy: RetentionPolicy
    decisions: tuple[Decision, ...]
    gaps: tuple[Gap, ...] = field(default=())

    @property
    def kept(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.keep)

    @property
    def deleted(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if not d.keep)

    @property
    def bytes_to_free(self) -> int:
        return sum(d.item.size_bytes for d in self.deleted)

    @property
    def figures(self) -> dict[str, int]:
        """Key figures for the record."""
        return {
            "items": len(self.decisions),
            "kept": len(self.kept),
            "deleted": len(self.deleted),
            "bytes_to_free": self.bytes_to_free,
            "gaps": len(self.gaps),
        }

    @property
    def findings(self) -> list[Finding]:
        """What the plan means for an SRE: sizes, gaps per series, missing backups."""
        return _findings(self)


def plan_retention(
    items: Iterable[RetentionItem],
    *,
    now: datetime | None = None,
    policy: RetentionPolicy | None = None,
) -> RetentionPlan:
    """Decide for every item whether to keep it (naming the rules) or delete it (with a reason).

    ``now`` defaults to the current UTC time (naive values are taken as UTC). The result does not
    depend on the order of ``items``.

    Raises:
        ParameterError: two items share a kind and key.
    """
    policy = policy or RetentionPolicy()
    moment = as_utc(now) if now is not None else datetime.now(UTC)
    ordered = sorted(items, key=_order)
    seen: set[tuple[str, str]] = set()
    for item in ordered:
        if (item.kind, item.key) in seen:
            raise ParameterError(f"items: {item.kind} {item.key!r} is listed twice", name="items")
        seen.add((item.kind, item.key))
    rules: dict[tuple[str, str], list[str]] = defaultdict(list)
    reasons: dict[tuple[str, str], str] = {}
    by_series: dict[tuple[Kind, str], list[RetentionItem]] = defaultdict(list)
    for item in ordered:
        by_series[(item.kind, item.series)].append(item)
    for (kind, _series), members in sorted(by_series.items()):
        if kind != "wal":
            _gfs(members, moment, policy, rules, reasons)
    systems = sorted({s for k, s in by_series if k in ("basebackup", "wal")})
    for system in systems:
        _pitr(by_series.get(("basebackup", system), []), by_series.get(("wal", system), []),
              moment, policy, rules)
    for item in ordered:
        if not item.valid:
            _invalid(item, moment, policy, rules, reasons)
    decisions = tuple(
        Decision(item, True, tuple(dict.fromkeys(rules[_id(item)])))
        if rules.get(_id(item))
        else Decision(item, False, (), reasons.get(_id(item), _WAL_REASON))
        for item in ordered
    )
    gaps = tuple(g for (kind, series), members in sorted(by_series.items()) if kind != "wal"
                 for g in _gaps(kind, series, members, moment, policy))
    gaps += tuple(g for system in systems
                  for g in _pitr_gaps(system, by_series.get(("basebackup", system), []),
                                      by_series.get(("wal", system), []), moment, policy))
    return RetentionPlan(moment, policy, decisions, gaps)


# -- rules -----------------------------------------------------------------------------------------


def _id(item: RetentionItem) -> tuple[str, str]:
    return (item.kind, item.key)


def _order(item: RetentionItem) -> tuple[int, str, datetime, str]:
    return (KINDS.index(item.kind), item.series, as_utc(item.created_at), item.key)


def _newest_first(members: Iterable[RetentionItem]) -> list[RetentionItem]:
    return sorted((m for m in members if m.valid),
                  key=lambda m: (as_utc(m.created_at), m.key), reverse=True)


def _gfs(
    members: Sequence[RetentionItem],
    now: datetime,
    policy: RetentionPolicy,
    rules: dict[tuple[str, str], list[str]],
    reasons: dict[tuple[str, str], str],
) -> None:
    valid = _newest_first(members)
    for rank, item in enumerate(valid[: policy.keep_min]):
        rules[_id(item)].append(
            RULE_NEWEST if rank == 0 else f"one of the {policy.keep_min} newest valid backups"
        )
    for level in LEVELS:
        start = now - timedelta(days=policy.window_days(level))
        chosen: set[str] = set()
        for item in valid:  # newest first: the first one seen in a bucket is its newest
            if as_utc(item.created_at) < start:
                continue
            bucket = label(level, item.created_at)
            if bucket not in chosen:
                chosen.add(bucket)
                rules[_id(item)].append(f"{level} {bucket}")
    for item in valid:
        reasons[_id(item)] = _gfs_reason(item, now, policy)


def _gfs_reason(item: RetentionItem, now: datetime, policy: RetentionPolicy) -> str:
    age = now - as_utc(item.created_at)
    for level, unit in _UNITS:
        if age <= timedelta(days=policy.window_days(level)):
            return f"not the newest valid backup of its {unit} ({label(level, item.created_at)})"
    return (f"older than every window (daily {policy.daily_days} d, weekly "
            f"{policy.weekly_days} d, monthly {policy.monthly_days} d)")


def _segno(name: str | None) -> int | None:
    """The position of a WAL segment (log and segment number, timeline ignored)."""
    if name is None or len(name) < 24:
        return None
    try:
        int(name[:8], 16)
        return int(name[8:24], 16)
    except ValueError:
        return None


def _ended(item: RetentionItem) -> datetime:
    return as_utc(item.ended_at or item.created_at)


def pitr_anchor(
    base_backups: Iterable[RetentionItem], window_start: datetime
) -> RetentionItem | None:
    """The base backup PITR starts from: the newest valid one that ended by ``window_start``,
    else the oldest valid one (points before it cannot be reached), else ``None``."""
    valid = [b for b in base_backups if b.valid]
    before = [b for b in valid if _ended(b) <= window_start]
    if before:
        return max(before, key=lambda b: (_ended(b), as_utc(b.created_at), b.key))
    if valid:
        return min(valid, key=lambda b: (_ended(b), as_utc(b.created_at), b.key))
    return None


def _pitr(
    base_backups: Sequence[RetentionItem],
    wal: Sequence[RetentionItem],
    now: datetime,
    policy: RetentionPolicy,
    rules: dict[tuple[str, str], list[str]],
) -> None:
    window_start = now - timedelta(days=policy.pitr_window_days)
    anchor = pitr_anchor(base_backups, window_start)
    stamp = window_start.strftime("%Y-%m-%d %H:%MZ")
    if anchor is not None:
        rules[_id(anchor)].append(f"{RULE_PITR} (start point for {stamp})")
        for base in base_backups:
            if base.valid and _ended(base) > window_start:
                rules[_id(base)].append(f"{RULE_PITR} (inside it)")
    first = _segno(anchor.start_segment) if anchor is not None else None
    # WAL ranges of every other kept base backup (GFS, keep_min): restorable on its own
    ranges = [
        (_segno(b.start_segment), _segno(b.stop_segment or b.start_segment), b.key)
        for b in base_backups
        if b.valid and rules.get(_id(b))
    ]
    for item in wal:
        if item.history:
            rules[_id(item)].append(RULE_HISTORY)
            continue
        if not item.valid:
            continue
        number = _segno(item.segment)
        if first is None:
            why = "no valid base backup" if anchor is None else "PITR anchor names no segment"
            rules[_id(item)].append(f"{RULE_PITR} ({why}: all WAL kept)")
            continue
        if number is None or number >= first:
            rules[_id(item)].append(RULE_PITR)
            continue
        for start, stop, key in ranges:
            if start is None or stop is None or start <= number <= stop:
                rules[_id(item)].append(f"needed by base backup {key}")
                break


def _invalid(
    item: RetentionItem,
    now: datetime,
    policy: RetentionPolicy,
    rules: dict[tuple[str, str], list[str]],
    reasons: dict[tuple[str, str], str],
) -> None:
    what = item.note or ("no manifest" if item.kind != "wal" else "not a WAL segment name")
    age = now - as_utc(item.created_at)
    if age < timedelta(hours=policy.grace_hours):
        rules[_id(item)].append(
            f"orphan: {what} (younger than the {policy.grace_hours:g} h grace period; "
            "may be an upload in progress)"
        )
    else:
        reasons[_id(item)] = f"orphan: {what}, older than the {policy.grace_hours:g} h grace period"


# -- gaps ------------------------------------------------------------------------------------------


def _gaps(
    kind: Kind, series: str, members: Sequence[RetentionItem], now: datetime,
    policy: RetentionPolicy,
) -> list[Gap]:
    valid = _newest_first(members)
    what = "backup" if kind == "dump" else "base backup"
    if not valid:
        return [Gap(series, kind, "none", "", f"no valid {what} at all in {series}")]
    oldest = as_utc(valid[-1].created_at)
    covered = {(level, label(level, m.created_at)) for m in valid for level in LEVELS}
    gaps: list[Gap] = []
    # base backups are usually weekly (WAL covers the days between): no daily gaps for them
    for level in LEVELS if kind == "dump" else LEVELS[1:]:
        window_start = now - timedelta(days=policy.window_days(level))
        first = max(window_start, bucket_start(level, oldest))
        for start, _end in buckets(level, first, now):
            name = label(level, start)
            if (level, name) in covered:
                continue
            text = f"no daily {what} on {name}" if level == "daily" else (
                f"no {level} {what} for {name}")
            gaps.append(Gap(series, kind, level, name, f"{series}: {text}"))
    return gaps


def _pitr_gaps(
    system: str, base_backups: Sequence[RetentionItem], wal: Sequence[RetentionItem],
    now: datetime, policy: RetentionPolicy,
) -> list[Gap]:
    if policy.pitr_window_days == 0 or not (base_backups or wal):
        return []
    window_start = now - timedelta(days=policy.pitr_window_days)
    anchor = pitr_anchor(base_backups, window_start)
    if anchor is None:
        return [Gap(system, "basebackup", "pitr", "",
                    f"{system}: no valid base backup: no point in time can be restored")]
    if _ended(anchor) > window_start:
        return [Gap(system, "basebackup", "pitr", window_start.strftime("%Y-%m-%d"),
                    f"{system}: the PITR window starts {window_start:%Y-%m-%d %H:%M}Z but the "
                    f"oldest base backup is consistent only from {_ended(anchor):%Y-%m-%d %H:%M}Z")]
    return []


# -- findings --------------------------------------------------------------------------------------


def _findings(plan: RetentionPlan) -> list[Finding]:
    policy = plan.policy
    deleted = plan.deleted
    findings = [
        Finding(
            "retention: plan",
            Status.OK,
            f"keep {len(plan.kept)} item(s), delete {len(deleted)} "
            f"({plan.bytes_to_free / 1e6:.1f} MB) under daily {policy.daily_days} d, weekly "
            f"{policy.weekly_days} d, monthly {policy.monthly_days} d, PITR "
            f"{policy.pitr_window_days:g} d, keep_min {policy.keep_min}",
            value=len(deleted),
            unit="items to delete",
            evidence={"figures": plan.figures, "policy": policy.__dict__},
        )
    ]
    if not plan.decisions:
        findings.append(Finding("retention: backups", Status.WARNING,
                                "no backups found in the bucket: nothing to keep or delete"))
    by_series: dict[tuple[str, str], list[Gap]] = defaultdict(list)
    for gap in plan.gaps:
        by_series[(gap.kind, gap.series)].append(gap)
    series = sorted({(d.item.kind, d.item.series) for d in plan.decisions if d.item.kind != "wal"})
    for kind, name in sorted(set(series) | set(by_series)):
        gaps = by_series.get((kind, name), [])
        check = f"retention gaps: {kind} {name}"
        if not gaps:
            periods = "day, week and month" if kind == "dump" else "week and month"
            findings.append(Finding(check, Status.OK, f"a valid backup in every {periods} of "
                                    "its windows", value=0, unit="gaps"))
            continue
        shown = "; ".join(g.message.split(": ", 1)[-1] for g in gaps[:_GAPS_SHOWN])
        more = f" and {len(gaps) - _GAPS_SHOWN} more" if len(gaps) > _GAPS_SHOWN else ""
        findings.append(Finding(check, Status.WARNING, f"{shown}{more}", value=len(gaps),
                                unit="gaps", evidence={"gaps": [g.message for g in gaps]}))
    return findings


__all__ = [
    "KINDS",
    "RULE_HISTORY",
    "RULE_NEWEST",
    "RULE_PITR",
    "Decision",
    "Gap",
    "Kind",
    "RetentionItem",
    "RetentionPlan",
    "RetentionPolicy",
    "pitr_anchor",
    "plan_retention",
]
