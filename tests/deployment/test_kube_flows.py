"""The mutating deployment steps against a real (private, in-process) sandbox Kubernetes API:
what reaches the API is read from its request log, not taken from the library."""

from __future__ import annotations

from dataclasses import replace

import pytest

from noa_lib.clients import kube_apps
from noa_lib.errors import ClientError, ParameterError, UnsafeActionRefused
from noa_lib.ops.deploy.analysis import analysis_spec
from noa_lib.ops.deploy.bluegreen import plan_blue_green, run_blue_green
from noa_lib.ops.deploy.canary import plan_canary, run_canary
from noa_lib.ops.deploy.configmaps import config_change_plan, config_history, config_restore_plan
from noa_lib.ops.deploy.revisions import revision_history, undo_plan
from noa_lib.ops.deploy.rollback import plan_rollback, verify_rollback
from noa_lib.ops.deploy.rollout import image_change, watch_rollout
from noa_lib.ops.safety import apply_plan

IMAGE = "registry.noa.example/noa-server"
SPEC = analysis_spec(interval_s=0.5, count=1)


def image(kube, name="api"):
    return kube_apps.get(kube.target().kubernetes, "deployments", name)["spec"]["template"][
        "spec"]["containers"][0]["image"]


def test_rolling_update_then_rollback_restores_the_previous_revision(kube):
    target = kube.target()
    change = image_change(target, "api", "2.15.0")
    assert change.accepted.status == "ok" and change.before == f"{IMAGE}:2.14.0"
    apply_plan(change.plan, dry_run=False)
    watch = watch_rollout(target, "api", timeout_s=60)
    assert watch.outcome == "complete" and watch.final.revision == 3
    assert len(watch.rows) >= 2 and watch.rows[-1].message.endswith("successfully rolled out")

    rollback = plan_rollback(target, what="deployment", deployment="api")
    assert rollback.expected_image == f"{IMAGE}:2.14.0"
    applied = apply_plan(rollback.plan, dry_run=False)
    recovery = verify_rollback(replace(target, prometheus=None), rollback, applied, timeout_s=60)
    statuses = {f.check: str(f.status) for f in recovery.findings}
    assert statuses["rollout"] == "ok" and statuses["pods on the restored image"] == "ok"
    history = revision_history(target, "api")
    assert [(r.number, r.version, r.current) for r in history] == [
        (1, "2.13.0", False), (3, "2.15.0", False), (4, "2.14.0", True)]
    assert image(kube) == f"{IMAGE}:2.14.0"


def test_unpublished_tag_fails_the_rollout_and_undo_is_offered(kube):
    target = kube.target()
    kube_apps.patch(target.kubernetes, "deployments", "api",
                    {"spec": {"progressDeadlineSeconds": 2}})
    apply_plan(image_change(target, "api", "9.9.9").plan, dry_run=False)
    watch = watch_rollout(target, "api", timeout_s=30)
    assert watch.outcome == "failed" and watch.findings[0].status == "critical"
    undo = undo_plan(target, "api")
    assert [c.after for c in undo.changes] == [f"{IMAGE}:2.14.0"]


def test_configuration_change_is_saved_and_restored(kube):
    target = kube.target()
    kube.fault(verb="update", plural="configmaps", name="noa-config", status=409, times=1)
    before = kube.offset()
    apply_plan(config_change_plan(target, "noa-config", {"LOG_LEVEL": "debug"}), dry_run=False)
    updates = [r for r in kube.requests(before) if r["verb"] == "update"]
    assert [r["status"] for r in updates] == [409, 200]  # retried on a fresh resourceVersion
    assert [v.number for v in config_history(target, "noa-config")] == [1]
    restore = config_restore_plan(target, "noa-config")
    assert [(c.field, c.before, c.after) for c in restore.changes[1:]] == [
        ("data.LOG_LEVEL", "debug", "info")]
    apply_plan(restore, dry_run=False)
    data = kube_apps.get(target.kubernetes, "configmaps", "noa-config")["data"]
    assert data["LOG_LEVEL"] == "info"
    assert [v.number for v in config_history(target, "noa-config")] == [1, 2]


def test_a_conflict_is_retried_with_a_fresh_resource_version(kube):
    target = kube.target()
    plan = image_change(target, "api", "2.15.0").plan  # its server-side dry run is a patch too
    kube.fault(verb="patch", plural="deployments", name="api", status=409, times=1)
    before = kube.offset()
    apply_plan(plan, dry_run=False)
    patches = [r for r in kube.requests(before) if r["verb"] == "patch" and not r["dry_run"]]
    assert [r["status"] for r in patches] == [409, 200]
    assert image(kube) == f"{IMAGE}:2.15.0"


