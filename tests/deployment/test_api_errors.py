"""API errors surface clearly: a missing Deployment (404) names it, a slow API server (timeout)
names the limit, and through the runner each ends as a failed record with the right exit code —
never a traceback-only failure and never a change."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from noa_lib.errors import NotFound, Timeout
from noa_lib.ops.deploy.revisions import revision_history
from noa_lib.ops.deploy.rollout import image_change
from noa_lib.records.runner import ExitCode, RunRequest, run

pytestmark = pytest.mark.integration


def test_a_missing_deployment_is_named(kube):
    with pytest.raises(NotFound) as err:
        image_change(kube.target(), "payments", "2.15.0")
    assert 'deployments.apps "payments" not found' in str(err.value)
    assert "Kubernetes API" in str(err.value)


def test_a_slow_api_server_times_out_with_the_limit_named(kube):
    target = kube.target()
    assert target.kubernetes is not None
    slow = replace(target, kubernetes=replace(target.kubernetes, timeout=1.0))
    # the client retries a failed connection once: delay every read of the next few requests
    kube.fault(verb="get", plural="deployments", name="api", delay_s=3, times=4)
    before = kube.offset()
    with pytest.raises(Timeout) as err:
        revision_history(slow, "api")
    assert "did not answer within 1 s" in str(err.value)
    assert kube.mutations(before) == []


def test_through_the_runner_a_missing_deployment_fails_the_record(kube, tmp_path: Path,
                                                                  reports_dir: Path,
                                                                  monkeypatch):
    monkeypatch.setenv("NOA_CONFIG", str(kube.config(tmp_path)))
    monkeypatch.delenv("NOA_NOTEBOOKS_DIR", raising=False)
    before = kube.offset()
    result = run(RunRequest("deployment/rolling_update", {"deployment": "payments"},
                            target="sandbox", html=False))
    meta = json.loads(Path(result.record).read_text())["metadata"]["noa"]
    assert result.exit_code == ExitCode.FAILED
    assert meta["status"] == "failed"
    assert 'deployments.apps \\"payments\\" not found' in json.dumps(meta["error"])
    assert kube.mutations(before) == []
