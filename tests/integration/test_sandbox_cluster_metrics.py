"""The project sandbox's Prometheus holds what a real cluster's exporters publish, and it agrees
with the sandbox Kubernetes API read through the official ``kubernetes`` client.

kube-state-metrics (job ``kube-state-metrics``), the kubelets' cAdvisor and volume stats (job
``kubelet``) and node-exporter (job ``node-exporter``): every family present with its documented
labels, values equal to the objects (requests, limits, restarts, allocatable, PVC capacity,
Deployment replicas), and the backfilled history holding them 30 days back.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import noa_sandbox as sandbox
from noa_sandbox.kube.quantity import parse_quantity
from noa_sandbox.layout import Layout
from noa_sandbox.models import SandboxStatus
from tests.unit.test_kube_state_metrics import DOCUMENTED, ONLY_WHEN

pytestmark = pytest.mark.integration

DAY = 86_400.0
NS = "noa"
CADVISOR = {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
            "container_memory_rss", "container_memory_usage_bytes", "container_memory_cache",
            "container_spec_memory_limit_bytes", "container_spec_cpu_quota",
            "container_spec_cpu_period", "container_cpu_cfs_periods_total",
            "container_cpu_cfs_throttled_periods_total", "container_oom_events_total"}
KUBELET = {f"kubelet_volume_stats_{n}" for n in ("capacity_bytes", "available_bytes",
                                                 "used_bytes", "inodes", "inodes_free",
                                                 "inodes_used")} | {"kubelet_running_pods"}
NODE = {"node_cpu_seconds_total", "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes",
        "node_memory_MemFree_bytes", "node_memory_Buffers_bytes", "node_memory_Cached_bytes",
        "node_filesystem_size_bytes", "node_filesystem_avail_bytes", "node_filesystem_free_bytes",
        "node_load1", "node_load5", "node_load15", "node_uname_info", "node_boot_time_seconds"}
TARGET = {"job", "instance"}
EMPTY = {"priority_class", "pod_cidr", "reason", "image_id", "container_id"}
"""Labels the sandbox's objects leave empty (Prometheus stores no empty label)."""


