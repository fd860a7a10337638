"""Alert triage: the quick actions of NOA's runbooks for a firing alert, read-only.

:func:`triage` takes what Alertmanager sends (the alert name and its labels) and runs:

* **HighErrorRate** — the error rate now; recent deployments (Kubernetes; a rollback candidate
  when a Deployment rolled out less than 30 minutes ago); AI provider status; database
  connectivity.
* **HighLatency** — p95 now; slow queries and the database cache (PostgreSQL); the application
  cache hit rate; CPU, with a scale-up suggestion above 70 %.
* **DatabaseConnectionPoolExhausted** — pool usage now; active connections and long-running
  queries (PostgreSQL).
* any other alert — the alert's own condition when it is one of NOA's rules, then every metric
  against its threshold, with a note that no specific quick actions exist.

Label filters (``service``, ``provider``, ``queue``…) narrow the queries to what alerted. Nothing
is changed: rollbacks, scaling and killing queries are recommendations naming the runbook that
does them. Every step's failure becomes a finding; :func:`triage` raises only for bad input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, ParameterError
from noa_lib.ops import metrics
from noa_lib.ops.alert_rules import get_rule
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.metrics_checks import check_thresholds, judge
from noa_lib.ops.promql import Query, get_query
from noa_lib.ops.thresholds import THRESHOLDS

if TYPE_CHECKING:
    from noa_lib.ops.database import DatabaseHealth

ROLLBACK_WINDOW = timedelta(minutes=30)
SCALE_UP_CPU = THRESHOLDS["cpu"].warning
AI_FAILING_PCT = 25.0


@dataclass(frozen=True)
class NextRunbook:
    """A runbook to open next, and why; ``planned`` ones are not written yet."""

    runbook: str
    why: str
    planned: bool = False


@dataclass(frozen=True)
class RecentRollout:
    """One Deployment's current revision as triage saw it: ``minutes_ago`` since its ReplicaSet
    was created (``None`` when unknown); ``previous_revision`` is ``None`` when there is nothing
    to roll back to."""

    deployment: str
    revision: int | None
    previous_revision: int | None
    rolled_out: datetime | None
    minutes_ago: float | None
    images: str


@dataclass(frozen=True)
class TriageResult:
    """What triage found: findings in the order the quick actions ran, the ``rollouts`` it read
    (empty unless the quick actions look at Kubernetes), the ``database`` health it read (``None``
    unless they look at PostgreSQL) and the runbooks to open next. ``noa_lib.show.triage``
    renders the rollouts, long queries and connections as tables."""

    alert_name: str
    labels: Mapping[str, str]
    known: bool
    findings: list[Finding]
    next_runbooks: tuple[NextRunbook, ...]
    rollouts: tuple[RecentRollout, ...] = ()
    database: DatabaseHealth | None = field(default=None, compare=False)
    figures: dict[str, float | int | str | None] = field(default_factory=dict)


def parse_labels(text: str) -> dict[str, str]:
    """The alert labels from their JSON text (``""`` is no labels).

    Raises:
        ParameterError: not a JSON object of text values.
    """
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParameterError(f"labels is not JSON: {exc}", name="labels",
                             accepted='a JSON object, e.g. {"service": "api"}') from None
    if not isinstance(data, dict):
        raise ParameterError("labels must be a JSON object", name="labels",
                             accepted='a JSON object, e.g. {"service": "api"}')
    return {str(k): str(v) for k, v in data.items()}


def triage(
    target: Target,
    alert_name: str,
    labels: Mapping[str, str] | str = "{}",
    *,
    window: str = "5m",
    now: datetime | None = None,
) -> TriageResult:
    """Run ``alert_name``'s quick actions on ``target``, read-only.

    Raises:
        ParameterError: ``labels`` is not a JSON object, ``window`` not a duration, or the alert
            name is empty.
    """
    if not alert_name.strip():
        raise ParameterError("alert_name is empty", name="alert_name")
    found = parse_labels(labels) if isinstance(labels, str) else dict(labels)
    ctx = _Context(target, found, window, now or datetime.now(UTC))
    action = QUICK_ACTIONS.get(alert_name)
    if action is not None:
        action(ctx)
    else:
        _generic(ctx, alert_name)
    return TriageResult(
        alert_name=alert_name,
        labels=found,
        known=action is not None,
        findings=ctx.findings,
        next_runbooks=next_runbooks(alert_name),
        rollouts=ctx.rollouts,
        database=ctx.database,
        figures=ctx.figures,
    )


@dataclass
class _Context:
    target: Target
    labels: dict[str, str]
    window: str
    now: datetime
    findings: list[Finding] = field(default_factory=list)
    rollouts: tuple[RecentRollout, ...] = ()
    database: DatabaseHealth | None = None
    figures: dict[str, float | int | str | None] = field(default_factory=dict)
    _reported_missing: bool = False

    def where(self, query: Query) -> dict[str, str | None]:
        """The alert's labels this query can be filtered by."""
        return {k: v for k, v in self.labels.items() if k in query.filters}

    def read(self, names: list[str]) -> dict[str, metrics.Reading | ClientError] | None:
        """Instant readings of catalogue queries (``None`` after a not-configured finding)."""
        if self.target.prometheus is None:
            if not self._reported_missing:
                self.findings.append(metrics.not_configured(self.target, "metrics"))
                self._reported_missing = True
            return None
        try:
            prom = metrics.connect(self.target)
        except ConfigError as exc:
            self.findings.append(Finding("metrics", Status.UNREACHABLE, f"not read: {exc}"))
            return None
        try:
            jobs: dict[str, Callable[[], metrics.Reading]] = {}
            for name in names:
                query = get_query(name)
                jobs[name] = _reader(prom, query, self.window, self.now, self.where(query))
            return metrics.parallel(jobs)
        finally:
            prom.close()

    def threshold_finding(self, metric: str, outcome: metrics.Reading | ClientError,
                          check: str) -> Finding:
        if isinstance(outcome, ClientError):
            return metrics.failure_finding(check, outcome, {"window": self.window})
        finding = judge(metric, THRESHOLDS[metric], outcome)
        if isinstance(finding.value, int | float):
            self.figures[metric] = finding.value
        return replace(finding, check=check)


