"""Backup history from recorded drills: typed runs, trend findings, the tables and the chart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from noa_lib.errors import ParameterError
from noa_lib.ops.backup.history import (
    HistoryThresholds,
    RecordedRun,
    analyse_history,
    fit_trend,
)
from noa_lib.ops.findings import Status
from noa_lib.records.backup_history import backup_history
from noa_lib.records.index import RecordIndex
from noa_lib.show.charts import Chart, backup_history_chart
from noa_lib.show.history import show_history_backups, show_history_drills

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def record(index: RecordIndex, runbook: str, at: datetime, figures: dict[str, Any], *,
           status: str = "succeeded", outcome: str = "ok", target: str = "sandbox") -> str:
    run_id = uuid.uuid4().hex[:12]
    index.add({
        "run_id": run_id,
        "runbook": runbook,
        "target": target,
        "trigger": {"kind": "cron"},
        "started_at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "duration_s": 12.0,
        "status": status,
        "outcome": {"status": outcome, "summary": "", "figures": figures},
    })
    return run_id


def drill(age_h: float, restore_s: float, size: int, failed: int = 0) -> dict[str, Any]:
    return {"backup_age_hours": age_h, "restore_seconds": restore_s, "size_bytes": size,
            "tables_checked": 12, "rows_checked": 5000, "checks_failed": failed}


@pytest.fixture
def index(tmp_path: Path) -> RecordIndex:
    return RecordIndex(tmp_path / "reports")


def test_no_history_is_a_clear_warning(index: RecordIndex) -> None:
    result = backup_history(index.root, days=90, now=NOW)
    assert result.empty and result.drills == ()
    drills = show_history_drills(result)
    assert drills.empty
    assert list(drills.columns) == ["run_id", "started_at", "status", "outcome_status",
                                    "backup_age_hours", "restore_seconds", "size_bytes",
                                    "tables_checked", "rows_checked", "checks_failed"]
    assert list(show_history_backups(result).columns)[4:] == ["size_bytes", "duration_s"]
    (finding,) = result.findings
    assert finding.status == Status.WARNING and "no drills recorded yet" in finding.message
    chart = backup_history_chart(result)
    assert chart.png().startswith(b"\x89PNG")


def test_steady_drills_are_ok_and_load_into_frames(index: RecordIndex) -> None:
    for day in range(20, 0, -1):
        at = NOW - timedelta(days=day, hours=2)
        record(index, "backup/validate_backup", at, drill(4.0 + day % 2, 60.0 + day % 3, 10**8))
        record(index, "backup/full_backup", at - timedelta(hours=2),
               {"size_bytes": 10**8 + day, "duration_s": 30.0})
    record(index, "backup/validate_backup", NOW - timedelta(days=200), drill(99, 999, 1))  # old
    record(index, "backup/validate_backup", NOW - timedelta(days=1), drill(4, 60, 10**8),
           target="staging")
    result = backup_history(index.root, days=90, target="sandbox", now=NOW)
    assert len(result.drills) == 20 and len(result.backups) == 20
    starts = [r.started_at for r in result.drills]
    assert starts == sorted(starts) and all(t.tzinfo is not None for t in starts)
    drills = show_history_drills(result)
    assert len(drills) == 20 and drills["started_at"].is_monotonic_increasing
    assert str(drills["started_at"].dt.tz) == "UTC"
    assert drills["restore_seconds"].between(60, 62).all()
    assert list(drills["run_id"]) == [r.run_id for r in result.drills]
    backups = show_history_backups(result)
    assert list(backups.columns) == ["run_id", "started_at", "status", "outcome_status",
                                     "size_bytes", "duration_s"]
    assert backups["duration_s"].eq(30.0).all() and backups["size_bytes"].min() == 10**8 + 1
    statuses = {f.check: f.status for f in result.findings}
    assert statuses == {
        "history: drills recorded": Status.OK,
        "history: failed drills": Status.OK,
        "history: RPO": Status.OK,
        "history: RTO trend": Status.OK,
        "history: backup size trend": Status.OK,
        "history: backup duration trend": Status.OK,
    }
    assert result.figures["drills"] == 20 and result.figures["latest_rpo_hours"] == 5.0
    chart = backup_history_chart(result, rpo_hours=26)
    assert isinstance(chart, Chart) and len(chart.figure.axes) == 4
    assert chart._repr_png_()[:4] == b"\x89PNG"


def test_growing_rto_size_high_rpo_and_failures_are_flagged(index: RecordIndex) -> None:
    for week in range(8, 0, -1):
        at = NOW - timedelta(weeks=week)
        grow = 1.25 ** (8 - week)  # +25 % per week
        record(index, "backup/validate_backup", at, drill(5, 100 * grow, int(10**8 * grow)))
        record(index, "backup/full_backup", at, {"size_bytes": int(10**8 * grow),
                                                  "duration_s": 30 * grow})
    record(index, "backup/validate_backup", NOW - timedelta(days=3), drill(5, 500, 10**9, 2),
           status="failed", outcome="critical")
    record(index, "backup/validate_backup", NOW - timedelta(hours=3), drill(40, 500, 10**9))
    result = backup_history(index.root, days=90, now=NOW)
    by_check = {f.check: f for f in result.findings}
    rto = by_check["history: RTO trend"]
    assert rto.status == Status.WARNING and rto.value > 10 and rto.unit == "%/week"
    assert by_check["history: backup size trend"].status == Status.WARNING
    assert by_check["history: backup duration trend"].status == Status.WARNING
    rpo = by_check["history: RPO"]
    assert rpo.status == Status.WARNING and rpo.value == 40.0 and rpo.threshold == 26.0
    failures = by_check["history: failed drills"]
    assert failures.status == Status.WARNING and failures.value == 1
    assert result.figures["failed_drills"] == 1
    assert result.figures["rto_trend_pct_per_week"] == rto.value
    assert len(backup_history_chart(result).figure.axes) == 4


def test_newest_drill_failed_is_critical_and_stale_drills_are_noticed() -> None:
    runs = [RecordedRun("b", NOW - timedelta(days=5), "failed", None),
            RecordedRun("a", NOW - timedelta(days=6), "succeeded", "ok")]
    result = analyse_history(runs, [], now=NOW)
    assert [r.run_id for r in result.drills] == ["a", "b"]  # oldest first
    by_check = {f.check: f for f in result.findings}
    assert by_check["history: failed drills"].status == Status.CRITICAL
    assert "noa reports show b" in by_check["history: failed drills"].message
    assert by_check["history: drills recorded"].status == Status.WARNING
    assert by_check["history: RPO"].status == Status.SKIPPED
    assert by_check["history: RTO trend"].status == Status.SKIPPED


def test_trend_needs_enough_points_and_span() -> None:
    runs = [RecordedRun("r", at, "succeeded", "ok", {"x": x, "restore_seconds": x})
            for at, x in ((NOW, 100.0), (NOW + timedelta(days=7), 110.0))]
    trend = fit_trend(runs, "x")
    assert trend is not None and trend.slope_per_week == pytest.approx(10.0)
    assert trend.pct_per_week == pytest.approx(10 / 105 * 100)
    assert trend.points == 2 and trend.span_days == pytest.approx(7.0)
    assert fit_trend(runs[:1], "x") is None
    assert fit_trend([*runs, RecordedRun("s", NOW, figures={"x": "n/a"})], "x") == trend
    limits = HistoryThresholds(min_points=3)
    result = analyse_history(runs, [], now=NOW, thresholds=limits)
    rto = next(f for f in result.findings if f.check == "history: RTO trend")
    assert rto.status == Status.SKIPPED and "not enough history" in rto.message


def test_reports_dir_defaults_to_the_configured_root(reports_dir: Path) -> None:
    record(RecordIndex(reports_dir), "backup/validate_backup", datetime.now(UTC), drill(3, 50, 9))
    result = backup_history(days=7)
    assert len(result.drills) == 1


def test_bad_window_names_the_parameter(index: RecordIndex) -> None:
    with pytest.raises(ParameterError, match="days must be 1 or more") as info:
        backup_history(index.root, days=0)
    assert info.value.name == "days"


def test_tables_keep_every_recorded_figure() -> None:
    runs = [RecordedRun("a", NOW - timedelta(days=1), "succeeded", "ok",
                        {"restore_seconds": "12", "note": "first", "status": "clash"}),
            RecordedRun("b", NOW, "succeeded", "ok", {"restore_seconds": None, "extra": 3})]
    result = analyse_history(runs, [], now=NOW)
    drills = show_history_drills(result)
    assert list(drills.columns)[10:] == ["note", "figure_status", "extra"]
    assert drills["restore_seconds"].tolist()[0] == 12.0 and drills["restore_seconds"].isna()[1]
    assert drills.loc[0, "status"] == "succeeded" and drills.loc[0, "figure_status"] == "clash"
    assert drills.loc[1, "extra"] == 3 and result.figures["latest_rto_seconds"] == 12.0
