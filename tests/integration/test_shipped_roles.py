"""The Roles the project ships (deploy/kubernetes/rbac-deployment-runbooks.yaml) are enough — and
no more than needed — for the runbooks that use the Kubernetes API.

The project sandbox enforces those Roles' exact rules for its ``noa-sandbox-observer`` and
``noa-sandbox-deployer`` kubeconfig contexts. Each runbook runs here through the records runner
with the sandbox target switched to one of them (an environment override, as an operator would):
it must succeed, and the sandbox API's request log must show its requests made as that Role's user
with not a single 403. A verb missing from a Role fails this test rather than a deployment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from noa_lib.clients import kube_apps
from noa_lib.records.runner import ExitCode, RunRequest, run
from noa_sandbox.kube.requestlog import read_requests
from noa_sandbox.layout import Layout

pytestmark = pytest.mark.integration

CONTEXT_ENV = "NOA_TARGET__SANDBOX__KUBERNETES__CONTEXT"
OBSERVER = ("noa-sandbox-observer", "noa-runbooks-observer")
DEPLOYER = ("noa-sandbox-deployer", "noa-deployer")
SANDBOX_OWN = {"system:serviceaccount:noa:viewer"}
"""The simulated NOA Server reading its ConfigMap (the sandbox's observers), not a runbook."""


def image_of(target: Any, name: str) -> str:
    deployment = kube_apps.get(target.kubernetes, "deployments", name, "noa")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def run_as(role: tuple[str, str], runbook: str, params: dict[str, str], state: Path,
           monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run ``runbook`` under the Role's context; return its record's metadata after checking
    that it succeeded and that the API saw only that user, never refusing it."""
    log = Layout(state).kube_dir / "requests.jsonl"
    offset = log.stat().st_size
    monkeypatch.setenv(CONTEXT_ENV, role[0])
    result = run(RunRequest(runbook, params, target="sandbox", html=False))
    meta: dict[str, Any] = json.loads(Path(result.record).read_text())["metadata"]["noa"]
    assert result.exit_code == ExitCode.SUCCEEDED, (runbook, meta.get("error"))
    requests = read_requests(log, offset)
    assert requests, f"{runbook} made no Kubernetes request"
    assert {r["user"] for r in requests if r.get("plural")} - SANDBOX_OWN == {role[1]}
    refused = [(r["verb"], r["plural"], r.get("subresource")) for r in requests
               if r["status"] == 403]
    assert refused == [], f"{runbook} under {role[1]}: refused {refused}"
    return meta


def test_the_observer_role_runs_the_read_only_runbooks(sandbox_state: Path, reports_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    run_as(OBSERVER, "monitoring/log_investigation", {}, sandbox_state, monkeypatch)
    run_as(OBSERVER, "monitoring/alert_response", {}, sandbox_state, monkeypatch)
    run_as(OBSERVER, "deployment/post_deployment_verification", {}, sandbox_state, monkeypatch)


def test_the_observer_role_cannot_deploy(sandbox_state: Path, sandbox_target: Any,
                                         reports_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    before = image_of(sandbox_target, "web")
    monkeypatch.setenv(CONTEXT_ENV, OBSERVER[0])
    result = run(RunRequest("deployment/rolling_update",
                            {"deployment": "web", "image_tag": "2.15.0", "dry_run": "false"},
                            target="sandbox", html=False))
    meta = json.loads(Path(result.record).read_text())["metadata"]["noa"]
    assert result.exit_code == ExitCode.FAILED
    assert "RBAC" in json.dumps(meta["error"]) or "forbidden" in json.dumps(meta["error"])
    assert image_of(sandbox_target, "web") == before


def test_the_deployer_role_runs_the_deployment_runbooks(sandbox_state: Path, sandbox_target: Any,
                                                        reports_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    before = image_of(sandbox_target, "web")
    run_as(DEPLOYER, "deployment/pre_deployment_checklist",
           {"deployment": "web", "image_tag": "2.15.0"}, sandbox_state, monkeypatch)
    try:
        meta = run_as(DEPLOYER, "deployment/rolling_update",
                      {"deployment": "web", "image_tag": "2.15.0", "dry_run": "false"},
                      sandbox_state, monkeypatch)
        assert [e for e in meta["timeline"] if e["kind"] == "change-applied"]
        assert image_of(sandbox_target, "web").endswith(":2.15.0")
        run_as(DEPLOYER, "deployment/canary",
               {"deployment": "web", "image_tag": "2.15.1", "total_replicas": "4"},
               sandbox_state, monkeypatch)  # its dry run reads and validates everything
    finally:
        meta = run_as(DEPLOYER, "deployment/rollback",
                      {"what": "deployment", "deployment": "web", "dry_run": "false"},
                      sandbox_state, monkeypatch)
    assert [e for e in meta["timeline"] if e["kind"] == "change-applied"]
    assert image_of(sandbox_target, "web") == before
