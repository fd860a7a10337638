"""An incident's communication for its current phase, from its record (pure: no I/O).

NOA's incident runbook (../shared/seed) names the phases — detection 0–5 min, investigation
5–30 min, mitigation 30–60 min, resolution 1–4 h, post-incident 24–48 h — and asks for internal
and external communication throughout. The phase comes from the incident's status and times:

==============  ==================================================================
detection       status ``detected``
investigation   status ``investigating``, less than 30 min after detection
mitigation      status ``investigating``, 30 min or more after detection
resolution      status ``mitigated`` (the quick fix holds; root cause, permanent fix)
post-incident   status ``resolved``
==============  ==================================================================

Update cadence by severity (ours: the seed asks for regular updates without numbers): **P0 every
15 min, P1 every 30 min, P2 hourly, P3 on change only** (no due time). A resolved incident needs
no further update.

Two texts come out: an *internal* update (severity, status, commander, impact figures the
incident's records carry, next step, next update due) and a *status-page* text in customer
language — no severity codes, ids, hostnames, runbook names or people.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from noa_lib.errors import ParameterError
from noa_lib.ops.severity import MEANING

PHASES = ("detection", "investigation", "mitigation", "resolution", "post-incident")
PHASE_WINDOW = {
    "detection": "0–5 min", "investigation": "5–30 min", "mitigation": "30–60 min",
    "resolution": "1–4 h", "post-incident": "24–48 h",
}
MITIGATION_AFTER = timedelta(minutes=30)
CADENCE: Mapping[str, timedelta | None] = {
    "P0": timedelta(minutes=15),
    "P1": timedelta(minutes=30),
    "P2": timedelta(hours=1),
    "P3": None,  # on change only
}
STATUS_PAGE_STATUS = {
    "detection": "investigating", "investigation": "investigating", "mitigation": "identified",
    "resolution": "monitoring", "post-incident": "resolved",
}
PAGERDUTY_ACTION = {
    "detection": "trigger", "investigation": "acknowledge", "mitigation": "acknowledge",
    "resolution": "acknowledge", "post-incident": "resolve",
}
NEXT_STEP = {
    "detection": "confirm severity and impact scope (incident/triage)",
    "investigation": "find the likely cause and open the mitigation runbook triage names",
    "mitigation": "apply and verify the quick fix (rollback, restart, scale or failover)",
    "resolution": "root cause analysis and the permanent fix; watch that the fix holds",
    "post-incident": "post-incident review within 48 h (incident/post_incident_review)",
}
# impact figures a record's outcome may carry, with how an update names them
IMPACT_FIGURES = {
    "error_share": ("failing requests", "share"),
    "requests_failed": ("requests failed", "count"),
    "services_down": ("services down", "count"),
    "organizations_hit": ("organizations hit", "count"),
    "endpoints_hit": ("endpoints hit", "count"),
    "p95_latency_s": ("p95 latency", "seconds"),
}
_PUBLIC_TITLE = {
    "P0": "Service outage", "P1": "Degraded service", "P2": "Partial service disruption",
    "P3": "Minor service issue",
}
_PUBLIC_IMPACT = {
    "P0": "our service is unavailable or some data may be affected",
    "P1": "many requests are failing or responding slowly",
    "P2": "some requests may fail or respond slowly",
    "P3": "a minor issue affects some parts of the service",
}
_PUBLIC_PHASE = {
    "detection": "We are aware that {impact} and are investigating.",
    "investigation": "We are investigating reports that {impact}.",
    "mitigation": "We have identified the cause and are applying a fix. Until it is in place, "
                  "{impact}.",
    "resolution": "A fix has been applied and we are monitoring the results.",
    "post-incident": "This incident has been resolved and the service is operating normally.",
}


@dataclass(frozen=True)
class IncidentUpdate:
    """What to say about an incident now, to the team and to customers."""

    incident_id: str
    title: str
    severity: str
    status: str
    commander: str | None
    phase: str
    generated_at: datetime
    cadence: timedelta | None
    next_update_due: datetime | None
    impact: Mapping[str, Any]
    next_step: str
    internal_text: str
    status_page_title: str
    status_page_text: str
    status_page_status: str
    pagerduty_action: str
    detected_at: datetime | None = None
    status_times: Mapping[str, str] = field(default_factory=dict)

    @property
    def cadence_minutes(self) -> int | None:
        """The cadence in minutes (``None``: on change only)."""
        return None if self.cadence is None else int(self.cadence.total_seconds() // 60)

    def figures(self) -> dict[str, Any]:
        """Scalar figures for the record's outcome.

        Not ``severity``/``incident_status``: records under ``incident/`` carrying those are read
        as incidents of their own by the pre-deployment checklist (records from before the
        incident store); an update is about an incident, not one.
        """
        due = self.next_update_due
        return {
            "incident": self.incident_id, "phase": self.phase,
            "update_severity": self.severity, "update_status": self.status,
            "cadence_minutes": self.cadence_minutes,
            "next_update_due": _iso(due) if due else None,
        }


def phase_of(status: str, detected_at: datetime, now: datetime) -> str:
    """The phase an incident in ``status`` (detected at ``detected_at``) is in at ``now``.

    Raises:
        ParameterError: ``status`` is not an incident status.
    """
    if status == "detected":
        return "detection"
    if status == "investigating":
        return "mitigation" if now - detected_at >= MITIGATION_AFTER else "investigation"
    if status == "mitigated":
        return "resolution"
    if status == "resolved":
        return "post-incident"
    raise ParameterError(f"incident status {status!r} is unknown", name="status")


def check_phase(value: str | None) -> str | None:
    """``value`` as a phase name (``None``/empty: none given).

    Raises:
        ParameterError: not one of :data:`PHASES`.
    """
    if value in (None, ""):
        return None
    if value not in PHASES:
        raise ParameterError(f"phase {value!r} is not a phase; accepted: {', '.join(PHASES)}",
                             name="phase", accepted=", ".join(PHASES))
    return value


def impact_figures(figures: Mapping[str, Any]) -> dict[str, Any]:
    """The impact figures (:data:`IMPACT_FIGURES`) among a record's outcome ``figures``."""
    return {k: figures[k] for k in IMPACT_FIGURES
            if isinstance(figures.get(k), int | float) and not isinstance(figures.get(k), bool)}


