"""UTC calendar buckets for retention: days, ISO weeks and months, with labels and boundaries.

Pure helpers: a bucket is the half-open interval ``[start, end)`` in UTC, named like
``2026-11-20`` (day), ``2026-W45`` (ISO week, Monday to Sunday) or ``2026-10`` (month).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

Level = Literal["daily", "weekly", "monthly"]
LEVELS: tuple[Level, ...] = ("daily", "weekly", "monthly")


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (a naive one is taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def bucket_start(level: Level, moment: datetime) -> datetime:
    """Start (UTC midnight) of the day, ISO week or month holding ``moment``."""
    day = as_utc(moment).replace(hour=0, minute=0, second=0, microsecond=0)
    if level == "daily":
        return day
    if level == "weekly":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_bucket(level: Level, start: datetime) -> datetime:
    """Start of the bucket after the one starting at ``start``."""
    if level == "daily":
        return start + timedelta(days=1)
    if level == "weekly":
        return start + timedelta(days=7)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def label(level: Level, moment: datetime) -> str:
    """The bucket's name: ``2026-11-20``, ``2026-W45`` or ``2026-10``."""
    start = bucket_start(level, moment)
    if level == "daily":
        return start.strftime("%Y-%m-%d")
    if level == "weekly":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.strftime("%Y-%m")


def buckets(level: Level, first: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Every complete bucket ``(start, end)`` with ``first <= start`` and ``end <= end``."""
    start = bucket_start(level, first)
    if start < as_utc(first):
        start = next_bucket(level, start)
    while True:
        after = next_bucket(level, start)
        if after > end:
            return
        yield start, after
        start = after


__all__ = ["LEVELS", "Level", "as_utc", "bucket_start", "buckets", "label", "next_bucket"]
