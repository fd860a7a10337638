"""The PromQL catalogue: every query a NOA dashboard, check or alert runs, named and documented.

Infrastructure signals are read under the names real exporters publish — cAdvisor
(``container_*``), kube-state-metrics (``kube_*``), the kubelet's volume stats
(``kubelet_volume_stats_*``), node-exporter (``node_*``), postgres_exporter (``pg_*``),
redis_exporter (``redis_*``) — with their real labels; NOA Server's application metrics
(``noa_*``: HTTP, DB pool, cache, queues, AI providers) are NOA's own. A target whose Prometheus
names them differently maps them in its configuration (:func:`naming_for`,
:mod:`noa_lib.metrics_config`); ``noa metrics check`` (:mod:`noa_lib.ops.coverage`) says which
entries have data there and which exporter provides what is missing.

:meth:`Query.render` (:mod:`.promql_render`) fills in the window, the breakdown, the sources'
matchers and filters, applies the target's names and scales the value to :attr:`Query.unit`
(a ratio × 100 = %, USD/s × 3600 = USD/h). The rendered text is what ran — checks put it in their
evidence so an SRE can paste it into Prometheus and see the same number.

cAdvisor and kube-state-metrics series have no ``service`` label: their breakdown by service is
the container name (NOA's containers are named after their component: ``api``, ``worker``,
``web``), copied into ``service`` with ``label_replace``; a ``service`` filter matches
``container``. Container series are read with ``container!=""`` (cAdvisor also publishes the pod's
and the node's cgroups, which would count everything twice).
"""

from __future__ import annotations

from types import MappingProxyType

from noa_lib.config import Target
from noa_lib.errors import ConfigError, ParameterError
from noa_lib.ops.promql_names import metric_names
from noa_lib.ops.promql_render import (
    DEFAULT_NAMESPACE,
    DEFAULT_NAMING,
    SOURCE_BY_KEY,
    SOURCES,
    Naming,
    Query,
    Source,
    default_matchers,
    format_duration,
    parse_duration,
)

NAMESPACE = DEFAULT_NAMESPACE
"""NOA's Kubernetes namespace unless a target says otherwise."""
JOB = "noa-server"
"""Scrape job of the NOA Server pods."""

_HTTP = ("service", "endpoint", "version", "pod")
_POD = ("service", "pod")
_AS_CONTAINER = MappingProxyType({"service": "container"})
_REQ = "noa_http_requests_total"
_BUCKET = "noa_http_request_duration_seconds_bucket"
_AI = "noa_ai_provider_requests_total"
_CONTAINER = 'container!="",container!="POD"'
_KEYS = "namespace, pod, container"


def _per_container(expr: str) -> str:
    """``expr`` (per namespace/pod/container) with the container name copied into ``service``."""
    return f'label_replace({expr}, "service", "$$1", "container", "(.+)")'


def _share_of_limit(usage: str, resource: str) -> str:
    """Usage per container over its ``resource`` limit (kube-state-metrics), by container."""
    return _per_container(
        f"sum by ({_KEYS}) ({usage}) / on ({_KEYS}) sum by ({_KEYS}) "
        f'(kube_pod_container_resource_limits{{@kube_state_metrics,resource="{resource}"}})'
    )


def _restarts(reason_matcher: str) -> str:
    """Restarts in the window per container, attributed to its last termination reason
    (kube-state-metrics has that series only for containers that terminated once: the others
    count with no reason, or as 0 when only one reason is wanted)."""
    reason = f",{reason_matcher}" if reason_matcher else ""
    restarts = "increase(kube_pod_container_status_restarts_total{@kube_state_metrics}[$window])"
    attributed = (
        f"{restarts} * on ({_KEYS}) group_left (reason) max by ({_KEYS}, reason) "
        f"(kube_pod_container_status_last_terminated_reason{{@kube_state_metrics{reason}}})"
    )
    rest = f"{restarts} * 0" if reason_matcher else restarts
    return _per_container(f"({attributed}) or on ({_KEYS}) {rest}")


