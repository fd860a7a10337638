"""NOA Server logs its effective configuration at start-up: the container's environment as the
pod spec sets it (literal values as they are, references named, never resolved)."""

from __future__ import annotations

import json
import time

from noa_sandbox.kube import podlogs
from noa_sandbox.kube.hooks import LogQuery
from noa_sandbox.simulator.spec import WorldSpec


def _pod(env: list[dict[str, object]]) -> dict[str, object]:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 30))
    return {
        "metadata": {"name": "api-abc-x1", "namespace": "noa", "uid": "uid-api-abc-x1",
                     "labels": {"app": "api"}},
        "spec": {"containers": [{"name": "api", "image": "registry.noa.local/noa-server:2.14.0",
                                 "env": env}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "api", "ready": True, "restartCount": 0,
            "state": {"running": {"startedAt": started}}}]},
    }


def test_the_environment_of_the_spec_is_logged_at_start_up() -> None:
    env = [{"name": "NOA_LOG_FORMAT", "value": "json"},
           {"name": "NOA_AI_PROVIDER_API_KEY", "value": "planted-value-7c1d"},
           {"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {
               "name": "noa-db-credentials", "key": "password"}}},
           {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    text = podlogs.render(_pod(env), LogQuery(container="api"), WorldSpec(), time.time())
    lines = [json.loads(line) for line in text.splitlines()]
    config = [line for line in lines if line["msg"].startswith("effective configuration: ")]
    assert len(config) == 1 and config[0]["level"] == "info"
    assert config[0]["msg"] == (
        "effective configuration: NOA_LOG_FORMAT=json NOA_AI_PROVIDER_API_KEY=planted-value-7c1d "
        "DATABASE_PASSWORD=<secretKeyRef noa-db-credentials/password> "
        "POD_NAME=<fieldRef metadata.name>")
    assert lines[0]["msg"].startswith("Starting NOA Server") and lines.index(config[0]) == 1


def test_a_container_without_environment_logs_no_configuration_line() -> None:
    text = podlogs.render(_pod([]), LogQuery(container="api"), WorldSpec(), time.time())
    assert "effective configuration" not in text