def incident_update(
    incident: Mapping[str, Any],
    *,
    now: datetime,
    impact: Mapping[str, Any] | None = None,
    phase: str | None = None,
) -> IncidentUpdate:
    """The update for ``incident`` (its stored dict) at ``now`` (aware, UTC).

    ``impact`` holds figures its records carry (see :func:`impact_figures`); ``phase`` overrides
    the phase derived from status and times.

    Returns:
        :class:`IncidentUpdate` with both texts, the cadence and the next update's due time.
    Raises:
        ParameterError: unknown phase or status; ``ValueError`` for an unreadable detection time.
    """
    detected = _parse(str(incident["detected_at"]))
    status = str(incident["status"])
    severity = str(incident["severity"])
    chosen = check_phase(phase) or phase_of(status, detected, now)
    cadence = None if chosen == "post-incident" else CADENCE.get(severity)
    due = now + cadence if cadence is not None else None
    found = impact_figures(impact or {})
    commander = incident.get("commander")
    internal = _internal_text(incident, chosen, found, commander, due, cadence, now, detected)
    impact_words = _PUBLIC_IMPACT.get(severity, _PUBLIC_IMPACT["P2"])
    public = _PUBLIC_PHASE[chosen].format(impact=impact_words)
    if due is not None and chosen != "post-incident":
        public += f" We will post another update by {due:%H:%M} UTC."
    return IncidentUpdate(
        incident_id=str(incident["id"]), title=str(incident.get("title", "")), severity=severity,
        status=status, commander=commander, phase=chosen, generated_at=now, cadence=cadence,
        next_update_due=due, impact=found, next_step=NEXT_STEP[chosen], internal_text=internal,
        status_page_title=_PUBLIC_TITLE.get(severity, _PUBLIC_TITLE["P2"]),
        status_page_text=public, status_page_status=STATUS_PAGE_STATUS[chosen],
        pagerduty_action=PAGERDUTY_ACTION[chosen], detected_at=detected,
        status_times=dict(incident.get("status_times") or {}),
    )


def _internal_text(incident: Mapping[str, Any], phase: str, impact: Mapping[str, Any],
                   commander: Any, due: datetime | None, cadence: timedelta | None,
                   now: datetime, detected: datetime) -> str:
    severity = str(incident["severity"])
    elapsed = int((now - detected).total_seconds() // 60)
    lines = [
        f"[{severity}] {incident['id']}: {incident.get('title', '')}",
        f"Severity: {severity} ({MEANING.get(severity, '?')})",
        f"Status: {incident['status']} — phase {phase} ({PHASE_WINDOW[phase]}), "
        f"{elapsed} min since detection",
        f"Commander: {commander or 'not assigned'}",
    ]
    if impact:
        parts = [_figure_text(k, v) for k, v in impact.items()]
        lines.append("Impact: " + "; ".join(parts))
    else:
        lines.append("Impact: no figures recorded yet")
    lines.append(f"Next step: {NEXT_STEP[phase]}")
    if due is not None and cadence is not None:
        minutes = int(cadence.total_seconds() // 60)
        lines.append(f"Next update due: {_iso(due)} (every {minutes} min for {severity})")
    elif phase == "post-incident":
        lines.append("Next update due: none (resolved)")
    else:
        lines.append(f"Next update due: on change ({severity})")
    return "\n".join(lines)


def _figure_text(key: str, value: float | int) -> str:
    label, unit = IMPACT_FIGURES[key]
    if unit == "share":
        return f"{label} {value * 100:.1f} %"
    if unit == "seconds":
        return f"{label} {value:.2f} s"
    return f"{label} {value:g}"


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["CADENCE", "PHASES", "IncidentUpdate", "check_phase", "impact_figures",
           "incident_update", "phase_of"]
