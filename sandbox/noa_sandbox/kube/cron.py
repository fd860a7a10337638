"""The next time a five-field cron schedule fires (what a CronJob controller computes).

Fields: minute, hour, day of month, month, day of week (0 or 7 = Sunday), each ``*``, ``*/n``,
``a``, ``a-b``, ``a-b/n`` or a comma list of those; day of month and day of week combine with OR
when both are restricted (as in cron). Times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _field(text: str, low: int, high: int) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if rng == "*":
            start, end = low, high
        elif "-" in rng:
            a, b = rng.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = int(rng)
            end = high if step_text else start
        if start < low or end > high or step < 1:
            raise ValueError(f"cron field {text!r} out of range {low}-{high}")
        out.update(range(start, end + 1, step))
    return out


def next_fire(schedule: str, after: float) -> float:
    """The first minute strictly after unix time ``after`` at which ``schedule`` fires.

    Raises:
        ValueError: not a five-field cron expression, or it never fires within 4 years.
    """
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError(f"not a five-field cron schedule: {schedule!r}")
    minutes, hours, days, months, weekdays = (
        _field(f, lo, hi) for f, (lo, hi) in zip(fields, _RANGES, strict=True))
    weekdays = {d % 7 for d in weekdays}
    any_day, any_weekday = fields[2] == "*", fields[4] == "*"
    start = datetime.fromtimestamp(after, UTC).replace(second=0, microsecond=0) + timedelta(
        minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(366 * 4):
        cron_weekday = (day.weekday() + 1) % 7
        by_day, by_weekday = day.day in days, cron_weekday in weekdays
        if any_day or any_weekday:
            day_ok = by_day and by_weekday
        else:
            day_ok = by_day or by_weekday
        if day.month in months and day_ok:
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    when = day.replace(hour=hour, minute=minute)
                    if when >= start:
                        return when.timestamp()
        day += timedelta(days=1)
    raise ValueError(f"cron schedule {schedule!r} never fires")


__all__ = ["next_fire"]
