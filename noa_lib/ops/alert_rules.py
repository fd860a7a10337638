"""NOA's Prometheus alerts as data, rendered into ``deploy/prometheus/alerts.yml``.

Each :class:`AlertRule` names a catalogue query (:mod:`noa_lib.ops.promql`), a comparison and a
bound — taken from :data:`~noa_lib.ops.thresholds.THRESHOLDS` where the runbooks define one — a
``for:`` duration (the runbooks' scaling indicators: CPU 15 min, memory and p95 10 min, queue
5 min), a severity P0–P3 and the runbook that answers it. The committed YAML is exactly
:func:`rules_yaml`'s output (a test compares them); regenerate it with::

    python -m noa_lib.ops.alert_rules > deploy/prometheus/alerts.yml

Annotations use only ``$labels`` (never ``$value``) so ``promtool test rules`` can state them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from noa_lib.errors import ParameterError
from noa_lib.ops.promql import get_query, parse_duration
from noa_lib.ops.thresholds import THRESHOLDS

SEVERITIES = ("P0", "P1", "P2", "P3")
"""P0 complete outage/data loss (5 min), P1 major degradation (15 min), P2 minor (1 h),
P3 cosmetic or early warning (24 h) — NOA's incident classification."""
DEFAULT_RUNBOOK = "monitoring/alert_response"
TRIAGE_RUNBOOK = "incident/triage"
"""P0 and P1 alerts open an incident's triage; the others get the alert's quick actions."""
PAGING = ("P0", "P1")


def runbook_for(severity: str) -> str:
    """The runbook that answers an alert of ``severity`` when it names none."""
    return TRIAGE_RUNBOOK if severity in PAGING else DEFAULT_RUNBOOK
GROUP = "noa-server"


@dataclass(frozen=True)
class AlertRule:
    """One alert: ``<query rendered over window, by labels> <op> <bound>`` for ``for_``."""

    name: str
    query: str
    op: str
    bound: float
    for_: str
    severity: str
    summary: str
    description: str
    window: str = "5m"
    by: tuple[str, ...] | None = None
    runbook: str = ""  # empty: by severity (runbook_for)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ParameterError(f"alert {self.name}: severity {self.severity!r} not in P0–P3")
        if self.op not in (">", ">=", "<", "<=", "=="):
            raise ParameterError(f"alert {self.name}: comparison {self.op!r} is not supported")
        if self.for_ != "0s":
            parse_duration(self.for_)

    @property
    def expr(self) -> str:
        """The PromQL of the rule: the catalogue query, compared with the bound."""
        return f"{get_query(self.query).render(self.window, by=self.by)} {self.op} {self.bound:g}"

    @property
    def answered_by(self) -> str:
        """The runbook the alert receiver runs for this alert."""
        return self.runbook or runbook_for(self.severity)

    @property
    def runbook_url(self) -> str:
        """``notebooks/<runbook>.ipynb?alert=<name>``: which notebook answers this alert."""
        return f"notebooks/{self.answered_by}.ipynb?alert={self.name}"

    def as_rule(self, for_override: str | None = None) -> dict[str, Any]:
        """The rule as Prometheus' rule-file mapping."""
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        duration = for_override if for_override is not None else self.for_
        if duration != "0s":
            rule["for"] = duration
        rule["labels"] = {"severity": self.severity, "runbook": self.answered_by}
        rule["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": self.runbook_url,
        }
        return rule


def _bound(metric: str, level: str) -> float:
    limit = THRESHOLDS[metric]
    return float(limit.critical if level == "critical" else limit.warning)


