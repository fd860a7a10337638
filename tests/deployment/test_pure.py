"""Pure parts of the deployment runbooks: parameters, traffic steps, diffs, rollout status,
slots, revisions, config history, the database hand-off and the RBAC hint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from noa_lib.clients.kube_rbac import parse_forbidden, rbac_hint
from noa_lib.config import KubernetesSettings, Target
from noa_lib.errors import ParameterError, PreconditionFailed
from noa_lib.ops.deploy import params
from noa_lib.ops.deploy.analysis import analysis_spec
from noa_lib.ops.deploy.bluegreen import job_name, plan_blue_green
from noa_lib.ops.deploy.bluegreen_slots import choose_slots, green_object
from noa_lib.ops.deploy.canary import plan_canary
from noa_lib.ops.deploy.canary_plans import canary_object
from noa_lib.ops.deploy.configmaps import versions_from
from noa_lib.ops.deploy.db_rollback import DeployRecord, database_rollback
from noa_lib.ops.deploy.revisions import history_from, pick_revision, undo_plan
from noa_lib.ops.deploy.rollback import plan_rollback
from noa_lib.ops.deploy.rollout import image_change, rollout_status, watch_rollout
from noa_lib.ops.deploy.traffic import traffic_steps
from noa_lib.ops.deploy.workload import field_changes, flatten

# a target whose API server does not exist: a ParameterError proves no request was needed
NOWHERE = Target("nowhere", kubernetes=KubernetesSettings(api_url="http://127.0.0.1:9",
                                                          timeout=1.0))


def deployment(image: str = "registry.noa.example/noa-server:2.14.0", **status: int) -> dict:
    return {
        "metadata": {"name": "api", "namespace": "noa", "generation": 2, "uid": "u1",
                     "labels": {"app": "api", "track": "stable"},
                     "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "api", "track": "stable"}},
                 "template": {"metadata": {"labels": {"app": "api", "track": "stable"}},
                              "spec": {"containers": [{"name": "api", "image": image},
                                                      {"name": "sidecar", "image": "envoy:1"}]}}},
        "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
                   "readyReplicas": 3, "availableReplicas": 3, **status},
    }


def test_weights_are_parsed_and_checked():
    assert params.parse_weights("10,25,50,75,100") == (10, 25, 50, 75, 100)
    assert params.parse_weights(" 50 , 100% ") == (50, 100)
    for bad in ("", "10,5,100", "10,50", "0,100", "10,x,100", "50,150"):
        with pytest.raises(ParameterError) as err:
            params.parse_weights(bad)
        assert err.value.name == "steps" and "ascending" in (err.value.accepted or "")


def test_tags_names_and_durations():
    assert params.tag("2.15.0") == "2.15.0"
    for bad in ("latest", "", "-x", "a" * 200, "2.15.0;rm"):
        with pytest.raises(ParameterError):
            params.tag(bad)
    with pytest.raises(ParameterError, match="deployment"):
        params.workload("noa", "Bad_Name")
    with pytest.raises(ParameterError, match="namespace"):
        params.workload("NOA", "api")
    with pytest.raises(ParameterError, match="timeout_s"):
        params.positive(0, "timeout_s")
    assert params.image_with_tag("reg:5000/noa/noa-server:2.14.0", "2.15.0") == \
        "reg:5000/noa/noa-server:2.15.0"
    assert params.image_with_tag("reg:5000/noa-server", "1") == "reg:5000/noa-server:1"
    assert params.tag_of("reg:5000/noa-server@sha256:ab") == ""
    assert params.tag_of("registry.noa.example/noa-server:2.14.0") == "2.14.0"


def test_traffic_steps_by_replica_ratio_say_when_coarse():
    steps = traffic_steps((10, 25, 50, 75, 100), 3)
    assert [(s.canary, s.stable) for s in steps] == [(1, 2), (1, 2), (2, 1), (2, 1), (3, 0)]
    assert steps[0].effective == 33.3
    assert "really 33.3 %" in steps[0].note()
    assert "same split" in steps[1].note(steps[0])
    fine = traffic_steps((10, 50, 100), 10)
    assert [(s.canary, s.stable) for s in fine] == [(1, 9), (5, 5), (10, 0)]
    assert fine[0].note() == ""
    with pytest.raises(ParameterError, match="total_replicas"):
        traffic_steps((100,), 1)


def test_field_changes_key_containers_by_name():
    before = deployment()["spec"]["template"]
    after = deployment("registry.noa.example/noa-server:2.13.0")["spec"]["template"]
    changes = field_changes("deployment/noa/api", before, after, "spec.template")
    assert [(c.field, c.before, c.after) for c in changes] == [
        ("spec.template.spec.containers[api].image", "registry.noa.example/noa-server:2.14.0",
         "registry.noa.example/noa-server:2.13.0")]
    assert "spec.template.spec.containers[sidecar].image" in flatten(before, "spec.template")


def test_rollout_status_reads_like_kubectl():
    done = rollout_status(deployment())
    assert done.complete and done.message() == 'deployment "api" successfully rolled out'
    moving = rollout_status(deployment(updatedReplicas=1, replicas=4, availableReplicas=3))
    assert moving.state == "progressing" and "1 out of 3 new replicas" in moving.message()
    old = rollout_status(deployment(replicas=4))
    assert "1 old replicas are pending termination" in old.message()
    failed_obj = deployment(updatedReplicas=1)
    failed_obj["status"]["conditions"] = [{"type": "Progressing", "status": "False",
                                           "reason": "ProgressDeadlineExceeded",
                                           "message": "ReplicaSet api-x has timed out"}]
    failed = rollout_status(failed_obj)
    assert failed.failed and failed.state == "failed" and "progress deadline" in failed.message()
    unobserved = deployment()
    unobserved["metadata"]["generation"] = 3
    assert not rollout_status(unobserved).complete


def test_canary_object_has_its_own_track_and_image():
    obj = canary_object(deployment(), "api-canary", "registry.noa.example/noa-server:2.15.0",
                        "api")
    assert obj["metadata"]["name"] == "api-canary"
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "api", "track": "canary"}}
    assert obj["spec"]["template"]["metadata"]["labels"]["track"] == "canary"
    assert obj["spec"]["replicas"] == 0
    images = {c["name"]: c["image"] for c in obj["spec"]["template"]["spec"]["containers"]}
    assert images == {"api": "registry.noa.example/noa-server:2.15.0", "sidecar": "envoy:1"}
    assert "status" not in obj and "uid" not in obj["metadata"]


def test_blue_green_slots_alternate():
    base, green = deployment(), green_object(deployment(), "api-green", "green", "img:2", "api")
    assert green["spec"]["selector"]["matchLabels"] == {"app": "api", "track": "green"}
    first = choose_slots("api", {"app": "api"}, base, None)
    assert (first.blue, first.green, first.blue_track, first.green_track) == (
        "api", "api-green", "stable", "green")
    green["spec"]["replicas"] = 3
    second = choose_slots("api", {"app": "api", "track": "green"}, base, green)
    assert (second.blue, second.green, second.green_track) == ("api-green", "api", "stable")
    with pytest.raises(PreconditionFailed):
        choose_slots("api", {"app": "api"}, None, None)
    assert job_name("api", "2.15.0-rc.1") == "api-migrate-2-15-0-rc-1"


def test_revisions_from_replicasets_and_the_one_to_go_back_to():
    rs = []
    for number, tag in ((1, "2.13.0"), (2, "2.14.0")):
        obj = deployment(f"registry.noa.example/noa-server:{tag}")
        obj["metadata"] = {"name": f"api-{number}", "annotations": {
            "deployment.kubernetes.io/revision": str(number)}}
        obj["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = f"h{number}"
        rs.append(obj)
    history = history_from(deployment(), rs)
    assert [(r.number, r.version, r.current) for r in history] == [
        (1, "2.13.0", False), (2, "2.14.0", True)]
    assert "pod-template-hash" not in history[0].template["metadata"]["labels"]
    assert pick_revision(history).number == 1
    assert pick_revision(history, 2).number == 2
    with pytest.raises(ParameterError, match="revisions: 1, 2"):
        pick_revision(history, 7)
    with pytest.raises(PreconditionFailed):
        pick_revision((history[0],))


def test_config_versions_sorted_by_number():
    items = [{"metadata": {"name": f"noa-config-rev-{n}", "annotations": {
        "noa.io/revision": str(n)}}, "data": {"A": str(n)}} for n in (2, 10, 1)]
    assert [v.number for v in versions_from(items)] == [1, 2, 10]


def test_database_target_time_is_deploy_start_minus_margin():
    record = DeployRecord("abc123", "deployment/canary", "api", "sandbox",
                          datetime(2026, 11, 27, 10, 0, tzinfo=UTC), "succeeded", "2.15.0", 4)
    plan = database_rollback(record, target="sandbox", margin_minutes=5)
    assert plan.target_time == datetime(2026, 11, 27, 9, 55, tzinfo=UTC)
    assert plan.command_line == ("noa run backup/pitr_restore --target sandbox -p target_time "
                                 "2026-11-27T09:55:00Z -p dry_run false")
    with pytest.raises(PreconditionFailed, match="no applied deployment record"):
        database_rollback(None, target="sandbox", deployment="api")


def test_rbac_hint_names_verb_resource_namespace_and_rule():
    message = ('deployments.apps "api" is forbidden: User "system:serviceaccount:noa:viewer" '
               'cannot patch resource "deployments" in API group "apps" in the namespace "noa"')
    denied = parse_forbidden(message)
    assert denied is not None and (denied.verb, denied.resource, denied.group,
                                   denied.namespace) == ("patch", "deployments", "apps", "noa")
    hint = rbac_hint(message) or ""
    assert 'cannot patch deployments.apps in namespace "noa"' in hint
    assert 'Role rule {apiGroups: ["apps"], resources: ["deployments"], verbs: ["patch"]}' in hint
    assert rbac_hint("something else") is None


SPEC = analysis_spec(interval_s=1, count=1)


@pytest.mark.parametrize("call", [
    lambda: image_change(NOWHERE, "API", "2.15.0"),
    lambda: image_change(NOWHERE, "api", "latest"),
    lambda: image_change(NOWHERE, "api", "2.15.0", namespace="no_such"),
    lambda: watch_rollout(NOWHERE, "api", timeout_s=0),
    lambda: undo_plan(NOWHERE, "api/x"),
    lambda: undo_plan(NOWHERE, "api", to_revision=-1),
    lambda: plan_canary(NOWHERE, deployment="api", image_tag="2.15.0", steps="50,10", spec=SPEC),
    lambda: plan_canary(NOWHERE, deployment="api", image_tag="2.15.0", warmup_s=-1, spec=SPEC),
    lambda: plan_blue_green(NOWHERE, deployment="api", image_tag="2.15.0", monitor_minutes=0),
    lambda: plan_blue_green(NOWHERE, deployment="api", image_tag="2.15.0",
                            migration_command="migrate 'unclosed"),
    lambda: plan_rollback(NOWHERE, what="everything", deployment="api"),
    lambda: plan_rollback(NOWHERE, what="configuration", deployment="api", config_name="A B"),
], ids=["deployment", "tag", "namespace", "timeout", "undo-name", "revision", "steps", "warmup",
        "monitor", "command", "what", "config-name"])
def test_bad_parameters_fail_before_any_request(call):
    with pytest.raises(ParameterError) as err:
        call()
    assert err.value.name and err.value.accepted
