"""Prometheus, the simulated NOA Server and Alertmanager in the sandbox: real servers, no mocks.

Read-only checks (history, live data, the metric contract, published target) use the project's
sandbox through the session fixtures. Scenario switching, crashes, Alertmanager and ``down`` use a
private sandbox of their own (module fixture, tests in file order), so other tests never see a
scenario they did not ask for.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import noa_sandbox as sandbox
from noa_lib.errors import PreconditionFailed
from noa_sandbox import processes
from noa_sandbox.models import SandboxStatus
from noa_sandbox.simulator.families import FAMILIES
from noa_sandbox.simulator.scenarios import NAMES

pytestmark = pytest.mark.integration

DAY = 86_400.0
SWITCH_DEADLINE_S = 20.0  # a scenario must show in PromQL within this (target ~15 s)


# --------------------------------------------------------------------------- helpers


def prom_url(status: SandboxStatus) -> str:
    endpoint = status.service("prometheus").endpoint
    assert endpoint is not None
    return endpoint


def query(url: str, promql: str, at: float | None = None) -> list[dict[str, Any]]:
    params = {"query": promql}
    if at is not None:
        params["time"] = f"{at:.3f}"
    with urllib.request.urlopen(
        f"{url}/api/v1/query?{urllib.parse.urlencode(params)}", timeout=30
    ) as rsp:
        body = json.loads(rsp.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def scalar(url: str, promql: str, at: float | None = None) -> float | None:
    """The single value of ``promql`` (``None`` when it returns nothing)."""
    result = query(url, promql, at)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


def api(url: str, path: str) -> Any:
    with urllib.request.urlopen(f"{url}{path}", timeout=30) as rsp:
        return json.loads(rsp.read())


def eventually(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` every second; returns the seconds it took or fails after ``timeout``."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            pytest.fail(f"{what}: not seen within {timeout:.0f}s")
        time.sleep(1.0)


def above(url: str, promql: str, threshold: float) -> Callable[[], bool]:
    def check() -> bool:
        value = scalar(url, promql)
        return value is not None and value > threshold

    return check


ERROR_RATIO = (
    'sum(rate(noa_http_requests_total{namespace="noa",status=~"5.."}[%s]))'
    ' / sum(rate(noa_http_requests_total{namespace="noa"}[%s]))'
)
P95 = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(noa_http_request_duration_seconds_bucket{namespace="noa"}[%s])))'
)


# --------------------------------------------------------------------------- project sandbox


@pytest.fixture(scope="module")
def project(sandbox_state: Path) -> SandboxStatus:
    status = sandbox.status(sandbox_state)
    assert status.healthy, status.to_dict()
    return status


def test_status_reports_prometheus_simulator_and_history(project: SandboxStatus) -> None:
    prom, sim = project.service("prometheus"), project.service("simulator")
    assert prom.state == "running" and prom.detail.startswith("Prometheus 2.")
    assert "days of history" in prom.detail
    assert sim.state == "running" and sim.endpoint is not None
    assert sim.endpoint.endswith("/metrics") and "scenario" in sim.detail
    am = project.service("alertmanager")
    assert am.optional and am.state in ("stopped", "running")
    data = json.loads(json.dumps(project.to_dict()))
    assert data["scenario"] in NAMES
    history = data["history"]
    assert history["end"] - history["start"] >= 90 * DAY
    assert {i["kind"] for i in history["incidents"]} == {
        "error-spike", "latency-regression", "pool-exhausted"}
    for incident in history["incidents"]:
        assert history["start"] < incident["start"] < incident["end"] < history["end"]
        assert incident["start_utc"].endswith("Z")


def test_target_publishes_prometheus(project: SandboxStatus, sandbox_target: Any) -> None:
    assert sandbox_target.prometheus is not None
    assert sandbox_target.prometheus.url == prom_url(project)
    raw = tomllib.loads(Path(project.state_dir, "target.toml").read_text())
    assert raw["targets"]["sandbox"]["prometheus"]["url"] == prom_url(project)
    info = api(prom_url(project), "/api/v1/status/buildinfo")["data"]
    assert info["version"].startswith("2.")
    flags = api(prom_url(project), "/api/v1/status/flags")["data"]
    assert flags["storage.tsdb.retention.time"] == "400d"
    assert flags["web.listen-address"].startswith("127.0.0.1:")


def test_history_answers_rate_queries_across_90_days(project: SandboxStatus) -> None:
    url = prom_url(project)
    assert project.history is not None
    end = project.history["end"]  # the history ends where the sandbox first started
    total = 'sum(rate(noa_http_requests_total{namespace="noa"}[5m]))'
    for days_ago in (0.5, 30, 30.37, 60, 89.9):
        value = scalar(url, total, end - days_ago * DAY)
        assert value is not None and value > 0.5, (days_ago, value)
    assert scalar(url, total, end - 95 * DAY) is None  # nothing before the history
    # Resources and business series are there too.
    for promql in (
        'max(rate(container_cpu_usage_seconds_total{namespace="noa",container!=""}[5m]))',
        'max(container_memory_working_set_bytes{namespace="noa",container!=""})',
        'max(kubelet_volume_stats_used_bytes{namespace="noa"}'
        ' / kubelet_volume_stats_capacity_bytes)',
        'sum(kube_node_status_allocatable{resource="memory"})',
        'max(noa_queue_depth{namespace="noa"})',
        'sum(rate(noa_ai_provider_cost_usd_total{namespace="noa"}[5m]))',
        'sum(rate(noa_cache_hits_total{namespace="noa"}[5m]))',
        'max(noa_db_pool_connections_in_use{namespace="noa"})',
        P95 % "5m",
    ):
        value = scalar(url, promql, end - 45 * DAY)
        assert value is not None and value > 0, promql


def test_history_has_daily_weekly_seasonality_and_growth(project: SandboxStatus) -> None:
    url = prom_url(project)
    history = project.history
    assert history is not None
    total = 'sum(rate(noa_http_requests_total{namespace="noa"}[10m]))'
    # A weekday 35 days before the end: 14:00 UTC against 03:00 UTC.
    day = (history["end"] // DAY - 35) * DAY
    while time.gmtime(day).tm_wday > 4:
        day -= DAY
    peak, night = scalar(url, total, day + 14 * 3600), scalar(url, total, day + 3 * 3600)
    assert peak is not None and night is not None and peak > 3 * night
    saturday = day + ((5 - time.gmtime(day).tm_wday) % 7) * DAY + 14 * 3600
    weekend = scalar(url, total, saturday)
    assert weekend is not None and weekend < 0.75 * peak
    weekly = 'sum(rate(noa_http_requests_total{namespace="noa"}[7d]))'
    early = scalar(url, weekly, history["start"] + 8 * DAY)
    late = scalar(url, weekly, history["end"])
    assert early is not None and late is not None and late > 1.2 * early


def test_history_shows_the_documented_incidents(project: SandboxStatus) -> None:
    url = prom_url(project)
    assert project.history is not None
    incidents = {i["kind"]: i for i in project.history["incidents"]}

    def around(kind: str, promql: str) -> tuple[float, float]:
        incident = incidents[kind]
        during = scalar(url, promql, (incident["start"] + incident["end"]) / 2)
        before = scalar(url, promql, incident["start"] - 3 * 3600)
        assert during is not None and before is not None, (kind, during, before)
        return during, before

    during, before = around("error-spike", ERROR_RATIO % ("5m", "5m"))
    assert during > 0.15 and before < 0.01
    api_p95 = P95.replace('namespace="noa"', 'namespace="noa",service="api"')
    during, before = around("latency-regression", api_p95 % "5m")
    assert during > 2.0 and before < 1.0
    regression = incidents["latency-regression"]
    versions = query(
        url, 'count by (version) (noa_http_requests_total{namespace="noa",service="api"})',
        (regression["start"] + regression["end"]) / 2,
    )
    assert {v["metric"]["version"] for v in versions} == {"2.13.1"}
    pool = 'max(noa_db_pool_connections_in_use{namespace="noa",service="api"}' \
        ' / noa_db_pool_connections_max{namespace="noa",service="api"})'
    during, before = around("pool-exhausted", pool)
    assert during == 1.0 and before < 0.7


def test_live_metrics_flow_and_match_the_contract(project: SandboxStatus) -> None:
    url = prom_url(project)
    assert scalar(url, 'min(up{job="noa-server"})') == 1.0
    live = scalar(url, 'sum(rate(noa_http_requests_total{namespace="noa",pod!=""}[1m]))')
    assert live is not None and live > 0.5
    names = {r["metric"]["__name__"] for r in query(
        url, 'group by (__name__) ({job="noa-server",namespace="noa",__name__=~"noa_.*"})')}
    expected = set()
    for family in FAMILIES:
        if family.kind == "histogram":
            expected |= {family.name + s for s in ("_bucket", "_count", "_sum")}
        else:
            expected.add(family.name)
    assert names == expected
    # The exporter itself serves exactly the contract: no process/platform collectors.
    endpoint = project.service("simulator").endpoint
    assert endpoint is not None
    with urllib.request.urlopen(endpoint, timeout=10) as rsp:
        text = rsp.read().decode()
    families = {f.name for f in text_string_to_metric_families(text)}
    assert families == {f.name.removesuffix("_total") if f.kind == "counter" else f.name
                        for f in FAMILIES}


def test_alert_rules_are_loaded_when_the_repository_has_them(project: SandboxStatus) -> None:
    repo_rules = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
    groups = api(prom_url(project), "/api/v1/rules")["data"]["groups"]
    if not repo_rules.is_file():
        assert groups == []
        return
    rules = [r for g in groups for r in g["rules"]]
    assert rules, "alerts.yml exists but Prometheus loaded no rules"
    assert all(r["health"] in ("ok", "unknown") for r in rules), rules


# --------------------------------------------------------------------------- private sandbox


@pytest.fixture(scope="module")
def private() -> Iterator[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix="noa-prom-test-"))
    root.chmod(0o755)
    state_dir = root / "state"
    lines: list[str] = []
    t0 = time.monotonic()
    try:
        # this private sandbox proves the backfill itself (tests/conftest.py turns it off)
        os.environ["NOA_SANDBOX_HISTORY"] = "1"
        try:
            status = sandbox.up(state_dir, progress=lines.append)
        finally:
            os.environ["NOA_SANDBOX_HISTORY"] = "0"
        yield {"state_dir": state_dir, "status": status, "lines": lines,
               "seconds": time.monotonic() - t0}
    finally:
        sandbox.down(state_dir)
        shutil.rmtree(root, ignore_errors=True)


def test_private_cold_up_backfills_history_and_serves_live_data(private: dict[str, Any]) -> None:
    status: SandboxStatus = private["status"]
    assert status.healthy, status.to_dict()
    lines = "\n".join(private["lines"])
    assert "backfilling 91 days of history" in lines and "history backfilled in" in lines
    assert status.history is not None
    print(f"\ncold up {private['seconds']:.1f}s; backfill {status.history['seconds']}s "
          f"({status.history['samples']:,} samples)")
    url = prom_url(status)
    waited = eventually(
        above(url, 'sum(rate(noa_http_requests_total{namespace="noa",pod!=""}[30s]))', 0.1),
        20, "live request rate")
    print(f"live rate visible {waited:.1f}s after up returned")
    assert status.scenario == "normal"


SCENARIO_CHECKS: dict[str, list[tuple[str, float]]] = {
    "error-spike": [(ERROR_RATIO % ("15s", "15s"), 0.10)],
    "slow-db": [(P95 % "15s", 2.0)],
    "pool-exhausted": [(
        'count(noa_db_pool_connections_in_use{namespace="noa",service="api"}'
        ' == noa_db_pool_connections_max{namespace="noa",service="api"})', 2.5)],
    "ai-provider-down": [
        ('max(noa_ai_provider_circuit_breaker_state{namespace="noa",provider="openai"})', 1.5),
        ('sum(rate(noa_ai_provider_requests_total{namespace="noa",provider="openai",'
         'status!="ok"}[15s])) / sum(rate(noa_ai_provider_requests_total{namespace="noa",'
         'provider="openai"}[15s]))', 0.5),
    ],
    "oom": [
        # the scenario's leaking pod is "worker-0": the first worker pod by name (Kubernetes
        # names), so look at every worker pod
        ('max(max_over_time(container_memory_working_set_bytes{namespace="noa",'
         'pod=~"worker-.*",container="worker"}[20s]) / container_spec_memory_limit_bytes{'
         'namespace="noa",pod=~"worker-.*",container="worker"})', 0.95),
        # the killed container's cgroup goes with it: its pod's cgroup counts the OOM events
        ('sum(increase(container_oom_events_total{namespace="noa",pod=~"worker-.*",'
         'container=""}[1m]))', 0.5),
        ('sum(increase(kube_pod_container_status_restarts_total{namespace="noa",'
         'pod=~"worker-.*"}[1m]))', 0.5),
        ('max(kube_pod_container_status_last_terminated_reason{namespace="noa",'
         'pod=~"worker-.*",reason="OOMKilled"})', 0.5),
    ],
    "disk-filling": [(
        'max(kubelet_volume_stats_used_bytes{namespace="noa",persistentvolumeclaim="noa-uploads"}'
        ' / kubelet_volume_stats_capacity_bytes{namespace="noa",'
        'persistentvolumeclaim="noa-uploads"})', 0.90)],
    "queue-backlog": [('max(noa_queue_depth{namespace="noa",queue="default"})', 1000)],
    # complete-outage: every api pod crash-loops (the release rolled out to it crashes)
    "complete-outage": [(
        'max(kube_deployment_status_replicas_unavailable{namespace="noa",deployment="api"})',
        2.5)],
    # the flood alone sends 72 req/s to the api (normal peaks near 45)
    "ddos": [('sum(rate(noa_http_requests_total{namespace="noa",service="api"}[15s]))', 60.0)],
}


def test_every_scenario_changes_live_metrics_within_seconds(private: dict[str, Any]) -> None:
    state_dir: Path = private["state_dir"]
    url = prom_url(private["status"])
    assert set(SCENARIO_CHECKS) == set(NAMES) - {"normal"}
    timings = {}
    for name, checks in SCENARIO_CHECKS.items():
        sandbox.set_scenario(state_dir, name)
        timings[name] = max(
            eventually(above(url, promql, threshold), SWITCH_DEADLINE_S, f"{name}: {promql}")
            for promql, threshold in checks
        )
        assert sandbox.status(state_dir).scenario == name
    sandbox.set_scenario(state_dir, "normal")

    def healthy_again() -> bool:
        ratio = scalar(url, ERROR_RATIO % ("10s", "10s"))
        depth = scalar(url, 'max(noa_queue_depth{namespace="noa",queue="default"})')
        breaker = scalar(url, 'max(noa_ai_provider_circuit_breaker_state{namespace="noa"})')
        return ratio is not None and ratio < 0.02 and depth is not None and depth < 500 \
            and breaker == 0

    timings["normal"] = eventually(healthy_again, SWITCH_DEADLINE_S, "back to normal")
    print("\nscenario visible after (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))


TRIAGE_WINDOW = "20s"
TRIAGE_EXPECTED: dict[str, tuple[str | None, str | None]] = {
    # scenario: (the runbook triage must name first, the severity NOA's table gives its signals;
    # None where the scenario's signals sit on a threshold: then the table, applied here to the
    # same instant's raw series, decides)
    "normal": (None, "P3"),
    "error-spike": ("incident/high_error_rate", "P1"),  # api ~30 % failing (≥ 25 %)
    "slow-db": ("incident/high_latency", "P1"),  # p95 > 2 s
    "pool-exhausted": ("incident/db_pool_exhausted", None),  # ~4-5 % failing, p95 ~2 s
    "ai-provider-down": ("incident/ai_provider_failover", None),  # ~5 % failing: on the P1 bar
    "oom": ("incident/oom_kills", "P2"),  # OOM kills: a capacity risk
    "disk-filling": ("incident/disk_space", "P2"),  # a volume ≥ 90 % full
    "queue-backlog": ("scaling/horizontal_scale", "P2"),  # a queue ≥ 500 behind
    "complete-outage": ("incident/complete_outage", "P0"),  # no api pod serves
    "ddos": ("incident/ddos", None),  # ~9 % 5xx on the api, p95 up: the table decides
}


def table_severity(url: str, at: float, window: str) -> str:
    """NOA's severity table applied to the raw series at ``at`` (independent of triage's code)."""
    def value(promql: str) -> float:
        found = scalar(url, promql, at)
        return 0.0 if found is None else found

    share = value(ERROR_RATIO % (window, window))
    per_service = [float(r["value"][1]) for r in query(url, (
        'sum by (service) (rate(noa_http_requests_total{namespace="noa",status=~"5.."}[W]))'
        ' / sum by (service) (rate(noa_http_requests_total{namespace="noa"}[W]))'
    ).replace("[W]", f"[{window}]"), at)]
    p95 = value(P95 % window)
    api_rate = value('sum(rate(noa_http_requests_total{namespace="noa",service="api"}[W]))'
                     .replace("[W]", f"[{window}]"))
    api_missing = value('sum(kube_deployment_status_replicas_unavailable{namespace="noa",'
                        'deployment="api"})')
    if share > 0.5 or (api_rate < 0.01 and api_missing > 0):  # the api down: complete outage
        return "P0"
    if share >= 0.05 or max(per_service, default=0) >= 0.25 or p95 > 2.0:
        return "P1"
    risks = [
        'max(noa_ai_provider_circuit_breaker_state{namespace="noa"}) >= 2',
        'max(kubelet_volume_stats_used_bytes{namespace="noa"}'
        ' / kubelet_volume_stats_capacity_bytes{namespace="noa"}) >= 0.9',
        'max(noa_queue_depth{namespace="noa"}) >= 500',
        # OOM kills of the containers running now, in the last 15 minutes
        'sum(increase(kube_pod_container_status_restarts_total{namespace="noa"}[15m])'
        ' * on (namespace, pod, container) group_left max by (namespace, pod, container)'
        ' (kube_pod_container_status_last_terminated_reason{namespace="noa",'
        'reason="OOMKilled"})) >= 0.5',
    ]
    if share >= 0.02 or max(per_service, default=0) >= 0.05 or p95 > 1.0 or any(
        query(url, promql, at) for promql in risks
    ):
        return "P2"
    return "P3"


def test_triage_puts_each_scenarios_cause_first_and_names_none_when_normal(
    private: dict[str, Any],
) -> None:
    """Incident triage on every scenario: its cause ranked first, with the runbook's command;
    its severity as NOA's table gives it for the same instant's signals; nothing on normal."""
    from datetime import UTC, datetime

    from noa_lib.config import load_config
    from noa_lib.ops.incident_triage import triage_incident

    state_dir: Path = private["state_dir"]
    url = prom_url(private["status"])
    target = load_config(state_dir / "target.toml", env={}).target("sandbox")
    assert set(TRIAGE_EXPECTED) == set(NAMES)
    seconds = float(TRIAGE_WINDOW.rstrip("s"))
    seen = {}
    for name in [n for n in NAMES if n != "normal"] + ["normal"]:
        sandbox.set_scenario(state_dir, name)
        for promql, threshold in SCENARIO_CHECKS.get(name, []):
            eventually(above(url, promql, threshold), SWITCH_DEADLINE_S, f"{name}: {promql}")
        if name == "normal":  # the last scenario's load (a flood) has drained from the series
            def calm() -> bool:
                p95 = scalar(url, P95 % "10s")
                ratio = scalar(url, ERROR_RATIO % ("10s", "10s"))
                return p95 is not None and p95 < 1.0 and ratio is not None and ratio < 0.02
            eventually(calm, 2 * SWITCH_DEADLINE_S, "back to normal")
        # the effect began seconds before the check saw it: a window from now on lies inside it
        time.sleep(seconds)
        at = time.time() - 1
        result = triage_incident(target, window=TRIAGE_WINDOW,
                                 at=datetime.fromtimestamp(at, UTC))
        runbook, severity = TRIAGE_EXPECTED[name]
        causes = [(c.runbook, c.score) for c in result.causes]
        seen[name] = (causes[:2], result.severity.severity)
        if runbook is None:
            assert causes == [], (name, causes, result.severity.reasons)
        else:
            assert causes and causes[0][0] == runbook, (name, causes)
            top = result.causes[0]
            assert top.command("sandbox").startswith(f"noa run {runbook} --target sandbox")
            assert result.figures()["cause_1"] == runbook
        expected = severity or table_severity(url, at, TRIAGE_WINDOW)
        assert result.severity.severity == expected, (name, result.severity.reasons)
        assert table_severity(url, at, TRIAGE_WINDOW) == expected, name
    print("\ntriage: " + "; ".join(f"{k} {v}" for k, v in seen.items()))


def test_scenario_cli_lists_switches_and_rejects_unknown_names(private: dict[str, Any]) -> None:
    env = {**os.environ, "NOA_SANDBOX_DIR": str(private["state_dir"])}
    noa = [sys.executable, "-m", "noa_lib.cli", "sandbox", "scenario"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*noa, *args], env=env, capture_output=True, text=True,
                              timeout=60, check=False)

    listing = run("--list")
    assert listing.returncode == 0, listing.stderr
    for name in NAMES:
        assert name in listing.stdout
    bad = run("meteor")
    assert bad.returncode == 2 and "accepted: normal, error-spike" in bad.stderr
    switched = run("queue-backlog")
    assert switched.returncode == 0 and "within ~15 s" in switched.stderr
    assert sandbox.status(private["state_dir"]).scenario == "queue-backlog"
    assert run("normal").returncode == 0


def test_killed_simulator_is_crashed_then_restarted_and_scraped_again(
    private: dict[str, Any],
) -> None:
    state_dir: Path = private["state_dir"]
    before = sandbox.status(state_dir)
    sim = before.service("simulator")
    assert sim.pid is not None
    os.kill(sim.pid, signal.SIGKILL)
    assert processes.wait_for(lambda: processes.process_start_time(sim.pid) is None, timeout=10)
    crashed = sandbox.status(state_dir)
    assert crashed.service("simulator").state == "crashed" and not crashed.healthy
    assert "simulator.log" in crashed.service("simulator").detail
    url = prom_url(before)
    eventually(lambda: scalar(url, 'up{job="noa-server"}') == 0.0, 15, "scrape failure")
    lines: list[str] = []
    restarted = sandbox.up(state_dir, progress=lines.append)
    assert restarted.healthy
    assert any("simulator crashed" in line for line in lines)
    assert restarted.service("simulator").pid != sim.pid
    assert restarted.service("simulator").endpoint == sim.endpoint  # same port kept
    assert restarted.service("prometheus").pid == before.service("prometheus").pid
    eventually(lambda: scalar(url, 'up{job="noa-server"}') == 1.0, 15, "scrape recovery")


def test_killed_redis_is_crashed_then_restarted_and_the_caches_recover(
    private: dict[str, Any],
) -> None:
    state_dir: Path = private["state_dir"]
    before = sandbox.status(state_dir)
    rds, exporter = before.service("redis"), before.service("redis_exporter")
    assert rds.pid is not None and exporter.pid is not None
    url = prom_url(before)
    os.kill(rds.pid, signal.SIGKILL)
    assert processes.wait_for(lambda: processes.process_start_time(rds.pid) is None, timeout=10)
    crashed = sandbox.status(state_dir)
    assert crashed.service("redis").state == "crashed" and not crashed.healthy
    eventually(lambda: scalar(url, "redis_up") == 0.0, 20, "redis_up 0 while Redis is down")
    misses = 'sum(noa_cache_misses_total{namespace="noa"})'
    hits = 'sum(noa_cache_hits_total{namespace="noa"})'
    hits_down = scalar(url, hits)
    time.sleep(4)  # the simulator keeps serving, every lookup a miss
    assert sandbox.status(state_dir).service("simulator").state == "running"
    assert scalar(url, hits) == hits_down and (scalar(url, misses) or 0) > 0
    log = (state_dir / "logs" / "simulator.log").read_text()
    assert log.count("Redis unreachable") == 1
    lines: list[str] = []
    restarted = sandbox.up(state_dir, progress=lines.append)
    assert restarted.healthy and any("redis crashed" in line for line in lines)
    assert restarted.service("redis").pid != rds.pid
    assert restarted.service("redis").endpoint == rds.endpoint  # same port kept
    assert restarted.service("redis_exporter").pid != exporter.pid  # pointed at the new server
    assert restarted.service("simulator").pid == before.service("simulator").pid
    eventually(lambda: scalar(url, "redis_up") == 1.0, 20, "redis_up 1 again")
    eventually(lambda: (scalar(url, hits) or 0) > (hits_down or 0), 30, "cache hits again")
    share = "redis_memory_used_bytes / redis_memory_max_bytes"
    eventually(lambda: (scalar(url, share) or 0) > 0.25, 40, "the caches refilled")
    assert "Redis answers again" in (state_dir / "logs" / "simulator.log").read_text()


def test_killed_prometheus_is_restarted_with_its_history(private: dict[str, Any]) -> None:
    state_dir: Path = private["state_dir"]
    before = sandbox.status(state_dir)
    prom = before.service("prometheus")
    assert prom.pid is not None
    os.kill(prom.pid, signal.SIGKILL)
    assert processes.wait_for(lambda: processes.process_start_time(prom.pid) is None, timeout=10)
    assert sandbox.status(state_dir).service("prometheus").state == "crashed"
    lines: list[str] = []
    restarted = sandbox.up(state_dir, progress=lines.append)
    assert restarted.healthy and restarted.service("prometheus").pid != prom.pid
    assert not any("backfilling" in line for line in lines)  # history is kept, not redone
    url = prom_url(restarted)
    value = scalar(url, 'sum(rate(noa_http_requests_total{namespace="noa"}[5m]))',
                   time.time() - 30 * DAY)
    assert value is not None and value > 0.5
    again = sandbox.up(state_dir)  # a no-op now
    assert [s.pid for s in again.services] == [s.pid for s in restarted.services]


def test_alertmanager_is_optional_and_follows_its_webhook(private: dict[str, Any]) -> None:
    state_dir: Path = private["state_dir"]
    first = "http://127.0.0.1:9/first"
    status = sandbox.up(state_dir, with_alertmanager=True, alert_webhook=first)
    am = status.service("alertmanager")
    assert status.healthy and am.state == "running" and am.endpoint is not None
    assert am.detail.startswith("Alertmanager 0.") and first in am.detail
    config = api(am.endpoint, "/api/v2/status")["config"]["original"]
    assert first in config
    url = prom_url(status)
    eventually(
        lambda: bool(api(url, "/api/v1/alertmanagers")["data"]["activeAlertmanagers"]),
        15, "Prometheus sending to Alertmanager",
    )
    raw = tomllib.loads((state_dir / "target.toml").read_text())
    assert raw["targets"]["sandbox"]["prometheus"]["alertmanager_url"] == am.endpoint
    # Remembered without the flag; a new webhook is applied by reload, same process.
    second = "http://127.0.0.1:9/second"
    again = sandbox.up(state_dir, alert_webhook=second)
    assert again.service("alertmanager").pid == am.pid
    assert second in api(am.endpoint, "/api/v2/status")["config"]["original"]
    # Turned off: stopped, and Prometheus no longer points at it.
    off = sandbox.up(state_dir, with_alertmanager=False)
    assert off.healthy and off.service("alertmanager").state == "stopped"
    assert am.pid is not None and processes.process_start_time(am.pid) is None
    eventually(
        lambda: not api(url, "/api/v1/alertmanagers")["data"]["activeAlertmanagers"],
        15, "Prometheus forgetting Alertmanager",
    )


def test_down_leaves_no_process_running(private: dict[str, Any]) -> None:
    state_dir: Path = private["state_dir"]
    sandbox.up(state_dir, with_alertmanager=True)
    running = sandbox.status(state_dir)
    assert running.healthy and running.service("alertmanager").state == "running"
    pids = [s.pid for s in running.services if s.pid is not None]
    # PostgreSQL, S3, Prometheus, simulator, Alertmanager, Redis, postgres_exporter,
    # redis_exporter, Kubernetes API
    assert len(pids) == 9
    endpoints = [s.endpoint for s in running.services[2:] if s.endpoint]
    stopped = sandbox.down(state_dir)
    assert {s.state for s in stopped.services} == {"stopped"}
    assert all(processes.process_start_time(pid) is None for pid in pids)
    for endpoint in endpoints:
        port = int(urllib.parse.urlparse(endpoint).port or 0)
        assert not processes.port_open(port), endpoint
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True)
    assert str(state_dir) not in ps.stdout
    assert not (state_dir / "target.toml").exists()
    with pytest.raises(PreconditionFailed, match="not running"):
        sandbox.set_scenario(state_dir, "oom")
