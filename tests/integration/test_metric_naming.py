"""A Prometheus that names NOA's series otherwise, mapped in the target's configuration.

Two private Prometheus servers (Debian binaries, loopback) hold two hours of every series the
catalogue reads. The first holds them under another team's names — ``http_requests_total{code=…}``
instead of ``noa_http_requests_total{status=…}``, ``kubernetes_namespace`` instead of
``namespace``, ``app`` instead of ``service``, an older cAdvisor's ``container_name`` — which
``[targets.mapped.metrics]`` maps; the second has no kube-state-metrics at all. Through the CLI
and the runner: ``daily_health`` on the mapped target shows every dashboard with data, ``noa
metrics check`` is green there, red and precise without the mapping, and names what is missing
on the Prometheus without kube-state-metrics.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from promstack import SOURCES, Knobs, PromStack, contract_history, openmetrics, renamed

from noa_lib.records.runner import ExitCode, RunRequest, run

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
THEIR_METRICS = {
    "noa_http_requests_total": "http_requests_total",
    "noa_http_request_duration_seconds_bucket": "http_request_duration_seconds_bucket",
    "noa_http_request_duration_seconds_count": "http_request_duration_seconds_count",
    "noa_http_request_duration_seconds_sum": "http_request_duration_seconds_sum",
    "noa_queue_depth": "jobs_waiting",
}
THEIR_LABELS = {"status": "code", "namespace": "kubernetes_namespace", "service": "app"}
CADVISOR_LABELS = {"container": "container_name"}
"""Only the latency entries read ``app``; only cAdvisor's memory renames ``container``."""


def their_series(now: float) -> list:
    series = renamed(contract_history(now - 2 * 3600, now, 60, Knobs()), THEIR_METRICS,
                     {k: v for k, v in THEIR_LABELS.items() if k != "service"})
    out = []
    for name, labels, values in series:
        if name.startswith("http_request_duration_seconds") and "service" in labels:
            labels = {("app" if k == "service" else k): v for k, v in labels.items()}
        if name == "container_memory_working_set_bytes":
            labels = {CADVISOR_LABELS.get(k, k): v for k, v in labels.items()}
        out.append((name, labels, values))
    return out


CONFIG = """
default_target = "mapped"

[targets.mapped.prometheus]
url = "{mapped}"
timeout = 30.0

[targets.mapped.metrics]
file = "metrics-mapped.toml"
labels = {{ status = "code", namespace = "kubernetes_namespace" }}

[targets.mapped.metrics.entries.latency_p95]
labels = {{ service = "app" }}

[targets.mapped.metrics.entries.latency_p99]
labels = {{ service = "app" }}

[targets.mapped.metrics.entries.memory_usage]
promql = '''max by ($by) (label_replace(sum by (namespace, pod, container) (avg_over_time(
  container_memory_working_set_bytes{{@cadvisor,container_name!=""}}[$window]))
  / on (namespace, pod) group_left (container) sum by (namespace, pod, container)
  (kube_pod_container_resource_limits{{@kube_state_metrics,resource="memory"}}),
  "service", "$$1", "container", "(.+)"))'''

[targets.unmapped.prometheus]
url = "{mapped}"

[targets.noksm.prometheus]
url = "{noksm}"
"""
METRICS_FILE = """
[names]
noa_http_requests_total = "http_requests_total"
noa_http_request_duration_seconds_bucket = "http_request_duration_seconds_bucket"
noa_queue_depth = "jobs_waiting"
"""


