"""The metric contract of NOA Server: every family the exporter exposes, its type and labels.

Names are as scraped (counters end in ``_total``); the scrape job (``noa-server``) adds
``namespace="noa"`` to every series. The PromQL catalogue (:mod:`noa_lib.ops.promql`) queries
exactly these. Pod CPU, memory, restarts and volumes are not NOA's: the cluster's exporters
publish them (:mod:`.exporters`, and kube-state-metrics from the sandbox Kubernetes API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class Family:
    """One metric family: exposed name, kind, help text and label names (in order)."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]

    @property
    def base(self) -> str:
        """The family name without the ``_total`` suffix of counters (OpenMetrics ``# TYPE``)."""
        return self.name.removesuffix("_total") if self.kind == "counter" else self.name


_HTTP = ("service", "endpoint", "method", "status", "version", "pod")
_POD = ("service", "pod")

FAMILIES: tuple[Family, ...] = (
    Family("noa_http_requests_total", "counter", "HTTP requests served.", _HTTP),
    Family(
        "noa_http_request_duration_seconds",
        "histogram",
        "HTTP request duration in seconds.",
        ("service", "endpoint", "version", "pod"),
    ),
    Family("noa_db_pool_connections_in_use", "gauge", "Database connections checked out.", _POD),
    Family("noa_db_pool_connections_max", "gauge", "Database connection pool size.", _POD),
    Family("noa_cache_hits_total", "counter", "Cache lookups that hit.", ("cache",)),
    Family("noa_cache_misses_total", "counter", "Cache lookups that missed.", ("cache",)),
    Family("noa_queue_depth", "gauge", "Jobs waiting in a background queue.", ("queue",)),
    Family(
        "noa_ai_provider_requests_total",
        "counter",
        "AI provider calls by result (ok, error, timeout).",
        ("provider", "model", "status"),
    ),
    Family(
        "noa_ai_provider_request_duration_seconds",
        "histogram",
        "AI provider call duration in seconds.",
        ("provider",),
    ),
    Family("noa_ai_provider_cost_usd_total", "counter", "AI provider spend in USD.", ("provider",)),
    Family(
        "noa_ai_provider_circuit_breaker_state",
        "gauge",
        "Circuit breaker of the provider: 0 closed, 1 half-open, 2 open.",
        ("provider",),
    ),
)

BY_NAME = {f.name: f for f in FAMILIES}

__all__ = ["BY_NAME", "FAMILIES", "Family", "Kind"]
