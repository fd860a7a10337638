"""Send an incident update through a target's notification sinks — or, in a dry run, show it.

:func:`plan_notifications` builds one request per chosen sink (payloads from
:mod:`noa_lib.ops.notify_payloads`, secrets masked in what a plan shows). :func:`send_notifications`
sends nothing when ``dry_run`` is true (each request goes to the record's timeline as a ``dry-run``
event with its masked body); otherwise it sends each request once and records a
``notification-sent`` or ``notification-failed`` event. A failed send (HTTP error, timeout,
refused connection, a secret that does not resolve) becomes a ``critical`` finding for that sink:
the other sinks are still tried and the run goes on to record its outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from noa_lib.clients import notifications as client
from noa_lib.config import Target
from noa_lib.errors import NoaError, ParameterError
from noa_lib.journal import emit_event
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.incident_comms import IncidentUpdate
from noa_lib.ops.notify_payloads import NotificationRequest, build_request


@dataclass(frozen=True)
class Delivery:
    """How one sink's request went: ``sent`` False for a dry run or a failure (``error``)."""

    request: NotificationRequest
    sent: bool
    dry_run: bool
    status_code: int | None = None
    error: str | None = None
    external_id: str | None = None

    def as_row(self) -> dict[str, Any]:
        """One table row (masked)."""
        outcome = "dry run" if self.dry_run else ("sent" if self.sent else "FAILED")
        return {"sink": self.request.sink, "kind": self.request.kind,
                "request": f"{self.request.method} {self.request.path or '/'}",
                "what": self.request.summary, "outcome": outcome,
                "http": self.status_code, "error": self.error or ""}


def choose_sinks(target: Target, sinks: Sequence[str] | None) -> list[str]:
    """The sink names to use: ``sinks`` (each must be configured) or all configured ones.

    Raises:
        ParameterError: a named sink is not configured on ``target``.
    """
    configured = list(target.notifications)
    if not sinks:
        return configured
    unknown = [s for s in sinks if s not in target.notifications]
    if unknown:
        raise ParameterError(
            f"sinks {unknown} are not configured for target {target.name!r}; configured: "
            f"{', '.join(configured) or '(none)'}", name="sinks", accepted=", ".join(configured))
    return list(sinks)


def plan_notifications(
    target: Target,
    update: IncidentUpdate,
    sinks: Sequence[str] | None = None,
    *,
    statuspage_ids: Mapping[str, str] | None = None,
) -> list[NotificationRequest]:
    """One request per chosen sink for ``update`` (``statuspage_ids``: sink → status-page
    incident an earlier update created, so this one updates it).

    Raises:
        ParameterError: an unknown sink name.
    """
    known = statuspage_ids or {}
    requests = []
    for name in choose_sinks(target, sinks):
        sink = target.notifications[name]
        requests.append(build_request(sink.kind, name, update, target=target.name,
                                      has_token=sink.secret is not None,
                                      statuspage_id=known.get(name)))
    return requests


def send_notifications(
    target: Target, requests: Sequence[NotificationRequest], *, dry_run: bool = True
) -> tuple[list[Delivery], list[Finding]]:
    """Send ``requests`` (nothing in a dry run); every attempt goes to the record's timeline.

    Returns:
        The deliveries and one finding per sink (``ok`` sent or planned, ``critical`` failed).
    """
    deliveries: list[Delivery] = []
    findings: list[Finding] = []
    if not requests:
        findings.append(Finding("notify", Status.WARNING,
                                f"no notification sink chosen or configured for target "
                                f"{target.name!r} ([targets.{target.name}.notifications.<sink>]); "
                                "nothing sent"))
    for request in requests:
        sink = target.notifications[request.sink]
        fields = {"sink": request.sink, "sink_kind": request.kind, "target": target.name,
                  "method": request.method, "path": request.path, "url": sink.display_url()}
        if dry_run:
            emit_event("dry-run", summary=f"would notify {request.sink}: {request.summary}",
                       body=request.masked_body(), headers=request.masked_headers(), **fields)
            deliveries.append(Delivery(request, sent=False, dry_run=True))
            findings.append(Finding(f"notify {request.sink}", Status.OK,
                                    f"dry run: {request.summary} not sent",
                                    evidence={"body": request.masked_body(), **fields}))
            continue
        try:
            result = client.send(sink, method=request.method, path=request.path,
                                 body=dict(request.body), auth=request.auth)
        except NoaError as exc:  # ConfigError (a secret that does not resolve) included
            emit_event("notification-failed", summary=f"notify {request.sink} failed: {exc}",
                       error=str(exc), **fields)
            deliveries.append(Delivery(request, sent=False, dry_run=False, error=str(exc)))
            findings.append(Finding(f"notify {request.sink}", Status.CRITICAL,
                                    f"{request.summary} not delivered: {exc}",
                                    evidence=fields))
            continue
        external = _external_id(request, result.data)
        emit_event("notification-sent", summary=f"notified {request.sink}: {request.summary}",
                   status_code=result.status_code, external_id=external, **fields)
        deliveries.append(Delivery(request, sent=True, dry_run=False,
                                   status_code=result.status_code, external_id=external))
        findings.append(Finding(f"notify {request.sink}", Status.OK,
                                f"{request.summary} delivered (HTTP {result.status_code})",
                                value=result.status_code, evidence=fields))
    return deliveries, findings


def delivery_figures(deliveries: Sequence[Delivery]) -> dict[str, int]:
    """Outcome figures: sinks addressed, sent, failed (a dry run sends none)."""
    return {
        "sinks": len(deliveries),
        "sent": sum(1 for d in deliveries if d.sent),
        "failed": sum(1 for d in deliveries if not d.sent and not d.dry_run),
    }


def _external_id(request: NotificationRequest, data: Any) -> str | None:
    if request.kind != "statuspage":
        return None
    if isinstance(data, Mapping) and data.get("id") is not None:
        return str(data["id"])
    known = request.extra.get("statuspage_id")
    return str(known) if known else None


__all__ = [
    "Delivery", "choose_sinks", "delivery_figures", "plan_notifications", "send_notifications",
]
