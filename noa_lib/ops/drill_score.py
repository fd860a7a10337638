"""The score of an incident drill, from the times its records and its incident show (pure).

A drill injects a scenario and starts the clock; the response is scored by NOA's incident phases
(detection 0–5 min, investigation 5–30 min, mitigation 30–60 min, resolution 1–4 h), one stage
each, 25 points a stage:

==============  ===========================================  ==================================
stage           full points when                              none when
==============  ===========================================  ==================================
detected        an incident was opened ≤ 5 min after the      not detected (or after 15 min;
                injection                                    linear in between)
triaged         triage named the scenario's cause first,     no triage, or another cause first
                ≤ 30 min after the injection                 (half points after 30 min)
mitigated       the incident was mitigated ≤ 60 min after    not mitigated (half points later)
                the injection, and the mitigation verified   (half points when not verified)
resolved        the incident was resolved ≤ 4 h after it     not resolved
==============  ===========================================  ==================================

:func:`score_drill` returns each stage's points, the minutes it took, and the total.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from noa_lib.ops.findings import Finding

STAGE_POINTS = 25
DETECT_FULL = timedelta(minutes=5)
DETECT_ZERO = timedelta(minutes=15)
TRIAGE_BY = timedelta(minutes=30)
MITIGATE_BY = timedelta(minutes=60)
RESOLVE_BY = timedelta(hours=4)


@dataclass(frozen=True)
class DrillTimes:
    """What happened after the injection (``None``: did not happen)."""

    scenario: str
    expected_cause: str  # the runbook that cures the scenario
    injected: datetime
    detected: datetime | None = None
    triaged: datetime | None = None
    triage_cause: str | None = None  # the runbook triage ranked first
    mitigated: datetime | None = None
    mitigation_runbook: str | None = None
    verified: bool = False
    resolved: datetime | None = None


@dataclass(frozen=True)
class Stage:
    name: str
    points: float
    minutes: float | None  # from the injection
    note: str


@dataclass(frozen=True)
class DrillScore:
    scenario: str
    stages: tuple[Stage, ...]

    @property
    def total(self) -> float:
        return round(sum(s.points for s in self.stages), 1)

    def figures(self) -> dict[str, float | str | None]:
        """Outcome figures: the total and each stage's points and minutes."""
        out: dict[str, float | str | None] = {"scenario": self.scenario, "score": self.total,
                                              "score_max": STAGE_POINTS * len(self.stages)}
        for stage in self.stages:
            out[f"{stage.name}_points"] = stage.points
            out[f"{stage.name}_min"] = stage.minutes
        return out


@dataclass(frozen=True)
class DrillRun:
    """A run the drill started or found: runbook, run id, status and outcome figures."""

    runbook: str
    run_id: str
    status: str
    figures: dict[str, Any]
    by_drill: bool


@dataclass(frozen=True)
class DrillResult:
    """How a drill went (``dry_run``: nothing was injected, only the plan exists)."""

    scenario: str
    mode: str
    expected_cause: str
    incident: str | None
    times: DrillTimes
    score: DrillScore
    runs: tuple[DrillRun, ...]
    findings: tuple[Finding, ...]
    dry_run: bool = False

    def figures(self) -> dict[str, float | str | bool | None]:
        """Outcome figures: the score by stage and the incident (a dry run: the plan only)."""
        if self.dry_run:
            return {"scenario": self.scenario, "mode": self.mode, "cure": self.expected_cause,
                    "dry_run": True}
        return {**self.score.figures(), "mode": self.mode, "cure": self.expected_cause,
                "incident": self.incident or "", "dry_run": False}


def _minutes(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds() / 60, 2)


def score_drill(times: DrillTimes) -> DrillScore:
    """Score ``times`` by the table in this module's docstring."""
    start = times.injected
    stages = []
    if times.detected is None:
        stages.append(Stage("detected", 0.0, None, "no incident was opened"))
    else:
        took = times.detected - start
        share = 1.0 if took <= DETECT_FULL else max(
            0.0, 1 - (took - DETECT_FULL) / (DETECT_ZERO - DETECT_FULL))
        minutes = _minutes(start, times.detected)
        stages.append(Stage("detected", round(STAGE_POINTS * share, 1), minutes,
                            f"incident opened {minutes} min after the injection (full points "
                            f"≤ {DETECT_FULL.seconds // 60} min)"))
    if times.triaged is None:
        stages.append(Stage("triaged", 0.0, None, "no triage record"))
    elif times.triage_cause != times.expected_cause:
        stages.append(Stage("triaged", 0.0, _minutes(start, times.triaged),
                            f"triage ranked {times.triage_cause or 'no cause'} first; the cause "
                            f"was {times.expected_cause}"))
    else:
        late = times.triaged - start > TRIAGE_BY
        stages.append(Stage("triaged", STAGE_POINTS / (2 if late else 1),
                            _minutes(start, times.triaged),
                            f"triage named {times.expected_cause} first"
                            + (" (after 30 min: half points)" if late else "")))
    if times.mitigated is None:
        stages.append(Stage("mitigated", 0.0, None, "the incident was not mitigated"))
    else:
        points = float(STAGE_POINTS)
        notes = [f"mitigated by {times.mitigation_runbook or 'an operator'}"]
        if times.mitigated - start > MITIGATE_BY:
            points /= 2
            notes.append("after 60 min: half points")
        if not times.verified:
            points /= 2
            notes.append("not verified: half points")
        stages.append(Stage("mitigated", points, _minutes(start, times.mitigated),
                            "; ".join(notes)))
    if times.resolved is None:
        stages.append(Stage("resolved", 0.0, None, "the incident is not resolved"))
    else:
        late = times.resolved - start > RESOLVE_BY
        stages.append(Stage("resolved", 0.0 if late else float(STAGE_POINTS),
                            _minutes(start, times.resolved),
                            "resolved" + (" after 4 h: no points" if late else "")))
    return DrillScore(times.scenario, tuple(stages))


__all__ = ["DrillResult", "DrillRun", "DrillScore", "DrillTimes", "Stage", "score_drill"]