RULES: tuple[AlertRule, ...] = (
    AlertRule(
        "NOAServerDown", "scrape_up", "==", 0, "1m", "P0",
        "NOA Server is down: no pod can be scraped",
        "Every noa-server scrape target has been down for 1 minute: complete outage.",
        by=(),
    ),
    AlertRule(
        "HighErrorRate", "error_rate", ">", _bound("error_rate", "critical"), "5m", "P1",
        "High 5xx error rate on {{ $labels.service }}",
        "More than 5 % of {{ $labels.service }} responses have been 5xx for 5 minutes. Check "
        "recent deployments (roll back if deployed < 30 min ago), AI providers and the database.",
    ),
    AlertRule(
        "HighLatency", "latency_p95", ">", _bound("latency_p95", "critical"), "10m", "P1",
        "p95 latency of {{ $labels.service }} above 2 s",
        "The 95th percentile request duration of {{ $labels.service }} has been above 2 s for "
        "10 minutes. Check slow queries, the cache hit rate and CPU (scale up above 70 %).",
    ),
    AlertRule(
        "DatabaseConnectionPoolExhausted", "db_pool_usage", ">=",
        _bound("db_connections", "critical"), "5m", "P1",
        "Database connection pool of {{ $labels.service }} nearly exhausted",
        "{{ $labels.service }} has used 90 % or more of its database connection pool for 5 "
        "minutes. Check active connections and long-running queries.",
    ),
    AlertRule(
        "HighCPU", "cpu_usage", ">", _bound("cpu", "warning"), "15m", "P2",
        "CPU of {{ $labels.service }} above 70 % of its limit",
        "The busiest {{ $labels.service }} pod has used more than 70 % of its CPU limit for 15 "
        "minutes: scale up.",
    ),
    AlertRule(
        "HighMemory", "memory_usage", ">", _bound("memory", "warning"), "10m", "P2",
        "Memory of {{ $labels.service }} above 80 % of its limit",
        "The fullest {{ $labels.service }} pod has used more than 80 % of its memory limit for "
        "10 minutes: OOM kills are next.",
    ),
    AlertRule(
        "QueueBacklog", "queue_depth", ">", _bound("queue_depth", "critical"), "5m", "P2",
        "Queue {{ $labels.queue }} backlog above 1000 jobs",
        "More than 1000 jobs have been waiting in queue {{ $labels.queue }} for 5 minutes: "
        "scale the workers.",
    ),
    AlertRule(
        "AIProviderFailures", "ai_error_rate", ">", 25, "5m", "P2",
        "AI provider {{ $labels.provider }} failing",
        "More than 25 % of calls to {{ $labels.provider }} have failed or timed out for 5 "
        "minutes. Check the provider's status and fail over.",
    ),
    AlertRule(
        "AIProviderCircuitOpen", "circuit_breaker_state", "==", 2, "1m", "P3",
        "Circuit breaker of AI provider {{ $labels.provider }} is open",
        "Calls to {{ $labels.provider }} are short-circuited; traffic goes to the other "
        "providers.",
    ),
    AlertRule(
        "DiskSpaceLow", "disk_usage", ">", 85, "10m", "P2",
        "Volume {{ $labels.persistentvolumeclaim }} above 85 %",
        "{{ $labels.persistentvolumeclaim }} has been more than 85 % full for 10 minutes.",
    ),
    AlertRule(
        "DiskSpaceCritical", "disk_usage", ">", 95, "5m", "P1",
        "Volume {{ $labels.persistentvolumeclaim }} above 95 %",
        "{{ $labels.persistentvolumeclaim }} is almost full: writes will fail soon.",
    ),
    AlertRule(
        "OOMKills", "oom_kills", ">", 0, "0s", "P2",
        "{{ $labels.service }} containers OOM-killed",
        "At least one {{ $labels.service }} container was restarted after an OOM kill in the "
        "last 15 minutes.",
        window="15m",
    ),
    AlertRule(
        "LowCacheHitRate", "cache_hit_rate", "<", _bound("cache_hit_rate", "critical"), "15m",
        "P3",
        "Cache hit rate below 40 %",
        "Fewer than 40 % of cache lookups have hit for 15 minutes: expect more database load.",
    ),
    AlertRule(
        "TargetDown", "scrape_up", "==", 0, "2m", "P2",
        "Scrape target {{ $labels.instance }} is down",
        "Prometheus has not scraped {{ $labels.instance }} (job noa-server) for 2 minutes.",
    ),
)
"""Every NOA alert, in the order of the rule file."""


def get_rule(name: str) -> AlertRule | None:
    """The rule called ``name``, or ``None``."""
    return next((rule for rule in RULES if rule.name == name), None)


def rules_document(for_override: str | None = None) -> dict[str, Any]:
    """The rule file as a mapping (``for_override`` replaces every ``for:``, for tests)."""
    return {"groups": [{"name": GROUP, "rules": [r.as_rule(for_override) for r in RULES]}]}


HEADER = (
    "# NOA Server alerts. Generated from noa_lib/ops/alert_rules.py (queries from the PromQL\n"
    "# catalogue, bounds from the thresholds table) - do not edit by hand; regenerate with\n"
    "#   python -m noa_lib.ops.alert_rules > deploy/prometheus/alerts.yml\n"
    "# Severity P0-P3; `runbook` names the notebook the alert receiver runs.\n"
)


def rules_yaml(for_override: str | None = None) -> str:
    """The rule file's text, as committed in ``deploy/prometheus/alerts.yml``."""
    import yaml

    body = yaml.safe_dump(
        rules_document(for_override), sort_keys=False, width=10_000, allow_unicode=True
    )
    return HEADER + body


if __name__ == "__main__":  # pragma: no cover - regeneration entry point
    sys.stdout.write(rules_yaml())


__all__ = [
    "DEFAULT_RUNBOOK",
    "PAGING",
    "TRIAGE_RUNBOOK",
    "RULES",
    "SEVERITIES",
    "AlertRule",
    "get_rule",
    "rules_document",
    "runbook_for",
    "rules_yaml",
]
