"""The post-incident review as data: what an incident's own record and its runs' records say.

Pure computation over plain data — the incident as stored (its dict), the ``metadata.noa`` of each
linked record and the merged timeline as event dicts (``TimelineEvent.as_dict()``); the records
layer (:mod:`noa_lib.records.incident_review`) reads them, :mod:`noa_lib.show.postmortem` renders
the Markdown draft. Nothing is typed afterwards except the action items.

Times, following the incident runbook's phases:

* impact start — the earliest moment the records know of: an alert's ``startsAt`` (the
  ``starts_at`` parameter of alert-triggered runs), an ``impact_started_at`` outcome figure, or
  the incident's detection time;
* detected — the incident's ``detected`` status time; acknowledged — ``investigating``;
* MTTD = impact start → detected; time to acknowledge = detected → acknowledged; time to mitigate
  (TTM) = detected → mitigated; MTTR = detected → resolved, each in whole seconds (``None`` while
  the status has not been reached).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from noa_lib.errors import ParameterError
from noa_lib.ops.findings import Finding, Status

ACTION_STATUSES = ("open", "done")
IMPACT_FIGURES = ("requests_failed", "organizations_hit")
_DUE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ActionItem:
    """One post-mortem action item: what, who owns it, by when (ISO date), open or done."""

    action: str
    owner: str
    due: str
    status: str = "open"

    @property
    def is_open(self) -> bool:
        """Whether the item is not done."""
        return self.status != "done"

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form (what the review record's ``action_items`` figure holds)."""
        return {"action": self.action, "owner": self.owner, "due": self.due,
                "status": self.status}


def parse_action_item(text: str) -> ActionItem:
    """An action item from ``"what | owner | yyyy-mm-dd"`` (optionally ``| open`` or ``| done``).

    Raises:
        ParameterError: fewer than three fields, an empty field, a due date that is not a date,
            or a status other than open/done.
    """
    parts = [p.strip() for p in text.split("|")]
    accepted = "'what | owner | yyyy-mm-dd' with an optional '| open' or '| done'"
    if len(parts) not in (3, 4) or not all(parts):
        raise ParameterError(f"action item {text!r} is not {accepted}", name="action_items",
                             accepted=accepted)
    action, owner, due = parts[:3]
    status = parts[3].lower() if len(parts) == 4 else "open"
    if not _DUE.match(due):
        raise ParameterError(f"action item {text!r}: due {due!r} is not yyyy-mm-dd",
                             name="action_items", accepted=accepted)
    try:
        date.fromisoformat(due)
    except ValueError:
        raise ParameterError(f"action item {text!r}: due {due!r} is not a date",
                             name="action_items", accepted=accepted) from None
    if status not in ACTION_STATUSES:
        raise ParameterError(f"action item {text!r}: status {status!r} is not open or done",
                             name="action_items", accepted=accepted)
    return ActionItem(action, owner, due, status)


def action_items_from_figure(value: Any) -> list[ActionItem]:
    """The action items a review record stored in its ``action_items`` figure (JSON text);
    an empty list for anything unreadable."""
    try:
        items = json.loads(value) if isinstance(value, str) else []
    except ValueError:
        return []
    found: list[ActionItem] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and item.get("action"):
            found.append(ActionItem(str(item["action"]), str(item.get("owner", "")),
                                    str(item.get("due", "")), str(item.get("status", "open"))))
    return found


@dataclass(frozen=True)
class Review:
    """A post-incident review: the incident's summary, times, impact, timeline and action items.

    ``times`` maps ``impact_start``, ``detected``, ``acknowledged``, ``mitigated``, ``resolved``
    to aware UTC datetimes (``None`` when unknown); ``durations`` maps ``mttd_s``, ``tta_s``,
    ``ttm_s``, ``mttr_s``, ``impact_s`` to whole seconds (``None`` when not reached).
    ``impact_source`` says where the impact start came from.
    """

    incident: Mapping[str, Any]
    timeline: tuple[Mapping[str, Any], ...]
    runs: tuple[Mapping[str, Any], ...]
    times: Mapping[str, datetime | None]
    durations: Mapping[str, int | None]
    impact_source: str
    impact: Mapping[str, int | None]
    action_items: tuple[ActionItem, ...]
    findings: list[Finding] = field(default_factory=list)

    @property
    def changes(self) -> list[Mapping[str, Any]]:
        """The applied changes of the timeline."""
        return [e for e in self.timeline if e.get("kind") == "change-applied"]

    @property
    def figures(self) -> dict[str, Any]:
        """The outcome figures of a review record (scalars; action items as JSON text)."""
        return {
            "incident": str(self.incident.get("id", "")),
            "severity": str(self.incident.get("severity", "")),
            **{name: self.durations.get(name) for name in ("mttd_s", "tta_s", "ttm_s", "mttr_s")},
            "impact_s": self.durations.get("impact_s"),
            "events": len(self.timeline),
            "runs": len(self.runs),
            "changes": len(self.changes),
            **{name: self.impact.get(name) for name in IMPACT_FIGURES},
            "action_items": json.dumps([a.as_dict() for a in self.action_items],
                                       ensure_ascii=False),
            "action_items_open": sum(1 for a in self.action_items if a.is_open),
        }


