"""The PromQL catalogue: every query a NOA dashboard, check or alert runs, named and documented.

A :class:`Query` is a template over the simulated/real NOA Server metrics (every series carries
``namespace="noa"``). :meth:`Query.render` fills in the rate window, the breakdown labels and
optional label filters (``service="api"``, ``provider="openai"``) and, unless told otherwise,
multiplies by :attr:`Query.scale` so the number is in :attr:`Query.unit` (a ratio × 100 = %,
USD/s × 3600 = USD/h). The rendered text is what ran — checks put it in their evidence so an SRE
can paste it into Prometheus and see the same number.

Template placeholders (``string.Template``; PromQL itself never uses ``$``): ``$m`` the common
matchers (``namespace="noa"`` plus filters), ``$window`` the range of ``rate``/``…_over_time``,
``$by`` the breakdown labels, ``$by_le`` the same with ``le`` first (for ``histogram_quantile``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from string import Template

from noa_lib.errors import ParameterError

NAMESPACE = "noa"
"""Every NOA Server series carries ``namespace="noa"``."""
JOB = "noa-server"
"""Scrape job of the NOA Server pods."""

_DURATION_RE = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_PART_RE = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration (``5m``, ``1h30m``, ``90d``).

    Raises:
        ParameterError: not a Prometheus duration, or zero.
    """
    cleaned = text.strip()
    if not _DURATION_RE.match(cleaned):
        raise ParameterError(
            f"{text!r} is not a duration; accepted: a number and a unit (ms, s, m, h, d, w, y), "
            "e.g. 5m, 24h, 7d, 1h30m",
            name="window",
            accepted="a Prometheus duration such as 5m, 24h or 7d",
        )
    seconds = sum(int(n) * _SECONDS[unit] for n, unit in _PART_RE.findall(cleaned))
    if seconds <= 0:
        raise ParameterError(f"duration {text!r} must be longer than zero", name="window")
    return float(seconds)


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration text for a whole number of seconds (``300`` → ``5m``)."""
    whole = max(1, round(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


@dataclass(frozen=True)
class Query:
    """One named query of the catalogue.

    ``promql`` is the template (see the module docstring); ``unit`` the unit of the *scaled*
    value; ``scale`` the factor from the raw PromQL value to ``unit``; ``threshold_metric`` the
    key in :data:`noa_lib.ops.thresholds.THRESHOLDS` it is judged against (``None``: charted
    only); ``by`` the default breakdown; ``filters`` the labels :meth:`render` may match on.
    """

    name: str
    promql: str
    unit: str
    description: str
    threshold_metric: str | None = None
    scale: float = 1.0
    by: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()

    def render(
        self,
        window: str = "5m",
        *,
        by: tuple[str, ...] | None = None,
        scaled: bool = True,
        where: Mapping[str, str | None] | None = None,
        **match: str | None,
    ) -> str:
        """The PromQL text for ``window``, broken down ``by`` (default :attr:`by`), restricted
        to the labels of ``where`` and ``match`` (``None`` values are ignored), scaled to
        :attr:`unit` unless ``scaled`` is false.

        Raises:
            ParameterError: a bad window, a label this query cannot be filtered or grouped by.
        """
        parse_duration(window)
        labels = self.by if by is None else tuple(by)
        for label in labels:
            if not _LABEL_RE.match(label):
                raise ParameterError(f"{label!r} is not a label name", name="by")
        matchers = [f'namespace="{NAMESPACE}"']
        for label, value in sorted({**(where or {}), **match}.items()):
            if value is None:
                continue
            if label not in self.filters:
                accepted = ", ".join(self.filters) or "none"
                raise ParameterError(
                    f"query {self.name} cannot be filtered by {label!r}; accepted: {accepted}",
                    name=label,
                    accepted=accepted,
                )
            matchers.append(f"{label}={json.dumps(str(value))}")
        text = Template(self.promql).substitute(
            m=",".join(matchers),
            window=window,
            by=", ".join(labels),
            by_le=", ".join(("le", *labels)),
        )
        text = text.replace(" by () (", " (")
        if scaled and self.scale != 1.0:
            inverse = 1.0 / self.scale
            if self.scale < 1.0 and inverse == round(inverse):
                return f"({text}) / {round(inverse)}"
            return f"({text}) * {self.scale:g}"
        return text


_HTTP = ("service", "endpoint", "version", "pod")
_POD = ("service", "pod")
_REQ = "noa_http_requests_total"
_BUCKET = "noa_http_request_duration_seconds_bucket"
_AI = "noa_ai_provider_requests_total"

QUERIES: tuple[Query, ...] = (
    Query(
        "request_rate",
        f"sum by ($by) (rate({_REQ}{{$m}}[$window]))",
        "req/s",
        "HTTP requests per second.",
        by=("service",),
        filters=_HTTP,
    ),
    Query(
        "request_count",
        f"sum by ($by) (increase({_REQ}{{$m}}[$window]))",
        "requests",
        "HTTP requests answered in the window (the sample size behind a rate or a percentile).",
        by=("service",),
        filters=_HTTP,
    ),
    Query(
        "error_rate",
        f'(sum by ($by) (rate({_REQ}{{$m,status=~"5.."}}[$window]))'
        f" or sum by ($by) (rate({_REQ}{{$m}}[$window])) * 0)"
        f" / sum by ($by) (rate({_REQ}{{$m}}[$window]))",
        "%",
        "Share of HTTP responses with a 5xx status (0 when there are none; no data without "
        "traffic).",
        threshold_metric="error_rate",
        scale=100.0,
        by=("service",),
        filters=_HTTP,
    ),
    Query(
        "latency_p95",
        f"histogram_quantile(0.95, sum by ($by_le) (rate({_BUCKET}{{$m}}[$window])))",
        "s",
        "95th percentile of HTTP request duration, from the latency histogram.",
        threshold_metric="latency_p95",
        by=("service",),
        filters=_HTTP,
    ),
    Query(
        "latency_p99",
        f"histogram_quantile(0.99, sum by ($by_le) (rate({_BUCKET}{{$m}}[$window])))",
        "s",
        "99th percentile of HTTP request duration, from the latency histogram.",
        by=("service",),
        filters=_HTTP,
    ),
    Query(
        "cpu_usage",
        "max by ($by) (avg_over_time(noa_pod_cpu_usage_ratio{$m}[$window]))",
        "%",
        "CPU use of the busiest pod, as a share of its CPU limit (averaged over the window).",
        threshold_metric="cpu",
        scale=100.0,
        by=("service",),
        filters=_POD,
    ),
    Query(
        "memory_usage",
        "max by ($by) (avg_over_time(noa_pod_memory_usage_bytes{$m}[$window])"
        " / avg_over_time(noa_pod_memory_limit_bytes{$m}[$window]))",
        "%",
        "Memory use of the fullest pod, as a share of its memory limit.",
        threshold_metric="memory",
        scale=100.0,
        by=("service",),
        filters=_POD,
    ),
    Query(
        "db_pool_usage",
        "max by ($by) (avg_over_time(noa_db_pool_connections_in_use{$m}[$window])"
        " / avg_over_time(noa_db_pool_connections_max{$m}[$window]))",
        "%",
        "Database connection pool in use, as a share of the pool size (fullest pod).",
        threshold_metric="db_connections",
        scale=100.0,
        by=("service",),
        filters=_POD,
    ),
    Query(
        "db_pool_in_use",
        "sum by ($by) (noa_db_pool_connections_in_use{$m})",
        "connections",
        "Database connections checked out of the application pools.",
        by=("service",),
        filters=_POD,
    ),
    Query(
        "cache_hit_rate",
        "sum by ($by) (rate(noa_cache_hits_total{$m}[$window]))"
        " / (sum by ($by) (rate(noa_cache_hits_total{$m}[$window]))"
        " + (sum by ($by) (rate(noa_cache_misses_total{$m}[$window]))"
        " or sum by ($by) (rate(noa_cache_hits_total{$m}[$window])) * 0))",
        "%",
        "Share of cache lookups that hit (Redis-backed application caches).",
        threshold_metric="cache_hit_rate",
        scale=100.0,
        filters=("cache",),
    ),
    Query(
        "redis_memory",
        "max by ($by) (noa_redis_memory_used_bytes{$m} / noa_redis_memory_max_bytes{$m})",
        "%",
        "Redis memory used, as a share of its maxmemory.",
        scale=100.0,
    ),
    Query(
        "redis_memory_used",
        "max by ($by) (noa_redis_memory_used_bytes{$m})",
        "MiB",
        "Redis memory used.",
        scale=1.0 / 2**20,
    ),
    Query(
        "redis_commands_rate",
        "sum by ($by) (rate(noa_redis_commands_total{$m}[$window]))",
        "cmd/s",
        "Redis commands per second.",
        by=("command",),
        filters=("command",),
    ),
    Query(
        "queue_depth",
        "max by ($by) (noa_queue_depth{$m})",
        "jobs",
        "Jobs waiting in the background queues.",
        threshold_metric="queue_depth",
        by=("queue",),
        filters=("queue",),
    ),
    Query(
        "ai_request_rate",
        f"sum by ($by) (rate({_AI}{{$m}}[$window]))",
        "req/s",
        "AI provider calls per second.",
        by=("provider",),
        filters=("provider", "model"),
    ),
    Query(
        "ai_error_rate",
        f'(sum by ($by) (rate({_AI}{{$m,status!="ok"}}[$window]))'
        f" or sum by ($by) (rate({_AI}{{$m}}[$window])) * 0)"
        f" / sum by ($by) (rate({_AI}{{$m}}[$window]))",
        "%",
        "Share of AI provider calls that failed or timed out, per provider.",
        scale=100.0,
        by=("provider",),
        filters=("provider", "model"),
    ),
    Query(
        "ai_latency_p95",
        "histogram_quantile(0.95, sum by ($by_le)"
        " (rate(noa_ai_provider_request_duration_seconds_bucket{$m}[$window])))",
        "s",
        "95th percentile of AI provider call duration, per provider.",
        by=("provider",),
        filters=("provider",),
    ),
    Query(
        "ai_cost",
        "sum by ($by) (increase(noa_ai_provider_cost_usd_total{$m}[$window]))",
        "USD",
        "AI provider spend within the window, per provider.",
        by=("provider",),
        filters=("provider",),
    ),
    Query(
        "ai_cost_per_hour",
        "sum by ($by) (rate(noa_ai_provider_cost_usd_total{$m}[$window]))",
        "USD/h",
        "AI provider spend per hour at the current rate, per provider.",
        scale=3600.0,
        by=("provider",),
        filters=("provider",),
    ),
    Query(
        "circuit_breaker_state",
        "max by ($by) (noa_ai_provider_circuit_breaker_state{$m})",
        "",
        "AI provider circuit breaker: 0 closed, 1 half-open, 2 open.",
        by=("provider",),
        filters=("provider",),
    ),
    Query(
        "disk_usage",
        "max by ($by) (noa_disk_used_bytes{$m} / noa_disk_capacity_bytes{$m})",
        "%",
        "Disk space used, as a share of capacity, per pod and mount.",
        scale=100.0,
        by=("pod", "mount"),
        filters=("pod", "mount"),
    ),
    Query(
        "restarts",
        "sum by ($by) (increase(noa_pod_restarts_total{$m}[$window]))",
        "restarts",
        "Container restarts within the window, by service and reason.",
        by=("service", "reason"),
        filters=(*_POD, "reason"),
    ),
    Query(
        "oom_kills",
        'sum by ($by) (increase(noa_pod_restarts_total{$m,reason="OOMKilled"}[$window]))',
        "restarts",
        "Containers restarted after an OOM kill within the window.",
        by=("service",),
        filters=_POD,
    ),
    Query(
        "scrape_up",
        f'max by ($by) (up{{job="{JOB}"}})',
        "",
        "Whether Prometheus can scrape the NOA Server pods (1 up, 0 down; without a breakdown, "
        "0 only when every pod is down).",
        by=("instance",),
    ),
)

CATALOGUE: dict[str, Query] = {q.name: q for q in QUERIES}
"""Every query by name."""


def get_query(name: str) -> Query:
    """The catalogue query called ``name``.

    Raises:
        ParameterError: no such query; the message lists the known ones.
    """
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ParameterError(
            f"no query {name!r} in the catalogue; known: {', '.join(sorted(CATALOGUE))}",
            name="query",
        ) from None


def for_threshold(metric: str) -> Query:
    """The query judged against threshold ``metric``.

    Raises:
        ParameterError: no query carries that threshold.
    """
    for q in QUERIES:
        if q.threshold_metric == metric:
            return q
    raise ParameterError(f"no catalogue query is judged against threshold {metric!r}")


__all__ = [
    "CATALOGUE",
    "JOB",
    "NAMESPACE",
    "QUERIES",
    "Query",
    "for_threshold",
    "format_duration",
    "get_query",
    "parse_duration",
]
