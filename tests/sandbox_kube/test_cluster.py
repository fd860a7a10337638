"""The simulated cluster through the official client: seed, rollouts, undo, failures, world."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest
from kubernetes import client

from noa_sandbox import releases
from noa_sandbox.kube import registry
from noa_sandbox.simulator.scenarios import Effects
from noa_sandbox.simulator.spec import update_spec

from .conftest import NS, Running, rolled_out, wait_until

IMAGE = registry.IMAGE
REVISION = "deployment.kubernetes.io/revision"


def set_image(apps: client.AppsV1Api, name: str, tag: str, container: str | None = None) -> None:
    body = {"spec": {"template": {"spec": {"containers": [
        {"name": container or name, "image": f"{IMAGE}:{tag}"}]}}}}
    apps.patch_namespaced_deployment(name, NS, body)


def replicasets(apps: client.AppsV1Api, app: str) -> list[Any]:
    items = apps.list_namespaced_replica_set(NS, label_selector=f"app={app}").items
    return sorted(items, key=lambda rs: int(rs.metadata.annotations[REVISION]))


def condition(d: Any, type_: str) -> Any:
    return next((c for c in d.status.conditions or [] if c.type == type_), None)


def test_seed_has_noa_server_with_two_revisions_available(seeded: Running,
                                                          apps: client.AppsV1Api,
                                                          core: client.CoreV1Api) -> None:
    for name, replicas in (("api", 3), ("worker", 2), ("web", 1)):
        d = apps.read_namespaced_deployment(name, NS)
        assert d.spec.replicas == replicas
        assert d.metadata.annotations[REVISION] == "2"
        assert d.spec.template.spec.containers[0].image == f"{IMAGE}:2.14.0"
        available = condition(d, "Available")
        assert available.status == "True" and available.reason == "MinimumReplicasAvailable"
        assert condition(d, "Progressing").reason == "NewReplicaSetAvailable"
        rss = replicasets(apps, name)
        assert [rs.metadata.annotations[REVISION] for rs in rss] == ["1", "2"]
        assert rss[0].spec.template.spec.containers[0].image.endswith(":2.13.0")
        assert [rs.spec.replicas for rs in rss] == [0, replicas]
        owner = rss[1].metadata.owner_references[0]
        assert (owner.kind, owner.name, owner.controller) == ("Deployment", name, True)
        assert rss[1].metadata.name == f"{name}-{rss[1].metadata.labels['pod-template-hash']}"
    pods = core.list_namespaced_pod(NS, label_selector="app=api").items
    assert len(pods) == 3
    for pod in pods:
        assert pod.status.phase == "Running"
        assert pod.spec.node_name.startswith("sandbox-node-")
        assert pod.status.pod_ip.startswith("10.244.")
        cs = pod.status.container_statuses[0]
        assert cs.ready and cs.image_id == f"{IMAGE}@{registry.digest('noa-server', '2.14.0')}"
        assert cs.state.running.started_at is not None
    assert {s.metadata.name for s in core.list_namespaced_service(NS).items} >= {"api", "web"}
    hpa = client.AutoscalingV2Api(apps.api_client).read_namespaced_horizontal_pod_autoscaler(
        "api", NS)
    assert (hpa.status.current_replicas, hpa.status.desired_replicas) == (3, 3)
    cronjobs = {c.metadata.name for c in client.BatchV1Api(
        apps.api_client).list_namespaced_cron_job(NS).items}
    assert {"noa-full-backup", "noa-validate-backup"} <= cronjobs
    world = seeded.world()
    assert sorted(p.service for p in world.pods) == ["api"] * 3 + ["web"] + ["worker"] * 2
    assert {p.version for p in world.pods} == {"2.14.0"}
    assert {p.name for p in world.pods} == {
        p.metadata.name for p in core.list_namespaced_pod(NS).items}


def test_rolling_update_steps_within_surge_and_undo_reuses_the_old_replicaset(
    seeded: Running, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    samples: list[tuple[int, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            pods = [p for p in core.list_namespaced_pod(NS, label_selector="app=api").items
                    if p.metadata.deletion_timestamp is None]
            ready = sum(1 for p in pods if any(
                c.type == "Ready" and c.status == "True" for c in p.status.conditions or []))
            samples.append((len(pods), ready))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    set_image(apps, "api", "2.15.0")
    try:
        wait_until(lambda: rolled_out(apps, "api") and replicasets(apps, "api")[-1]
                   .spec.template.spec.containers[0].image.endswith("2.15.0"),
                   what="api at 2.15.0")
    finally:
        stop.set()
        sampler.join()
    assert max(total for total, _ in samples) == 4  # replicas 3 + maxSurge 1, never more
    assert min(ready for _, ready in samples) >= 3  # maxUnavailable 0
    d = apps.read_namespaced_deployment("api", NS)
    assert d.metadata.annotations[REVISION] == "3"
    events = core.list_namespaced_event(NS, field_selector="involvedObject.name=api").items
    scaling = [e.message for e in events if e.reason == "ScalingReplicaSet"]
    newest = replicasets(apps, "api")[-1].metadata.name
    assert any(m.startswith(f"Scaled up replica set {newest} to 1") for m in scaling), scaling

    # kubectl rollout undo: copy revision 2's template (without the hash label) into the
    # Deployment
    rev2 = next(rs for rs in replicasets(apps, "api") if rs.metadata.annotations[REVISION] == "2")
    template = apps.api_client.sanitize_for_serialization(rev2.spec.template)
    template["metadata"]["labels"].pop("pod-template-hash")
    apps.patch_namespaced_deployment("api", NS, [
        {"op": "replace", "path": "/spec/template", "value": template}])
    wait_until(lambda: rolled_out(apps, "api") and apps.read_namespaced_deployment(
        "api", NS).metadata.annotations[REVISION] == "4", what="undo rolled out")
    reused = apps.read_namespaced_replica_set(rev2.metadata.name, NS)
    assert reused.metadata.annotations[REVISION] == "4"
    assert reused.metadata.annotations["deployment.kubernetes.io/revision-history"] == "2"
    assert reused.spec.replicas == 3
    assert [rs.metadata.annotations[REVISION] for rs in replicasets(apps, "api")] == [
        "1", "3", "4"]
    wait_until(lambda: {p.version for p in seeded.world().pods if p.service == "api"} == {
        "2.14.0"}, what="world back on 2.14.0")


def test_recreate_and_pause(seeded: Running, apps: client.AppsV1Api,
                            core: client.CoreV1Api) -> None:
    apps.patch_namespaced_deployment("worker", NS, {"spec": {"paused": True}})
    set_image(apps, "worker", "2.15.0")
    time.sleep(1.0)
    d = apps.read_namespaced_deployment("worker", NS)
    assert len(replicasets(apps, "worker")) == 2  # no new ReplicaSet while paused
    assert condition(d, "Progressing").reason == "DeploymentPaused"
    apps.patch_namespaced_deployment("worker", NS, [
        {"op": "replace", "path": "/spec/strategy", "value": {"type": "Recreate"}},
        {"op": "replace", "path": "/spec/paused", "value": False}])
    versions: list[set[str]] = []

    def observe() -> bool:
        pods = core.list_namespaced_pod(NS, label_selector="app=worker").items
        versions.append({p.spec.containers[0].image.rsplit(":", 1)[1] for p in pods})
        return rolled_out(apps, "worker") and len(replicasets(apps, "worker")) == 3

    wait_until(observe, what="worker recreated")
    assert all(len(v) <= 1 for v in versions), versions  # never both versions at once


def test_unpublished_tag_is_image_pull_backoff_until_the_deadline(
    seeded: Running, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    apps.patch_namespaced_deployment("web", NS, {"spec": {"progressDeadlineSeconds": 2}})
    set_image(apps, "web", "9.9.9")

    def stuck() -> Any:
        pods = core.list_namespaced_pod(NS, label_selector="app=web").items
        new = [p for p in pods if p.spec.containers[0].image.endswith(":9.9.9")]
        waiting = new and new[0].status.container_statuses and new[0].status.container_statuses[
            0].state.waiting
        return new[0] if waiting and waiting.reason == "ImagePullBackOff" else None

    pod = wait_until(stuck, what="ImagePullBackOff")
    assert pod.status.phase == "Pending"
    d = wait_until(lambda: (lambda d: d if condition(d, "Progressing").reason ==
                            "ProgressDeadlineExceeded" else None)(
        apps.read_namespaced_deployment("web", NS)), timeout=10, what="deadline exceeded")
    progressing = condition(d, "Progressing")
    assert progressing.status == "False"
    assert "has timed out progressing" in progressing.message
    assert condition(d, "Available").status == "True"  # the old pod still serves
    events = core.list_namespaced_event(
        NS, field_selector=f"involvedObject.name={pod.metadata.name}").items
    assert any(e.reason == "Failed" and "Failed to pull image" in e.message for e in events)
    assert {p.version for p in seeded.world().pods if p.service == "web"} == {"2.14.0"}


def test_crashing_release_loops_and_never_serves(seeded: Running, apps: client.AppsV1Api,
                                                 core: client.CoreV1Api) -> None:
    releases.mark_release(seeded.state, "2.15.1", crash=True)
    set_image(apps, "worker", "2.15.1")

    def crashing() -> Any:
        for p in core.list_namespaced_pod(NS, label_selector="app=worker").items:
            cs = (p.status.container_statuses or [None])[0]
            if cs and cs.image.endswith("2.15.1") and cs.restart_count >= 1:
                return p
        return None

    pod = wait_until(crashing, timeout=15, what="CrashLoopBackOff")
    cs = pod.status.container_statuses[0]
    assert pod.status.phase == "Running" and not cs.ready
    assert cs.state.waiting.reason == "CrashLoopBackOff"
    assert (cs.last_state.terminated.reason, cs.last_state.terminated.exit_code) == ("Error", 1)
    previous = core.read_namespaced_pod_log(pod.metadata.name, NS, previous=True)
    assert "KeyError" in previous.splitlines()[-2]
    assert "2.15.1" not in {p.version for p in seeded.world().pods}
    d = apps.read_namespaced_deployment("worker", NS)
    assert d.status.available_replicas == 2 and d.status.updated_replicas == 1


def test_world_follows_ready_pods_selected_by_their_service(
    seeded: Running, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    canary = apps.read_namespaced_deployment("api", NS)
    body = apps.api_client.sanitize_for_serialization(canary)
    body["metadata"] = {"name": "api-canary", "labels": {"app": "api", "track": "canary"}}
    body.pop("status", None)
    body["spec"]["replicas"] = 1
    body["spec"]["selector"] = {"matchLabels": {"app": "api", "track": "canary"}}
    body["spec"]["template"]["metadata"]["labels"]["track"] = "canary"
    body["spec"]["template"]["spec"]["containers"][0]["image"] = f"{IMAGE}:2.15.0"
    apps.create_namespaced_deployment(NS, body)
    world = wait_until(lambda: (lambda w: w if any(p.version == "2.15.0" for p in w.pods)
                                else None)(seeded.world()), what="canary in the world")
    api_pods = [p for p in world.pods if p.service == "api"]
    assert len(api_pods) == 4 and sum(p.version == "2.15.0" for p in api_pods) == 1
    # the Service selects only stable pods now: the canary stops serving
    core.patch_namespaced_service("api", NS, {"spec": {"selector": {"app": "api",
                                                                    "track": "stable"}}})
    wait_until(lambda: all(p.version == "2.14.0" for p in seeded.world().pods),
               what="canary out of the world")
    # nothing Ready for web: web leaves the world (empty is allowed), the rest stays
    apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 0}})
    world = wait_until(lambda: (lambda w: w if not any(p.service == "web" for p in w.pods)
                                else None)(seeded.world()), what="web gone")
    assert {p.service for p in world.pods} == {"api", "worker"}


def test_jobs_complete_apply_migrations_or_fail(seeded: Running,
                                                batch: client.BatchV1Api) -> None:
    def job(name: str, tag: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
        return {"metadata": {"name": name, "annotations": annotations or {}},
                "spec": {"backoffLimit": 0, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": f"{IMAGE}:{tag}",
                                    "args": ["migrate"]}]}}}}

    assert "0042_add_usage_index" not in seeded.world().migrations_applied
    batch.create_namespaced_job(NS, job("db-migrate-2-15-0", "2.15.0"))
    done = wait_until(lambda: (lambda j: j if j.status and j.status.succeeded else None)(
        batch.read_namespaced_job("db-migrate-2-15-0", NS)), what="job complete")
    assert [c.type for c in done.status.conditions] == ["Complete"]
    assert done.status.completion_time is not None
    assert "0042_add_usage_index" in seeded.world().migrations_applied
    batch.create_namespaced_job(NS, job("doomed", "2.15.0", {"noa.sandbox/fail": "true"}))
    failed = wait_until(lambda: (lambda j: j if j.status and j.status.failed else None)(
        batch.read_namespaced_job("doomed", NS)), what="job failed")
    cond = failed.status.conditions[0]
    assert (cond.type, cond.reason) == ("Failed", "BackoffLimitExceeded")
    releases.mark_release(seeded.state, "2.15.1", migration_fails=True)
    batch.create_namespaced_job(NS, job("db-migrate-2-15-1", "2.15.1"))
    wait_until(lambda: (batch.read_namespaced_job("db-migrate-2-15-1", NS).status
                        or client.V1JobStatus()).failed,
               what="migration of a release marked migration_fails fails")


def test_scale_subresource_and_hpa_follow(seeded: Running, apps: client.AppsV1Api) -> None:
    apps.patch_namespaced_deployment_scale("api", NS, {"spec": {"replicas": 5}})
    wait_until(lambda: rolled_out(apps, "api") and apps.read_namespaced_deployment(
        "api", NS).status.replicas == 5, what="scaled to 5")
    assert len(replicasets(apps, "api")) == 2  # a scale is not a new revision
    autoscaling = client.AutoscalingV2Api(apps.api_client)
    wait_until(lambda: autoscaling.read_namespaced_horizontal_pod_autoscaler(
        "api", NS).status.current_replicas == 5, what="HPA status")
    apps.patch_namespaced_deployment_scale("api", NS, {"spec": {"replicas": 1}})
    hpa = wait_until(lambda: (lambda h: h if h.status.current_replicas == 1 else None)(
        autoscaling.read_namespaced_horizontal_pod_autoscaler("api", NS)), what="HPA clamp")
    assert hpa.status.desired_replicas == 3  # clamped to minReplicas; no autoscaling
    wait_until(lambda: len([p for p in seeded.world().pods if p.service == "api"]) == 1,
               what="world has one api pod")


def test_oom_scenario_kills_the_pod_the_simulator_names(seeded: Running,
                                                       core: client.CoreV1Api) -> None:
    workers = sorted(p.name for p in seeded.world().pods if p.service == "worker")
    victim = workers[0]  # the scenario's "worker-0"
    # the first kill comes 8 s into the scenario (the simulator's cycle): start 7.5 s ago
    update_spec(seeded.world_file, lambda s: replace(s, scenario="oom", since=time.time() - 7.5,
                                                     observed=Effects(oom_pod="worker-0")))

    def killed() -> Any:
        pod = core.read_namespaced_pod(victim, NS)
        return pod if pod.status.container_statuses[0].restart_count >= 1 else None

    pod = wait_until(killed, timeout=10, what="OOM kill")
    cs = pod.status.container_statuses[0]
    assert (cs.last_state.terminated.reason, cs.last_state.terminated.exit_code) == (
        "OOMKilled", 137)
    assert cs.ready and cs.state.running is not None  # restarted at once
    previous = core.read_namespaced_pod_log(victim, NS, previous=True).splitlines()
    assert "Perhaps out of memory" in previous[-1]
    others = [core.read_namespaced_pod(n, NS) for n in workers[1:]]
    assert all(p.status.container_statuses[0].restart_count == 0 for p in others)


def test_a_small_memory_limit_gets_the_pods_oom_killed_and_a_larger_one_ends_it(
        seeded: Running, apps: client.AppsV1Api, core: client.CoreV1Api) -> None:
    def limit(memory: str) -> None:
        apps.patch_namespaced_deployment("worker", NS, {"spec": {"template": {"spec": {
            "containers": [{"name": "worker", "resources": {"limits": {"memory": memory}}}]}}}})

    def workers(memory: str) -> list[Any]:
        pods = core.list_namespaced_pod(NS, label_selector="app=worker").items
        return [p for p in pods if p.metadata.deletion_timestamp is None
                and p.spec.containers[0].resources.limits["memory"] == memory]

    limit("1Gi")
    wait_until(lambda: (lambda ps: ps if len(ps) == 2 and all(
        p.status.container_statuses and p.status.container_statuses[0].restart_count >= 1
        for p in ps) else None)(workers("1Gi")), timeout=40, what="OOM kills at 1Gi")
    victim = workers("1Gi")[0]
    killed = victim.status.container_statuses[0]
    assert killed.last_state.terminated.reason == "OOMKilled"
    previous = core.read_namespaced_pod_log(victim.metadata.name, NS, previous=True)
    assert "1024 MiB limit" in previous and "Perhaps out of memory" in previous.splitlines()[-1]
    limit("2Gi")
    pods = wait_until(lambda: (lambda ps: ps if len(ps) == 2 and all(
        p.status.container_statuses and p.status.container_statuses[0].ready
        for p in ps) else None)(workers("2Gi")), timeout=40, what="pods at 2Gi")
    time.sleep(21)  # one whole OOM cycle
    assert all(core.read_namespaced_pod(p.metadata.name, NS).status.container_statuses[0]
               .restart_count == 0 for p in pods)


def test_a_pvc_grows_on_an_expandable_class_only_and_never_shrinks(
        seeded: Running, core: client.CoreV1Api) -> None:
    def request(name: str, size: str) -> None:
        core.patch_namespaced_persistent_volume_claim(name, NS, {"spec": {"resources": {
            "requests": {"storage": size}}}})

    request("noa-uploads", "25Gi")
    grown = wait_until(lambda: (lambda p: p if p.status.capacity["storage"] == "25Gi" else None)(
        core.read_namespaced_persistent_volume_claim("noa-uploads", NS)), what="resized")
    assert grown.spec.resources.requests["storage"] == "25Gi"
    with pytest.raises(client.ApiException) as shrink:
        request("noa-uploads", "10Gi")
    assert shrink.value.status == 422 and "less than previous value" in shrink.value.body
    with pytest.raises(client.ApiException) as fixed:
        request("noa-worker-data", "60Gi")  # efs-sc: allowVolumeExpansion false
    assert fixed.value.status == 403 and "must support resize" in fixed.value.body
    assert core.read_namespaced_persistent_volume_claim(
        "noa-worker-data", NS).status.capacity["storage"] == "50Gi"