QUERIES: tuple[Query, ...] = (
    # ------------------------------------------------------------------ NOA Server (HTTP)
    Query(
        "request_rate",
        f"sum by ($by) (rate({_REQ}{{@noa}}[$window]))",
        "req/s",
        "HTTP requests per second.",
        by=("service",),
        filters=_HTTP,
    ),
    Query(
        "request_count",
        f"sum by ($by) (increase({_REQ}{{@noa}}[$window]))",
        "requests",
        "HTTP requests answered in the window (the sample size behind a rate or a percentile).",
        by=("service",),
        filters=_HTTP,
    ),
    Query(
        "error_rate",
        f'(sum by ($by) (rate({_REQ}{{@noa,status=~"5.."}}[$window]))'
        f" or sum by ($by) (rate({_REQ}{{@noa}}[$window])) * 0)"
        f" / sum by ($by) (rate({_REQ}{{@noa}}[$window]))",
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
        f"histogram_quantile(0.95, sum by ($by_le) (rate({_BUCKET}{{@noa}}[$window])))",
        "s",
        "95th percentile of HTTP request duration, from the latency histogram.",
        threshold_metric="latency_p95",
        by=("service",),
        filters=_HTTP,
    ),
    Query(
        "latency_p99",
        f"histogram_quantile(0.99, sum by ($by_le) (rate({_BUCKET}{{@noa}}[$window])))",
        "s",
        "99th percentile of HTTP request duration, from the latency histogram.",
        by=("service",),
        filters=_HTTP,
    ),
    # ddos: requests a per-key rate limit rejected (429) and the ones served
    Query(
        "rate_limited_rate",
        f'sum by ($by) (rate({_REQ}{{@noa,status="429"}}[$window]))',
        "req/s",
        "HTTP requests per second rejected with 429 (over a rate limit).",
        by=("service",),
        filters=_HTTP,
    ),
    Query(
        "served_request_rate",
        f'sum by ($by) (rate({_REQ}{{@noa,status!="429"}}[$window]))',
        "req/s",
        "HTTP requests per second served (every status but 429: what the servers did work for).",
        by=("service",),
        filters=_HTTP,
    ),
    # ------------------------------------------------------------------ containers (cAdvisor + KSM)
    Query(
        "cpu_usage",
        "max by ($by) ("
        + _share_of_limit(
            f"rate(container_cpu_usage_seconds_total{{@cadvisor,{_CONTAINER}}}[$window])", "cpu")
        + ")",
        "%",
        "CPU use of the busiest container, as a share of its CPU limit (cAdvisor usage over the "
        "kube-state-metrics limit, averaged over the window).",
        threshold_metric="cpu",
        scale=100.0,
        by=("service",),
        filters=_POD,
        filter_as=_AS_CONTAINER,
    ),
    Query(
        "cpu_cores",
        "sum by ($by) ("
        + _per_container(
            f"sum by ({_KEYS}) (rate(container_cpu_usage_seconds_total{{@cadvisor,{_CONTAINER}}}"
            "[$window]))")
        + ")",
        "cores",
        "CPU cores in use (cAdvisor), summed over the pods.",
        by=("service",),
        filters=_POD,
        filter_as=_AS_CONTAINER,
    ),
    Query(
        "memory_usage",
        "max by ($by) ("
        + _share_of_limit(
            f"avg_over_time(container_memory_working_set_bytes{{@cadvisor,{_CONTAINER}}}"
            "[$window])", "memory")
        + ")",
        "%",
        "Memory working set of the fullest container, as a share of its memory limit (what the "
        "OOM killer compares).",
        threshold_metric="memory",
        scale=100.0,
        by=("service",),
        filters=_POD,
        filter_as=_AS_CONTAINER,
    ),
    Query(
        "restarts",
        "sum by ($by) (" + _restarts("") + ")",
        "restarts",
        "Container restarts within the window, by service and the reason of the last "
        "termination (kube-state-metrics).",
        by=("service", "reason"),
        filters=_POD,
        filter_as=_AS_CONTAINER,
    ),
    Query(
        "oom_kills",
        "sum by ($by) (" + _restarts('reason="OOMKilled"') + ")",
        "restarts",
        "Containers restarted within the window whose last termination was an OOM kill.",
        by=("service",),
        filters=_POD,
        filter_as=_AS_CONTAINER,
    ),
    Query(
        "replicas_unavailable",
        "sum by ($by) (kube_deployment_status_replicas_unavailable{@kube_state_metrics})",
        "pods",
        "Pods a Deployment wants but that are not available (kube-state-metrics).",
        by=("deployment",),
        filters=("deployment",),
    ),
    Query(
        "pods_not_ready",
        'sum by ($by) (kube_pod_status_ready{@kube_state_metrics,condition="false"})',
        "pods",
        "Pods whose Ready condition is false (kube-state-metrics).",
        by=("namespace",),
        filters=("pod",),
    ),
    # ------------------------------------------------------------------ volumes (kubelet)
    Query(
        "disk_usage",
        "max by ($by) (kubelet_volume_stats_used_bytes{@kubelet}"
        " / kubelet_volume_stats_capacity_bytes{@kubelet})",
        "%",
        "Space used on each PersistentVolumeClaim, as a share of its capacity (kubelet volume "
        "stats).",
        scale=100.0,
        by=("persistentvolumeclaim",),
        filters=("persistentvolumeclaim",),
    ),
    # ------------------------------------------------------------------ incident/oom_kills,
    # incident/disk_space: bytes behind the shares above
    Query(
        "memory_working_set",
        "max by ($by) ("
        + _per_container(
            f"max_over_time(container_memory_working_set_bytes{{@cadvisor,{_CONTAINER}}}"
            "[$window])")
        + ")",
        "bytes",
        "Peak memory working set of the fullest container in the window (cAdvisor): what a "
        "memory limit must hold.",
        by=("service",),
        filters=_POD,
        filter_as=_AS_CONTAINER,
    ),
    Query(
        "memory_limit_share",
        "max by ($by) ("
        + _per_container(
            f"max by ({_KEYS}) (max_over_time(container_memory_working_set_bytes{{@cadvisor,"
            f"{_CONTAINER}}}[$window])) / on ({_KEYS}) max by ({_KEYS}) "
            '(kube_pod_container_resource_limits{@kube_state_metrics,resource="memory"})')
        + ")",
        "%",
        "Peak memory working set of each container in the window over its own memory limit "
        "(a restarted container's old and new cgroups are not added up).",
        scale=100.0,
        by=("service",),
        filters=_POD,
        filter_as=_AS_CONTAINER,
    ),
    Query(
        "volume_used_bytes",
        "max by ($by) (kubelet_volume_stats_used_bytes{@kubelet})",
        "bytes",
        "Bytes used on each PersistentVolumeClaim (kubelet volume stats).",
        by=("persistentvolumeclaim",),
        filters=("persistentvolumeclaim",),
    ),
    Query(
        "volume_capacity_bytes",
        "max by ($by) (kubelet_volume_stats_capacity_bytes{@kubelet})",
        "bytes",
        "Capacity of each PersistentVolumeClaim's file system (kubelet volume stats).",
        by=("persistentvolumeclaim",),
        filters=("persistentvolumeclaim",),
    ),
    # ------------------------------------------------------------------ nodes (node-exporter)
    Query(
        "node_cpu_usage",
        'max by ($by) (1 - avg by (instance) (rate(node_cpu_seconds_total{@node_exporter,'
        'mode="idle"}[$window])))',
        "%",
        "CPU busy on the busiest node (node-exporter).",
        scale=100.0,
        filters=("instance",),
    ),
    Query(
        "node_memory_usage",
        "max by ($by) (1 - node_memory_MemAvailable_bytes{@node_exporter}"
        " / node_memory_MemTotal_bytes{@node_exporter})",
        "%",
        "Memory in use on the fullest node (node-exporter: total minus available).",
        scale=100.0,
        filters=("instance",),
    ),
    # ------------------------------------------------------------------ database
    Query(
        "db_pool_usage",
        "max by ($by) (avg_over_time(noa_db_pool_connections_in_use{@noa}[$window])"
        " / avg_over_time(noa_db_pool_connections_max{@noa}[$window]))",
        "%",
        "Database connection pool in use, as a share of the pool size (fullest pod).",
        scale=100.0,
        by=("service",),
        filters=_POD,
    ),
    Query(
        "db_pool_in_use",
        "sum by ($by) (noa_db_pool_connections_in_use{@noa})",
        "connections",
        "Database connections checked out of the application pools.",
        by=("service",),
        filters=_POD,
    ),
    Query(
        "db_connections",
        "max by ($by) (sum by (instance) (pg_stat_database_numbackends{@postgres_exporter})"
        " / max by (instance) (pg_settings_max_connections{@postgres_exporter}))",
        "%",
        "Sessions of the PostgreSQL server, as a share of its max_connections "
        "(postgres_exporter).",
        threshold_metric="db_connections",
        scale=100.0,
        filters=("instance",),
    ),
    Query(
        "db_sessions",
        "sum by ($by) (pg_stat_activity_count{@postgres_exporter,@database})",
        "sessions",
        "Sessions of NOA's database by state: active, idle, idle in transaction… "
        "(postgres_exporter).",
        by=("state",),
        filters=("state",),
    ),
    Query(
        "db_cache_hit_ratio",
        "sum by ($by) (rate(pg_stat_database_blks_hit{@postgres_exporter,@database}[$window]))"
        " / (sum by ($by) (rate(pg_stat_database_blks_hit{@postgres_exporter,@database}"
        "[$window])) + sum by ($by) (rate(pg_stat_database_blks_read{@postgres_exporter,"
        "@database}[$window])))",
        "%",
        "Share of NOA's database block reads served from shared buffers (postgres_exporter).",
        scale=100.0,
    ),
    Query(
        "db_up",
        "min by ($by) (pg_up{@postgres_exporter})",
        "",
        "Whether postgres_exporter can reach PostgreSQL (1 up, 0 down).",
        filters=("instance",),
    ),
    # ------------------------------------------------------------------ cache and Redis
    Query(
        "cache_hit_rate",
        "sum by ($by) (rate(noa_cache_hits_total{@noa}[$window]))"
        " / (sum by ($by) (rate(noa_cache_hits_total{@noa}[$window]))"
        " + (sum by ($by) (rate(noa_cache_misses_total{@noa}[$window]))"
        " or sum by ($by) (rate(noa_cache_hits_total{@noa}[$window])) * 0))",
        "%",
        "Share of NOA Server's cache lookups that hit (its Redis-backed caches).",
        threshold_metric="cache_hit_rate",
        scale=100.0,
        filters=("cache",),
    ),
    Query(
        "redis_memory",
        "max by ($by) (redis_memory_used_bytes{@redis_exporter}"
        " / redis_memory_max_bytes{@redis_exporter})",
        "%",
        "Redis memory used, as a share of its maxmemory (redis_exporter).",
        scale=100.0,
        filters=("instance",),
    ),
    Query(
        "redis_memory_used",
        "max by ($by) (redis_memory_used_bytes{@redis_exporter})",
        "MiB",
        "Redis memory used (redis_exporter).",
        scale=1.0 / 2**20,
        filters=("instance",),
    ),
    Query(
        "redis_commands_rate",
        "sum by ($by) (rate(redis_commands_total{@redis_exporter}[$window]))",
        "cmd/s",
        "Redis commands per second, by command (redis_exporter).",
        by=("cmd",),
        filters=("cmd", "instance"),
    ),
    Query(
        "redis_hit_rate",
        "sum by ($by) (rate(redis_keyspace_hits_total{@redis_exporter}[$window]))"
        " / (sum by ($by) (rate(redis_keyspace_hits_total{@redis_exporter}[$window]))"
        " + sum by ($by) (rate(redis_keyspace_misses_total{@redis_exporter}[$window])))",
        "%",
        "Share of Redis key lookups that found their key (redis_exporter).",
        scale=100.0,
        filters=("instance",),
    ),
    # ------------------------------------------------------------------ queues and AI providers
    Query(
        "queue_depth",
        "max by ($by) (noa_queue_depth{@noa})",
        "jobs",
        "Jobs waiting in the background queues.",
        threshold_metric="queue_depth",
        by=("queue",),
        filters=("queue",),
    ),
    Query(
        "ai_request_rate",
        f"sum by ($by) (rate({_AI}{{@noa}}[$window]))",
        "req/s",
        "AI provider calls per second.",
        by=("provider",),
        filters=("provider", "model"),
    ),
    Query(
        "ai_error_rate",
        f'(sum by ($by) (rate({_AI}{{@noa,status!="ok"}}[$window]))'
        f" or sum by ($by) (rate({_AI}{{@noa}}[$window])) * 0)"
        f" / sum by ($by) (rate({_AI}{{@noa}}[$window]))",
        "%",
        "Share of AI provider calls that failed or timed out, per provider.",
        scale=100.0,
        by=("provider",),
        filters=("provider", "model"),
    ),
    Query(
        "ai_latency_p95",
        "histogram_quantile(0.95, sum by ($by_le)"
        " (rate(noa_ai_provider_request_duration_seconds_bucket{@noa}[$window])))",
        "s",
        "95th percentile of AI provider call duration, per provider.",
        by=("provider",),
        filters=("provider",),
    ),
    Query(
        "ai_cost",
        "sum by ($by) (increase(noa_ai_provider_cost_usd_total{@noa}[$window]))",
        "USD",
        "AI provider spend within the window, per provider.",
        by=("provider",),
        filters=("provider",),
    ),
    Query(
        "ai_cost_per_hour",
        "sum by ($by) (rate(noa_ai_provider_cost_usd_total{@noa}[$window]))",
        "USD/h",
        "AI provider spend per hour at the current rate, per provider.",
        scale=3600.0,
        by=("provider",),
        filters=("provider",),
    ),
    Query(
        "circuit_breaker_state",
        "max by ($by) (noa_ai_provider_circuit_breaker_state{@noa})",
        "",
        "AI provider circuit breaker: 0 closed, 1 half-open, 2 open.",
        by=("provider",),
        filters=("provider",),
    ),
    Query(
        "last_scrape_age",
        "time() - max(timestamp(noa_http_requests_total{@noa}))",
        "s",
        "Seconds since the newest NOA Server sample (a stale scrape shows here first).",
    ),
    Query(
        "scrape_up",
        f'max by ($by) (up{{@noa,job="{JOB}"}})',
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


def sources_of(query: Query) -> tuple[Source, ...]:
    """The sources ``query`` reads (the exporters that must run for it to have data)."""
    return tuple(SOURCE_BY_KEY[key] for key in query.sources)


def series_of(query: Query, naming: Naming | None = None) -> tuple[str, ...]:
    """The metric names ``query`` reads, in ``naming``'s names."""
    return metric_names(query.render("5m", naming=naming, scaled=False))


def naming_for(target: Target) -> Naming:
    """How ``target``'s Prometheus names the catalogue's series: its ``[targets.X.metrics]``
    section over the defaults (namespace = the target's Kubernetes namespace, database = its
    PostgreSQL database).

    Raises:
        ConfigError: the section names an entry or a source the catalogue does not have.
    """
    settings = target.metrics
    where = f"targets.{target.name}.metrics"
    unknown = sorted(set(settings.entries) - set(CATALOGUE))
    if unknown:
        raise ConfigError(f"{where}.entries: no catalogue entry {unknown}; accepted: "
                          f"{', '.join(sorted(CATALOGUE))}")
    unknown = sorted(set(settings.matchers) - set(SOURCE_BY_KEY))
    if unknown:
        raise ConfigError(f"{where}.matchers: no source {unknown}; accepted: "
                          f"{', '.join(s.key for s in SOURCES)}")
    namespace = target.kubernetes.namespace if target.kubernetes else NAMESPACE
    database = target.postgres.dbname if target.postgres else DEFAULT_NAMING.database
    matchers = {**default_matchers(namespace), **settings.matchers}
    entries = {name: (e.names, e.labels, e.promql) for name, e in settings.entries.items()}
    naming = Naming(
        matchers=MappingProxyType(matchers),
        database=database,
        metrics=settings.names,
        labels=settings.labels,
        entries=MappingProxyType(entries),
    )
    for name in entries:  # a broken template is a configuration error, said before any query
        try:
            CATALOGUE[name].render("5m", naming=naming)
        except ParameterError as exc:
            raise ConfigError(f"{where}.entries.{name}.promql: {exc}") from None
    return naming


__all__ = [
    "CATALOGUE",
    "DEFAULT_NAMING",
    "JOB",
    "NAMESPACE",
    "QUERIES",
    "SOURCES",
    "Naming",
    "Query",
    "Source",
    "for_threshold",
    "format_duration",
    "get_query",
    "naming_for",
    "parse_duration",
    "series_of",
    "sources_of",
]