def _reader(prom: Any, query: Query, window: str, at: datetime,
            where: dict[str, str | None]) -> Callable[[], metrics.Reading]:
    return lambda: metrics.read(prom, query, window=window, at=at, where=where)


# --------------------------------------------------------------------------- quick actions


def _high_error_rate(ctx: _Context) -> None:
    readings = ctx.read(["error_rate", "ai_error_rate", "circuit_breaker_state"])
    if readings is not None:
        ctx.findings.append(ctx.threshold_finding("error_rate", readings["error_rate"],
                                                  "error rate now"))
    ctx.findings.append(_deployments(ctx))
    if readings is not None:
        ctx.findings.append(_ai_providers(readings["ai_error_rate"],
                                          readings["circuit_breaker_state"]))
    ctx.findings.append(_db_connectivity(ctx.target))


def _high_latency(ctx: _Context) -> None:
    readings = ctx.read(["latency_p95", "cache_hit_rate", "cpu_usage"])
    if readings is not None:
        ctx.findings.append(ctx.threshold_finding("latency_p95", readings["latency_p95"],
                                                  "latency p95 now"))
    _database(ctx, ("long-running queries", "cache hit rate"), "database ")
    if readings is not None:
        ctx.findings.append(ctx.threshold_finding("cache_hit_rate", readings["cache_hit_rate"],
                                                  "application cache hit rate"))
        cpu = ctx.threshold_finding("cpu", readings["cpu_usage"], "cpu")
        ctx.findings.append(cpu)
        ctx.findings.append(_scale_suggestion(cpu, ctx.labels.get("service")))


def _pool_exhausted(ctx: _Context) -> None:
    readings = ctx.read(["db_pool_usage"])
    if readings is not None:
        ctx.findings.append(ctx.threshold_finding("db_connections", readings["db_pool_usage"],
                                                  "connection pool usage now"))
    _database(ctx, ("db connections", "long-running queries"), "")


def _generic(ctx: _Context, alert_name: str) -> None:
    rule = get_rule(alert_name)
    if rule is not None:
        readings = ctx.read([rule.query])
        if readings is not None:
            ctx.findings.append(_condition(rule.name, rule.op, rule.bound, readings[rule.query]))
        ctx.findings.append(Finding(
            "quick actions", Status.SKIPPED,
            f"{alert_name} has no specific quick actions; its condition and every metric "
            "against its threshold follow"))
    else:
        ctx.findings.append(Finding(
            "quick actions", Status.WARNING,
            f"{alert_name} is not one of NOA's alert rules: showing every metric against its "
            "threshold (generic triage)"))
    if ctx.target.prometheus is None:
        ctx.read([])
        return
    ctx.findings.extend(check_thresholds(ctx.target, window=ctx.window))


QUICK_ACTIONS: dict[str, Callable[[_Context], None]] = {
    "HighErrorRate": _high_error_rate,
    "HighLatency": _high_latency,
    "DatabaseConnectionPoolExhausted": _pool_exhausted,
}
"""Alerts with their own quick actions (NOA's "Common Alert Quick Actions")."""


# --------------------------------------------------------------------------- individual checks


