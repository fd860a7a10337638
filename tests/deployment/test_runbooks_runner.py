"""The four deployment runbooks through the records runner (``noa run``) on a private sandbox
Kubernetes API: dry runs send no mutating request (read from the API's request log), a protected
target refuses without confirm, and an aborted canary's record lists every change incl. the
abort."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from noa_lib.clients import kube_apps
from noa_lib.records.runner import ExitCode, RunRequest, run

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ["deployment/rolling_update", "deployment/rollback", "deployment/canary",
            "deployment/blue_green"]

pytestmark = pytest.mark.integration


@pytest.fixture
def private_config(kube, tmp_path: Path, reports_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NOA_CONFIG", str(kube.config(tmp_path)))
    monkeypatch.delenv("NOA_NOTEBOOKS_DIR", raising=False)
    monkeypatch.delenv("NOA_TARGET", raising=False)
    return kube


def meta_of(result) -> dict:
    return json.loads(Path(result.record).read_text())["metadata"]["noa"]


@pytest.mark.parametrize("runbook", RUNBOOKS)
def test_default_dry_run_sends_no_mutating_request(private_config, runbook):
    kube = private_config
    before = kube.offset()
    result = run(RunRequest(runbook, {}, target="sandbox", html=False))
    meta = meta_of(result)
    assert result.exit_code == ExitCode.SUCCEEDED, meta.get("error")
    assert meta["outcome"]["status"] in ("ok", "warning") and meta["outcome"]["findings"]
    assert kube.requests(before), "the runbook read the cluster"
    assert kube.mutations(before) == []
    assert not [e for e in meta["timeline"] if e["kind"] == "change-applied"]


def test_protected_target_refuses_to_apply_without_confirm(private_config):
    kube = private_config
    before = kube.offset()
    result = run(RunRequest("deployment/rolling_update", {"dry_run": "false"}, target="prod",
                            html=False))
    assert result.exit_code == ExitCode.FAILED
    assert "protected" in json.dumps(meta_of(result)["error"])
    assert kube.mutations(before) == []


def test_aborted_canary_fails_the_run_and_records_every_change(private_config):
    kube = private_config
    result = run(RunRequest("deployment/canary", {
        "image_tag": "9.9.9", "steps": "50,100", "warmup_s": "0", "ready_timeout_s": "3",
        "dry_run": "false"}, target="sandbox", html=False))
    meta = meta_of(result)
    assert result.exit_code == ExitCode.FAILED
    assert meta["outcome"]["figures"]["verdict"] == "aborted"
    kinds = [(e["kind"], e.get("summary", "")) for e in meta["timeline"]]
    applied = [s for k, s in kinds if k == "change-applied"]
    assert any("create canary" in s for s in applied)
    assert any("abort the canary" in s for s in applied)
    assert any(k == "change-failed" for k, _ in kinds)
    assert any(k == "canary-aborted" for k, _ in kinds)
    settings = kube.target().kubernetes
    assert kube_apps.find(settings, "deployments", "api-canary") is None
    assert kube_apps.get(settings, "deployments", "api")["spec"]["replicas"] == 3