def query(url: str, promql: str, at: float | None = None) -> list[dict[str, Any]]:
    params = {"query": promql, **({} if at is None else {"time": f"{at:.3f}"})}
    with urllib.request.urlopen(f"{url}/api/v1/query?{urllib.parse.urlencode(params)}",
                                timeout=30) as rsp:
        body = json.loads(rsp.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


@pytest.fixture(scope="module")
def project(sandbox_state: Path) -> SandboxStatus:
    status: SandboxStatus = sandbox.status(sandbox_state)
    assert status.healthy, status.to_dict()
    return status


@pytest.fixture(scope="module")
def prom(project: SandboxStatus) -> str:
    endpoint = project.service("prometheus").endpoint
    assert endpoint is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # a fresh sandbox: wait for every target's first scrape
        ups = query(endpoint, 'up{job=~"kube-state-metrics|kubelet|node-exporter"}')
        if len(ups) == 1 + 6 + 3 and all(r["value"][1] == "1" for r in ups):
            break
        time.sleep(1)
    return endpoint


@pytest.fixture(scope="module")
def kube(sandbox_state: Path) -> Any:
    from kubernetes import client, config

    api = config.new_client_from_config(  # type: ignore[no-untyped-call]
        str(Layout(sandbox_state).kubeconfig), context="noa-sandbox")
    return client.CoreV1Api(api), client.AppsV1Api(api)


def test_the_exporters_are_scraped_like_kube_prometheus_stack(prom: str, project: SandboxStatus
                                                              ) -> None:
    found = query(prom, 'up{job=~"kube-state-metrics|kubelet|node-exporter"}')
    ups = {(r["metric"]["job"], r["metric"]["instance"], r["metric"].get("metrics_path", "")):
           r["value"][1] for r in found}
    assert set(ups.values()) == {"1"}, ups
    kubelet = {(i, p) for j, i, p in ups if j == "kubelet"}
    assert kubelet == {(f"172.18.0.{n}:10250", p) for n in (2, 3, 4)
                       for p in ("/metrics", "/metrics/cadvisor")}
    assert {i for j, i, _ in ups if j == "node-exporter"} == {
        f"172.18.0.{n}:9100" for n in (2, 3, 4)}
    one = query(prom, 'container_memory_working_set_bytes{job="kubelet",container!=""}')[0]
    assert {k: one["metric"][k] for k in ("service", "endpoint", "metrics_path")} == {
        "service": "kubelet", "endpoint": "https-metrics", "metrics_path": "/metrics/cadvisor"}
    assert one["metric"]["node"].startswith("sandbox-node-")
    kube = project.service("kubernetes")
    assert "kube-state-metrics on http://127.0.0.1:" in kube.detail


def test_every_family_is_there_with_its_documented_labels(prom: str) -> None:
    for family, labels in DOCUMENTED.items():
        found = query(prom, f'{family}{{job="kube-state-metrics"}}')
        if family in ONLY_WHEN and not found:
            continue
        assert found, family
        seen: set[str] = set()
        for r in found:
            names = set(r["metric"]) - {"__name__"} - TARGET
            extra = {k for k in names - labels if not k.startswith("label_")}
            assert not extra, (family, extra)
            seen |= names
        # Prometheus drops empty labels (as on a real cluster: no priority class, no pod CIDR)
        assert labels - EMPTY <= seen, (family, labels - seen)
    for family in CADVISOR:
        found = query(prom, f'{family}{{job="kubelet",namespace="{NS}",container!=""}}')
        assert found, family
        assert {"namespace", "pod", "container", "image", "id", "name", "node"} <= set(
            found[0]["metric"]), family
    for family in KUBELET:
        assert query(prom, f'{family}{{job="kubelet"}}'), family
    for family in NODE:
        assert query(prom, f'{family}{{job="node-exporter"}}'), family
    # NOA's own exporter publishes none of it
    assert not query(prom, '{job="noa-server",__name__=~"container_.*|kube_.*|kubelet_.*|node_.*"}')


def test_values_agree_with_the_kubernetes_api(prom: str, kube: Any) -> None:
    core, apps = kube
    pods = [p for p in core.list_namespaced_pod(NS).items if p.status.phase == "Running"]
    assert pods

    def one(promql: str) -> float:
        result = query(prom, promql)
        assert len(result) == 1, (promql, result)
        return float(result[0]["value"][1])

    for pod in pods:
        name = pod.metadata.name
        for c in pod.spec.containers:
            sel = f'namespace="{NS}",pod="{name}",container="{c.name}"'
            for kind in ("requests", "limits"):
                for resource, unit in (("cpu", "core"), ("memory", "byte")):
                    want = parse_quantity(getattr(c.resources, kind)[resource])
                    got = one(f'kube_pod_container_resource_{kind}{{{sel},resource="{resource}",'
                              f'unit="{unit}",node="{pod.spec.node_name}"}}')
                    assert got == pytest.approx(want), (name, kind, resource)
            status = next(s for s in pod.status.container_statuses if s.name == c.name)
            assert one(f'kube_pod_container_status_restarts_total{{{sel}}}') == status.restart_count
            limit = parse_quantity(c.resources.limits["memory"])
            assert one(f'container_spec_memory_limit_bytes{{job="kubelet",{sel}}}') == limit
            assert query(prom, f'container_memory_working_set_bytes{{job="kubelet",{sel},'
                               f'node="{pod.spec.node_name}"}}')
    for node in core.list_node().items:
        n = node.metadata.name
        for resource, unit in (("cpu", "core"), ("memory", "byte"), ("pods", "integer")):
            want = parse_quantity(node.status.allocatable[resource])
            assert one(f'kube_node_status_allocatable{{node="{n}",resource="{resource}",'
                       f'unit="{unit}"}}') == pytest.approx(want)
        total = one(f'node_memory_MemTotal_bytes{{node="{n}"}}')
        assert total == parse_quantity(node.status.capacity["memory"])
    mounted = {(v.persistent_volume_claim.claim_name, p.spec.node_name) for p in pods
               for v in p.spec.volumes or [] if v.persistent_volume_claim}
    assert {claim for claim, _ in mounted} == {"noa-uploads", "noa-worker-data"}
    for pvc in core.list_namespaced_persistent_volume_claim(NS).items:
        claim = pvc.metadata.name
        assert one(f'kube_persistentvolumeclaim_resource_requests_storage_bytes{{'
                   f'persistentvolumeclaim="{claim}"}}') == parse_quantity(
            pvc.spec.resources.requests["storage"])
        if any(c == claim for c, _ in mounted):
            nodes = {nd for c, nd in mounted if c == claim}  # every node mounting it reports it
            result = query(prom, f'kubelet_volume_stats_capacity_bytes{{'
                                 f'persistentvolumeclaim="{claim}"}}')
            assert {(r["metric"]["node"], float(r["value"][1])) for r in result} == {
                (node, parse_quantity(pvc.status.capacity["storage"])) for node in nodes}
    for d in apps.list_namespaced_deployment(NS).items:
        sel = f'namespace="{NS}",deployment="{d.metadata.name}"'
        assert one(f"kube_deployment_spec_replicas{{{sel}}}") == d.spec.replicas
        assert one(f"kube_deployment_status_replicas_available{{{sel}}}") == (
            d.status.available_replicas or 0)
        assert one(f"kube_deployment_status_replicas{{{sel}}}") == d.status.replicas


def test_the_history_has_the_cluster_series_thirty_days_back(prom: str, project: SandboxStatus
                                                             ) -> None:
    assert project.history is not None and project.history["series"] > 0
    at = project.history["end"] - 30 * DAY
    for promql in (
        'sum(rate(container_cpu_usage_seconds_total{job="kubelet",namespace="noa",'
        'container!=""}[5m]))',
        'max(container_memory_working_set_bytes{namespace="noa",container!=""}'
        ' / on (namespace, pod, container) group_left '
        'kube_pod_container_resource_limits{resource="memory"})',
        'sum(kube_pod_container_resource_requests{namespace="noa",resource="cpu"})',
        'sum(kube_node_status_allocatable{resource="cpu"})',
        'max(kubelet_volume_stats_used_bytes{namespace="noa"}'
        ' / kubelet_volume_stats_capacity_bytes)',
        'sum(kube_deployment_spec_replicas{namespace="noa"})',
        'count(kube_pod_info{namespace="noa"})',
        '1 - avg(rate(node_cpu_seconds_total{mode="idle"}[5m]))',
        'min(node_memory_MemAvailable_bytes)',
        'max(kube_horizontalpodautoscaler_spec_max_replicas)',
        'count(kube_cronjob_next_schedule_time)',
    ):
        result = query(prom, promql, at)
        assert result and float(result[0]["value"][1]) > 0, promql
    assert float(query(prom, 'count(kube_pod_info{namespace="noa"})', at)[0]["value"][1]) == 6