def _condition(alert: str, op: str, bound: float, outcome: metrics.Reading | ClientError
               ) -> Finding:
    check = f"{alert} condition"
    if isinstance(outcome, ClientError):
        return metrics.failure_finding(check, outcome, {})
    if not outcome.values:
        return metrics.no_data_finding(check, outcome)
    compare: dict[str, Callable[[float], bool]] = {
        ">": lambda v: v > bound, ">=": lambda v: v >= bound, "<": lambda v: v < bound,
        "<=": lambda v: v <= bound, "==": lambda v: v == bound,
    }
    hits = [(labels, v) for labels, v in outcome.values if compare[op](v)]
    unit = outcome.query.unit
    evidence = {**outcome.evidence(), "series": outcome.by_series(), "condition": f"{op} {bound:g}"}
    if hits:
        labels, value = hits[0]
        return Finding(check, Status.CRITICAL,
                       f"still true for {len(hits)} series, e.g. {metrics.series_name(labels)} "
                       f"at {metrics.fmt(value, unit)} ({op} {bound:g})",
                       value=metrics.rounded(value), threshold=bound, unit=unit,
                       evidence=evidence)
    return Finding(check, Status.OK, f"no longer true now (condition {op} {bound:g} {unit})",
                   threshold=bound, unit=unit, evidence=evidence)


def _deployments(ctx: _Context) -> Finding:
    check = "recent deployments"
    settings = ctx.target.kubernetes
    if settings is None:
        return Finding(check, Status.SKIPPED,
                       f"skipped: no kubernetes configured for target {ctx.target.name}")
    from noa_lib.clients import kubernetes

    try:
        rollouts = kubernetes.rollouts(settings)
    except (ClientError, ConfigError) as exc:
        return Finding(check, Status.UNREACHABLE, str(exc),
                       evidence={"namespace": settings.namespace})
    service = ctx.labels.get("service")
    ctx.rollouts = tuple(RecentRollout(
        deployment=r.deployment,
        revision=r.revision,
        previous_revision=r.previous_revision,
        rolled_out=r.created,
        minutes_ago=None if r.created is None
        else round((ctx.now - r.created).total_seconds() / 60, 1),
        images=", ".join(r.images),
    ) for r in rollouts)
    return rollback_finding(ctx.rollouts, service, settings.namespace)


def rollback_finding(rows: Sequence[RecentRollout], service: str | None, namespace: str
                     ) -> Finding:
    """``warning`` naming the rollback candidates (rolled out < 30 min ago with a previous
    revision; the alerting service's Deployment first), else ``ok``."""
    check = "recent deployments"
    limit = ROLLBACK_WINDOW.total_seconds() / 60
    recent = [r for r in rows if r.minutes_ago is not None and r.minutes_ago < limit]
    if service:
        recent.sort(key=lambda r: service not in r.deployment)
    evidence = {"namespace": namespace, "window_min": limit,
                "recent": [f"{r.deployment} r{r.revision}" for r in recent]}
    candidates = [r for r in recent if r.previous_revision is not None]
    if candidates:
        top = candidates[0]
        return Finding(
            check, Status.WARNING,
            f"rollback candidate: {top.deployment} rolled out revision {top.revision} "
            f"{top.minutes_ago:g} min ago (previous revision {top.previous_revision}); "
            "roll back with the deployment rollback runbook (dry run first) if errors started "
            "with it", value=len(candidates), evidence=evidence)
    if recent:
        return Finding(check, Status.OK,
                       f"{len(recent)} deployment(s) rolled out in the last {limit:g} min, none "
                       "with a previous revision to roll back to", value=0, evidence=evidence)
    latest = rows[0] if rows else None
    detail = (f"; latest: {latest.deployment} revision {latest.revision}, "
              f"{latest.minutes_ago:g} min ago" if latest and latest.minutes_ago is not None
              else "")
    return Finding(check, Status.OK, f"no rollout in the last {limit:g} min{detail}", value=0,
                   evidence=evidence)


def _ai_providers(errors: metrics.Reading | ClientError,
                  breakers: metrics.Reading | ClientError) -> Finding:
    check = "ai providers"
    if isinstance(errors, ClientError):
        return metrics.failure_finding(check, errors, {})
    rates = errors.by_series()
    states = breakers.by_series() if isinstance(breakers, metrics.Reading) else {}
    failing = [name for name, pct in rates.items() if pct > AI_FAILING_PCT]
    open_ = [name for name, state in states.items() if state >= 2]
    evidence = {**errors.evidence(), "error_rate_pct": rates, "circuit_breaker": states}
    if not rates and not states:
        return metrics.no_data_finding(check, errors, "no AI provider metrics")
    if failing or open_:
        parts = []
        if failing:
            parts.append(f"failing (> {AI_FAILING_PCT:g} % errors): {', '.join(failing)}")
        if open_:
            parts.append(f"circuit open: {', '.join(open_)}")
        return Finding(check, Status.WARNING, "; ".join(parts) + " — fail over to the others",
                       value=len(set(failing) | set(open_)), evidence=evidence)
    worst = max(rates.values(), default=0.0)
    return Finding(check, Status.OK,
                   f"{len(rates)} provider(s) healthy (worst error rate {worst:.3g} %), no "
                   "circuit open", value=0, evidence=evidence)


