"""Incident severity P0–P3 from live signals a caller measured (pure: no I/O).

NOA's table (../shared/seed, "Incident severity reference"), with the response deadline counted
from detection:

======  =========================================  ===========
P0      complete outage or data loss                 5 minutes
P1      major degradation                           15 minutes
P2      minor issue                                   1 hour
P3      cosmetic                                     24 hours
======  =========================================  ===========

The thresholds that map measurements onto that table (each rule adds a reason; the worst wins):

- **P0**: any data-loss signal (a failed backup, broken replication); every service down (no
  serving pods or scrape down), or a service the product cannot answer without (``outage_services``,
  by default the ``api``) down — a complete outage; more than 50 % of all requests failing.
- **P1**: a service down while others serve; overall error share ≥ 5 % (the ``HighErrorRate``
  alert's critical bound); any one service ≥ 25 % failing; p95 latency > 2 s; ≥ 10 organizations
  hit.
- **P2**: overall error share ≥ 2 %; any one service ≥ 5 % failing; p95 latency > 1 s; any
  endpoint or organization named as hit; a dependency down that NOA works around (an AI provider
  with its breaker open: fallbacks serve, degraded); a capacity risk that will become an outage if
  nobody acts (a volume ≥ 90 % full, a queue backlog, OOM kills).
- **P3**: none of the above (cosmetic).

Example::

    verdict = classify_severity(SeveritySignals(error_share=0.07, p95_latency_s=0.4))
    verdict.severity        # "P1"
    verdict.reasons         # ("7.0 % of requests fail (≥ 5% is P1)",)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

Severity = Literal["P0", "P1", "P2", "P3"]
SEVERITIES: tuple[Severity, ...] = ("P0", "P1", "P2", "P3")

RESPONSE_TIME: Mapping[str, timedelta] = {
    "P0": timedelta(minutes=5),
    "P1": timedelta(minutes=15),
    "P2": timedelta(hours=1),
    "P3": timedelta(hours=24),
}
"""How soon a responder must act, from NOA's table, counted from detection."""

MEANING: Mapping[str, str] = {
    "P0": "complete outage or data loss",
    "P1": "major degradation",
    "P2": "minor issue",
    "P3": "cosmetic",
}

# thresholds (shares are fractions of requests, 0..1)
P0_ERROR_SHARE = 0.50
P1_ERROR_SHARE = 0.05  # the HighErrorRate alert's critical bound
P2_ERROR_SHARE = 0.02
P1_SERVICE_ERROR_SHARE = 0.25
P2_SERVICE_ERROR_SHARE = 0.05
P1_P95_S = 2.0
P2_P95_S = 1.0
P1_ORGANIZATIONS = 10


@dataclass(frozen=True)
class SeveritySignals:
    """What a caller measured. Unknown values stay ``None``/empty and add no reason.

    ``error_share`` is the share of all requests failing (0..1); ``service_error_share`` the same
    per service; ``services_down`` the services with no serving pod or whose scrape is down, out of
    ``services_total``; ``data_loss`` names data-loss signals that are true (e.g.
    ``{"backup_failed": True, "replication_broken": False}``); ``endpoints`` and ``organizations``
    are those seen failing; ``outage_services`` are the services whose loss alone is an outage;
    ``dependencies_down`` and ``capacity_risks`` name what is degraded but worked around, and
    what will fail if nobody acts (both P2).
    """

    error_share: float | None = None
    service_error_share: Mapping[str, float] = field(default_factory=dict)
    services_down: Sequence[str] = ()
    services_total: int | None = None
    p95_latency_s: float | None = None
    data_loss: Mapping[str, bool] = field(default_factory=dict)
    endpoints: Sequence[str] = ()
    organizations: Sequence[str] = ()
    outage_services: Sequence[str] = ("api",)  # down alone means a complete outage
    dependencies_down: Sequence[str] = ()  # e.g. ("ai provider openai",): degraded, worked around
    capacity_risks: Sequence[str] = ()  # e.g. ("volume noa-uploads 93 % full",)


