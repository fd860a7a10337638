"""Backup history: trends in the figures earlier restore drills and backups recorded.

:func:`analyse_history` is pure: it takes the DataFrames of outcome figures of
``backup/validate_backup`` runs (the drills: ``backup_age_hours`` = RPO, ``restore_seconds`` =
RTO, ``size_bytes``, ``tables_checked``, ``rows_checked``, ``checks_failed``) and of
``backup/full_backup`` runs (``size_bytes``, ``duration_s``), one row per run with ``started_at``
and ``status``, and flags:

* no drill recorded yet, or none recently (the nightly cron stopped);
* failed drills (the newest one failed: critical);
* RPO of the newest drill above ``rpo_hours``;
* RTO, backup size and backup duration growing faster than a few percent per week (least-squares
  slope over the window, relative to the window's mean).

Reading those figures from the records index is :func:`noa_lib.records.backup_history.
backup_history` (the records layer sits above ops); nothing is re-run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from noa_lib.ops.findings import Finding, Status

if TYPE_CHECKING:
    import pandas as pd

DRILL_RUNBOOK = "backup/validate_backup"
BACKUP_RUNBOOK = "backup/full_backup"
DRILL_FIGURES = ("backup_age_hours", "restore_seconds", "size_bytes", "tables_checked",
                 "rows_checked", "checks_failed")
BACKUP_FIGURES = ("size_bytes", "duration_s")
_BASE_COLUMNS = ("run_id", "started_at", "status", "outcome_status")
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


@dataclass(frozen=True, eq=False)
class HistoryResult:
    """Drills and backups over the window (oldest first), the findings and key figures."""

    drills: pd.DataFrame
    backups: pd.DataFrame
    findings: tuple[Finding, ...]
    figures: dict[str, Any] = field(default_factory=dict)
    since: datetime | None = None

    @property
    def empty(self) -> bool:
        return self.drills.empty and self.backups.empty


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


def fit_trend(frame: pd.DataFrame, column: str) -> Trend | None:
    """The trend of ``column`` over ``started_at`` (rows with a value only); ``None`` without
    at least two distinct times."""
    import numpy as np

    if column not in frame.columns:
        return None
    rows = frame[["started_at", column]].dropna()
    if len(rows) < 2:
        return None
    seconds = (rows["started_at"] - rows["started_at"].min()).dt.total_seconds().to_numpy(float)
    values = rows[column].astype(float).to_numpy()
    if float(seconds.max()) <= 0:
        return None
    slope, _ = np.polyfit(seconds / _WEEK_S, values, 1)
    return Trend(len(rows), float(seconds.max()) / 86400, float(slope), float(values.mean()))


def normalise(frame: pd.DataFrame, figures: tuple[str, ...]) -> pd.DataFrame:
    """``frame`` with the base columns and every figure in ``figures`` (missing ones as NaN),
    figures numeric, oldest first."""
    import pandas as pd

    out = frame.copy()
    for column in _BASE_COLUMNS:
        if column not in out.columns:
            out[column] = pd.Series(dtype="object")
    for column in figures:
        values = out[column] if column in out.columns else pd.Series(index=out.index,
                                                                      dtype="float64")
        out[column] = pd.to_numeric(values, errors="coerce")
    out["started_at"] = pd.to_datetime(out["started_at"], utc=True)
    extra = [c for c in out.columns if c not in (*_BASE_COLUMNS, *figures)]
    return out[[*_BASE_COLUMNS, *figures, *extra]].sort_values("started_at").reset_index(
        drop=True)


def analyse_history(
    drills: pd.DataFrame,
    backups: pd.DataFrame,
    *,
    now: datetime | None = None,
    since: datetime | None = None,
    thresholds: HistoryThresholds | None = None,
) -> HistoryResult:
    """Findings and figures from the recorded drills and backups (see the module docstring).

    Returns:
        A :class:`HistoryResult`; with no drill recorded its findings hold one warning saying so.
    """
    limits = thresholds or HistoryThresholds()
    moment = now or datetime.now(UTC)
    drills = normalise(drills, DRILL_FIGURES)
    backups = normalise(backups, BACKUP_FIGURES)
    findings: list[Finding] = []
    failed = _failed(drills)
    findings.append(_drills_finding(drills, moment, since, limits))
    if not drills.empty:
        findings.append(_failures_finding(drills, failed))
        findings.append(_rpo_finding(drills, limits))
        findings.append(_trend_finding("RTO trend", drills, "restore_seconds", "s",
                                       limits.rto_growth_pct_per_week, limits))
    sizes = backups if backups["size_bytes"].notna().any() else drills
    if not sizes.empty:
        findings.append(_trend_finding("backup size trend", sizes, "size_bytes", "bytes",
                                       limits.size_growth_pct_per_week, limits))
    if not backups.empty:
        findings.append(_trend_finding("backup duration trend", backups, "duration_s", "s",
                                       limits.duration_growth_pct_per_week, limits))
    figures: dict[str, Any] = {
        "drills": len(drills),
        "failed_drills": int(failed.sum()),
        "backups": len(backups),
        "latest_rpo_hours": _latest(drills, "backup_age_hours"),
        "latest_rto_seconds": _latest(drills, "restore_seconds"),
        "latest_size_bytes": _latest(sizes, "size_bytes") if not sizes.empty else None,
    }
    for finding in findings:
        figure = _TREND_FIGURES.get(finding.check)
        if figure is not None and isinstance(finding.value, float):
            figures[figure] = finding.value
    return HistoryResult(drills, backups, tuple(findings), figures, since)


def _latest(frame: pd.DataFrame, column: str) -> float | None:
    values = frame[column].dropna()
    return None if values.empty else round(float(values.iloc[-1]), 3)


def _failed(drills: pd.DataFrame) -> pd.Series:
    checks = drills["checks_failed"].fillna(0) > 0
    outcome = drills["outcome_status"].isin(["critical", "unreachable"])
    return (drills["status"] == "failed") | outcome | checks


def _drills_finding(drills: pd.DataFrame, now: datetime, since: datetime | None,
                    limits: HistoryThresholds) -> Finding:
    window = f" since {since:%Y-%m-%d}" if since is not None else ""
    if drills.empty:
        return Finding(
            "history: drills recorded", Status.WARNING,
            f"no drills recorded yet{window}: run backup/validate_backup (nightly by cron, see "
            "deploy/) so RTO and RPO can be tracked", value=0, unit="drills",
        )
    newest = drills["started_at"].max().to_pydatetime()
    age_h = (now - newest).total_seconds() / 3600
    first = drills["started_at"].min()
    text = f"{len(drills)} drill(s){window}, from {first:%Y-%m-%d} to {newest:%Y-%m-%d %H:%M}Z"
    if age_h > limits.stale_drill_hours:
        return Finding("history: drills recorded", Status.WARNING,
                       f"{text}; the newest is {age_h:.0f} h old: is the nightly drill still "
                       "scheduled?", value=round(age_h, 1), threshold=limits.stale_drill_hours,
                       unit="h since the newest drill")
    return Finding("history: drills recorded", Status.OK, text, value=len(drills), unit="drills")


def _failures_finding(drills: pd.DataFrame, failed: pd.Series) -> Finding:
    count = int(failed.sum())
    runs = drills.loc[failed, "run_id"].astype(str).tolist()
    evidence = {"failed_runs": runs}
    if count == 0:
        return Finding("history: failed drills", Status.OK, "every drill in the window passed",
                       value=0, threshold=0, unit="failed")
    if bool(failed.iloc[-1]):
        return Finding("history: failed drills", Status.CRITICAL,
                       f"the newest drill failed ({count} of {len(drills)} failed): read its "
                       f"record (noa reports show {runs[-1]})", value=count, threshold=0,
                       unit="failed", evidence=evidence)
    return Finding("history: failed drills", Status.WARNING,
                   f"{count} of {len(drills)} drills failed; the newest passed", value=count,
                   threshold=0, unit="failed", evidence=evidence)


def _rpo_finding(drills: pd.DataFrame, limits: HistoryThresholds) -> Finding:
    latest = _latest(drills, "backup_age_hours")
    if latest is None:
        return Finding("history: RPO", Status.SKIPPED, "no drill recorded the backup age",
                       threshold=limits.rpo_hours, unit="h")
    over = int((drills["backup_age_hours"] > limits.rpo_hours).sum())
    worst_h = float(drills["backup_age_hours"].max())
    status = Status.WARNING if latest > limits.rpo_hours else Status.OK
    text = (f"the newest drill restored a backup {latest:.1f} h old "
            f"({'above' if status is Status.WARNING else 'within'} {limits.rpo_hours:g} h); "
            f"{over} drill(s) over the bound, worst {worst_h:.1f} h")
    return Finding("history: RPO", status, text, value=latest, threshold=limits.rpo_hours,
                   unit="h")


def _trend_finding(name: str, frame: pd.DataFrame, column: str, unit: str, bound: float,
                   limits: HistoryThresholds) -> Finding:
    check = f"history: {name}"
    trend = fit_trend(frame, column)
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
    "DRILL_FIGURES",
    "DRILL_RUNBOOK",
    "HistoryResult",
    "HistoryThresholds",
    "Trend",
    "analyse_history",
    "fit_trend",
    "normalise",
    "window_start",
]
