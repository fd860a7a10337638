"""GFS retention as a pure plan: property-based invariants and example rules/gaps."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noa_lib.errors import ParameterError
from noa_lib.ops.backup.retention import (
    RULE_NEWEST,
    RetentionItem,
    RetentionPlan,
    RetentionPolicy,
    plan_retention,
)
from noa_lib.ops.findings import Status

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
SYSTEM = "7301234567890123456"
WAL_STEP = timedelta(hours=8)  # one WAL segment per 8 hours keeps two years of WAL small


# -- builders --------------------------------------------------------------------------------------


def seg_name(n: int, timeline: int = 1) -> str:
    return f"{timeline:08X}{n >> 8:08X}{n & 0xFF:08X}"


def seg_at(moment: datetime) -> int:
    """The WAL segment being written at ``moment`` in the synthetic cluster."""
    return int((moment - EPOCH) / WAL_STEP)


def dump(at: datetime, *, db: str = "noa", kind: str = "full", valid: bool = True,
         size: int = 1000) -> RetentionItem:
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    prefix = f"dumps/{db}/{stamp}-{kind}/"
    objects = (prefix + "manifest.json", prefix + "dump.pgdump") if valid else (
        prefix + "dump.pgdump",)
    return RetentionItem(prefix, "dump", at, size, valid, series=f"{db}/{kind}", objects=objects,
                         note="" if valid else "no manifest")


def base(at: datetime, *, valid: bool = True, minutes: int = 20) -> RetentionItem:
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    prefix = f"basebackups/{SYSTEM}/{stamp}/"
    ended = at + timedelta(minutes=minutes)
    return RetentionItem(
        prefix, "basebackup", at, 50_000, valid, series=SYSTEM,
        objects=(prefix + "manifest.json", prefix + "base.tar.gz"), ended_at=ended,
        start_segment=seg_name(seg_at(at)), stop_segment=seg_name(seg_at(ended)),
        note="" if valid else "no manifest",
    )


def wal(n: int) -> RetentionItem:
    name = seg_name(n)
    return RetentionItem(f"wal/{SYSTEM}/{name}", "wal", EPOCH + WAL_STEP * (n + 1), 16 << 20,
                         True, series=SYSTEM, segment=name)


def history(timeline: int) -> RetentionItem:
    return RetentionItem(f"wal/{SYSTEM}/{timeline:08X}.history", "wal", EPOCH, 42, True,
                         series=SYSTEM, history=True)


# -- random histories ------------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[RetentionItem], datetime, RetentionPolicy]:
    rnd: random.Random = draw(st.randoms(use_true_random=False))
    span_days = 730
    items: list[RetentionItem] = []
    for db, kind in (("noa", "full"), ("noa", "schema-only"), ("billing", "full")):
        count = draw(st.integers(0, 120))
        stamps = {EPOCH + timedelta(minutes=rnd.randrange(span_days * 24 * 60))
                  for _ in range(count)}
        for at in stamps:
            items.append(dump(at.replace(second=0), db=db, kind=kind,
                              valid=rnd.random() > 0.1))
    now = EPOCH + timedelta(minutes=draw(st.integers(0, (span_days + 60) * 24 * 60)))
    base_count = draw(st.integers(0, 60))
    base_times = {EPOCH + timedelta(hours=rnd.randrange(span_days * 24)) for _ in range(base_count)}
    items += [base(at, valid=rnd.random() > 0.1) for at in base_times]
    if rnd.random() < 0.8:  # usually WAL up to about now, from a random start, rarely a hole
        last = max(0, seg_at(now) + rnd.randrange(-3, 4))
        first = rnd.randrange(last + 1) if rnd.random() < 0.3 else 0
        hole = rnd.randrange(first, last + 1) if rnd.random() < 0.2 else -1
        items += [wal(n) for n in range(first, last + 1) if n != hole]
        items.append(history(2))
    policy = RetentionPolicy(
        daily_days=draw(st.integers(0, 60)),
        weekly_days=draw(st.integers(0, 180)),
        monthly_days=draw(st.integers(0, 500)),
        pitr_window_days=draw(st.sampled_from([0, 1, 7, 14, 45])),
        keep_min=draw(st.integers(1, 5)),
        grace_hours=draw(st.sampled_from([0, 24, 48])),
    )
    return items, now, policy


def kept_items(plan: RetentionPlan) -> list[RetentionItem]:
    return [d.item for d in plan.kept]


def restorable(items: list[RetentionItem], all_wal: set[int], point: datetime) -> bool:
    """Whether ``point`` can be restored from ``items``: a valid base backup consistent by then
    and every WAL segment that existed from its start up to the segment holding ``point``."""
    present = {int(i.segment[8:], 16) for i in items if i.kind == "wal" and i.segment}
    present = {(n >> 32) * 256 + (n & 0xFF) for n in present}
    for b in items:
        if b.kind != "basebackup" or not b.valid or b.ended_at is None or b.ended_at > point:
            continue
        start = seg_at(b.created_at)
        needed = {n for n in all_wal if start <= n <= seg_at(point)}
        if needed <= present:
            return True
    return False


# -- properties ------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.randoms(use_true_random=False))
def test_invariants_hold_for_random_histories(history_case, rnd) -> None:
    items, now, policy = history_case
    plan = plan_retention(items, now=now, policy=policy)
    by_key = {(d.item.kind, d.item.key): d for d in plan.decisions}
    assert len(plan.decisions) == len(items)

    # every kept item names a rule; every deleted one a reason
    for d in plan.decisions:
        assert (d.keep and d.rules and not d.reason) or (not d.keep and d.reason and not d.rules)

    # the newest valid backup of every series is never deleted
    series: dict[tuple[str, str], list[RetentionItem]] = defaultdict(list)
    for item in items:
        if item.kind != "wal" and item.valid:
            series[(item.kind, item.series)].append(item)
    for members in series.values():
        newest = max(members, key=lambda i: (i.created_at, i.key))
        decision = by_key[(newest.kind, newest.key)]
        assert decision.keep and RULE_NEWEST in decision.rules

    # invalid objects younger than the grace period stay
    for item in items:
        if not item.valid and now - item.created_at < timedelta(hours=policy.grace_hours):
            assert by_key[(item.kind, item.key)].keep

    # every point inside the PITR window that could be restored before still can be
    kept = kept_items(plan)
    all_wal = {seg_at(i.created_at) - 1 for i in items if i.kind == "wal" and i.segment}
    window_start = now - timedelta(days=policy.pitr_window_days)
    points = [window_start, now] + [
        window_start + (now - window_start) * rnd.random() for _ in range(5)
    ]
    for point in points:
        if restorable(items, all_wal, point):
            assert restorable(kept, all_wal, point), f"PITR to {point} lost"
    assert all(by_key[("wal", i.key)].keep for i in items if i.history)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.randoms(use_true_random=False))
def test_plan_is_deterministic_and_idempotent(history_case, rnd) -> None:
    items, now, policy = history_case
    plan = plan_retention(items, now=now, policy=policy)
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert plan_retention(shuffled, now=now, policy=policy) == plan
    again = plan_retention(kept_items(plan), now=now, policy=policy)
    assert again.deleted == ()
    assert [d.item for d in again.kept] == kept_items(plan)


# -- examples: GFS rules ---------------------------------------------------------------------------

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def nightly(days: int, *, skip: set[str] = frozenset()) -> list[RetentionItem]:  # type: ignore[assignment]
    out = []
    for back in range(days):
        at = (NOW - timedelta(days=back)).replace(hour=2, minute=0)
        if at.strftime("%Y-%m-%d") in skip or at.strftime("%Y-%m") in skip:
            continue
        out.append(dump(at))
    return out


def test_gfs_keeps_daily_weekly_monthly_and_names_the_rules() -> None:
    plan = plan_retention(nightly(400), now=NOW, policy=RetentionPolicy(keep_min=1))
    rules = {d.item.created_at.strftime("%Y-%m-%d"): d.rules for d in plan.kept}
    assert "daily 2026-11-20" in rules["2026-11-20"]
    assert rules["2026-11-26"][0] == RULE_NEWEST
    # Sunday 2026-11-08 is the newest backup of ISO week 45 and inside the daily window: both
    assert {"daily 2026-11-08", "weekly 2026-W45"} <= set(rules["2026-11-08"])
    assert "monthly 2026-10" in rules["2026-10-31"]
    assert rules["2026-09-06"] == ("weekly 2026-W36",)
    assert rules["2025-12-31"] == ("monthly 2025-12",)
    daily = [d for d in plan.kept if any(r.startswith("daily ") for r in d.rules)]
    assert len(daily) == 30  # 2026-10-28 02:00 is just outside 30 days before 11-26 12:00
    assert not any(r.startswith("weekly") for d in plan.kept for r in d.rules
                   if d.item.created_at < NOW - timedelta(days=90))
    assert min(d.item.created_at for d in plan.kept) >= NOW - timedelta(days=365)
    deleted = {d.item.created_at.strftime("%Y-%m-%d"): d.reason for d in plan.deleted}
    assert deleted["2026-09-05"] == "not the newest valid backup of its week (2026-W36)"
    assert deleted["2026-03-15"] == "not the newest valid backup of its month (2026-03)"
    assert deleted["2025-10-31"].startswith("older than every window")
    assert plan.gaps == ()
    assert all(f.status == Status.OK for f in plan.findings)


def test_keep_min_keeps_the_newest_backups_whatever_their_age() -> None:
    old = [dump(NOW - timedelta(days=800 + n)) for n in range(5)]
    plan = plan_retention(old, now=NOW, policy=RetentionPolicy(keep_min=3))
    assert [d.rules[0] for d in plan.kept] == [
        "one of the 3 newest valid backups", "one of the 3 newest valid backups", RULE_NEWEST]
    assert len(plan.deleted) == 2


def test_series_are_independent_and_invalid_backups_do_not_count() -> None:
    items = [dump(NOW - timedelta(days=2), db="billing"), dump(NOW - timedelta(hours=3),
             valid=False), dump(NOW - timedelta(days=500))]
    plan = plan_retention(items, now=NOW)
    newest = {d.item.series: d for d in plan.kept if RULE_NEWEST in d.rules}
    assert set(newest) == {"billing/full", "noa/full"}
    assert newest["noa/full"].item.created_at == NOW - timedelta(days=500)


def test_orphans_are_kept_during_the_grace_period_then_deleted() -> None:
    young = dump(NOW - timedelta(hours=5), valid=False)
    old = dump(NOW - timedelta(days=3), valid=False)
    plan = plan_retention([young, old, dump(NOW - timedelta(days=1))], now=NOW)
    decisions = {d.item.key: d for d in plan.decisions}
    assert decisions[young.key].keep
    assert decisions[young.key].rules[0].startswith("orphan: no manifest (younger than the 48 h")
    assert not decisions[old.key].keep
    assert decisions[old.key].reason == "orphan: no manifest, older than the 48 h grace period"


# -- examples: gaps --------------------------------------------------------------------------------


def test_gaps_name_the_missing_day_week_and_month() -> None:
    skip = {"2026-11-12", "2026-03"} | {f"2026-09-{d:02d}" for d in range(7, 14)}
    plan = plan_retention(nightly(400, skip=skip), now=NOW)
    messages = [g.message for g in plan.gaps]
    assert "noa/full: no daily backup on 2026-11-12" in messages
    assert "noa/full: no monthly backup for 2026-03" in messages
    assert "noa/full: no weekly backup for 2026-W37" in messages
    assert len(messages) == 3
    gap_finding = next(f for f in plan.findings if f.check == "retention gaps: dump noa/full")
    assert gap_finding.status == Status.WARNING and gap_finding.value == 3
    assert "no monthly backup for 2026-03" in gap_finding.message


def test_gaps_start_with_the_first_backup_and_ignore_the_current_day() -> None:
    items = [dump(NOW - timedelta(hours=n * 24 + 1)) for n in range(5)]
    plan = plan_retention(items, now=NOW)
    assert plan.gaps == ()


def test_no_backups_at_all_is_a_warning() -> None:
    plan = plan_retention([], now=NOW)
    assert plan.decisions == () and plan.gaps == ()
    assert {f.status for f in plan.findings} == {Status.OK, Status.WARNING}


# -- examples: PITR --------------------------------------------------------------------------------


def weekly_cluster(weeks: int) -> tuple[list[RetentionItem], list[RetentionItem]]:
    bases = [base((NOW - timedelta(weeks=w)).replace(hour=1, minute=0)) for w in range(weeks)]
    first = seg_at(bases[-1].created_at)
    wals = [wal(n) for n in range(first, seg_at(NOW) + 1)]
    return bases, wals


def test_pitr_keeps_the_anchor_base_backup_and_wal_from_its_start_segment() -> None:
    bases, wals = weekly_cluster(10)
    policy = RetentionPolicy(daily_days=0, weekly_days=0, monthly_days=0, keep_min=1,
                             pitr_window_days=10)
    plan = plan_retention([*bases, *wals, history(2)], now=NOW, policy=policy)
    kept = {d.item.key: d for d in plan.kept}
    anchor = bases[2]  # 14 days old: the newest ended before the window start (10 days ago)
    assert kept[anchor.key].rules == ("needed for PITR window (start point for 2026-11-16 12:00Z)",)
    assert bases[1].key in kept and bases[0].key in kept  # inside the window / newest
    assert all(b.key not in kept for b in bases[3:])
    kept_wal = [d.item for d in plan.kept if d.item.kind == "wal" and not d.item.history]
    assert min(i.segment for i in kept_wal) == anchor.start_segment
    assert len(kept_wal) == len([w for w in wals if w.segment >= anchor.start_segment])
    assert all(d.reason.startswith("before the segment") for d in plan.deleted
               if d.item.kind == "wal")
    assert plan.gaps == ()


def test_gfs_kept_base_backups_keep_their_own_wal_range() -> None:
    bases, wals = weekly_cluster(10)
    policy = RetentionPolicy(daily_days=0, weekly_days=0, monthly_days=365, keep_min=1,
                             pitr_window_days=1)
    plan = plan_retention([*bases, *wals], now=NOW, policy=policy)
    monthly = [d.item for d in plan.kept if d.item.kind == "basebackup"
               and any(r.startswith("monthly") for r in d.rules)]
    assert monthly
    for b in monthly:
        own = {d.item.segment: d for d in plan.decisions if d.item.kind == "wal"
               and b.start_segment <= d.item.segment <= b.stop_segment}
        assert own and all(d.keep for d in own.values())


def test_wal_without_any_valid_base_backup_is_kept_and_reported() -> None:
    wals = [wal(n) for n in range(100, 120)]
    plan = plan_retention([base(NOW - timedelta(days=400), valid=False), *wals], now=NOW)
    assert all(d.keep for d in plan.decisions if d.item.kind == "wal")
    assert any("no valid base backup" in g.message for g in plan.gaps)


def test_a_window_older_than_every_base_backup_is_a_pitr_gap() -> None:
    bases, wals = weekly_cluster(1)
    plan = plan_retention([*bases, *wals], now=NOW, policy=RetentionPolicy(pitr_window_days=7))
    assert [g.level for g in plan.gaps] == ["pitr"]
    assert all(d.keep for d in plan.decisions)


# -- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field,value", [("daily_days", -1), ("keep_min", 0),
                                          ("grace_hours", -2.0), ("pitr_window_days", -1)])
def test_policy_rejects_nonsense_naming_the_parameter(field: str, value: float) -> None:
    with pytest.raises(ParameterError, match=field) as info:
        RetentionPolicy(**{field: value})
    assert info.value.name == field


def test_duplicate_items_are_refused() -> None:
    item = dump(NOW)
    with pytest.raises(ParameterError, match="listed twice"):
        plan_retention([item, item], now=NOW)
