"""Does this target's Prometheus have what the runbooks read? One finding per catalogue entry.

For every entry of the catalogue (:data:`noa_lib.ops.promql.QUERIES`) and every metric it reads,
:func:`check_coverage` asks the target's Prometheus whether that metric has any series under the
entry's source matchers within ``lookback`` — in the target's own names (``[targets.X.metrics]``)
— and says, for what is missing, which exporter provides it ("no kube-state-metrics series:
kube_pod_container_resource_limits"). An entry whose sources are all required (NOA Server,
cAdvisor, kube-state-metrics, the kubelet) is ``critical`` when it has no data; one reading an
optional exporter (node-exporter, postgres_exporter, redis_exporter) is a ``warning``.
``noa metrics check`` and ``monitoring/connectivity_check`` show the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, ParameterError
from noa_lib.ops import metrics
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.promql import CATALOGUE, QUERIES, Query, parse_duration, sources_of
from noa_lib.ops.promql_names import metric_names
from noa_lib.ops.promql_render import SOURCE_BY_KEY

CHECK = "metric coverage"
SPARSE = frozenset({"kube_pod_container_status_last_terminated_reason"})
"""Metrics an exporter publishes only once something happened (a container terminated): their
absence is normal when the exporter's :data:`PRESENCE` metric is there."""
PRESENCE = {
    "noa": "noa_http_requests_total",
    "cadvisor": "container_cpu_usage_seconds_total",
    "kube_state_metrics": "kube_pod_info",
    "kubelet": "kubelet_volume_stats_capacity_bytes",
    "node_exporter": "node_cpu_seconds_total",
    "postgres_exporter": "pg_up",
    "redis_exporter": "redis_up",
}
"""A metric every running instance of each source publishes."""


@dataclass(frozen=True)
class Probe:
    """One metric of one entry, as this target names it, and the query that looks for it."""

    entry: str
    source: str
    metric: str
    promql: str
    sparse: bool = False
    presence: bool = False


def probes(query: Query, prom: metrics.Prometheus, lookback: str) -> list[Probe]:
    """What to ask for ``query``: each metric it reads, under its source's matchers, in this
    target's names."""
    out = []
    for canonical, source in query.series(prom.naming):
        probe = f"count(last_over_time({canonical}{{@{source}}}[$window]))"
        promql = prom.render(query, lookback, scaled=False, template=probe)
        out.append(Probe(query.name, source, metric_names(promql)[-1], promql,
                         sparse=canonical in SPARSE))
        if canonical in SPARSE:
            probe = f"count(last_over_time({PRESENCE[source]}{{@{source}}}[$window]))"
            promql = prom.render(query, lookback, scaled=False, template=probe)
            out.append(Probe(query.name, source, metric_names(promql)[-1], promql,
                             presence=True))
    return out


def check_coverage(
    target: Target,
    *,
    entries: Sequence[str] | None = None,
    lookback: str = "15m",
) -> list[Finding]:
    """One finding per catalogue entry (or per name in ``entries``): does it have data?

    Returns:
        Findings with ``check`` = ``metric coverage: <entry>``, ``value`` = series found,
        ``evidence`` = the source, exporter, each metric's probe and count, ``missing``; or a
        single finding when Prometheus is not configured or cannot be reached at all.

    Raises:
        ParameterError: an unknown entry name or a bad ``lookback``.
    """
    parse_duration(lookback)
    wanted = list(entries) if entries else [q.name for q in QUERIES]
    unknown = [name for name in wanted if name not in CATALOGUE]
    if unknown:
        raise ParameterError(f"no catalogue entry {unknown}; known: {', '.join(CATALOGUE)}",
                             name="entries", accepted=", ".join(CATALOGUE))
    if target.prometheus is None:
        return [metrics.not_configured(target, CHECK)]
    try:
        prom = metrics.connect(target)
    except ConfigError as exc:
        return [Finding(CHECK, Status.UNREACHABLE, f"not checked: {exc}")]
    at = datetime.now(UTC)
    try:
        plan = {name: probes(CATALOGUE[name], prom, lookback) for name in wanted}
        jobs: dict[str, Callable[[], float]] = {
            f"{name}|{i}": _counter(prom, p.promql, at)
            for name, ps in plan.items() for i, p in enumerate(ps)
        }
        counts = metrics.parallel(jobs)
    finally:
        prom.close()
    failures = [v for v in counts.values() if isinstance(v, ClientError)]
    if failures and len(failures) == len(counts):
        return [metrics.failure_finding(CHECK, failures[0], {"at": metrics.iso(at)})]
    return [_entry_finding(CATALOGUE[name], plan[name],
                           [counts[f"{name}|{i}"] for i in range(len(plan[name]))], lookback)
            for name in wanted]


def _counter(prom: metrics.Prometheus, promql: str, at: datetime) -> Callable[[], float]:
    def run() -> float:
        from noa_lib.clients import prometheus

        result = prometheus.query(prom.client, promql, at=at)
        return sum(float(item["value"][1]) for item in result if item.get("value"))

    return run


def _entry_finding(query: Query, plan: list[Probe], counts: list[float | ClientError],
                   lookback: str) -> Finding:
    sources = sources_of(query)
    required = all(s.required for s in sources)
    series: list[dict[str, Any]] = []
    missing: list[Probe] = []
    errors: list[str] = []
    present = {p.source for p, c in zip(plan, counts, strict=True)
               if p.presence and isinstance(c, float) and c > 0}
    notes = []
    for probe, count in zip(plan, counts, strict=True):
        if probe.presence:
            continue
        if isinstance(count, ClientError):
            errors.append(f"{probe.metric}: {count}")
            series.append({"metric": probe.metric, "source": probe.source, "series": None,
                           "promql": probe.promql})
            continue
        series.append({"metric": probe.metric, "source": probe.source, "series": int(count),
                       "promql": probe.promql})
        if count <= 0 and probe.sparse and probe.source in present:
            notes.append(f"{probe.metric} appears once a container has terminated")
        elif count <= 0:
            missing.append(probe)
    found = sum(s["series"] or 0 for s in series)
    evidence = {
        "entry": query.name,
        "exporters": [s.exporter for s in sources],
        "required": required,
        "lookback": lookback,
        "series": series,
        "missing": [p.metric for p in missing],
    }
    check = f"{CHECK}: {query.name}"
    if errors:
        return Finding(check, Status.UNREACHABLE, "; ".join(errors), evidence=evidence)
    if not missing:
        names = ", ".join(e["metric"] for e in series)
        text = f"{found} series ({names})" + "".join(f"; {note}" for note in notes)
        return Finding(check, Status.OK, text, value=found, unit="series", evidence=evidence)
    by_source: dict[str, list[str]] = {}
    for probe in missing:
        by_source.setdefault(probe.source, []).append(probe.metric)
    text = "; ".join(f"no {SOURCE_BY_KEY[src].exporter} series: {', '.join(names)}"
                     for src, names in by_source.items())
    status = Status.CRITICAL if required else Status.WARNING
    if not required:
        text += " (optional exporter)"
    return Finding(check, status, text, value=found, unit="series", evidence=evidence)


def required_missing(findings: Sequence[Finding]) -> list[Finding]:
    """The findings of :func:`check_coverage` that make ``noa metrics check`` fail."""
    return [f for f in findings if f.status in (Status.CRITICAL, Status.UNREACHABLE)]


__all__ = ["CHECK", "Probe", "check_coverage", "probes", "required_missing"]
