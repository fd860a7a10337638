"""The on-call handoff rendered: one table per section for the notebook."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from noa_lib.ops.handoff import Handoff, OpenIncident, PendingAction

if TYPE_CHECKING:
    import pandas as pd

INCIDENT_COLUMNS = [*OpenIncident.__dataclass_fields__]
ACTION_COLUMNS = [*PendingAction.__dataclass_fields__]
FAILED_COLUMNS = ["run_id", "runbook", "started_at", "target", "summary", "path"]


def handoff_incidents_table(handoff: Handoff) -> pd.DataFrame:
    """Open incidents, newest detection first: id, title, severity, status, commander, age."""
    import pandas as pd

    frame = pd.DataFrame([asdict(i) for i in handoff.incidents], columns=INCIDENT_COLUMNS)
    frame.attrs["title"] = "open incidents"
    return frame


def handoff_failed_runs_table(handoff: Handoff) -> pd.DataFrame:
    """Cron runs of the shift that failed, newest first."""
    import pandas as pd

    frame = pd.DataFrame([asdict(r) for r in handoff.failed_runs], columns=FAILED_COLUMNS)
    frame.attrs["title"] = "failed cron runs"
    return frame


def handoff_actions_table(handoff: Handoff) -> pd.DataFrame:
    """Unfinished post-mortem action items: incident, action, owner, due, overdue."""
    import pandas as pd

    frame = pd.DataFrame([asdict(a) for a in handoff.actions], columns=ACTION_COLUMNS)
    frame.attrs["title"] = "unfinished action items"
    return frame


__all__ = ["handoff_actions_table", "handoff_failed_runs_table", "handoff_incidents_table"]
