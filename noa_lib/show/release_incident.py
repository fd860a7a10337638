"""The release incidents for a notebook (``incident/high_error_rate``,
``incident/complete_outage``): error breakdowns, pods per Deployment, the decision, the
mitigation's outcome.

Pure rendering (pandas imported lazily); the ops results come in, tables go out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from noa_lib.ops.error_rate import ErrorRateDiagnosis
from noa_lib.ops.mitigation import MitigationOutcome
from noa_lib.ops.outage import OutageDiagnosis
from noa_lib.ops.release_rollback import Decision

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler


def _frame(rows: Sequence[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(list(rows), columns=columns)


def error_breakdown_table(diagnosis: ErrorRateDiagnosis) -> pd.DataFrame:
    """The service's 5xx share: overall, by version (the bad release stands out), by endpoint."""
    rows: list[dict[str, Any]] = [{"by": "service", "value": diagnosis.service,
                                   "error_%": diagnosis.error_pct}]
    rows += [{"by": "version", "value": v, "error_%": pct} for v, pct in diagnosis.by_version]
    rows += [{"by": "endpoint", "value": e, "error_%": pct} for e, pct in diagnosis.by_endpoint]
    return _frame(rows, ["by", "value", "error_%"])


def log_patterns_table(diagnosis: ErrorRateDiagnosis) -> Styler | pd.DataFrame:
    """The error patterns of the service's pods' logs (an empty table when none were read)."""
    if diagnosis.logs is None:
        return _frame([], ["level", "count", "pattern", "example"])
    from noa_lib.show.logs import patterns_table

    return patterns_table(diagnosis.logs, top=10)


def deployments_table(diagnosis: OutageDiagnosis) -> pd.DataFrame:
    """Pods wanted, Ready and available per Deployment."""
    rows = [{"deployment": d.name, "desired": d.desired, "ready": d.ready,
             "available": d.available, "serving": d.ready > 0} for d in diagnosis.deployments]
    return _frame(rows, ["deployment", "desired", "ready", "available", "serving"])


def decision_table(decision: Decision) -> pd.DataFrame:
    """The decision as one row: action, why, where a rollback goes, the next runbook."""
    choice = decision.choice
    row = {"action": decision.action, "why": decision.message,
           "from": f"revision {choice.from_revision} ({choice.from_image})" if choice else "",
           "to": f"revision {choice.to_revision} ({choice.to_image})" if choice else "",
           "next_runbook": decision.next_runbook, "command": decision.command}
    return _frame([row], list(row))


def mitigation_table(outcome: MitigationOutcome) -> pd.DataFrame:
    """What the mitigation did, one row per finding (applied, verify, revert)."""
    rows = [{"status": outcome.status, "check": f.check, "result": str(f.status),
             "message": f.message} for f in outcome.findings]
    return _frame(rows, ["status", "check", "result", "message"])


__all__ = ["decision_table", "deployments_table", "error_breakdown_table", "log_patterns_table",
           "mitigation_table"]
