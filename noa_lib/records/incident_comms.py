"""The incident's communication inputs from its records: the update for now, and what earlier
runs already sent (the status-page incident each sink created, so later updates amend it).

Example (a notebook)::

    update = noa.incident_update_for(incident, phase=phase or None)
    ids = noa.statuspage_ids(incident)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from noa_lib.config import load_config
from noa_lib.errors import ParameterError
from noa_lib.ops.incident_comms import IncidentUpdate, impact_figures, incident_update
from noa_lib.records.incident_timeline import linked_records
from noa_lib.records.incidents import IncidentStore


def _store(root: Path | None) -> IncidentStore:
    return IncidentStore(root if root is not None else load_config().reports_dir)


def _linked_metas(store: IncidentStore, incident: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The incident's records (those found), oldest run first."""
    metas, _missing = linked_records(store, incident)
    return sorted(metas, key=lambda m: str(m.get("started_at") or ""))


def incident_update_for(
    incident_id: Any,
    *,
    phase: str | None = None,
    now: datetime | None = None,
    root: Path | None = None,
) -> IncidentUpdate:
    """The update for incident ``incident_id`` now: its stored state, and the impact figures its
    linked records carry (the newest record naming a figure wins).

    Raises:
        ParameterError: no incident id given; UnknownIncident: no such incident; ParameterError
            for an unknown ``phase``.
    """
    if not isinstance(incident_id, str) or not incident_id:
        raise ParameterError("incident is required: the id `noa incident open` printed "
                             "(e.g. INC-20261204-0231)", name="incident")
    store = _store(root)
    incident = store.get(incident_id).as_dict()
    impact: dict[str, Any] = {}
    for meta in _linked_metas(store, incident):
        impact.update(impact_figures((meta.get("outcome") or {}).get("figures") or {}))
    return incident_update(incident, now=now or datetime.now(UTC), impact=impact, phase=phase)


def statuspage_ids(incident_id: str, *, root: Path | None = None) -> dict[str, str]:
    """Sink name → the status-page incident id an earlier run of this incident created.

    Raises:
        UnknownIncident: no such incident.
    """
    store = _store(root)
    incident = store.get(incident_id).as_dict()
    found: dict[str, str] = {}
    for meta in _linked_metas(store, incident):
        for event in meta.get("timeline") or []:
            if (isinstance(event, Mapping) and event.get("kind") == "notification-sent"
                    and event.get("external_id") and event.get("sink")):
                found[str(event["sink"])] = str(event["external_id"])
    return found


__all__ = ["incident_update_for", "statuspage_ids"]
