"""An incident's timeline: its own history merged, by time, with what its records show.

From the incident: opened, status transitions, reopenings, severity overrides, commander changes,
notes and alert groups joining. From each linked record (its ``metadata.noa``): the run's start,
its end with the run status and outcome, every outcome finding whose status is not ``ok`` (stamped
with the run's end: findings are known when the run ends) and every entry of the record's
``timeline`` (the mutating actions: plans, applied changes). The executed notebooks are the
evidence; nothing here is typed afterwards.

Events sort by time; at the same instant incident events come before record events, and a
record's events keep their order (start, timeline, findings, end).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from noa_lib.errors import NoaError
from noa_lib.records.metadata import parse_timestamp, read_record_metadata

if TYPE_CHECKING:
    from noa_lib.records.incidents import IncidentStore

_EPOCH_TEXT = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class TimelineEvent:
    """One line of an incident's timeline."""

    at: datetime
    kind: str  # opened | status | reopened | severity | commander | note | group-joined |
    #            run-started | run-ended | finding | <record timeline kind, e.g. change-applied>
    text: str
    run_id: str | None = None
    runbook: str | None = None
    by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (``at`` as ISO 8601 UTC)."""
        return {
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "kind": self.kind,
            "text": self.text,
            "run_id": self.run_id,
            "runbook": self.runbook,
            "by": self.by,
        }


def merge_timeline(
    incident: Mapping[str, Any], records: Iterable[Mapping[str, Any]]
) -> list[TimelineEvent]:
    """The timeline of ``incident`` (its stored dict) and its ``records`` (``metadata.noa`` each).

    Returns events ordered by time (stable: see the module docstring). Entries without a
    parseable time are placed at the incident's detection time.
    """
    fallback = _time(incident.get("detected_at"), None) or parse_timestamp(_EPOCH_TEXT)
    keyed: list[tuple[datetime, int, int, TimelineEvent]] = []
    for seq, entry in enumerate(incident.get("history") or []):
        event = _incident_event(entry, fallback)
        keyed.append((event.at, 0, seq, event))
    for rank, meta in enumerate(records, start=1):
        for seq, event in enumerate(_record_events(meta, fallback)):
            keyed.append((event.at, rank, seq, event))
    keyed.sort(key=lambda item: (item[0], item[1], item[2]))
    return [event for *_, event in keyed]


def incident_timeline(store: IncidentStore, incident_id: str) -> list[TimelineEvent]:
    """The timeline of incident ``incident_id``, reading its linked records (from the records
    index, else from the record files; a record that is gone is left out, with a warning event).

    Raises:
        UnknownIncident: no such incident.
    """
    incident = store.get(incident_id).as_dict()
    metas, missing = linked_records(store, incident)
    events = merge_timeline(incident, metas)
    if missing:
        at = events[-1].at if events else parse_timestamp(incident["detected_at"])
        events.append(TimelineEvent(at, "missing-records",
                                    f"record(s) not found: {', '.join(missing)}"))
    return events


def linked_records(
    store: IncidentStore, incident: Mapping[str, Any]
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """The ``metadata.noa`` of each record linked to ``incident`` (its stored dict), in link
    order, read from the records index, else from the record file; and the run ids of linked
    records found in neither."""
    from noa_lib.records.index import RecordIndex

    index = RecordIndex(store.root)
    metas: list[Mapping[str, Any]] = []
    missing: list[str] = []
    for link in incident.get("records") or []:
        meta = _record_meta(index, store.root, link)
        if meta is None:
            missing.append(str(link.get("run_id")))
        else:
            metas.append(meta)
    return metas, missing


def _record_meta(index: Any, root: Path, link: Mapping[str, Any]) -> Mapping[str, Any] | None:
    run_id = str(link.get("run_id", ""))
    meta: Mapping[str, Any] | None = None
    try:
        meta = index.get(run_id) if run_id else None
    except (NoaError, sqlite3.Error, OSError, ValueError):  # unusable index: read the file
        meta = None
    if meta is None and link.get("record"):
        try:
            meta = read_record_metadata(root / str(link["record"]))
        except (OSError, ValueError):
            meta = None
    return meta


def _time(value: Any, fallback: datetime | None) -> datetime | None:
    if isinstance(value, str) and value:
        try:
            return parse_timestamp(value.replace("Z", "+00:00"))
        except ValueError:
            pass
    return fallback


def _incident_event(entry: Mapping[str, Any], fallback: datetime) -> TimelineEvent:
    action = str(entry.get("action", "note"))
    before, after = entry.get("before"), entry.get("after")
    reason = f" — {entry['reason']}" if entry.get("reason") else ""
    note = f" — {entry['text']}" if entry.get("text") else ""
    if action == "opened":
        text = f"incident opened, severity {after}{note}"
    elif action == "status":
        text = f"status {before} → {after}{note}"
    elif action == "reopened":
        text = f"reopened: {before} → {after}{reason}"
    elif action == "severity":
        text = f"severity {before} → {after}{reason}"
    elif action == "commander":
        text = f"commander {before or '-'} → {after}"
    elif action == "group-joined":
        text = f"alert group joined: {after}"
    else:
        text = str(entry.get("text", ""))
    at = _time(entry.get("at"), fallback) or fallback
    return TimelineEvent(at, action, text, by=entry.get("by"))


def _record_events(meta: Mapping[str, Any], fallback: datetime) -> list[TimelineEvent]:
    run_id = str(meta.get("run_id", "")) or None
    runbook = str(meta.get("runbook", "")) or None
    started = _time(meta.get("started_at"), fallback) or fallback
    ended = _time(meta.get("ended_at"), started) or started
    who = meta.get("operator")
    events = [TimelineEvent(started, "run-started", f"{runbook} started", run_id, runbook, who)]
    for entry in meta.get("timeline") or []:
        if not isinstance(entry, Mapping):
            continue
        kind = str(entry.get("kind", "action"))
        text = str(entry.get("summary", "")) or kind
        at = _time(entry.get("at"), ended) or ended
        events.append(TimelineEvent(at, kind, text, run_id, runbook, who))
    outcome = meta.get("outcome") or {}
    for finding in outcome.get("findings") or []:
        if not isinstance(finding, Mapping) or finding.get("status") in ("ok", None):
            continue
        text = f"{finding.get('status')}: {finding.get('check', '')}"
        if finding.get("message"):
            text += f" — {finding['message']}"
        events.append(TimelineEvent(ended, "finding", text, run_id, runbook, who))
    end_text = f"{runbook} {meta.get('status', 'ended')}"
    if outcome.get("status"):
        end_text += f", outcome {outcome['status']}"
    if outcome.get("summary"):
        end_text += f": {outcome['summary']}"
    events.append(TimelineEvent(ended, "run-ended", end_text, run_id, runbook, who))
    return events


__all__ = ["TimelineEvent", "incident_timeline", "linked_records", "merge_timeline"]
