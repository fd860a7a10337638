"""Alert triage for a notebook: the recommended next runbooks as a table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from noa_lib.ops.alert_triage import TriageResult

if TYPE_CHECKING:
    import pandas as pd


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


__all__ = ["next_runbooks_table"]