@dataclass(frozen=True)
class Classification:
    """The severity, why (one reason per rule that fired), and the response deadline."""

    severity: Severity
    meaning: str
    reasons: tuple[str, ...]
    response_time: timedelta
    respond_by: datetime | None  # detected + response_time, when ``detected`` was given
    evidence: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (for records and ``--json``)."""
        return {
            "severity": self.severity,
            "meaning": self.meaning,
            "reasons": list(self.reasons),
            "response_time_s": int(self.response_time.total_seconds()),
            "respond_by": self.respond_by.isoformat() if self.respond_by else None,
            "evidence": self.evidence,
        }


def respond_by(severity: str, detected: datetime) -> datetime:
    """The response deadline of ``severity`` for an incident detected at ``detected``.

    Raises:
        ValueError: ``severity`` is not P0–P3.
    """
    if severity not in RESPONSE_TIME:
        raise ValueError(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    return detected + RESPONSE_TIME[severity]


def classify_severity(
    signals: SeveritySignals, *, detected: datetime | None = None
) -> Classification:
    """Classify ``signals`` into P0–P3 by the thresholds in this module's docstring.

    Returns the worst severity any rule reached, every reason that reached it or a lower one
    (worst first), and the response deadline from ``detected`` (``None`` without it).
    """
    found: list[tuple[int, str]] = []
    for flag, value in sorted(signals.data_loss.items()):
        if value:
            found.append((0, f"data-loss signal: {flag}"))
    down = sorted(set(signals.services_down))
    if down:
        total = signals.services_total
        vital = sorted(set(down) & set(signals.outage_services))
        if total is not None and len(down) >= total:
            found.append((0, f"every service is down ({', '.join(down)})"))
        elif vital:
            found.append((0, f"complete outage: {', '.join(vital)} has no serving pod"))
        else:
            found.append((1, f"service(s) down: {', '.join(down)}"))
    share = signals.error_share
    if share is not None:
        pct = f"{share * 100:.1f} % of requests fail"
        if share > P0_ERROR_SHARE:
            found.append((0, f"{pct} (> {P0_ERROR_SHARE:.0%} is P0)"))
        elif share >= P1_ERROR_SHARE:
            found.append((1, f"{pct} (≥ {P1_ERROR_SHARE:.0%} is P1)"))
        elif share >= P2_ERROR_SHARE:
            found.append((2, f"{pct} (≥ {P2_ERROR_SHARE:.0%} is P2)"))
    for service, svc_share in sorted(signals.service_error_share.items()):
        pct = f"{service}: {svc_share * 100:.1f} % of its requests fail"
        if svc_share >= P1_SERVICE_ERROR_SHARE:
            found.append((1, f"{pct} (≥ {P1_SERVICE_ERROR_SHARE:.0%} is P1)"))
        elif svc_share >= P2_SERVICE_ERROR_SHARE:
            found.append((2, f"{pct} (≥ {P2_SERVICE_ERROR_SHARE:.0%} is P2)"))
    p95 = signals.p95_latency_s
    if p95 is not None:
        if p95 > P1_P95_S:
            found.append((1, f"p95 latency {p95:.2f} s (> {P1_P95_S:g} s is P1)"))
        elif p95 > P2_P95_S:
            found.append((2, f"p95 latency {p95:.2f} s (> {P2_P95_S:g} s is P2)"))
    orgs = sorted(set(signals.organizations))
    if len(orgs) >= P1_ORGANIZATIONS:
        found.append((1, f"{len(orgs)} organizations hit (≥ {P1_ORGANIZATIONS} is P1)"))
    elif orgs:
        found.append((2, f"organization(s) hit: {', '.join(orgs)}"))
    endpoints = sorted(set(signals.endpoints))
    if endpoints:
        found.append((2, f"endpoint(s) failing: {', '.join(endpoints)}"))
    for dependency in sorted(set(signals.dependencies_down)):
        found.append((2, f"dependency down: {dependency}"))
    for risk in sorted(set(signals.capacity_risks)):
        found.append((2, f"capacity risk: {risk}"))
    found.sort(key=lambda item: item[0])
    level = found[0][0] if found else 3
    severity = SEVERITIES[level]
    reasons = tuple(text for _, text in found) or ("no signal above the P2 thresholds",)
    return Classification(
        severity=severity,
        meaning=MEANING[severity],
        reasons=reasons,
        response_time=RESPONSE_TIME[severity],
        respond_by=respond_by(severity, detected) if detected is not None else None,
        evidence=_evidence(signals),
    )


def _evidence(signals: SeveritySignals) -> dict[str, Any]:
    return {
        "error_share": signals.error_share,
        "service_error_share": dict(signals.service_error_share),
        "services_down": sorted(set(signals.services_down)),
        "services_total": signals.services_total,
        "p95_latency_s": signals.p95_latency_s,
        "data_loss": dict(signals.data_loss),
        "endpoints": sorted(set(signals.endpoints)),
        "organizations": sorted(set(signals.organizations)),
        "dependencies_down": sorted(set(signals.dependencies_down)),
        "capacity_risks": sorted(set(signals.capacity_risks)),
    }


__all__ = [
    "MEANING",
    "RESPONSE_TIME",
    "SEVERITIES",
    "Classification",
    "Severity",
    "SeveritySignals",
    "classify_severity",
    "respond_by",
]