def _db_connectivity(target: Target) -> Finding:
    from noa_lib.ops.connectivity import check_backends

    only_pg = replace(target, s3=None, prometheus=None, kubernetes=None)
    finding = check_backends(only_pg)[0]
    return replace(finding, check="database connectivity")


def _database(ctx: _Context, checks: tuple[str, ...], prefix: str) -> None:
    from noa_lib.ops.database import database_health

    health = database_health(ctx.target)
    wanted = [f for f in health.findings if f.check in checks]
    if not wanted:  # skipped / unreachable: a single finding for the whole database
        wanted = health.findings[:1]
    ctx.findings.extend(replace(f, check=f"{prefix}{f.check}") for f in wanted)
    ctx.database = health
    for key in ("connections_pct", "longest_query_s", "cache_hit_pct"):
        if key in health.figures:
            ctx.figures[f"db_{key}"] = health.figures[key]


def _scale_suggestion(cpu: Finding, service: str | None) -> Finding:
    check = "scale suggestion"
    value = cpu.value
    if not isinstance(value, int | float):
        return Finding(check, Status.SKIPPED, "no CPU figure, no suggestion")
    what = service or "the busiest service"
    if value > SCALE_UP_CPU:
        return Finding(check, Status.WARNING,
                       f"scale up {what}: CPU at {value:g} % of its limit (> {SCALE_UP_CPU:g} %); "
                       "add replicas with the scaling runbook", value=value,
                       threshold=SCALE_UP_CPU, unit="%", evidence=cpu.evidence)
    return Finding(check, Status.OK,
                   f"no scale-up needed: CPU at {value:g} % (≤ {SCALE_UP_CPU:g} %); latency is "
                   "not CPU-bound", value=value, threshold=SCALE_UP_CPU, unit="%",
                   evidence=cpu.evidence)


# --------------------------------------------------------------------------- what next

_NEXT: dict[str, tuple[NextRunbook, ...]] = {
    "HighErrorRate": (
        NextRunbook("incident/high_error_rate", "the full investigation: errors by endpoint "
                    "and version, logs; the rollback or the next runbook (dry run first)"),
        NextRunbook("deployment/rollback", "roll back a Deployment rolled out < 30 min ago "
                    "(dry run first)"),
        NextRunbook("monitoring/log_investigation", "the error patterns in the pods' logs"),
        NextRunbook("monitoring/database_health", "if the database is the failing dependency"),
    ),
    "HighLatency": (
        NextRunbook("monitoring/database_health", "slow queries, bloat, connections in detail"),
        NextRunbook("scaling/scale_deployment", "add replicas when CPU is above 70 %",
                    planned=True),
    ),
    "DatabaseConnectionPoolExhausted": (
        NextRunbook("monitoring/database_health", "connections by state, long-running queries"),
        NextRunbook("monitoring/log_investigation", "pool timeouts in the pods' logs"),
        NextRunbook("incident/database_pool_exhausted", "kill long queries, restart pods "
                    "(mutating, dry run first)", planned=True),
    ),
    "NOAServerDown": (
        NextRunbook("incident/complete_outage", "the P0 path: every tier, the last good release "
                    "and its rollback, or the DR hand-over (dry run first)"),
        NextRunbook("monitoring/connectivity_check", "which backends answer"),
        NextRunbook("monitoring/monitoring_stack", "is it the service or the scraping?"),
    ),
    "TargetDown": (
        NextRunbook("monitoring/monitoring_stack", "scrape targets and their last errors"),
    ),
}
_ALWAYS = (NextRunbook("monitoring/daily_health", "every metric and the six dashboards"),)


def next_runbooks(alert_name: str) -> tuple[NextRunbook, ...]:
    """The runbooks to open after triaging ``alert_name`` (existing ones first)."""
    specific = _NEXT.get(alert_name, ())
    ordered = [r for r in specific if not r.planned] + list(_ALWAYS)
    ordered += [r for r in specific if r.planned]
    return tuple(ordered)


__all__ = [
    "QUICK_ACTIONS",
    "NextRunbook",
    "RecentRollout",
    "TriageResult",
    "next_runbooks",
    "parse_labels",
    "rollback_finding",
    "triage",
]