def test_viewer_gets_an_rbac_hint(kube):
    with pytest.raises(ClientError) as err:
        apply_plan(image_change(kube.target(viewer=True), "api", "2.15.0").plan, dry_run=False)
    message = str(err.value)
    assert 'cannot patch deployments.apps in namespace "noa"' in message
    assert 'resources: ["deployments"], verbs: ["patch"]' in message
    assert "h3-viewer-token" not in message


def test_invalid_names_fail_before_any_request(kube):
    before = kube.offset()
    for call in (lambda: image_change(kube.target(), "API!", "2.15.0"),
                 lambda: plan_canary(kube.target(), deployment="api", image_tag="2.15.0",
                                     namespace="Bad_NS", spec=SPEC),
                 lambda: plan_blue_green(kube.target(), deployment="api..x", image_tag="2.15.0")):
        with pytest.raises(ParameterError):
            call()
    assert kube.requests(before) == []


def test_dry_runs_send_no_mutating_request(kube):
    target = kube.target()
    before = kube.offset()
    apply_plan(image_change(target, "api", "2.15.0").plan, dry_run=True)
    apply_plan(undo_plan(target, "api"), dry_run=True)
    run = run_canary(plan_canary(target, deployment="api", image_tag="2.15.0", spec=SPEC),
                     dry_run=True)
    assert run.verdict == "dry-run" and len(run.applied) == 8
    bg = run_blue_green(plan_blue_green(target, deployment="api", image_tag="2.15.0",
                                        migration_command="noa-server migrate"), dry_run=True)
    assert bg.verdict == "dry-run"
    seen = kube.requests(before)
    assert seen and kube.mutations(before) == []
    assert any(r["dry_run"] for r in seen)  # the server-side validation of the image change


def test_a_protected_target_refuses_without_confirm(kube):
    prod = kube.target("prod", protected=True)
    before = kube.offset()
    with pytest.raises(UnsafeActionRefused, match="confirm='prod'"):
        apply_plan(image_change(prod, "api", "2.15.0").plan, dry_run=False)
    with pytest.raises(UnsafeActionRefused):
        run_canary(plan_canary(prod, deployment="api", image_tag="2.15.0", spec=SPEC),
                   dry_run=False)
    assert kube.mutations(before) == []
    apply_plan(image_change(prod, "api", "2.15.0").plan, dry_run=False, confirm="prod")
    assert len(kube.mutations(before)) == 1


def test_emergency_canary_without_analysis_is_promoted_loudly(kube):
    plan = plan_canary(kube.target(), deployment="api", image_tag="2.15.0", steps="50,100",
                       spec=SPEC, warmup_s=0, skip_analysis=True, skip_reason="hotfix drill")
    run = run_canary(plan, dry_run=False)
    assert run.verdict == "promoted" and run.figures()["analysis_skipped"] is True
    assert sum("ANALYSIS SKIPPED" in f.message for f in run.findings) == 2
    assert image(kube) == f"{IMAGE}:2.15.0"
    assert kube_apps.find(kube.target().kubernetes, "deployments", "api-canary") is None


def test_canary_that_cannot_get_ready_is_aborted_back_to_stable(kube):
    target = replace(kube.target(), prometheus=None)
    plan = plan_canary(target, deployment="api", image_tag="9.9.9", steps="50,100", spec=SPEC,
                       warmup_s=0, ready_timeout_s=3)
    run = run_canary(plan, dry_run=False)
    assert run.verdict == "aborted"
    assert [s.phase for s in run.steps] == ["failed to scale", "not run"]
    assert any(f.status == "critical" and "ABORTED" in f.message for f in run.findings)
    settings = target.kubernetes
    assert kube_apps.find(settings, "deployments", "api-canary") is None
    assert kube_apps.get(settings, "deployments", "api")["spec"]["replicas"] == 3


def test_blue_green_switch_and_forced_switch_back(kube):
    target = replace(kube.target(), prometheus=None)
    plan = plan_blue_green(target, deployment="api", image_tag="2.15.0",
                           migration_command="noa-server migrate --apply", monitor_minutes=0.01,
                           force_switch_back=True)
    assert (plan.slots.blue, plan.slots.green) == ("api", "api-green")
    run = run_blue_green(plan, dry_run=False, sleep=lambda _s: None)
    assert run.verdict == "switched-back"
    phases = {p.name: p.status for p in run.phases}
    assert phases["smoke"] == "done" and phases["switch"] == "done"
    assert phases["switch_back"] == "done"
    smoke = {f.check: str(f.status) for f in run.smoke}
    assert smoke["smoke users/me"] == "ok" and smoke["smoke /healthz"] == "ok"
    settings = target.kubernetes
    selector = kube_apps.get(settings, "services", "api")["spec"]["selector"]
    assert selector == {"app": "api", "track": "stable"}
    job = kube_apps.get(settings, "jobs", "api-migrate-2-15-0")
    assert any(c["type"] == "Complete" for c in job["status"]["conditions"])
    assert image(kube, "api-green") == f"{IMAGE}:2.15.0"
