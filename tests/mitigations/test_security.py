"""incident/security_breach on the private mitigation sandbox: a dry run changes nothing, an
applied role rotation really locks the old password out (Secret rewritten, sessions ended, users
restarted, the new value nowhere in the record), API keys are revoked and their revert un-revokes
only what the run revoked, and a credential without users is refused."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from noa_lib.clients import kube_apps, postgres
from noa_lib.config import Target
from noa_lib.errors import UnsafeActionRefused
from noa_lib.ops.credentials.breach import diagnose_credential, plan_credential_mitigation
from noa_lib.ops.deploy.context import kube_context
from noa_lib.ops.deploy.restart import RESTARTED_AT
from noa_lib.ops.deploy.rollout import rollout_status
from noa_lib.ops.mitigation import run_mitigation
from noa_lib.ops.safety import apply_plan
from noa_lib.records.incidents import IncidentStore
from noa_lib.records.runner import ExitCode, RunRequest, run
from noa_sandbox.kube.requestlog import read_requests

pytestmark = pytest.mark.integration

RUNBOOK = "incident/security_breach"
SECRET = "noa-db-credentials"
ROLE = "noa_app"
DEPLOYMENTS = ("api", "web", "worker")


def _secret(target: Target) -> dict[str, Any]:
    return kube_apps.get(target.kubernetes, "secrets", SECRET, "noa")


def _password(target: Target) -> str:
    return base64.b64decode(_secret(target)["data"]["password"]).decode()


def _logs_in(target: Target, password: str) -> bool:
    assert target.postgres is not None
    return postgres.authenticates(target.postgres, user=ROLE, password=password)


def _keys(target: Target, org: int) -> list[dict[str, Any]]:
    assert target.postgres is not None
    with postgres.connect(target.postgres, read_only=True) as conn:
        return [dict(r) for r in postgres.query(
            conn, "SELECT id, revoked_at FROM api_keys WHERE org_id = %s ORDER BY id", (org,))]


def _runner_mutations(state: Path, offset: int) -> list[dict[str, Any]]:
    log = state / "kube" / "requests.jsonl"
    return [r for r in read_requests(log, offset) if r.get("mutating")]


def _offset(state: Path) -> int:
    log = state / "kube" / "requests.jsonl"
    return log.stat().st_size if log.exists() else 0


def _meta(record: Path | None) -> dict[str, Any]:
    assert record is not None
    return json.loads(Path(record).read_text())["metadata"]["noa"]


def test_dry_runs_change_nothing(runner_env: Any) -> None:
    target = runner_env.target
    before_version = _secret(target)["metadata"]["resourceVersion"]
    password = _password(target)
    keys = _keys(target, 5)
    offset = _offset(runner_env.state)

    result = run(RunRequest(RUNBOOK, {"credential": f"postgres:{ROLE}"}, target="sandbox",
                            html=False))
    meta = _meta(result.record)
    assert result.exit_code == ExitCode.SUCCEEDED, meta.get("error")
    assert meta["outcome"]["figures"]["mitigation"] == "dry-run"
    assert meta["outcome"]["figures"]["credential_users"] == 3  # api, web, worker
    assert [e["kind"] for e in meta["timeline"]] == ["dry-run"]
    d = diagnose_credential(target, "api_keys:5||")
    assert run_mitigation(plan_credential_mitigation(d).mitigation).status == "dry-run"

    assert _runner_mutations(runner_env.state, offset) == []
    assert _secret(target)["metadata"]["resourceVersion"] == before_version
    assert _logs_in(target, password)
    assert _keys(target, 5) == keys


def test_applied_role_rotation_locks_the_old_password_out(runner_env: Any,
                                                         reports_dir: Path) -> None:
    target = runner_env.target
    assert target.postgres is not None
    old = _password(target)
    before_version = _secret(target)["metadata"]["resourceVersion"]
    incident = IncidentStore(reports_dir).open(title="leaked DB password", severity="P1",
                                               commander="tests")
    held = psycopg.connect(host=target.postgres.host, port=target.postgres.port, dbname="noa",
                           user=ROLE, password=old, application_name="intruder",
                           autocommit=True)
    try:
        result = run(RunRequest(RUNBOOK, {"credential": f"postgres:{ROLE}", "dry_run": "false",
                                          "incident": incident.id}, target="sandbox"))
        meta = _meta(result.record)
        assert result.exit_code == ExitCode.SUCCEEDED, meta.get("error")
        assert meta["outcome"]["figures"]["mitigation"] == "cured"
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")  # its session was ended
    finally:
        held.close()
    new = _password(target)
    assert new != old
    assert not _logs_in(target, old) and _logs_in(target, new)
    assert _secret(target)["metadata"]["resourceVersion"] != before_version
    kc = kube_context(target)
    for name in DEPLOYMENTS:
        obj = kube_apps.get(kc.settings, "deployments", name, kc.namespace)
        assert RESTARTED_AT in obj["spec"]["template"]["metadata"]["annotations"]
        assert rollout_status(obj).complete
    record_text = Path(result.record).read_text()
    html_text = Path(result.html).read_text() if result.html else ""
    assert html_text
    assert "[secret registered with the record's redactor]" in record_text
    for leak in (new, base64.b64encode(new.encode()).decode(), old):
        assert leak not in record_text and leak not in html_text
    assert IncidentStore(reports_dir).get(incident.id).status == "mitigated"


def test_api_keys_are_revoked_and_the_revert_restores_only_those(mitigation_sandbox: Any
                                                                 ) -> None:
    target = mitigation_sandbox.target
    assert target.postgres is not None
    with postgres.connect(target.postgres, read_only=True) as conn:
        org = int(postgres.query(conn, """
            SELECT org_id FROM api_keys GROUP BY org_id
            HAVING count(*) FILTER (WHERE revoked_at IS NULL) >= 2
               AND count(*) FILTER (WHERE revoked_at IS NOT NULL) >= 1
            ORDER BY org_id LIMIT 1""")[0]["org_id"])
    before = {k["id"]: k["revoked_at"] for k in _keys(target, org)}
    active = sorted(i for i, at in before.items() if at is None)
    d = diagnose_credential(target, f"api_keys:{org}||", since="30d")
    breach = plan_credential_mitigation(d)
    assert [c.resource.split(" ")[0] for c in breach.mitigation.plan.changes] == [
        f"api_key/{org}/{i}" for i in active]
    outcome = run_mitigation(breach.mitigation, dry_run=False)
    assert outcome.status == "cured", outcome.findings
    after = {k["id"]: k["revoked_at"] for k in _keys(target, org)}
    assert all(after[i] is not None for i in before)
    assert all(after[i] == at for i, at in before.items() if at is not None)

    assert breach.mitigation.revert is not None
    reverted = apply_plan(breach.mitigation.revert(), dry_run=False)
    assert sorted(reverted.result.revoked) == active
    assert {k["id"]: k["revoked_at"] for k in _keys(target, org)} == before


def test_a_credential_without_users_is_refused(mitigation_sandbox: Any) -> None:
    target = mitigation_sandbox.target
    kc = kube_context(target)
    value = base64.b64encode(b"tok-123456789").decode()
    kube_apps.create(kc.settings, "secrets", {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": "noa-sec-unused", "namespace": kc.namespace},
        "data": {"token": value}}, kc.namespace)
    try:
        d = diagnose_credential(target, "secret:noa-sec-unused")
        with pytest.raises(UnsafeActionRefused, match="no_users_ok=True"):
            plan_credential_mitigation(d)
        with pytest.raises(UnsafeActionRefused, match="superuser"):
            plan_credential_mitigation(diagnose_credential(target, "postgres:postgres"))
        with pytest.raises(UnsafeActionRefused, match="connects as"):
            plan_credential_mitigation(diagnose_credential(target, "postgres:noa_ops"))
        assert kube_apps.get(kc.settings, "secrets", "noa-sec-unused")["data"]["token"] == value

        breach = plan_credential_mitigation(d, no_users_ok=True)
        assert [f.status for f in breach.findings] == ["warning"]
        assert run_mitigation(breach.mitigation, dry_run=False).status == "cured"
        assert kube_apps.get(kc.settings, "secrets", "noa-sec-unused")["data"]["token"] != value
    finally:
        kube_apps.delete(kc.settings, "secrets", "noa-sec-unused", missing_ok=True)


def test_a_rotation_whose_users_do_not_come_back_is_reverted(mitigation_sandbox: Any) -> None:
    target = mitigation_sandbox.target
    kc = kube_context(target)
    labels = {"app": "noa-sec-broken"}
    kube_apps.create(kc.settings, "deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "noa-sec-broken", "namespace": kc.namespace, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{
                "name": "app", "image": "registry.noa.example/noa-server:0.0.0-missing",
                "env": [{"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {
                    "name": SECRET, "key": "password"}}}]}]}}}}, kc.namespace)
    try:
        old = _password(target)
        d = diagnose_credential(target, f"postgres:{ROLE}")
        assert "noa-sec-broken" in {u.deployment for u in d.users}
        mitigation = replace(plan_credential_mitigation(d).mitigation, verify_timeout_s=6.0)
        outcome = run_mitigation(mitigation, dry_run=False)
        assert outcome.status == "reverted", outcome.findings
        assert outcome.verdict is not None and "noa-sec-broken 0/1 Ready" in outcome.verdict.message
        assert "reverted because the verify failed" in outcome.findings[-1].message
        assert _password(target) == old and _logs_in(target, old)
    finally:
        kube_apps.delete(kc.settings, "deployments", "noa-sec-broken", missing_ok=True)
