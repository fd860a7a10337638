"""Scoring a drill by NOA's incident phases (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from noa_lib.ops.drill_score import DrillTimes, score_drill
from noa_lib.records.drill import _parameters

T0 = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_fast_right_verified_response_scores_full() -> None:
    score = score_drill(DrillTimes(
        "pool-exhausted", "incident/db_pool_exhausted", T0, detected=at(1), triaged=at(2),
        triage_cause="incident/db_pool_exhausted", mitigated=at(6),
        mitigation_runbook="incident/db_pool_exhausted", verified=True, resolved=at(8)))
    assert score.total == 100
    figures = score.figures()
    assert figures["score"] == 100 and figures["detected_min"] == 1.0
    assert figures["mitigated_points"] == 25


def test_each_stage_loses_its_points_the_way_the_phases_say() -> None:
    slow = score_drill(DrillTimes(
        "oom", "incident/oom_kills", T0, detected=at(10), triaged=at(40),
        triage_cause="incident/oom_kills", mitigated=at(90), verified=False))
    points = {s.name: s.points for s in slow.stages}
    assert points == {"detected": 12.5, "triaged": 12.5, "mitigated": 6.25, "resolved": 0.0}
    wrong = score_drill(DrillTimes(
        "slow-db", "incident/high_latency", T0, detected=at(1), triaged=at(2),
        triage_cause="incident/high_error_rate"))
    stage = {s.name: s for s in wrong.stages}["triaged"]
    assert stage.points == 0 and "incident/high_error_rate" in stage.note
    nothing = score_drill(DrillTimes("disk-filling", "incident/disk_space", T0))
    assert nothing.total == 0 and all(s.minutes is None for s in nothing.stages)
    late = score_drill(DrillTimes("disk-filling", "incident/disk_space", T0, detected=at(20)))
    assert {s.name: s.points for s in late.stages}["detected"] == 0


def test_a_triage_command_gives_the_runbook_its_parameters() -> None:
    command = ("noa run incident/db_pool_exhausted --target sandbox --incident INC-20261204-0200"
               " -p service api -p window 5m")
    assert _parameters(command) == {"service": "api", "window": "5m"}
    assert _parameters("noa run incident/ddos --target sandbox") == {}
