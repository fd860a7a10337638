"""What each notification sink kind is sent for an :class:`IncidentUpdate` (pure: no I/O).

The bodies follow the formats the services document:

- **slack** — a Slack incoming webhook message: ``text`` (the fallback) and ``blocks`` (a
  ``header`` with ``plain_text`` ≤ 150 chars, ``section`` blocks with ``mrkdwn`` text ≤ 3000 chars
  and ≤ 10 ``fields``, a ``context`` block).
- **pagerduty** — a PagerDuty Events API v2 event: ``routing_key``, ``event_action``
  (``trigger``/``acknowledge``/``resolve``), ``dedup_key`` = the incident id and, for a trigger,
  ``payload.summary`` (≤ 1024 chars), ``payload.source``, ``payload.severity`` (P0 → critical,
  P1 → error, P2 → warning, P3 → info), ``timestamp``, ``component``, ``group``, ``class``,
  ``custom_details``.
- **statuspage** — a Statuspage-style incidents API: ``POST <url>/incidents`` to create, ``PATCH
  <url>/incidents/<id>`` to update, body ``{"incident": {"name", "status", "body",
  "impact_override"}}`` with status investigating/identified/monitoring/resolved; bearer token.
- **webhook** — a generic JSON document with the incident, both texts and the cadence.

Secrets are not here: a request says *where* its secret goes (``auth``: the routing key field or
the ``Authorization`` header) and the client fills it in when it sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from noa_lib.notifications_config import AUTH_SCHEMES
from noa_lib.ops.incident_comms import IncidentUpdate

PAGERDUTY_SEVERITY = {"P0": "critical", "P1": "error", "P2": "warning", "P3": "info"}
STATUSPAGE_IMPACT = {"P0": "critical", "P1": "major", "P2": "minor", "P3": "none"}
MASK = "***"


@dataclass(frozen=True)
class NotificationRequest:
    """One HTTP request to a sink, without its secret.

    ``path`` is appended to the sink's URL; ``auth`` says where the secret goes: ``"routing_key"``
    (PagerDuty: the body field), ``"bearer"`` (``Authorization: Bearer …``), ``"oauth"``
    (``Authorization: OAuth …``, Statuspage's API keys) or ``None``.
    """

    sink: str
    kind: str
    method: str
    path: str
    body: Mapping[str, Any]
    auth: str | None = None
    summary: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def masked_body(self) -> dict[str, Any]:
        """The body as a plan shows it: the secret field present but masked."""
        body = dict(self.body)
        if self.auth == "routing_key":
            body = {"routing_key": MASK, **body}
        return body

    def masked_headers(self) -> dict[str, str]:
        """The headers as a plan shows them."""
        headers = {"Content-Type": "application/json"}
        if self.auth in AUTH_SCHEMES:
            headers["Authorization"] = f"{AUTH_SCHEMES[self.auth]} {MASK}"
        return headers


def build_request(
    kind: str,
    sink: str,
    update: IncidentUpdate,
    *,
    target: str,
    has_token: bool = True,
    statuspage_id: str | None = None,
) -> NotificationRequest:
    """The request sink ``sink`` of ``kind`` gets for ``update`` on ``target``.

    ``statuspage_id`` is the status-page incident an earlier update created (then it is updated,
    else created); ``has_token`` says whether a generic webhook has a bearer token.

    Raises:
        ValueError: unknown ``kind``.
    """
    if kind == "slack":
        return NotificationRequest(sink, kind, "POST", "", slack_message(update),
                                   summary=f"Slack message for {update.incident_id}")
    if kind == "pagerduty":
        event = pagerduty_event(update, target=target)
        return NotificationRequest(sink, kind, "POST", "", event, auth="routing_key",
                                   summary=f"PagerDuty {event['event_action']} "
                                           f"{update.incident_id}")
    if kind == "statuspage":
        body = statuspage_incident(update, create=statuspage_id is None)
        if statuspage_id is None:
            return NotificationRequest(sink, kind, "POST", "/incidents", body, auth="oauth",
                                       summary=f"status page: create ({update.status_page_status})")
        return NotificationRequest(sink, kind, "PATCH", f"/incidents/{statuspage_id}", body,
                                   auth="oauth",
                                   summary=f"status page: update ({update.status_page_status})",
                                   extra={"statuspage_id": statuspage_id})
    if kind == "webhook":
        return NotificationRequest(sink, kind, "POST", "", webhook_document(update, target=target),
                                   auth="bearer" if has_token else None,
                                   summary=f"webhook incident.update {update.incident_id}")
    raise ValueError(f"unknown sink kind {kind!r}")


def slack_message(update: IncidentUpdate) -> dict[str, Any]:
    """A Slack incoming-webhook message (``text`` fallback + ``blocks``)."""
    header = f"[{update.severity}] {update.incident_id} — {update.phase}"[:150]
    fields = [
        ("Severity", update.severity), ("Status", update.status), ("Phase", update.phase),
        ("Commander", update.commander or "not assigned"),
        ("Next update", _due(update)),
    ]
    return {
        "text": f"[{update.severity}] {update.incident_id} {update.title}: {update.status} "
                f"({update.phase})"[:3000],
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}},
            {"type": "section", "text": {"type": "mrkdwn", "text": update.internal_text[:3000]}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": f"*{name}*\n{value}"[:2000]} for name, value in fields
            ]},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"Next step: {update.next_step}"[:3000]},
            ]},
        ],
    }


def pagerduty_event(update: IncidentUpdate, *, target: str) -> dict[str, Any]:
    """A PagerDuty Events API v2 event without ``routing_key`` (the client adds it)."""
    event: dict[str, Any] = {
        "event_action": update.pagerduty_action,
        "dedup_key": update.incident_id[:255],
    }
    if update.pagerduty_action == "trigger":
        event["payload"] = {
            "summary": f"[{update.severity}] {update.incident_id}: {update.title}"[:1024],
            "source": f"noa-server/{target}",
            "severity": PAGERDUTY_SEVERITY.get(update.severity, "warning"),
            "timestamp": update.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "component": "noa-server",
            "group": target,
            "class": "incident",
            "custom_details": {
                "status": update.status, "phase": update.phase,
                "commander": update.commander, "next_step": update.next_step,
                "impact": dict(update.impact),
            },
        }
    return event


def statuspage_incident(update: IncidentUpdate, *, create: bool) -> dict[str, Any]:
    """A Statuspage-style incident body: customer text only."""
    incident: dict[str, Any] = {"status": update.status_page_status,
                                "body": update.status_page_text}
    if create:
        incident["name"] = update.status_page_title
        incident["impact_override"] = STATUSPAGE_IMPACT.get(update.severity, "minor")
    return {"incident": incident}


def webhook_document(update: IncidentUpdate, *, target: str) -> dict[str, Any]:
    """The generic webhook's JSON document."""
    return {
        "event": "incident.update",
        "target": target,
        "sent_at": update.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "incident": {
            "id": update.incident_id, "title": update.title, "severity": update.severity,
            "status": update.status, "phase": update.phase, "commander": update.commander,
            "status_times": dict(update.status_times),
        },
        "impact": dict(update.impact),
        "internal_text": update.internal_text,
        "status_page": {"title": update.status_page_title, "text": update.status_page_text,
                        "status": update.status_page_status},
        "cadence_minutes": update.cadence_minutes,
        "next_update_due": _due(update) if update.next_update_due else None,
    }


def _due(update: IncidentUpdate) -> str:
    if update.next_update_due is None:
        return "none (resolved)" if update.phase == "post-incident" else "on change"
    return update.next_update_due.strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["PAGERDUTY_SEVERITY", "NotificationRequest", "build_request", "pagerduty_event",
           "slack_message", "statuspage_incident", "webhook_document"]
