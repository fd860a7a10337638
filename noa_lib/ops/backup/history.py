"""Backup history: trends in the figures earlier restore drills and backups recorded.

:func:`analyse_history` is pure: it takes the recorded runs (:class:`RecordedRun`: ``run_id``,
``started_at``, ``status``, ``outcome_status`` and the outcome figures) of
``backup/validate_backup`` (the drills: ``backup_age_hours`` = RPO, ``restore_seconds`` = RTO,
``size_bytes``, ``tables_checked``, ``rows_checked``, ``checks_failed``) and of
``backup/full_backup`` (``size_bytes``, ``duration_s``), and flags:

* no drill recorded yet, or none recently (the nightly cron stopped);
* failed drills (the newest one failed: critical);
* RPO of the newest drill above ``rpo_hours``;
* RTO, backup size and backup duration growing faster than a few percent per week (least-squares
  slope over the window, relative to the window's mean).

Reading those figures from the records index is :func:`noa_lib.records.backup_history.
backup_history` (the records layer sits above ops); nothing is re-run. The tables and the chart
are built by :mod:`noa_lib.show.history` and :func:`noa_lib.show.charts.backup_history_chart`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from noa_lib.ops.findings import Finding, Status

DRILL_RUNBOOK = "backup/validate_backup"
BACKUP_RUNBOOK = "backup/full_backup"
DRILL_FIGURES = ("backup_age_hours", "restore_seconds", "size_bytes", "tables_checked",
                 "rows_checked", "checks_failed")
BACKUP_FIGURES = ("size_bytes", "duration_s")
BASE_COLUMNS = ("run_id", "started_at", "status", "outcome_status")
_WEEK_S = 7 * 24 * 3600.0
_TREND_FIGURES = {
    "history: RTO trend": "rto_trend_pct_per_week",
    "history: backup size trend": "size_trend_pct_per_week",
    "history: backup duration trend": "duration_trend_pct_per_week",
}


@dataclass(frozen=True)
class HistoryThresholds:
    """When a trend becomes a finding.

    ``*_growth_pct_per_week`` bound the fitted slope relative to the window's mean; a trend needs
    ``min_points`` runs spread over at least ``min_span_days``. ``rpo_hours`` bounds the newest
    drill's backup age; ``stale_drill_hours`` how old the newest drill may be.
    """

    rto_growth_pct_per_week: float = 10.0
    size_growth_pct_per_week: float = 10.0
    duration_growth_pct_per_week: float = 15.0
    rpo_hours: float = 26.0
    stale_drill_hours: float = 48.0
    min_points: int = 4
    min_span_days: float = 3.0


@dataclass(frozen=True)
class RecordedRun:
    """One recorded run of a runbook: its id, start (UTC), record status, outcome status and the
    outcome figures it recorded (by name, as recorded)."""

    run_id: str
    started_at: datetime
    status: str | None = None
    outcome_status: str | None = None
    figures: Mapping[str, Any] = field(default_factory=dict)

    def value(self, name: str) -> float | None:
        """Figure ``name`` as a number; ``None`` when missing, not numeric or NaN."""
        return number(self.figures.get(name))


def number(value: Any) -> float | None:
    """``value`` as a float (numbers, numeric text, booleans); ``None`` for missing, NaN and
    anything else."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(result) else result


@dataclass(frozen=True, eq=False)
class HistoryResult:
    """Drills and backups over the window (oldest first), the findings and key figures."""

    drills: tuple[RecordedRun, ...]
    backups: tuple[RecordedRun, ...]
    findings: tuple[Finding, ...]
    figures: dict[str, Any] = field(default_factory=dict)
    since: datetime | None = None

    @property
    def empty(self) -> bool:
        return not self.drills and not self.backups


@dataclass(frozen=True)
class Trend:
    """A least-squares line through ``(time, value)``: slope per week, relative to the mean."""

    points: int
    span_days: float
    slope_per_week: float
    mean: float

    @property
    def pct_per_week(self) -> float:
        return 0.0 if self.mean == 0 else 100.0 * self.slope_per_week / self.mean


