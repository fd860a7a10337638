"""Pre-deployment checklist, post-deployment verification and log investigation against a real
sandbox API server (private, with a seeded release that fails 30 % of api requests), and the
records evidence from a real records index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deployment_checks.conftest import KubeStack
from noa_lib.errors import ParameterError, StepFailed
from noa_lib.ops.deploy.checklist import pre_deployment_checklist, require_go
from noa_lib.ops.deploy.checklist_items import HUMAN_ITEMS
from noa_lib.ops.deploy.evidence import DeployEvidence
from noa_lib.ops.deploy.verification import post_deployment_verification
from noa_lib.ops.findings import Status, require_ok
from noa_lib.ops.logs.investigate import investigate_logs
from noa_lib.records.deploy_evidence import deploy_evidence
from noa_lib.records.index import RecordIndex
from noa_lib.show.deploy_checks import checklist_frame, verdict_banner
from noa_lib.show.logs import log_timeline, log_timeline_chart, patterns_frame
from noa_sandbox.kube.requestlog import read_requests

pytestmark = pytest.mark.integration


def _fresh(now: datetime) -> DeployEvidence:
    return DeployEvidence(last_backup=(now - timedelta(hours=3), "b1"),
                          last_validation=(now - timedelta(hours=2), "v1"))


def _window(now: datetime) -> str:
    return f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"


def test_checklist_go_when_everything_is_signed_and_dry_run_only(kube_stack: KubeStack) -> None:
    now = datetime.now(UTC)
    before = kube_stack.request_log.stat().st_size
    result = pre_deployment_checklist(
        kube_stack.target, deployment="api", image_tag="2.15.1",
        migrations=["0042_add_usage_index"], on_call="Ada", deployment_window=_window(now),
        signoffs={name: True for name in HUMAN_ITEMS}, signed_off_by="Grace",
        evidence=_fresh(now), now=now)
    statuses = {f.check: f.status for f in result.findings}
    assert result.verdict.go, result.verdict.line()
    assert statuses["image in registry"] == Status.OK and result.digest
    assert result.digest.startswith("sha256:")
    assert statuses["tag newer than running"] == Status.OK
    assert statuses["pod template accepted"] == Status.OK
    assert statuses["current pods healthy"] == Status.OK
    assert statuses["migrations"] == Status.OK
    assert len(result.items) >= 20
    signed = [f for f in result.findings if f.evidence.get("signed_off_by") == "Grace"]
    assert len(signed) == len(HUMAN_ITEMS)
    # the image change reached the API only as a server-side dry run; nothing was mutated
    requests = read_requests(kube_stack.request_log, before)
    patches = [r for r in requests if r["verb"] == "patch"]
    assert len(patches) == 1 and patches[0]["dry_run"] is True
    assert not [r for r in requests if r["mutating"]]
    assert require_go(result, fail_on_no_go=True).startswith("GO")
    assert verdict_banner(result).label == "GO"
    assert list(checklist_frame(result)["section"].unique()) == [
        "code quality", "infrastructure", "communication", "artifacts"]


def test_checklist_no_go_names_the_blocking_items(kube_stack: KubeStack) -> None:
    now = datetime.now(UTC)
    result = pre_deployment_checklist(kube_stack.target, deployment="api", image_tag="2.13.0",
                                      evidence=DeployEvidence(), now=now)
    assert not result.verdict.go
    line = result.verdict.line()
    for item in ("tag newer than running", "backup completed and validated", "on-call engineer",
                 "deployment window", "code reviewed"):
        assert item in line, item
    statuses = {f.check: f for f in result.findings}
    assert "rollback" in statuses["tag newer than running"].message
    assert result.figures()["verdict"] == "NO-GO"
    assert require_go(result).startswith("NO-GO")  # the run itself is fine
    with pytest.raises(StepFailed, match="NO-GO"):
        require_go(result, fail_on_no_go=True)
    missing = pre_deployment_checklist(kube_stack.target, deployment="api", image_tag="9.9.9",
                                       evidence=DeployEvidence(), now=now)
    assert {f.check: f.status for f in missing.findings}["image in registry"] == Status.CRITICAL
    latest = pre_deployment_checklist(kube_stack.target, deployment="api", image_tag="latest",
                                      evidence=DeployEvidence(), now=now)
    assert {f.check: f.status for f in latest.findings}["image tag format"] == Status.CRITICAL


def test_checklist_rejects_bad_parameters_before_any_call(kube_stack: KubeStack) -> None:
    before = kube_stack.request_log.stat().st_size
    for kwargs, name in (({"deployment": "API"}, "deployment"),
                         ({"image_tag": "2.15.1 --x"}, "image_tag"),
                         ({"deployment_window": "9-5"}, "deployment_window"),
                         ({"signoffs": {"tests_passed": "yes"}}, "tests_passed"),
                         ({"signoffs": {"bribed": True}}, "bribed")):
        args = {"deployment": "api", "image_tag": "2.15.1", **kwargs}
        with pytest.raises(ParameterError) as info:
            pre_deployment_checklist(kube_stack.target, **args)  # type: ignore[arg-type]
        assert info.value.name == name
    assert read_requests(kube_stack.request_log, before) == []


def test_verification_passes_and_fails_naming_the_check(kube_stack: KubeStack) -> None:
    result = post_deployment_verification(kube_stack.target)
    statuses = {f.check: f.status for f in result.findings}
    for check in ("health api", "health web", "pods api", "pods worker", "smoke login",
                  "smoke users/me", "migrations"):
        assert statuses[check] == Status.OK, (check, result.findings)
    assert statuses["metrics api"] == Status.WARNING  # this target has no Prometheus
    assert result.expected == {"api": "2.14.0", "web": "2.14.0", "worker": "2.14.0"}
    wrong = post_deployment_verification(kube_stack.target, deployments=["api"],
                                         expected_version="2.15.1", check_database=False)
    pods = next(f for f in wrong.findings if f.check == "pods api")
    assert pods.status == Status.CRITICAL and "not on 2.15.1" in pods.message
    with pytest.raises(StepFailed, match="pods api"):
        require_ok(wrong.findings, fail_on=Status.UNREACHABLE)


def test_log_investigation_finds_the_error_patterns(kube_stack: KubeStack) -> None:
    logs = investigate_logs(kube_stack.target, "api", window="15m")
    assert logs.total_lines > 0 and logs.lines and logs.groups
    assert all(x.level in ("error", "critical") for x in logs.lines)
    assert {x.pod for x in logs.lines} <= {s.pod for s in logs.sources}
    assert sum(g.count for g in logs.groups) == len(logs.lines)
    statuses = {f.check: f for f in logs.findings}
    assert statuses["log sources"].status == Status.OK
    assert statuses["error share"].status in (Status.WARNING, Status.CRITICAL)
    frame = log_timeline(logs, top=3)
    assert int(frame["total"].sum()) == len([x for x in logs.lines if x.time])
    assert list(patterns_frame(logs)["count"]) == sorted(patterns_frame(logs)["count"],
                                                        reverse=True)
    chart = log_timeline_chart(logs)
    assert chart.png()[:4] == b"\x89PNG"
    legend = [t.get_text() for t in chart.figure.axes[0].get_legend().get_texts()]
    assert legend[0] == f"#1 ({logs.groups[0].level})" and legend[-1] == "all patterns"
    assert not [t for t in legend for g in logs.groups if g.pattern[:12] in t]  # no log text
    assert list(patterns_frame(logs).index[:2]) == [1, 2][:len(logs.groups)]
    word = logs.groups[0].pattern.split()[0]
    narrowed = investigate_logs(kube_stack.target, "api", window="15m", grep=word)
    assert narrowed.lines and all(word.lower() in x.message.lower() or word.lower()
                                  in x.raw.lower() for x in narrowed.lines)
    info = investigate_logs(kube_stack.target, "web", window="5m", min_level="info")
    assert len(info.lines) > len([x for x in info.lines if x.level == "error"])
    with pytest.raises(ParameterError) as bad:
        investigate_logs(kube_stack.target, "api", window="30d")
    assert bad.value.name == "window"


def test_deploy_evidence_from_the_records_index(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    index = RecordIndex(tmp_path)

    def add(run_id: str, runbook: str, hours: float, status: str, outcome: str,
            figures: dict[str, object] | None = None) -> None:
        at = (now - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        index.add({"run_id": run_id, "runbook": runbook, "started_at": at, "status": status,
                   "target": "sandbox",
                   "outcome": {"status": outcome, "figures": figures or {}}})

    add("b-old", "backup/full_backup", 30, "succeeded", "ok")
    add("b-new", "backup/full_backup", 5, "succeeded", "ok")
    add("b-bad", "backup/full_backup", 1, "failed", "critical")
    add("v-new", "backup/validate_backup", 4, "succeeded", "ok")
    add("i-open", "incident/high_error_rate", 10, "succeeded", "critical",
        {"severity": "P1", "incident_status": "mitigating"})
    add("i-done", "incident/high_error_rate", 20, "succeeded", "ok",
        {"severity": "P0", "incident_status": "resolved"})
    add("i-p2", "incident/high_latency", 2, "succeeded", "warning", {"severity": "P2"})
    evidence = deploy_evidence(tmp_path, now=now)
    assert evidence.last_backup is not None and evidence.last_backup[1] == "b-new"
    assert evidence.last_validation is not None and evidence.last_validation[1] == "v-new"
    assert evidence.open_incidents == ("incident/high_error_rate i-open (P1)",)
    assert deploy_evidence(tmp_path, target="prod", now=now).last_backup is None


def test_deploy_evidence_counts_open_p0_p1_incidents_of_the_store(tmp_path: Path) -> None:
    from noa_lib.records.incidents import IncidentStore

    store = IncidentStore(tmp_path)
    outage = store.open(title="api down", severity="P0", commander="ana")
    store.update(outage.id, status="investigating")
    slow = store.open(title="slow search", severity="P2")
    mitigated = store.open(title="5xx spike", severity="P1")
    store.update(mitigated.id, status="mitigated")
    done = store.open(title="old outage", severity="P0")
    store.resolve(done.id, note="rolled back")
    found = deploy_evidence(tmp_path).open_incidents
    assert sorted(found) == sorted([
        f"{outage.id} (P0, investigating: api down)",
        f"{mitigated.id} (P1, mitigated: 5xx spike)",
    ])
    assert not [f for f in found if slow.id in f or done.id in f]
