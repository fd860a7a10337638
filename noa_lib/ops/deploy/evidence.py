"""What the pre-deployment checklist and its checks share: the records' evidence and the SLO.

Its own module so that :mod:`.checklist` (the driver) and :mod:`.checklist_checks` (the items)
both import it and neither imports the other's types.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SLO_AVAILABILITY = 0.99
"""NOA Server's availability SLO (30 days): NOA's thresholds call an error rate under 1 % normal,
so the error budget is 1 % of requests; a release should not ship while it is spent."""
SLO_WINDOW = "30d"


@dataclass(frozen=True)
class DeployEvidence:
    """What the records say about the state before a deployment (gathered in ``records``).

    ``last_backup``/``last_validation``: start time and run id of the newest successful
    ``backup/full_backup`` / ``backup/validate_backup`` record (outcome ok), or ``None``;
    ``open_incidents``: run ids (with severity) of incident records in the last days whose
    outcome says P0/P1 and not resolved.
    """

    last_backup: tuple[datetime, str] | None = None
    last_validation: tuple[datetime, str] | None = None
    open_incidents: tuple[str, ...] = ()
    incidents_since: datetime | None = None
    source: str = ""


__all__ = ["SLO_AVAILABILITY", "SLO_WINDOW", "DeployEvidence"]
