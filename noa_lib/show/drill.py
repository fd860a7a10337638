"""An incident drill for a notebook: the plan, each stage's score, and the runs it took."""

from __future__ import annotations

from typing import TYPE_CHECKING

from noa_lib.ops.drill_score import DrillResult

if TYPE_CHECKING:
    import pandas as pd


def drill_plan_table(plan: dict[str, str]) -> pd.DataFrame:
    """One row: the scenario, what it causes, the runbook that cures it, the mode."""
    import pandas as pd

    frame = pd.DataFrame([plan], columns=["scenario", "summary", "cure", "mode", "current"])
    frame.attrs["title"] = f"drill of {plan.get('scenario')}"
    return frame


def drill_score_table(result: DrillResult) -> pd.DataFrame:
    """One row per stage (detected, triaged, mitigated, resolved): points, minutes, why; empty
    for a dry run."""
    import pandas as pd

    rows = [] if result.dry_run else [
        {"stage": s.name, "points": s.points, "minutes": s.minutes, "note": s.note}
        for s in result.score.stages]
    frame = pd.DataFrame(rows, columns=["stage", "points", "minutes", "note"])
    frame.attrs["title"] = f"score {result.score.total:g}/100 — {result.scenario}"
    return frame


def drill_runs_table(result: DrillResult) -> pd.DataFrame:
    """The runs of the response: the runbook, its run id, status, and who started it."""
    import pandas as pd

    rows = [{"runbook": r.runbook, "run_id": r.run_id, "status": r.status,
             "started_by": "drill" if r.by_drill else "alert / responder",
             "outcome": r.figures.get("mitigation") or r.figures.get("likely_cause") or ""}
            for r in result.runs]
    frame = pd.DataFrame(rows, columns=["runbook", "run_id", "status", "started_by", "outcome"])
    frame.attrs["title"] = f"runs of incident {result.incident or '-'}"
    return frame


__all__ = ["drill_plan_table", "drill_runs_table", "drill_score_table"]
