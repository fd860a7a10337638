"""What a mitigation runbook's outcome does to its incident: ``mitigated`` when verified.

The incident runbooks take the incident id as their ``incident`` parameter (or ``noa run
--incident``); :func:`record_mitigation` moves that incident to ``mitigated`` when the mitigation
was applied and verified, and otherwise adds a note saying what happened (a dry run, a failed
verify and its revert), so the incident's own timeline tells the story beside the records.
"""

from __future__ import annotations

from pathlib import Path

from noa_lib.config import load_config
from noa_lib.ops.mitigation import MitigationOutcome
from noa_lib.records.incidents import Incident, IncidentStore


def record_mitigation(
    incident: str | None,
    outcome: MitigationOutcome,
    *,
    runbook: str,
    by: str | None = None,
    root: Path | None = None,
) -> Incident | None:
    """Update ``incident`` (``None`` or ``""``: no incident, nothing done) after ``outcome``.

    Returns:
        The incident as stored now, or ``None`` without an incident or for a dry run (a plan
        read is not news for the incident).
    Raises:
        UnknownIncident: ``incident`` does not exist (the runner already refuses that).
    """
    if not incident or outcome.status in ("dry-run", "nothing to do"):
        return None
    store = IncidentStore(root if root is not None else load_config().reports_dir)
    current = store.get(incident)
    message = "; ".join(f.message for f in outcome.findings)
    if outcome.cured and current.status in ("detected", "investigating"):
        return store.update(incident, status="mitigated", note=f"{runbook}: {message}", by=by)
    return store.update(incident, note=f"{runbook} ({outcome.status}): {message}", by=by)


__all__ = ["record_mitigation"]
