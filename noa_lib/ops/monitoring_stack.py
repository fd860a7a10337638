"""Is monitoring itself healthy? Prometheus, its scrape targets, rules and TSDB, Alertmanager.

Findings, in order: ``prometheus`` (reachable, version), ``scrape targets`` (any down: critical
for the NOA Server job, warning otherwise), ``scrape freshness`` (last scrape older than three
intervals), ``rule evaluation`` (rules with errors; no rules loaded is a warning), ``tsdb head``
(series, chunks, time span), ``noa metrics fresh`` (newest NOA Server sample age),
``alertmanager`` (reachable, cluster status; skipped when not configured), ``alert delivery``
(Alertmanagers Prometheus sends to). Never raises for a backend problem. The scrape targets and
rules come back as typed rows; ``noa_lib.show.monitoring`` turns them into tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, ParameterError
from noa_lib.ops import metrics
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.promql import JOB, get_query, parse_duration

if TYPE_CHECKING:
    from noa_lib.clients import prometheus as prom_client

STALE_AFTER_INTERVALS = 3
FRESH_SECONDS = 120.0
@dataclass(frozen=True)
class ScrapeTarget:
    """One active scrape target: its ``health`` (up/down/unknown), seconds since its last scrape
    (``None`` when never scraped), its interval text (``"15s"``) and last error."""

    job: str
    instance: str
    health: str
    last_scrape_age_s: float | None
    scrape_interval: str
    last_error: str


@dataclass(frozen=True)
class RuleState:
    """One recording or alerting rule (``type``: recording/alerting) and how it evaluates."""

    group: str
    rule: str
    type: str
    health: str
    state: str
    last_error: str


@dataclass(frozen=True)
class StackHealth:
    """Findings plus the scrape targets and rules as read, and TSDB figures for the record."""

    findings: list[Finding]
    targets: tuple[ScrapeTarget, ...] = ()
    rules: tuple[RuleState, ...] = ()
    figures: dict[str, float | int | str | None] = field(default_factory=dict)


def monitoring_stack(target: Target) -> StackHealth:
    """Check the monitoring of ``target`` (read-only).

    Returns:
        A :class:`StackHealth`; backend problems are findings (``unreachable``), never raised.
    """
    if target.prometheus is None:
        return StackHealth([metrics.not_configured(target, "prometheus")])
    from noa_lib.clients import prometheus

    settings = target.prometheus
    try:
        source = metrics.connect(target)
        prom = source.client
        started = time.perf_counter()
        info = prometheus.build_info(prom)
        latency = round((time.perf_counter() - started) * 1000, 2)
    except (ClientError, ConfigError) as exc:
        down = Finding("prometheus", Status.UNREACHABLE, str(exc),
                       evidence={"endpoint": settings.url})
        return StackHealth([down, _alertmanager(target)])
    findings = [Finding("prometheus", Status.OK,
                        f"Prometheus {info.get('version', '?')} at {settings.url} answered in "
                        f"{latency:g} ms", value=latency, unit="ms",
                        evidence={"endpoint": settings.url, "version": info.get("version")})]
    figures: dict[str, float | int | str | None] = {"prometheus_version": info.get("version")}
    try:
        target_rows = _targets(prom, findings)
        rule_rows = _rules(prom, findings)
        _tsdb(prom, findings, figures)
        _freshness(prom, findings, source.render(get_query("last_scrape_age")))
        _delivery(prom, findings)
    finally:
        prom.close()
    findings.append(_alertmanager(target))
    figures["targets_down"] = sum(1 for r in target_rows if r["health"] != "up")
    figures["rules_failing"] = sum(1 for r in rule_rows if r["health"] not in ("ok", "unknown"))
    return StackHealth(findings, tuple(ScrapeTarget(**r) for r in target_rows),
                       tuple(RuleState(**r) for r in rule_rows), figures)


def _targets(prom: prom_client.PrometheusConnect, findings: list[Finding]
             ) -> list[dict[str, Any]]:
    from noa_lib.clients import prometheus

    try:
        data = prometheus.targets(prom)
    except ClientError as exc:
        findings.append(metrics.failure_finding("scrape targets", exc, {"api": "/api/v1/targets"}))
        return []
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for t in data.get("activeTargets", []):
        labels = t.get("labels") or {}
        age = _age(t.get("lastScrape"), now)
        rows.append({
            "job": str(labels.get("job", t.get("scrapePool", ""))),
            "instance": str(labels.get("instance", t.get("scrapeUrl", ""))),
            "health": str(t.get("health", "unknown")),
            "last_scrape_age_s": age,
            "scrape_interval": str(t.get("scrapeInterval", "")),
            "last_error": str(t.get("lastError", "")),
        })
    down = [r for r in rows if r["health"] == "down"]
    evidence = {"api": "/api/v1/targets", "down": [f"{r['job']}/{r['instance']}" for r in down]}
    if not rows:
        findings.append(Finding("scrape targets", Status.WARNING,
                                "Prometheus has no active scrape targets", value=0,
                                evidence=evidence))
    elif down:
        severe = any(r["job"] == JOB for r in down)
        first = down[0]
        findings.append(Finding(
            "scrape targets", Status.CRITICAL if severe else Status.WARNING,
            f"{len(down)} of {len(rows)} targets down (e.g. {first['job']}/{first['instance']}: "
            f"{first['last_error'] or 'no error text'})",
            value=len(down), threshold=0, evidence=evidence))
    else:
        findings.append(Finding("scrape targets", Status.OK, f"all {len(rows)} targets up",
                                value=0, threshold=0, evidence=evidence))
    stale = [r for r in rows if r["last_scrape_age_s"] is not None
             and r["last_scrape_age_s"] > STALE_AFTER_INTERVALS * _seconds(r["scrape_interval"])]
    if rows:
        findings.append(Finding(
            "scrape freshness", Status.WARNING if stale else Status.OK,
            f"{len(stale)} target(s) not scraped for over {STALE_AFTER_INTERVALS} intervals"
            if stale else "every target scraped within its last intervals",
            value=max((r["last_scrape_age_s"] or 0.0) for r in rows), unit="s",
            evidence={"stale": [f"{r['job']}/{r['instance']}" for r in stale]}))
    return rows


def _rules(prom: prom_client.PrometheusConnect, findings: list[Finding]
           ) -> list[dict[str, Any]]:
    from noa_lib.clients import prometheus

    try:
        groups = prometheus.rules(prom)
    except ClientError as exc:
        findings.append(metrics.failure_finding("rule evaluation", exc, {"api": "/api/v1/rules"}))
        return []
    rows = [
        {
            "group": str(g.get("name", "")),
            "rule": str(r.get("name", "")),
            "type": str(r.get("type", "")),
            "health": str(r.get("health", "unknown")),
            "state": str(r.get("state", "")),
            "last_error": str(r.get("lastError", "")),
        }
        for g in groups
        for r in g.get("rules", [])
    ]
    failing = [r for r in rows if r["health"] == "err" or r["last_error"]]
    evidence = {"api": "/api/v1/rules", "failing": [r["rule"] for r in failing]}
    if not rows:
        findings.append(Finding("rule evaluation", Status.WARNING,
                                "no alerting or recording rules are loaded", value=0,
                                evidence=evidence))
    elif failing:
        first = failing[0]
        findings.append(Finding("rule evaluation", Status.CRITICAL,
                                f"{len(failing)} of {len(rows)} rules fail to evaluate (e.g. "
                                f"{first['rule']}: {first['last_error']})",
                                value=len(failing), threshold=0, evidence=evidence))
    else:
        findings.append(Finding("rule evaluation", Status.OK,
                                f"{len(rows)} rules in {len(groups)} group(s) evaluate cleanly",
                                value=0, threshold=0, evidence=evidence))
    return rows


def _tsdb(prom: prom_client.PrometheusConnect, findings: list[Finding],
          figures: dict[str, float | int | str | None]) -> None:
    from noa_lib.clients import prometheus

    try:
        head = prometheus.tsdb_status(prom).get("headStats", {})
    except ClientError as exc:
        findings.append(metrics.failure_finding("tsdb head", exc, {"api": "/api/v1/status/tsdb"}))
        return
    series = int(head.get("numSeries", 0))
    chunks = int(head.get("chunkCount", 0))
    span_h = max(0.0, (int(head.get("maxTime", 0)) - int(head.get("minTime", 0))) / 3.6e6)
    figures.update({"head_series": series, "head_chunks": chunks})
    findings.append(Finding(
        "tsdb head", Status.OK if series else Status.WARNING,
        f"{series} series, {chunks} chunks in the head block ({span_h:.1f} h)" if series
        else "the head block holds no series: nothing is being ingested",
        value=series, evidence={"api": "/api/v1/status/tsdb", **{k: head.get(k) for k in
                                ("numSeries", "chunkCount", "minTime", "maxTime")}}))


def _freshness(prom: prom_client.PrometheusConnect, findings: list[Finding], promql: str
               ) -> None:
    from noa_lib.clients import prometheus

    evidence = {"promql": promql, "at": metrics.iso(datetime.now(UTC))}
    try:
        result = prometheus.query(prom, promql)
    except ClientError as exc:
        findings.append(metrics.failure_finding("noa metrics fresh", exc, evidence))
        return
    if not result:
        findings.append(Finding("noa metrics fresh", Status.WARNING,
                                "no NOA Server sample in the last 5 minutes (stale or never "
                                "scraped)", evidence=evidence))
        return
    age = float(result[0]["value"][1])
    status = Status.OK if age <= FRESH_SECONDS else Status.WARNING
    findings.append(Finding("noa metrics fresh", status,
                            f"newest NOA Server sample is {age:.0f} s old", value=round(age, 1),
                            threshold=FRESH_SECONDS, unit="s", evidence=evidence))


def _delivery(prom: prom_client.PrometheusConnect, findings: list[Finding]) -> None:
    from noa_lib.clients import prometheus

    try:
        data = prometheus.alertmanagers(prom)
    except ClientError as exc:
        findings.append(metrics.failure_finding("alert delivery", exc,
                                                {"api": "/api/v1/alertmanagers"}))
        return
    active = [a.get("url", "") for a in data.get("activeAlertmanagers", [])]
    dropped = [a.get("url", "") for a in data.get("droppedAlertmanagers", [])]
    if active:
        findings.append(Finding("alert delivery", Status.OK,
                                f"Prometheus sends alerts to {', '.join(active)}",
                                value=len(active), evidence={"active": active}))
    else:
        findings.append(Finding("alert delivery", Status.WARNING,
                                "Prometheus sends alerts to no Alertmanager: alerts fire but "
                                "nobody is told", value=0,
                                evidence={"active": active, "dropped": dropped}))


def _alertmanager(target: Target) -> Finding:
    settings = target.prometheus
    if settings is None or not settings.alertmanager_url:
        return Finding("alertmanager", Status.SKIPPED,
                       f"no alertmanager_url configured for target {target.name}")
    from noa_lib.clients import alertmanager

    try:
        info = alertmanager.status(settings)
    except (ClientError, ConfigError) as exc:
        return Finding("alertmanager", Status.UNREACHABLE, str(exc),
                       evidence={"endpoint": settings.alertmanager_url})
    return Finding("alertmanager", Status.OK,
                   f"Alertmanager {info.version} at {info.endpoint} answered in "
                   f"{info.latency_ms:g} ms (cluster {info.cluster_status})",
                   value=info.latency_ms, unit="ms",
                   evidence={"endpoint": info.endpoint, "version": info.version,
                             "cluster": info.cluster_status, "uptime": info.uptime})


def _age(stamp: Any, now: datetime) -> float | None:
    if not isinstance(stamp, str) or stamp.startswith("0001-"):
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((now - moment).total_seconds(), 1)


def _seconds(interval: str) -> float:
    try:
        return parse_duration(interval)
    except ParameterError:  # an odd interval text must not break the check
        return 60.0


__all__ = ["RuleState", "ScrapeTarget", "StackHealth", "monitoring_stack"]
