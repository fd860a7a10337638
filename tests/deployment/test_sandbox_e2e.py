"""End to end on a PRIVATE full sandbox (Kubernetes API, simulator, Prometheus): the canary
analysis aborts a bad release and promotes a good one, and blue-green switches to a healthy
green, through the records runner. Private, because these runs move real traffic between
versions and the project sandbox is shared by the rest of the suite."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubestack import wait_until

import noa_sandbox as sandbox
from noa_lib.clients import kube_apps
from noa_lib.config import Target, load_config
from noa_lib.records.runner import ExitCode, RunRequest, run
from noa_sandbox.layout import Layout
from noa_sandbox.releases import mark_release
from noa_sandbox.simulator.spec import read_spec

pytestmark = pytest.mark.integration
FAST = {"interval_s": "2", "count": "2", "window": "20s", "warmup_s": "8", "dry_run": "false"}


@pytest.fixture(scope="module")
def private_sandbox() -> Iterator[tuple[Path, Target]]:
    root = Path(tempfile.mkdtemp(prefix="noa-deploy-test-"))
    root.chmod(0o755)
    state = root / "state"
    try:
        status = sandbox.up(state, load_data=False)
        assert status.healthy, status.to_dict()
        yield state, load_config(state / "target.toml", env={}).target("sandbox")
    finally:
        sandbox.down(state)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def runner_env(private_sandbox, reports_dir: Path, monkeypatch: pytest.MonkeyPatch):
    state, target = private_sandbox
    monkeypatch.setenv("NOA_CONFIG", str(state / "target.toml"))
    monkeypatch.delenv("NOA_NOTEBOOKS_DIR", raising=False)
    monkeypatch.delenv("NOA_TARGET", raising=False)
    return state, target


def meta_of(result) -> dict:
    return json.loads(Path(result.record).read_text())["metadata"]["noa"]


def api_image(target: Target, name: str = "api") -> str:
    obj = kube_apps.get(target.kubernetes, "deployments", name)
    return obj["spec"]["template"]["spec"]["containers"][0]["image"]


def test_bad_canary_is_aborted_by_the_analysis(runner_env):
    state, target = runner_env
    mark_release(state, "2.15.1", bad=True)
    stable = api_image(target)
    result = run(RunRequest("deployment/canary", {**FAST, "image_tag": "2.15.1",
                                                  "steps": "50,100"}, html=False))
    meta = meta_of(result)
    assert result.exit_code == ExitCode.FAILED, meta.get("error")
    figures = meta["outcome"]["figures"]
    assert figures["verdict"] == "aborted" and figures["analysis_phases"] == "Failed"
    kinds = [e["kind"] for e in meta["timeline"]]
    assert "analysis" in kinds and "canary-aborted" in kinds
    applied = [e["summary"] for e in meta["timeline"] if e["kind"] == "change-applied"]
    assert any("create canary" in s for s in applied) and any("abort" in s for s in applied)
    assert api_image(target) == stable
    assert kube_apps.find(target.kubernetes, "deployments", "api-canary") is None
    assert kube_apps.get(target.kubernetes, "deployments", "api")["spec"]["replicas"] == 3
    # all traffic is back on stable: the simulated NOA Server's api pods all run its version
    stable_version = stable.rsplit(":", 1)[1]
    wait_until(lambda: {p.version for p in read_spec(Layout(state).world_file).pods
                        if p.service == "api"} == {stable_version},
               what="api traffic back on the stable version")


def test_good_canary_is_promoted(runner_env):
    state, target = runner_env
    result = run(RunRequest("deployment/canary", {**FAST, "image_tag": "2.15.0",
                                                  "steps": "50,100"}, html=False))
    meta = meta_of(result)
    assert result.exit_code == ExitCode.SUCCEEDED, (meta.get("error"), meta["outcome"])
    assert meta["outcome"]["figures"]["verdict"] == "promoted"
    assert api_image(target).endswith(":2.15.0")
    assert kube_apps.find(target.kubernetes, "deployments", "api-canary") is None


def test_blue_green_switches_to_a_healthy_green(runner_env):
    state, target = runner_env
    result = run(RunRequest("deployment/blue_green", {
        "image_tag": "2.14.0", "monitor_minutes": "0.2", "interval_s": "3", "window": "20s",
        "dry_run": "false"}, html=False))
    meta = meta_of(result)
    assert result.exit_code == ExitCode.SUCCEEDED, (meta.get("error"), meta["outcome"])
    assert meta["outcome"]["figures"]["verdict"] == "switched"
    selector = kube_apps.get(target.kubernetes, "services", "api")["spec"]["selector"]
    assert selector == {"app": "api", "track": "green"}
    assert api_image(target, "api-green").endswith(":2.14.0")
