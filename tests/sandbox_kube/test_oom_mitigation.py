"""incident/oom_kills' plans against the sandbox API server (no Prometheus): a leak is the
rollback runbook's undo plan (a protected target refuses it without ``confirm``), a LimitRange
bounds the new limit, and a limit raise whose verify fails (still too small: the kubelet keeps
OOM-killing) is reverted."""

from __future__ import annotations

from dataclasses import replace

import pytest
from kubernetes import client

from noa_lib.clients import kube_apps
from noa_lib.config import KubernetesSettings, SecretRef, Target
from noa_lib.errors import UnsafeActionRefused
from noa_lib.ops.mitigation import run_mitigation
from noa_lib.ops.resources.oom import OomDiagnosis, diagnose_oom
from noa_lib.ops.resources.oom_plan import plan_oom_mitigation
from noa_lib.ops.resources.oom_rules import OomVerdict, oom_parameters
from noa_lib.ops.safety import apply_plan
from tests.kubestack import wait_until
from tests.sandbox_kube.conftest import ADMIN, NS, Running

GI = 2**30
TOKEN_ENV = "NOA_TEST_OOM_TOKEN"


@pytest.fixture
def target(seeded: Running, monkeypatch: pytest.MonkeyPatch) -> Target:
    monkeypatch.setenv(TOKEN_ENV, ADMIN)
    return Target("sandbox", kubernetes=KubernetesSettings(
        api_url=seeded.url, token=SecretRef(f"env:{TOKEN_ENV}"), namespace=NS, timeout=10.0))


def diagnosis(target: Target, max_limit: str = "4Gi") -> OomDiagnosis:
    return diagnose_oom(target, oom_parameters(service="worker", window="15m",
                                               headroom_pct=30, max_limit=max_limit))


def limit_of(target: Target) -> str:
    dep = kube_apps.get(target.kubernetes, "deployments", "worker", NS)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"])


def set_limit(apps: client.AppsV1Api, memory: str) -> None:
    apps.patch_namespaced_deployment("worker", NS, {"spec": {"template": {"spec": {
        "containers": [{"name": "worker", "resources": {"limits": {"memory": memory}}}]}}}})


def test_a_leak_is_rolled_back_with_the_rollback_runbooks_undo_plan(target: Target) -> None:
    d = diagnosis(target)
    assert d.revision == 2 and d.previous_revision == 1 and d.image.endswith(":2.14.0")
    leak = replace(d, verdict=OomVerdict("leak", "climbs after each restart"))
    mitigation = plan_oom_mitigation(target, leak)
    assert mitigation.plan.action.startswith("undo deployment/noa/worker from revision 2 to "
                                             "revision 1")
    image = [c for c in mitigation.plan.changes if c.field.endswith(".image")]
    assert image and image[0].before.endswith(":2.14.0") and image[0].after.endswith(":2.13.0")
    version = kube_apps.get(target.kubernetes, "deployments", "worker", NS)["metadata"][
        "resourceVersion"]
    assert not apply_plan(mitigation.plan, dry_run=True).applied
    prod = replace(target, name="prod", protected=True)
    with pytest.raises(UnsafeActionRefused, match="confirm"):  # nothing applied without it
        run_mitigation(plan_oom_mitigation(prod, leak), dry_run=False)
    assert kube_apps.get(target.kubernetes, "deployments", "worker", NS)["metadata"][
        "resourceVersion"] == version


def test_a_limit_beyond_the_namespaces_limitrange_is_refused(target: Target,
                                                             apps: client.AppsV1Api) -> None:
    kube_apps.create(target.kubernetes, "limitranges", {
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "noa-limits"},
        "spec": {"limits": [{"type": "Container", "max": {"memory": "1536Mi"}}]}}, NS)
    set_limit(apps, "1Gi")
    wait_until(lambda: limit_of(target) == "1Gi", what="limit lowered")
    d = diagnosis(target)
    assert d.bounds.limit_range_max == 1.5 * GI and d.evidence.limit_lowered
    undersized = replace(d, verdict=OomVerdict("undersized", "lowered"))
    with pytest.raises(UnsafeActionRefused, match="LimitRange"):
        plan_oom_mitigation(target, undersized)  # back to 2Gi would exceed 1536Mi
    with pytest.raises(UnsafeActionRefused, match="max_limit=1Gi"):
        plan_oom_mitigation(target, replace(undersized, bounds=replace(d.bounds,
                                                                       max_limit=1.0 * GI)))


def test_a_raise_that_does_not_cure_is_reverted_to_the_old_limit(
        target: Target, apps: client.AppsV1Api, core: client.CoreV1Api) -> None:
    set_limit(apps, "1Gi")

    def killed() -> bool:
        pods = core.list_namespaced_pod(NS, label_selector="app=worker").items
        return any(p.spec.containers[0].resources.limits["memory"] == "1Gi"
                   and p.status.container_statuses
                   and p.status.container_statuses[0].restart_count >= 1 for p in pods)

    wait_until(killed, timeout=40, interval=0.5, what="OOM kills at 1Gi")
    d = diagnosis(target)
    # a peak measured too low and no earlier limit to fall back on: 1.05 GiB, still too small
    too_small = replace(d, peak_bytes=1.0 * GI, previous_limit=None,
                        params=replace(d.params, headroom_pct=5.0),
                        evidence=replace(d.evidence, limit_lowered=False),
                        verdict=OomVerdict("undersized", "flat at the limit"))
    mitigation = plan_oom_mitigation(target, too_small, quiet_s=25.0, verify_timeout_s=45.0)
    assert [c.after for c in mitigation.plan.changes] == ["1088Mi"]
    outcome = run_mitigation(mitigation, dry_run=False)
    assert outcome.status == "reverted", [f.message for f in outcome.findings]
    assert "restarted since the change" in outcome.findings[1].message
    assert "reverted because the verify failed" in outcome.findings[2].message
    assert limit_of(target) == "1Gi"
