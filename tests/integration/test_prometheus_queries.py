"""Range queries, threshold checks, dashboards, alert history and triage against a real Prometheus.

A private Prometheus (Debian binary, loopback, free port) gets a backfilled history we control
exactly: twelve days of a few counters at one-minute resolution (beyond the 11,000-points limit of
one request) and the last two hours of the NOA metric contract in an error-spike + slow-database
shape. It is stopped (by pid) at the end of the module.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from promstack import Knobs, PromStack, contract_history, counter, openmetrics

from noa_lib.clients import prometheus
from noa_lib.config import PrometheusSettings, Target
from noa_lib.errors import ClientError, ParameterError
from noa_lib.ops.alert_history import recent_alerts
from noa_lib.ops.alert_triage import triage
from noa_lib.ops.dashboards import BOARD_NAMES, dashboards
from noa_lib.ops.findings import Status
from noa_lib.ops.metrics_checks import check_thresholds
from noa_lib.ops.monitoring_stack import monitoring_stack
from noa_lib.ops.thresholds import THRESHOLDS
from noa_lib.show.monitoring import RULE_COLUMNS, TARGET_COLUMNS, show_rules, show_scrape_targets
from noa_lib.show.triage import show_triage_connections

pytestmark = pytest.mark.integration

NOW = float(int(time.time()) // 60 * 60)  # re-set when the stack starts: data ends "now"
LONG_DAYS = 12
SPIKE = Knobs(error_fraction=0.12, latency_median=3.0, pool_used=0.95)
PROMQL = "sum by (series) (rate(noa_test_requests_total[5m]))"


@pytest.fixture(scope="module")
def stack() -> Iterator[PromStack]:
    global NOW
    NOW = float(int(time.time()) // 60 * 60)  # a full run reaches this module minutes later
    root = Path(tempfile.mkdtemp(prefix="noa-prom-test-"))
    long_history = [
        ("noa_test_requests_total", {"series": name}, counter(NOW - LONG_DAYS * 86400, NOW, 60,
                                                              rate))
        for name, rate in (("a", 5.0), ("b", 12.0), ("c", 0.5))
    ]
    recent = contract_history(NOW - 2 * 3600, NOW, 60, SPIKE)
    promstack = PromStack(root, rule_files=[Path(__file__).parents[2] / "deploy" / "prometheus"
                                            / "alerts.yml"])
    promstack.backfill(openmetrics(long_history + recent))
    promstack.start()
    try:
        yield promstack
    finally:
        promstack.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def target(stack: PromStack) -> Target:
    return Target("private", prometheus=PrometheusSettings(url=stack.url, timeout=30.0))


@pytest.fixture
def prom(target: Target):
    client = prometheus.build(target.prometheus)
    yield client
    client.close()


# --------------------------------------------------------------------------- range queries


def test_chunked_concurrent_fetch_equals_one_request(prom):
    start, end = NOW - 6 * 86400, NOW  # 8,641 points: one request can still answer
    one = prometheus.query_range(prom, PROMQL, start, end, 60)
    chunked = prometheus.query_range(prom, PROMQL, start, end, 60, max_points=500, max_workers=4)
    sequential = prometheus.query_range(prom, PROMQL, start, end, 60, max_points=500,
                                        max_workers=1)
    assert one.shape == (8641, 3) and list(one.columns) == ["a", "b", "c"]
    assert one.index.is_monotonic_increasing and str(one.index.tz) == "UTC"
    assert chunked.equals(one) and sequential.equals(one)
    assert one["b"].iloc[-1] == pytest.approx(12.0, rel=0.35)


def test_beyond_the_point_limit_only_chunks_answer(prom):
    start, end = NOW - LONG_DAYS * 86400 + 3600, NOW  # 17,221 points per series
    with pytest.raises(ClientError, match="11,000 points"):
        prometheus.api_get(prom, "query_range", {"query": PROMQL, "start": str(start),
                                                 "end": str(end), "step": "60"})
    frame = prometheus.query_range(prom, PROMQL, start, end, 60)
    assert len(frame) == LONG_DAYS * 1440 - 60 + 1
    assert frame.notna().all().all()
    assert frame.index[0] == datetime.fromtimestamp(start, UTC)
    assert not frame.index.duplicated().any()


def test_chunks_are_fetched_concurrently_within_the_bound(prom, monkeypatch):
    active = 0
    peak = 0
    lock = threading.Lock()
    real = prometheus.api_get

    def counting(client, path, params=None):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            time.sleep(0.05)  # keep requests in flight long enough to overlap
            return real(client, path, params)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(prometheus, "api_get", counting)
    prometheus.query_range(prom, PROMQL, NOW - 2 * 86400, NOW, 60, max_points=200, max_workers=3)
    assert peak == 3
    peak = 0
    prometheus.query_range(prom, PROMQL, NOW - 2 * 86400, NOW, 60, max_points=200, max_workers=1)
    assert peak == 1


def test_a_bad_query_carries_prometheus_own_error(prom):
    with pytest.raises(ClientError, match="parse error"):
        prometheus.query(prom, "sum(")


def test_status_endpoints(prom):
    assert prometheus.tsdb_status(prom)["headStats"]["numSeries"] >= 0
    groups = prometheus.rules(prom)
    assert [g["name"] for g in groups] == ["noa-server"]
    assert isinstance(prometheus.targets(prom)["activeTargets"], list)
    assert isinstance(prometheus.alerts(prom), list)


# --------------------------------------------------------------------------- checks


def test_thresholds_find_the_error_spike_and_the_slow_database(target):
    findings = {f.check: f for f in check_thresholds(target, window="5m")}
    assert list(findings) == list(THRESHOLDS)
    assert findings["error_rate"].status is Status.CRITICAL
    assert findings["error_rate"].value == pytest.approx(12.0, rel=0.05)
    assert findings["latency_p95"].status is Status.CRITICAL
    assert findings["db_connections"].status is Status.CRITICAL
    assert findings["cpu"].status is Status.OK
    evidence = findings["error_rate"].evidence
    assert evidence["window"] == "5m" and 'status=~"5.."' in evidence["promql"]
    assert evidence["at"].endswith("Z") and set(evidence["series"]) == {
        "service=api", "service=web", "service=worker"}


def test_prometheus_down_gives_unreachable_findings_not_exceptions():
    dead = Target("dead", prometheus=PrometheusSettings(url="http://127.0.0.1:9", timeout=2))
    findings = check_thresholds(dead)
    assert len(findings) == len(THRESHOLDS)
    assert {f.status for f in findings} == {Status.UNREACHABLE}
    assert "connection refused" in findings[0].message
    assert findings[0].evidence["promql"]


def test_no_prometheus_configured_is_one_warning():
    findings = check_thresholds(Target("bare"))
    assert [(f.status, f.check) for f in findings] == [(Status.WARNING, "metric thresholds")]
    assert "not configured" in findings[0].message


def test_no_data_is_a_warning(tmp_path: Path):
    with PromStack(tmp_path) as empty:
        findings = check_thresholds(Target("empty", prometheus=PrometheusSettings(url=empty.url)))
    assert {f.status for f in findings} == {Status.WARNING}
    assert all("no data" in f.message for f in findings)


def test_dashboards_fetch_every_panel(target):
    boards = dashboards(target, window="2h")
    assert tuple(boards) == BOARD_NAMES
    for board in boards.values():
        assert board.findings == ()
        for panel in board.panels:
            assert not panel.frame.empty, (board.name, panel.title)
    error_panel = boards["operational"].panels[1]
    assert error_panel.threshold is THRESHOLDS["error_rate"]
    assert error_panel.frame.max().max() == pytest.approx(12.0, rel=0.05)
    assert boards["cost"].figures["ai_spend_usd_total"] > 0


def test_dashboard_charts_draw(target):
    from noa_lib.show.dashboards import dashboard_chart

    boards = dashboards(target, window="2h", names=("operational", "cost"))
    chart = dashboard_chart(boards["operational"])
    assert chart.png()[:4] == b"\x89PNG"
    drawn = [ax for ax in chart.figure.axes if ax.get_visible()]
    assert len(drawn) == len(boards["operational"].panels) == 9
    lines = chart.figure.axes[1].get_lines()
    assert {round(line.get_ydata()[0], 3) for line in lines if line.get_linestyle() == "--"} == {
        2.0, 5.0}


def test_monitoring_stack_and_alert_history(target, stack):
    health = monitoring_stack(target)
    checks = {f.check: f for f in health.findings}
    assert checks["prometheus"].status is Status.OK
    assert checks["rule evaluation"].status is Status.OK
    assert checks["alertmanager"].status is Status.SKIPPED
    assert checks["alert delivery"].status is Status.WARNING
    assert len(health.rules) == 14
    rules = show_rules(health)
    assert list(rules.columns) == RULE_COLUMNS and len(rules) == 14
    assert "err" not in set(rules["health"])  # rule evaluation was OK
    targets = show_scrape_targets(health)  # this Prometheus scrapes nothing: an empty table
    assert list(targets.columns) == TARGET_COLUMNS and len(targets) == len(health.targets)
    history = recent_alerts(target, window="1h")
    assert [f.check for f in history.findings] == ["alerts in window", "alertmanager"]
    assert history.findings[0].status in (Status.OK, Status.WARNING, Status.CRITICAL)


def test_triage_high_error_rate_without_kubernetes(target, sandbox_target):
    env = dataclasses.replace(sandbox_target, prometheus=target.prometheus, kubernetes=None)
    result = triage(env, "HighErrorRate", '{"service": "api", "severity": "P1"}')
    checks = {f.check: f for f in result.findings}
    assert list(checks) == ["error rate now", "recent deployments", "ai providers",
                            "database connectivity"]
    assert checks["error rate now"].status is Status.CRITICAL
    assert 'service="api"' in checks["error rate now"].evidence["promql"]
    assert checks["recent deployments"].status is Status.SKIPPED
    assert "no kubernetes configured" in checks["recent deployments"].message
    assert checks["database connectivity"].status is Status.OK
    assert [r.runbook for r in result.next_runbooks[:2]] == ["incident/high_error_rate",
                                                          "deployment/rollback"]


def test_triage_latency_and_pool(target, sandbox_target):
    env = dataclasses.replace(sandbox_target, prometheus=target.prometheus)
    latency = {f.check: f for f in triage(env, "HighLatency", "{}").findings}
    assert latency["latency p95 now"].status is Status.CRITICAL
    assert latency["scale suggestion"].status is Status.OK  # CPU 35 %: not CPU-bound
    assert latency["database long-running queries"].status is Status.OK
    pool = triage(env, "DatabaseConnectionPoolExhausted", '{"service": "worker"}')
    checks = {f.check: f for f in pool.findings}
    assert checks["connection pool usage now"].status is Status.CRITICAL
    assert {"db connections", "long-running queries"} <= set(checks)
    assert pool.database is not None
    assert list(show_triage_connections(pool).columns)[:2] == ["database", "state"]


def test_triage_unknown_and_generic_alerts(target):
    generic = triage(target, "QueueBacklog", '{"queue": "ai"}')
    assert generic.findings[0].check == "QueueBacklog condition"
    assert generic.findings[0].status is Status.OK  # 40 jobs
    assert 'queue="ai"' in generic.findings[0].evidence["promql"]
    unknown = triage(target, "SomethingElse", "{}")
    assert unknown.known is False and unknown.findings[0].status is Status.WARNING
    assert [f.check for f in unknown.findings[1:]] == list(THRESHOLDS)


def test_triage_without_prometheus_or_anything(tmp_path: Path):
    result = triage(Target("bare"), "HighErrorRate", "{}")
    statuses = {f.check: f.status for f in result.findings}
    assert statuses == {"metrics": Status.WARNING, "recent deployments": Status.SKIPPED,
                        "database connectivity": Status.SKIPPED}
    with pytest.raises(ParameterError, match="labels"):
        triage(Target("bare"), "HighErrorRate", "[1, 2]")


# --------------------------------------------------------------------------- the project sandbox


@pytest.fixture(scope="module")
def sandbox_prom(sandbox_target):
    assert sandbox_target.prometheus is not None, "the sandbox publishes its Prometheus"
    client = prometheus.build(sandbox_target.prometheus)
    yield client
    client.close()


def test_sandbox_history_chunked_equals_one_request(sandbox_prom):
    query = promql_catalogue("request_rate")
    end = float(int(time.time()) // 60 * 60) - 3600  # settled history, not the live edge
    start = end - 7 * 86400  # 10,081 points: still one request
    one = prometheus.query_range(sandbox_prom, query, start, end, 60)
    chunked = prometheus.query_range(sandbox_prom, query, start, end, 60, max_points=1500)
    assert set(one.columns) == {"api", "web", "worker"} and len(one) > 10_000
    assert chunked.equals(one)


def test_sandbox_metrics_against_thresholds(sandbox_target):
    findings = check_thresholds(sandbox_target)
    assert [f.check for f in findings] == list(THRESHOLDS)
    for finding in findings:
        assert finding.status is not Status.UNREACHABLE, finding.message
        assert finding.evidence["promql"] and finding.evidence["window"] == "5m"


def test_sandbox_dashboards_and_monitoring(sandbox_target):
    boards = dashboards(sandbox_target, window="24h")
    for board in boards.values():
        assert board.findings == (), board.findings
    assert all(not p.frame.empty for p in boards["operational"].panels)
    assert len(boards["operational"].panels[0].frame) >= 400  # a day of backfilled history
    checks = {f.check: f for f in monitoring_stack(sandbox_target).findings}
    for name in ("prometheus", "scrape targets", "rule evaluation", "tsdb head",
                 "noa metrics fresh"):
        assert checks[name].status is Status.OK, checks[name].message


def promql_catalogue(name: str) -> str:
    from noa_lib.ops.promql import get_query

    return get_query(name).render("5m")