@pytest.fixture(scope="module")
def stacks() -> Iterator[tuple[PromStack, PromStack, Path]]:
    root = Path(tempfile.mkdtemp(prefix="noa-naming-"))
    now = float(int(time.time()) // 60 * 60)
    mapped = PromStack(root / "mapped")
    mapped.backfill(openmetrics(their_series(now)))
    noksm = PromStack(root / "noksm")
    noksm.backfill(openmetrics(contract_history(
        now - 2 * 3600, now, 60, Knobs(), sources=[s for s in SOURCES
                                                   if s != "kube_state_metrics"])))
    mapped.start()
    noksm.start()
    config = root / "noa.toml"
    config.write_text(CONFIG.format(mapped=mapped.url, noksm=noksm.url))
    (root / "metrics-mapped.toml").write_text(METRICS_FILE)
    try:
        yield mapped, noksm, config
    finally:
        mapped.stop()
        noksm.stop()
        shutil.rmtree(root, ignore_errors=True)


def noa(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NOA_CONFIG": str(config)}
    env.pop("NOA_TARGET", None)
    return subprocess.run([sys.executable, "-m", "noa_lib.cli", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_metrics_check_is_green_on_the_mapped_target(stacks):
    _, _, config = stacks
    proc = noa(config, "metrics", "check", "--target", "mapped", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    findings = json.loads(proc.stdout)
    assert {f["status"] for f in findings} == {"ok"}, [f["message"] for f in findings
                                                       if f["status"] != "ok"]
    probes = {f["check"]: f["evidence"]["series"] for f in findings}
    assert [p["metric"] for p in probes["metric coverage: error_rate"]] == ["http_requests_total"]
    assert 'kubernetes_namespace="noa"' in probes["metric coverage: error_rate"][0]["promql"]
    assert [p["metric"] for p in probes["metric coverage: queue_depth"]] == ["jobs_waiting"]


def test_without_the_mapping_the_check_names_what_is_missing(stacks):
    _, _, config = stacks
    proc = noa(config, "metrics", "check", "--target", "unmapped")
    assert proc.returncode == 1
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert "critical" in lines["error_rate"] and "no NOA Server series: noa_http_requests_total" \
        in lines["error_rate"]
    assert "required missing" in proc.stderr


def test_a_prometheus_without_kube_state_metrics_is_named(stacks):
    _, _, config = stacks
    proc = noa(config, "metrics", "check", "--target", "noksm", "--json")
    assert proc.returncode == 1
    findings = {f["check"].split(": ")[1]: f for f in json.loads(proc.stdout)}
    assert findings["cpu_usage"]["status"] == "critical"
    assert findings["cpu_usage"]["message"] == (
        "no kube-state-metrics series: kube_pod_container_resource_limits")
    assert findings["cpu_usage"]["evidence"]["missing"] == ["kube_pod_container_resource_limits"]
    assert findings["error_rate"]["status"] == "ok"  # NOA Server's own series are there
    assert findings["disk_usage"]["status"] == "ok"  # and the kubelet's
    assert {f["status"] for n, f in findings.items() if n in ("restarts", "oom_kills",
                                                            "replicas_unavailable")} == {
        "critical"}


def test_daily_health_on_the_mapped_target_shows_every_dashboard_with_data(
        stacks, reports_dir: Path, monkeypatch: pytest.MonkeyPatch):
    _, _, config = stacks
    monkeypatch.setenv("NOA_CONFIG", str(config))
    monkeypatch.delenv("NOA_TARGET", raising=False)
    result = run(RunRequest("monitoring/daily_health", {"window": "2h"}, target="mapped"))
    meta = json.loads(Path(result.record).read_text())["metadata"]["noa"]
    assert result.exit_code == ExitCode.SUCCEEDED, meta.get("error")
    findings = meta["outcome"]["findings"]
    no_data = [f for f in findings if "no data" in f["message"] or f["status"] == "unreachable"]
    assert no_data == []
    checks = {f["check"]: f for f in findings}
    assert checks["error_rate"]["status"] == "ok" and checks["error_rate"]["value"] > 0
    assert "http_requests_total{" in checks["error_rate"]["evidence"]["promql"]
    assert checks["memory"]["status"] == "ok" and checks["memory"]["value"] == pytest.approx(
        50.0, rel=0.02)
    assert checks["cpu"]["value"] == pytest.approx(35.0, rel=0.05)  # the pod cgroup not counted