def fit_trend(runs: Sequence[RecordedRun], figure: str) -> Trend | None:
    """The trend of ``figure`` over ``started_at`` (runs with a value only); ``None`` without
    at least two distinct times."""
    points = [(r.started_at, v) for r in runs if (v := r.value(figure)) is not None]
    if len(points) < 2:
        return None
    first = min(t for t, _ in points)
    seconds = [(t - first).total_seconds() for t, _ in points]
    values = [v for _, v in points]
    if max(seconds) <= 0:
        return None
    weeks = [x / _WEEK_S for x in seconds]
    mean_x = sum(weeks) / len(weeks)
    mean_y = sum(values) / len(values)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(weeks, values, strict=True)) / sum(
        (x - mean_x) ** 2 for x in weeks
    )
    return Trend(len(points), max(seconds) / 86400, slope, mean_y)


def analyse_history(
    drills: Iterable[RecordedRun],
    backups: Iterable[RecordedRun],
    *,
    now: datetime | None = None,
    since: datetime | None = None,
    thresholds: HistoryThresholds | None = None,
) -> HistoryResult:
    """Findings and figures from the recorded drills and backups (see the module docstring).

    Returns:
        A :class:`HistoryResult` (runs oldest first); with no drill recorded its findings hold
        one warning saying so.
    """
    limits = thresholds or HistoryThresholds()
    moment = now or datetime.now(UTC)
    drill_runs = tuple(sorted(drills, key=lambda r: r.started_at))
    backup_runs = tuple(sorted(backups, key=lambda r: r.started_at))
    findings: list[Finding] = []
    failed = [r for r in drill_runs if is_failed(r)]
    findings.append(_drills_finding(drill_runs, moment, since, limits))
    if drill_runs:
        findings.append(_failures_finding(drill_runs, failed))
        findings.append(_rpo_finding(drill_runs, limits))
        findings.append(_trend_finding("RTO trend", drill_runs, "restore_seconds", "s",
                                       limits.rto_growth_pct_per_week, limits))
    sizes = size_runs(drill_runs, backup_runs)
    if sizes:
        findings.append(_trend_finding("backup size trend", sizes, "size_bytes", "bytes",
                                       limits.size_growth_pct_per_week, limits))
    if backup_runs:
        findings.append(_trend_finding("backup duration trend", backup_runs, "duration_s", "s",
                                       limits.duration_growth_pct_per_week, limits))
    figures: dict[str, Any] = {
        "drills": len(drill_runs),
        "failed_drills": len(failed),
        "backups": len(backup_runs),
        "latest_rpo_hours": _latest(drill_runs, "backup_age_hours"),
        "latest_rto_seconds": _latest(drill_runs, "restore_seconds"),
        "latest_size_bytes": _latest(sizes, "size_bytes") if sizes else None,
    }
    for finding in findings:
        figure = _TREND_FIGURES.get(finding.check)
        if figure is not None and isinstance(finding.value, float):
            figures[figure] = finding.value
    return HistoryResult(drill_runs, backup_runs, tuple(findings), figures, since)


def size_runs(drills: Sequence[RecordedRun],
              backups: Sequence[RecordedRun]) -> Sequence[RecordedRun]:
    """Where backup sizes come from: the ``full_backup`` runs when any recorded one, else the
    drills' ``size_bytes``."""
    return backups if any(r.value("size_bytes") is not None for r in backups) else drills


def is_failed(drill: RecordedRun) -> bool:
    """A drill failed: its record says ``failed``, its outcome is critical or unreachable, or it
    counted failed checks."""
    return (
        drill.status == "failed"
        or drill.outcome_status in ("critical", "unreachable")
        or (drill.value("checks_failed") or 0) > 0
    )


def _values(runs: Sequence[RecordedRun], figure: str) -> list[float]:
    return [v for r in runs if (v := r.value(figure)) is not None]


def _latest(runs: Sequence[RecordedRun], figure: str) -> float | None:
    values = _values(runs, figure)
    return None if not values else round(values[-1], 3)