def build_review(
    incident: Mapping[str, Any],
    runs: Sequence[Mapping[str, Any]],
    timeline: Iterable[Mapping[str, Any]],
    action_items: Iterable[ActionItem] = (),
) -> Review:
    """The review of ``incident`` (its stored dict) from its linked records' ``metadata.noa``
    (``runs``) and its merged ``timeline`` (event dicts, in order).

    Returns a :class:`Review` whose findings say whether the timeline is complete, whether the
    response deadline was met, whether the incident is resolved, whether impact figures were
    recorded and whether action items exist.
    """
    events = tuple(dict(e) for e in timeline)
    status_times = incident.get("status_times") or {}
    detected = _time(status_times.get("detected")) or _time(incident.get("detected_at"))
    impact_start, source = _impact_start(detected, runs)
    times = {
        "impact_start": impact_start,
        "detected": detected,
        "acknowledged": _time(status_times.get("investigating")),
        "mitigated": _time(status_times.get("mitigated")),
        "resolved": _time(status_times.get("resolved")),
    }
    durations = {
        "mttd_s": _seconds(impact_start, detected),
        "tta_s": _seconds(detected, times["acknowledged"]),
        "ttm_s": _seconds(detected, times["mitigated"]),
        "mttr_s": _seconds(detected, times["resolved"]),
        "impact_s": _seconds(impact_start, times["resolved"]),
    }
    impact = {name: _max_figure(runs, name) for name in IMPACT_FIGURES}
    items = tuple(action_items)
    review = Review(incident, events, tuple(runs), times, durations, source, impact, items)
    review.findings.extend(_findings(review))
    return review


def empty_review(reason: str) -> Review:
    """A review of nothing (no incident to review), whose only finding, ``incident``, is
    ``skipped`` with ``reason``."""
    times: dict[str, datetime | None] = dict.fromkeys(
        ("impact_start", "detected", "acknowledged", "mitigated", "resolved"))
    durations: dict[str, int | None] = dict.fromkeys(
        ("mttd_s", "tta_s", "ttm_s", "mttr_s", "impact_s"))
    incident = {"id": "", "title": "no incident", "severity": "", "status": "none"}
    return Review(incident, (), (), times, durations, "none", dict.fromkeys(IMPACT_FIGURES), (),
                  [Finding("incident", Status.SKIPPED, reason)])


def _findings(review: Review) -> list[Finding]:
    incident, durations = review.incident, review.durations
    missing = [e for e in review.timeline if e.get("kind") == "missing-records"]
    found = [Finding(
        "timeline", Status.WARNING if missing else Status.OK,
        f"{len(review.timeline)} events from {len(review.runs)} runs, "
        f"{len(review.changes)} applied changes"
        + (f"; {missing[0].get('text')}" if missing else ""),
        value=len(review.timeline), unit="events",
    )]
    respond_by = _time(incident.get("respond_by"))
    acknowledged = review.times["acknowledged"]
    if acknowledged is None or respond_by is None:
        found.append(Finding("response deadline", Status.WARNING,
                             "never acknowledged (no investigating time)"))
    else:
        late = acknowledged > respond_by
        found.append(Finding(
            "response deadline", Status.WARNING if late else Status.OK,
            f"acknowledged {durations['tta_s']} s after detection; {incident.get('severity')} "
            f"must respond by {respond_by:%H:%M:%S} UTC" + (" — missed" if late else ""),
            value=durations["tta_s"], unit="s",
        ))
    if durations["mttr_s"] is None:
        found.append(Finding("resolved", Status.WARNING,
                             f"{incident.get('id')} is {incident.get('status')}; MTTR not known"))
    else:
        found.append(Finding("resolved", Status.OK, f"MTTR {durations['mttr_s']} s",
                             value=durations["mttr_s"], unit="s"))
    known = {k: v for k, v in review.impact.items() if v is not None}
    found.append(Finding(
        "impact figures", Status.OK if known else Status.SKIPPED,
        ", ".join(f"{k} {v}" for k, v in known.items()) or
        "not recorded (no linked record's outcome carries requests_failed/organizations_hit)",
    ))
    open_items = sum(1 for a in review.action_items if a.is_open)
    found.append(Finding(
        "action items", Status.OK if review.action_items else Status.WARNING,
        f"{len(review.action_items)} action items, {open_items} open" if review.action_items
        else "no action items yet: every post-mortem names at least one, with owner and due",
        value=len(review.action_items),
    ))
    return found


def _impact_start(detected: datetime | None,
                  runs: Sequence[Mapping[str, Any]]) -> tuple[datetime | None, str]:
    best, source = detected, "incident detection"
    for meta in runs:
        params = meta.get("parameters") or {}
        figures = (meta.get("outcome") or {}).get("figures") or {}
        candidates = ((params.get("starts_at"), f"alert start in run {meta.get('run_id')}"),
                      (figures.get("impact_started_at"),
                       f"impact_started_at of run {meta.get('run_id')}"))
        for value, why in candidates:
            moment = _time(value)
            if moment is not None and (best is None or moment < best):
                best, source = moment, why
    return best, source


def _max_figure(runs: Sequence[Mapping[str, Any]], name: str) -> int | None:
    values = []
    for meta in runs:
        value = ((meta.get("outcome") or {}).get("figures") or {}).get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            values.append(int(value))
    return max(values) if values else None


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds())


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


__all__ = [
    "ACTION_STATUSES",
    "ActionItem",
    "Review",
    "action_items_from_figure",
    "build_review",
    "empty_review",
    "parse_action_item",
]
