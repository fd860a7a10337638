"""Alert triage for a notebook: what triage read, as tables, and the next runbooks.

Triage (:mod:`noa_lib.ops.alert_triage`) returns typed data; these functions build the tables.
Each returns a table with its columns even when triage did not look there (empty), so a notebook
cell shows the same shape for every alert.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from noa_lib.ops.alert_triage import TriageResult

if TYPE_CHECKING:
    import pandas as pd

ROLLOUT_COLUMNS = ["deployment", "revision", "previous_revision", "rolled_out", "minutes_ago",
                   "images"]


def show_triage_rollouts(result: TriageResult) -> pd.DataFrame:
    """The Deployments' current revisions triage read (:data:`ROLLOUT_COLUMNS`), in the order the
    API listed them; empty when the alert's quick actions do not look at Kubernetes."""
    import pandas as pd

    frame = pd.DataFrame([asdict(r) for r in result.rollouts], columns=ROLLOUT_COLUMNS)
    frame.attrs["title"] = f"recent rollouts ({result.alert_name})"
    return frame


def show_triage_long_queries(result: TriageResult) -> pd.DataFrame:
    """The long-running queries triage read from PostgreSQL (the columns of
    :func:`noa_lib.show.database.show_long_queries`); empty when it did not look there."""
    from noa_lib.show.database import show_long_queries

    return show_long_queries(result.database)


def show_triage_connections(result: TriageResult) -> pd.DataFrame:
    """Connections by database and state as triage read them; empty when it did not look."""
    from noa_lib.show.database import show_connections_by_state

    return show_connections_by_state(result.database)


def next_runbooks_table(result: TriageResult) -> pd.DataFrame:
    """One row per recommended runbook: ``runbook``, ``why``, and how to run it (``noa run …``
    with the alert's labels) or "not written yet" for planned ones."""
    import pandas as pd

    rows = [
        {
            "runbook": r.runbook,
            "why": r.why,
            "run": "not written yet" if r.planned else f"noa run {r.runbook}",
        }
        for r in result.next_runbooks
    ]
    frame = pd.DataFrame(rows, columns=["runbook", "why", "run"])
    frame.attrs["title"] = f"next runbooks for {result.alert_name}"
    return frame


__all__ = ["ROLLOUT_COLUMNS", "next_runbooks_table", "show_triage_connections",
           "show_triage_long_queries", "show_triage_rollouts"]