def _drills_finding(drills: Sequence[RecordedRun], now: datetime, since: datetime | None,
                    limits: HistoryThresholds) -> Finding:
    window = f" since {since:%Y-%m-%d}" if since is not None else ""
    if not drills:
        return Finding(
            "history: drills recorded", Status.WARNING,
            f"no drills recorded yet{window}: run backup/validate_backup (nightly by cron, see "
            "deploy/) so RTO and RPO can be tracked", value=0, unit="drills",
        )
    newest = max(r.started_at for r in drills)
    age_h = (now - newest).total_seconds() / 3600
    first = min(r.started_at for r in drills)
    text = f"{len(drills)} drill(s){window}, from {first:%Y-%m-%d} to {newest:%Y-%m-%d %H:%M}Z"
    if age_h > limits.stale_drill_hours:
        return Finding("history: drills recorded", Status.WARNING,
                       f"{text}; the newest is {age_h:.0f} h old: is the nightly drill still "
                       "scheduled?", value=round(age_h, 1), threshold=limits.stale_drill_hours,
                       unit="h since the newest drill")
    return Finding("history: drills recorded", Status.OK, text, value=len(drills), unit="drills")


def _failures_finding(drills: Sequence[RecordedRun], failed: Sequence[RecordedRun]) -> Finding:
    count = len(failed)
    runs = [str(r.run_id) for r in failed]
    evidence = {"failed_runs": runs}
    if count == 0:
        return Finding("history: failed drills", Status.OK, "every drill in the window passed",
                       value=0, threshold=0, unit="failed")
    if is_failed(drills[-1]):
        return Finding("history: failed drills", Status.CRITICAL,
                       f"the newest drill failed ({count} of {len(drills)} failed): read its "
                       f"record (noa reports show {runs[-1]})", value=count, threshold=0,
                       unit="failed", evidence=evidence)
    return Finding("history: failed drills", Status.WARNING,
                   f"{count} of {len(drills)} drills failed; the newest passed", value=count,
                   threshold=0, unit="failed", evidence=evidence)


def _rpo_finding(drills: Sequence[RecordedRun], limits: HistoryThresholds) -> Finding:
    latest = _latest(drills, "backup_age_hours")
    if latest is None:
        return Finding("history: RPO", Status.SKIPPED, "no drill recorded the backup age",
                       threshold=limits.rpo_hours, unit="h")
    ages = _values(drills, "backup_age_hours")
    over = sum(1 for age in ages if age > limits.rpo_hours)
    worst_h = max(ages)
    status = Status.WARNING if latest > limits.rpo_hours else Status.OK
    text = (f"the newest drill restored a backup {latest:.1f} h old "
            f"({'above' if status is Status.WARNING else 'within'} {limits.rpo_hours:g} h); "
            f"{over} drill(s) over the bound, worst {worst_h:.1f} h")
    return Finding("history: RPO", status, text, value=latest, threshold=limits.rpo_hours,
                   unit="h")


def _trend_finding(name: str, runs: Sequence[RecordedRun], column: str, unit: str, bound: float,
                   limits: HistoryThresholds) -> Finding:
    check = f"history: {name}"
    trend = fit_trend(runs, column)
    if trend is None or trend.points < limits.min_points or trend.span_days < limits.min_span_days:
        have = 0 if trend is None else trend.points
        return Finding(check, Status.SKIPPED,
                       f"not enough history for a trend ({have} run(s) with {column}; needs "
                       f"{limits.min_points} over {limits.min_span_days:g} days)",
                       threshold=bound, unit="%/week")
    pct = round(trend.pct_per_week, 2)
    evidence = {"column": column, "points": trend.points, "span_days": round(trend.span_days, 2),
                "slope_per_week": trend.slope_per_week, "mean": trend.mean, "unit": unit}
    status = Status.WARNING if pct > bound else Status.OK
    verb = "growing" if pct > 0 else "shrinking" if pct < 0 else "flat"
    return Finding(check, status,
                   f"{column} {verb} {abs(pct):.1f} %/week over {trend.points} runs in "
                   f"{trend.span_days:.0f} days (bound {bound:g} %/week)",
                   value=pct, threshold=bound, unit="%/week", evidence=evidence)


def window_start(days: int, *, now: datetime | None = None) -> datetime:
    """``days`` before ``now`` (UTC)."""
    return (now or datetime.now(UTC)) - timedelta(days=days)


__all__ = [
    "BACKUP_FIGURES",
    "BACKUP_RUNBOOK",
    "BASE_COLUMNS",
    "DRILL_FIGURES",
    "DRILL_RUNBOOK",
    "HistoryResult",
    "HistoryThresholds",
    "RecordedRun",
    "Trend",
    "analyse_history",
    "fit_trend",
    "is_failed",
    "number",
    "size_runs",
    "window_start",
]
