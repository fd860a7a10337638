"""Incident triage for a notebook: severity, impact, changes, log patterns and ranked causes.

:func:`noa_lib.ops.incident_triage.triage_incident` returns typed data; these build the tables.
Each returns its columns even when empty, so a cell has the same shape in every incident.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from noa_lib.ops.incident_triage import IncidentTriage
from noa_lib.ops.promql import format_duration

if TYPE_CHECKING:
    import pandas as pd

CAUSE_COLUMNS = ["rank", "cause", "score", "runbook", "why", "command"]


def _frame(rows: list[dict[str, object]], columns: list[str], title: str) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=columns)
    frame.attrs["title"] = title
    return frame


def triage_severity_table(result: IncidentTriage) -> pd.DataFrame:
    """One row per reason behind the severity, with the response deadline."""
    verdict = result.severity
    respond = verdict.respond_by.isoformat() if verdict.respond_by else ""
    rows: list[dict[str, object]] = [
        {"severity": verdict.severity, "meaning": verdict.meaning, "reason": reason,
         "respond_within": format_duration(verdict.response_time.total_seconds()),
         "respond_by": respond}
        for reason in verdict.reasons
    ]
    return _frame(rows, ["severity", "meaning", "reason", "respond_within", "respond_by"],
                  f"severity {verdict.severity}")


def triage_impact_table(result: IncidentTriage) -> pd.DataFrame:
    """What is hit: each affected service, failing endpoint, and organization / API key."""
    scope = result.impact
    errors = result.signals.get("error_pct")
    p95 = result.signals.get("latency_p95")
    rows: list[dict[str, object]] = [
        {"kind": "service", "name": s, "detail": f"{errors.get(s, 0.0):g} % 5xx, p95 "
         f"{p95.get(s, 0.0):g} s" + (" — DOWN" if s in scope.services_down else "")}
        for s in scope.services
    ]
    rows += [{"kind": "endpoint", "name": f"{e.service} {e.endpoint}",
              "detail": f"{e.error_pct:g} % of {e.requests:g} requests failed"}
             for e in scope.endpoints]
    rows += [{"kind": "organization", "name": org, "detail": f"{n} failed request(s)"}
             for org, n in scope.organizations[:10]]
    rows += [{"kind": "api key", "name": key, "detail": f"{n} failed request(s)"}
             for key, n in scope.api_keys]
    return _frame(rows, ["kind", "name", "detail"],
                  f"impact: {scope.organizations_hit} organization(s) hit, "
                  f"{round(scope.requests_failed)} request(s) failed")


def triage_changes_table(result: IncidentTriage) -> pd.DataFrame:
    """Recent rollouts, ConfigMap writes and runs that applied changes, newest first."""
    rows: list[dict[str, object]] = [
        {"kind": "rollout", "name": r.deployment, "minutes_ago": r.minutes_ago,
         "detail": f"revision {r.revision} (previous {r.previous_revision}): {r.images}"}
        for r in result.changes.rollouts
    ]
    rows += [{"kind": "configmap", "name": c.name, "minutes_ago": c.minutes_ago, "detail": c.how}
             for c in result.changes.configmaps]
    rows += [{"kind": "run", "name": f"{r.runbook} ({r.run_id})", "minutes_ago": r.minutes_ago,
              "detail": "; ".join(r.changes) or "changes applied"}
             for r in result.changes.records]
    rows.sort(key=lambda r: float(str(r["minutes_ago"])) if r["minutes_ago"] is not None
              else float("inf"))
    return _frame(rows, ["kind", "name", "minutes_ago", "detail"], "recent changes")


def triage_patterns_table(result: IncidentTriage) -> pd.DataFrame:
    """The top error patterns in the affected services' logs."""
    rows: list[dict[str, object]] = []
    for investigation in result.logs:
        for g in investigation.groups[:5]:
            row = asdict(g)
            rows.append({"service": investigation.service, "count": row["count"],
                         "share": round(row["share"], 3), "pattern": row["pattern"],
                         "pods": ", ".join(row["pods"])})
    return _frame(rows, ["service", "count", "share", "pattern", "pods"], "error log patterns")


def triage_causes_table(result: IncidentTriage) -> pd.DataFrame:
    """The likely causes, best first (:data:`CAUSE_COLUMNS`): the runbook to open and the
    command that opens it with its parameters filled in (a dry run: it changes nothing)."""
    rows: list[dict[str, object]] = [
        {"rank": i, "cause": c.title, "score": c.score,
         "runbook": c.runbook + (" (planned)" if c.planned else ""),
         "why": "; ".join(c.evidence), "command": result.command(c)}
        for i, c in enumerate(result.causes, start=1)
    ]
    return _frame(rows, CAUSE_COLUMNS, "likely causes" if rows else "likely causes: none")


__all__ = ["CAUSE_COLUMNS", "triage_causes_table", "triage_changes_table",
           "triage_impact_table", "triage_patterns_table", "triage_severity_table"]
