"""Impact scope of an incident and the signals its severity is classified from.

From triage's signals (:mod:`.triage_signals`) and the affected services' error logs:

- **services** affected (≥ 5 % of their responses failing, p95 > 1 s, or down) and down;
- **endpoints** failing: ≥ 5 % errors over at least :data:`MIN_ENDPOINT_REQUESTS` requests;
- **organizations and API keys** hit: those with at least :data:`MIN_FAILED_PER_ORG` failed
  requests in the logs' window (NOA Server logs ``org_id`` and ``api_key_id`` on every request
  line) — a lone failure on a healthy system is not an organization hit;
- the **share of requests failing** and the number of requests failed in the window.

:func:`severity_signals` turns that into :class:`~noa_lib.ops.severity.SeveritySignals`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from noa_lib.ops.logs.investigate import LogInvestigation
from noa_lib.ops.severity import SeveritySignals
from noa_lib.ops.triage_causes import AI_ERROR_BAR_PCT, BREAKER_OPEN, QUEUE_BAR
from noa_lib.ops.triage_signals import Signals

SERVICE_ERROR_PCT = 5.0
SERVICE_P95_S = 1.0
ENDPOINT_ERROR_PCT = 5.0
MIN_ENDPOINT_REQUESTS = 20.0
MIN_FAILED_PER_ORG = 3
DISK_RISK_PCT = 90.0
TOP = 10


@dataclass(frozen=True)
class EndpointImpact:
    service: str
    endpoint: str
    error_pct: float
    requests: float


@dataclass(frozen=True)
class Impact:
    """Who and what the incident hits, over the triage window."""

    services: tuple[str, ...]
    services_down: tuple[str, ...]
    services_total: int
    endpoints: tuple[EndpointImpact, ...]
    organizations: tuple[tuple[str, int], ...]  # every one hit: (org id, failed), most first
    api_keys: tuple[tuple[str, int], ...]
    organizations_hit: int
    error_share: float | None  # 0..1 of all requests
    requests: float
    requests_failed: float
    logs_read: bool

    def figures(self) -> dict[str, float | int | str]:
        """Outcome figures (the post-incident review reads ``requests_failed`` and
        ``organizations_hit`` from them)."""
        return {
            "services_affected": ", ".join(self.services) or "none",
            "services_down": ", ".join(self.services_down) or "none",
            "endpoints_failing": len(self.endpoints),
            "organizations_hit": self.organizations_hit,
            "requests_failed": round(self.requests_failed),
            "error_share_pct": round(100 * self.error_share, 3)
            if self.error_share is not None else "",
        }


def impact(signals: Signals, logs: Sequence[LogInvestigation] = ()) -> Impact:
    """The impact scope from ``signals`` and the error ``logs`` of the affected services."""
    errors, p95 = signals.get("error_pct"), signals.get("latency_p95")
    down = signals.services_down()
    affected = sorted({s for s, v in errors.items() if v >= SERVICE_ERROR_PCT}
                      | {s for s, v in p95.items() if v > SERVICE_P95_S} | set(down))
    requests = signals.get("requests")
    endpoint_requests = signals.get("endpoint_requests")
    endpoints = []
    for key, pct in signals.get("endpoint_error_pct").items():
        count = endpoint_requests.get(key, 0.0)
        if pct >= ENDPOINT_ERROR_PCT and count >= MIN_ENDPOINT_REQUESTS and " " in key:
            service, endpoint = key.split(" ", 1)
            endpoints.append(EndpointImpact(service, endpoint, pct, count))
    endpoints.sort(key=lambda e: -e.error_pct * e.requests)
    failed = sum(requests.get(s, 0.0) * errors.get(s, 0.0) / 100.0 for s in requests)
    total = sum(requests.values())
    orgs, keys = _callers(logs)
    hit = [(org, n) for org, n in orgs.most_common() if n >= MIN_FAILED_PER_ORG]
    total_pct = signals.total("error_pct_total")
    return Impact(
        services=tuple(affected),
        services_down=down,
        services_total=len(set(signals.get("baseline_request_rate")) | set(requests)),
        endpoints=tuple(endpoints[:TOP]),
        organizations=tuple(hit),
        api_keys=tuple((k, n) for k, n in keys.most_common(TOP) if n >= MIN_FAILED_PER_ORG),
        organizations_hit=len(hit),
        error_share=None if total_pct is None else total_pct / 100.0,
        requests=total,
        requests_failed=failed,
        logs_read=bool(logs),
    )


def _callers(logs: Sequence[LogInvestigation]) -> tuple[Counter[str], Counter[str]]:
    orgs: Counter[str] = Counter()
    keys: Counter[str] = Counter()
    for investigation in logs:
        for line in investigation.lines:
            org, key = line.fields.get("org_id"), line.fields.get("api_key_id")
            if org is not None:
                orgs[str(org)] += 1
            if key is not None:
                keys[str(key)] += 1
    return orgs, keys


def severity_signals(signals: Signals, scope: Impact,
                     data_loss: Mapping[str, bool] | None = None) -> SeveritySignals:
    """What NOA's severity table is applied to."""
    ai, breakers = signals.get("ai_error_pct"), signals.get("breaker")
    dependencies = [f"ai provider {p}" for p in sorted(set(ai) | set(breakers))
                    if breakers.get(p, 0.0) >= BREAKER_OPEN or ai.get(p, 0.0) > AI_ERROR_BAR_PCT]
    if signals.total("db_up") == 0.0:
        dependencies.append("postgresql (exporter reports it down)")
    risks = [f"volume {pvc} {pct:g} % full" for pvc, pct in signals.get("disk_pct").items()
             if pct >= DISK_RISK_PCT]
    risks += [f"queue {q} {depth:g} jobs behind" for q, depth in signals.get("queue_depth").items()
              if depth >= QUEUE_BAR]
    kills = {**signals.get("oom_recent"), **{k: v for k, v in signals.get("oom_kills").items()
                                               if v >= 0.5}}
    risks += [f"{svc} OOM-killed {max(1, round(n))}×" for svc, n in kills.items() if n >= 0.5]
    return SeveritySignals(
        error_share=scope.error_share,
        service_error_share={s: v / 100.0 for s, v in signals.get("error_pct").items()},
        services_down=scope.services_down,
        services_total=scope.services_total or None,
        p95_latency_s=signals.total("latency_p95_total"),
        data_loss=dict(data_loss or {}),
        endpoints=[f"{e.service} {e.endpoint}" for e in scope.endpoints],
        organizations=[org for org, _ in scope.organizations],
        dependencies_down=dependencies,
        capacity_risks=risks,
    )


__all__ = ["EndpointImpact", "Impact", "impact", "severity_signals"]
