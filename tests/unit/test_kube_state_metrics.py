"""The kube-state-metrics stand-in, the quantity parser, cron and the scheduler, without processes:
a freshly seeded sandbox store rendered as kube-state-metrics v2 would, family by family."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from noa_sandbox.kube import cluster, ksm, nodes, pods, seed
from noa_sandbox.kube.cron import next_fire
from noa_sandbox.kube.quantity import parse_quantity
from noa_sandbox.kube.store import Store
from noa_sandbox.simulator import catalog

Samples = dict[str, list[dict[str, Any]]]

# The label names kube-state-metrics v2 documents for each family (docs/metrics/*/…md), besides
# ``label_*`` of the ``*_labels`` families.
DOCUMENTED: dict[str, set[str]] = {
    "kube_pod_info": {"namespace", "pod", "uid", "host_ip", "pod_ip", "node", "created_by_kind",
                      "created_by_name", "priority_class", "host_network"},
    "kube_pod_owner": {"namespace", "pod", "uid", "owner_kind", "owner_name",
                       "owner_is_controller"},
    "kube_pod_labels": {"namespace", "pod", "uid"},
    "kube_pod_created": {"namespace", "pod", "uid"},
    "kube_pod_start_time": {"namespace", "pod", "uid"},
    "kube_pod_status_phase": {"namespace", "pod", "uid", "phase"},
    "kube_pod_status_ready": {"namespace", "pod", "uid", "condition"},
    "kube_pod_status_scheduled": {"namespace", "pod", "uid", "condition"},
    "kube_pod_container_info": {"namespace", "pod", "uid", "container", "image", "image_id",
                                "image_spec", "container_id"},
    **{f"kube_pod_container_status_{s}": {"namespace", "pod", "uid", "container"}
       for s in ("ready", "running", "waiting", "terminated", "restarts_total",
                 "last_terminated_exitcode", "last_terminated_timestamp")},
    "kube_pod_container_status_waiting_reason": {"namespace", "pod", "uid", "container",
                                                 "reason"},
    "kube_pod_container_status_last_terminated_reason": {"namespace", "pod", "uid", "container",
                                                         "reason"},
    **{f"kube_pod_container_resource_{k}": {"namespace", "pod", "uid", "container", "node",
                                            "resource", "unit"} for k in ("requests", "limits")},
    "kube_pod_spec_volumes_persistentvolumeclaims_info": {"namespace", "pod", "uid", "volume",
                                                          "persistentvolumeclaim", "ephemeral"},
    **{f"kube_deployment_{f}": {"namespace", "deployment"} for f in (
        "spec_replicas", "status_replicas", "status_replicas_available",
        "status_replicas_unavailable", "status_replicas_updated", "status_replicas_ready",
        "metadata_generation", "status_observed_generation", "created", "labels",
        "spec_strategy_rollingupdate_max_surge", "spec_strategy_rollingupdate_max_unavailable")},
    "kube_deployment_status_condition": {"namespace", "deployment", "reason", "condition",
                                         "status"},
    "kube_replicaset_owner": {"namespace", "replicaset", "owner_kind", "owner_name",
                              "owner_is_controller"},
    "kube_replicaset_spec_replicas": {"namespace", "replicaset"},
    "kube_replicaset_status_ready_replicas": {"namespace", "replicaset"},
    "kube_horizontalpodautoscaler_info": {"namespace", "horizontalpodautoscaler",
                                          "scaletargetref_api_version", "scaletargetref_kind",
                                          "scaletargetref_name"},
    **{f"kube_horizontalpodautoscaler_{f}": {"namespace", "horizontalpodautoscaler"} for f in (
        "spec_min_replicas", "spec_max_replicas", "status_current_replicas",
        "status_desired_replicas", "metadata_generation")},
    "kube_horizontalpodautoscaler_spec_target_metric": {"namespace", "horizontalpodautoscaler",
                                                        "metric_name", "metric_target_type"},
    "kube_horizontalpodautoscaler_status_target_metric": {
        "namespace", "horizontalpodautoscaler", "metric_name", "metric_target_type"},
    "kube_horizontalpodautoscaler_status_condition": {"namespace", "horizontalpodautoscaler",
                                                      "condition", "status"},
    "kube_node_info": {"node", "kernel_version", "os_image", "container_runtime_version",
                       "kubelet_version", "kubeproxy_version", "pod_cidr", "provider_id",
                       "system_uuid", "internal_ip"},
    "kube_node_labels": {"node"},
    "kube_node_status_capacity": {"node", "resource", "unit"},
    "kube_node_status_allocatable": {"node", "resource", "unit"},
    "kube_node_status_condition": {"node", "condition", "status"},
    "kube_node_spec_unschedulable": {"node"},
    "kube_node_created": {"node"},
    "kube_persistentvolumeclaim_info": {"namespace", "persistentvolumeclaim", "storageclass",
                                        "volumename", "volumemode"},
    "kube_persistentvolumeclaim_resource_requests_storage_bytes": {"namespace",
                                                                   "persistentvolumeclaim"},
    "kube_persistentvolumeclaim_status_phase": {"namespace", "persistentvolumeclaim", "phase"},
    "kube_persistentvolumeclaim_access_mode": {"namespace", "persistentvolumeclaim",
                                               "access_mode"},
    "kube_persistentvolumeclaim_labels": {"namespace", "persistentvolumeclaim"},
    "kube_job_status_succeeded": {"namespace", "job_name"},
    "kube_job_status_active": {"namespace", "job_name"},
    "kube_job_status_failed": {"namespace", "job_name", "reason"},
    "kube_job_owner": {"namespace", "job_name", "owner_kind", "owner_name",
                       "owner_is_controller"},
    "kube_cronjob_info": {"namespace", "cronjob", "schedule", "concurrency_policy", "timezone"},
    "kube_cronjob_next_schedule_time": {"namespace", "cronjob"},
    "kube_cronjob_spec_suspend": {"namespace", "cronjob"},
}
ONLY_WHEN = {"kube_pod_container_status_waiting_reason",
             "kube_pod_container_status_last_terminated_reason",
             "kube_pod_container_status_last_terminated_exitcode",
             "kube_pod_container_status_last_terminated_timestamp",
             "kube_job_status_succeeded", "kube_job_status_active", "kube_job_status_failed",
             "kube_job_owner"}
"""Families with series only for some states (a waiting or restarted container, a Job)."""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    root: Path = tmp_path_factory.mktemp("kube")
    store = Store(root / "store.json")
    hooks = cluster.attach(store, world_file=None, state_dir=root, ready_delay=0.0, start=False)
    controller = hooks.extra["cluster"].controller
    for _ in range(4):
        controller.run_once()
    yield store
    store.close()


def render(store: Store) -> Samples:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ksm.StoreCollector(store))
    out: Samples = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            out.setdefault(sample.name, []).append({**sample.labels, "_value": sample.value})
    return out


def values(samples: Samples, name: str, **match: str) -> list[float]:
    return [s["_value"] for s in samples.get(name, [])
            if all(s.get(k) == v for k, v in match.items())]


@pytest.mark.parametrize(("text", "number"), [
    ("250m", 0.25), ("1", 1.0), ("1.5", 1.5), ("512Mi", 512 * 2**20), ("1Gi", 2**30),
    ("20Gi", 20 * 2**30), ("15896988Ki", 15896988 * 1024), ("1k", 1000.0), ("2M", 2e6),
    ("100n", 1e-7), ("1e3", 1000.0), (".5", 0.5), (3, 3.0)])
def test_quantities_parse_like_kubernetes(text: str | int, number: float) -> None:
    assert parse_quantity(text) == pytest.approx(number)


@pytest.mark.parametrize("bad", ["", "1.5 Gi", "Gi", "1e3Mi", "12x", "--1"])
def test_malformed_quantities_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(bad)


def test_cron_next_fire() -> None:
    def at(text: str) -> float:
        return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()

    assert next_fire("0 2 * * *", at("2026-12-04T01:59:00")) == at("2026-12-04T02:00:00")
    assert next_fire("0 2 * * *", at("2026-12-04T02:00:00")) == at("2026-12-05T02:00:00")
    assert next_fire("15 4 * * *", at("2026-12-04T18:00:00")) == at("2026-12-05T04:15:00")
    assert next_fire("0 7 * * 0", at("2026-12-04T18:00:00")) == at("2026-12-06T07:00:00")
    assert next_fire("*/20 * * * *", at("2026-12-04T18:01:00")) == at("2026-12-04T18:20:00")
    with pytest.raises(ValueError, match="five-field"):
        next_fire("@daily", 0.0)


def test_every_documented_family_has_its_documented_labels(seeded: Store) -> None:
    samples = render(seeded)
    for family, labels in DOCUMENTED.items():
        found = samples.get(family, [])
        if family in ONLY_WHEN and not found:
            continue
        assert found, f"no {family}"
        for s in found:
            names = {k for k in s if k != "_value"}
            extra = {k for k in names - labels if not k.startswith("label_")}
            assert labels <= names and not extra, (family, names ^ labels)


def test_values_follow_the_objects(seeded: Store) -> None:
    samples = render(seeded)
    for pod in seeded.list("pods")[0]:
        meta, spec = pod["metadata"], pod["spec"]
        ident = {"namespace": meta["namespace"], "pod": meta["name"]}
        assert values(samples, "kube_pod_status_phase", **ident, phase=pod["status"]["phase"]
                      ) == [1.0]
        assert sum(values(samples, "kube_pod_status_phase", **ident)) == 1.0
        info = [s for s in samples["kube_pod_info"] if s["pod"] == meta["name"]]
        assert info[0]["node"] == spec["nodeName"]
        assert info[0]["created_by_kind"] == meta["ownerReferences"][0]["kind"]
        labels = [s for s in samples["kube_pod_labels"] if s["pod"] == meta["name"]][0]
        assert labels["label_app_kubernetes_io_part_of"] == meta["labels"][
            "app.kubernetes.io/part-of"]
        for c in spec["containers"]:
            for kind in ("requests", "limits"):
                for resource, unit in (("cpu", "core"), ("memory", "byte")):
                    got = values(samples, f"kube_pod_container_resource_{kind}", **ident,
                                 container=c["name"], resource=resource, unit=unit,
                                 node=spec["nodeName"])
                    assert got == [parse_quantity(c["resources"][kind][resource])]
        for cs in pod["status"]["containerStatuses"]:
            assert values(samples, "kube_pod_container_status_restarts_total", **ident,
                          container=cs["name"]) == [float(cs["restartCount"])]
    for d in seeded.list("deployments")[0]:
        ident = {"namespace": "noa", "deployment": d["metadata"]["name"]}
        assert values(samples, "kube_deployment_spec_replicas", **ident) == [
            float(d["spec"]["replicas"])]
        assert values(samples, "kube_deployment_status_replicas_available", **ident) == [
            float(d["status"].get("availableReplicas", 0))]
        assert values(samples, "kube_deployment_spec_strategy_rollingupdate_max_surge",
                      **ident) == [1.0]
    for n in seeded.list("nodes")[0]:
        for resource, unit in (("cpu", "core"), ("memory", "byte"), ("pods", "integer")):
            assert values(samples, "kube_node_status_allocatable", node=n["metadata"]["name"],
                          resource=resource, unit=unit) == [
                parse_quantity(n["status"]["allocatable"][resource])]
        assert values(samples, "kube_node_status_condition", node=n["metadata"]["name"],
                      condition="Ready", status="true") == [1.0]
    assert values(samples, "kube_node_status_allocatable", node="sandbox-node-1",
                  resource="cpu") == [3.92]
    assert values(samples, "kube_persistentvolumeclaim_resource_requests_storage_bytes",
                  persistentvolumeclaim="noa-uploads") == [20 * 2**30]
    info = [s for s in samples["kube_persistentvolumeclaim_info"]
            if s["persistentvolumeclaim"] == "noa-worker-data"]
    assert info[0]["storageclass"] == "efs-sc" and info[0]["volumename"].startswith("pvc-")
    assert values(samples, "kube_persistentvolumeclaim_access_mode",
                  persistentvolumeclaim="noa-worker-data", access_mode="ReadWriteMany") == [1.0]
    mounts = {(s["pod"].split("-")[0], s["persistentvolumeclaim"])
              for s in samples["kube_pod_spec_volumes_persistentvolumeclaims_info"]}
    assert mounts == {("web", "noa-uploads"), ("worker", "noa-worker-data")}
    target = [s for s in samples["kube_horizontalpodautoscaler_spec_target_metric"]]
    assert [(s["metric_name"], s["metric_target_type"], s["_value"]) for s in target] == [
        ("cpu", "utilization", 70.0)]
    current = [s for s in samples["kube_horizontalpodautoscaler_status_target_metric"]]
    hpa = seeded.get("horizontalpodautoscalers", "noa", "api")
    used = hpa["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"]
    assert [(s["metric_name"], s["metric_target_type"], s["_value"]) for s in current] == [
        ("cpu", "utilization", float(used))]
    assert 10 < used < 200
    assert len(values(samples, "kube_cronjob_next_schedule_time")) == len(
        seeded.list("cronjobs")[0])


def test_restarts_and_last_termination_follow_the_container_status() -> None:
    pod = {"metadata": {"name": "worker-x", "namespace": "noa", "uid": "u1"},
           "spec": {"nodeName": "sandbox-node-2", "containers": [{"name": "worker"}]},
           "status": {"phase": "Running", "containerStatuses": [{
               "name": "worker", "ready": False, "restartCount": 3,
               "state": {"waiting": {"reason": "CrashLoopBackOff"}},
               "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                                            "finishedAt": "2026-12-04T18:00:00Z"}}}]}}
    out = {m.name: m.samples for m in ksm.render({"pods": [pod]}, 0.0)}
    by_name = {s.name: s for samples in out.values() for s in samples}
    assert by_name["kube_pod_container_status_restarts_total"].value == 3
    assert by_name["kube_pod_container_status_waiting_reason"].labels["reason"] == (
        "CrashLoopBackOff")
    assert by_name["kube_pod_container_status_last_terminated_reason"].labels["reason"] == (
        "OOMKilled")
    assert by_name["kube_pod_container_status_last_terminated_exitcode"].value == 137
    assert by_name["kube_pod_container_status_last_terminated_timestamp"].value == (
        datetime(2026, 12, 4, 18, tzinfo=UTC).timestamp())
    assert by_name["kube_pod_container_status_waiting"].value == 1


def test_the_scheduler_fits_requests_or_leaves_the_pod_pending(seeded: Store) -> None:
    node_objs = seeded.list("nodes")[0]
    running = seeded.list("pods")[0]
    small = {"spec": {"containers": [{"name": "c", "resources": {"requests": {
        "cpu": "500m", "memory": "1Gi"}}}]}}
    free = nodes.free_resources(node_objs, running)
    chosen = nodes.pick_node(small, node_objs, running)
    assert chosen == max(sorted(free), key=lambda n: (free[n][0] / max(f[0] for f in
                                                                       free.values())
                                                      + free[n][1] / max(f[1] for f in
                                                                         free.values())))
    huge = {"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "4"}}}]}}
    assert nodes.pick_node(huge, node_objs, running) is None
    template = {"metadata": {"labels": {"app": "big"}}, "spec": {"containers": [{
        "name": "big", "image": "busybox", "resources": {"requests": {"cpu": "3500m"}}}]}}
    owner = seeded.create("replicasets", "default", {
        "metadata": {"name": "big"}, "spec": {"replicas": 0, "selector": {"matchLabels": {
            "app": "big"}}, "template": template}})
    fits = sum(int(cpu // 3.5) for cpu, _, _ in free.values())  # what the nodes can still take
    made: list[dict[str, Any]] = []
    for i in range(fits + 1):
        made.append(pods.create_pod(seeded, random.Random(i), owner, [*running, *made]))
    assert all("nodeName" in p["spec"] for p in made[:fits])
    assert len({p["spec"]["nodeName"] for p in made[:fits]}) == fits  # one per node that fits
    fourth = made[-1]
    assert "nodeName" not in fourth["spec"]
    marked = pods.mark_unschedulable(seeded, fourth, "2026-12-04T18:00:00Z")
    cond = marked["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("PodScheduled", "False",
                                                              "Unschedulable")
    events = [e for e in seeded.list("events", "default")[0]
              if e["involvedObject"]["name"] == fourth["metadata"]["name"]]
    assert [e["reason"] for e in events] == ["FailedScheduling"]
    assert "0/3 nodes are available" in events[0]["message"]
    samples = render(seeded)
    assert values(samples, "kube_pod_status_scheduled", pod=fourth["metadata"]["name"],
                  condition="false") == [1.0]
    for p in made:
        seeded.delete("pods", "default", p["metadata"]["name"])
    seeded.delete("replicasets", "default", "big")


def test_the_seeded_resources_are_the_simulators() -> None:
    for service, (requests, limits) in seed.RESOURCES.items():
        assert parse_quantity(requests["cpu"]) == catalog.CPU_REQUEST[service]
        assert parse_quantity(limits["cpu"]) == catalog.CPU_LIMIT[service]
        assert parse_quantity(requests["memory"]) == catalog.MEMORY_REQUEST[service]
        assert parse_quantity(limits["memory"]) == catalog.MEMORY_LIMIT[service]
    for claim, _, size in catalog.VOLUMES.values():
        assert parse_quantity(seed.PVCS[claim][2]) == size
