"""What the pods do: logs (generated, deterministic), the service proxy, the image registry."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from types import MappingProxyType

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from noa_sandbox import releases
from noa_sandbox.causes import pg_sessions
from noa_sandbox.kube import podlogs, registry
from noa_sandbox.kube.hooks import LogQuery
from noa_sandbox.kube.kubelet import rfc3339
from noa_sandbox.simulator.spec import default_spec

from .conftest import NS, Running, http_call

PROXY = f"/api/v1/namespaces/{NS}/services"


def test_pod_logs_through_the_api(seeded: Running, core: client.CoreV1Api) -> None:
    pod = core.list_namespaced_pod(NS, label_selector="app=api").items[0]
    name = pod.metadata.name
    full = core.read_namespaced_pod_log(name, NS)
    first = json.loads(full.splitlines()[0])
    assert first["msg"] == "Starting NOA Server 2.14.0 (api)" and first["logger"] == "noa.api"
    time.sleep(1.2)
    tail = core.read_namespaced_pod_log(name, NS, tail_lines=3).splitlines()
    assert len(tail) == 3
    for line in tail:
        record = json.loads(line)
        assert {"ts", "level", "logger", "msg"} <= set(record)
    stamped = core.read_namespaced_pod_log(name, NS, tail_lines=2, timestamps=True)
    stamp, _, rest = stamped.splitlines()[0].partition(" ")
    assert stamp.endswith("Z") and len(stamp) == len("2026-11-27T01:02:03.123456789Z")
    assert json.loads(rest)["ts"][:19] == stamp[:19]
    again = core.read_namespaced_pod_log(name, NS, tail_lines=3).splitlines()
    assert again[-3:] == tail[-3:] or json.loads(again[0])["ts"] >= json.loads(tail[0])["ts"]
    limited = core.read_namespaced_pod_log(name, NS, limit_bytes=80)
    assert len(limited.encode()) <= 80
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log(name, NS, previous=True)
    assert err.value.status == 400 and "previous terminated container" in err.value.body


def synthetic_pod(version: str, *, age_s: float, now: float, name: str = "api-abc-x1") -> dict:
    started = rfc3339(now - age_s)
    return {
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}",
                     "labels": {"app": "api"}},
        "spec": {"containers": [{"name": "api",
                                 "image": f"{registry.IMAGE}:{version}"}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "api", "ready": True, "restartCount": 0,
            "state": {"running": {"startedAt": started}}}]},
    }


def test_logs_are_deterministic_fast_and_follow_the_release() -> None:
    now = time.time()
    spec = default_spec(now - 3600)
    bad = releases.bad_effects(0.5, 0.0)
    spec = spec.__class__(**{**spec.__dict__, "releases": MappingProxyType(
        {**spec.releases, "2.15.0": bad})})
    pods = [synthetic_pod("2.15.0" if i == 0 else "2.14.0", age_s=900, now=now, name=f"api-{i}")
            for i in range(6)]
    query = LogQuery(container="api", since_seconds=600)
    started = time.perf_counter()
    texts = [podlogs.render(p, query, spec, now) for p in pods]
    assert time.perf_counter() - started < 1.5  # ~0.2 s here; generous for a loaded machine
    assert texts[1] == podlogs.render(pods[1], query, spec, now)  # same on every read
    bad_lines = [json.loads(line) for line in texts[0].splitlines()]
    good_lines = [json.loads(line) for line in texts[1].splitlines()]
    assert len(bad_lines) > 600
    share = sum(r["level"] == "error" for r in bad_lines) / len(bad_lines)
    assert 0.4 < share < 0.6
    assert any("KeyError 'choices'" in r["msg"] for r in bad_lines)
    assert sum(r["level"] == "error" for r in good_lines) / len(good_lines) < 0.02
    # numbers inside messages vary (a log investigation has to normalise them)
    assert len({r["request_id"] for r in bad_lines}) == len(bad_lines)
    tail = podlogs.render(pods[0], LogQuery(container="api", tail_lines=5), spec, now)
    assert tail.splitlines() == texts[0].splitlines()[-5:] or len(tail.splitlines()) == 5
    since_time = datetime.fromtimestamp(now - 10, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = podlogs.render(pods[0], LogQuery(container="api", since_time=since_time), spec, now)
    assert 0 < len(recent.splitlines()) < 100


def test_scenario_messages_in_logs() -> None:
    now = time.time()
    spec = default_spec(now - 3600)
    # pool-exhausted is caused by held sessions: the logs follow what the simulator observed
    held = [{"app": "noa-api", "state": "idle in transaction", "wait_event_type": "Client",
             "running_s": 60.0}] * 60
    observed = pg_sessions.effects_of(held, {"api": 60, "worker": 20})
    spec = spec.__class__(**{**spec.__dict__, "scenario": "pool-exhausted", "since": now - 300,
                             "observed": observed, "observed_since": now - 300})
    pod = synthetic_pod("2.14.0", age_s=900, now=now)
    lines = [json.loads(x) for x in podlogs.render(
        pod, LogQuery(container="api", since_seconds=300), spec, now).splitlines()]
    errors = [r["msg"] for r in lines if r["level"] == "error"]
    assert errors and all("QueuePool limit of size 20 overflow 10 reached" in m for m in errors)
    before = [json.loads(x) for x in podlogs.render(
        pod, LogQuery(container="api", since_seconds=900), spec, now - 400).splitlines()]
    assert not any("QueuePool" in r["msg"] for r in before)  # the scenario began later
    # slow-db: NOA statements waiting on a lock stretch the requests: slow query warnings
    waiting = [{"app": "noa-api", "state": "active", "wait_event_type": "Lock",
                "running_s": 9.0}] * 3
    slow = spec.__class__(**{**spec.__dict__, "scenario": "slow-db",
                             "observed": pg_sessions.effects_of(waiting, {"api": 60})})
    lines = [json.loads(x) for x in podlogs.render(
        pod, LogQuery(container="api", since_seconds=120), slow, now).splitlines()]
    assert any(r["msg"].startswith("slow query ") for r in lines if r["level"] == "warning")


def test_service_proxy_answers_as_noa_server(seeded: Running) -> None:
    status, _, body = http_call(seeded, "GET", f"{PROXY}/api/proxy/healthz")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok" and health["version"] == "2.14.0"
    assert health["pod"].startswith("api-")
    status, _, body = http_call(seeded, "GET", f"{PROXY}/api/proxy/readyz")
    assert status == 200
    status, _, body = http_call(seeded, "POST", f"{PROXY}/api/proxy/api/v1/auth/login",
                                {"username": "smoke-test", "password": "x"})
    assert status == 200
    token = json.loads(body)["token"]
    # through the API server's proxy, Authorization is the API server's: NOA's token goes in
    # X-Noa-Authorization
    status, _, body = http_call(seeded, "GET", f"{PROXY}/api/proxy/api/v1/users/me",
                                headers={"X-Noa-Authorization": f"Bearer {token}"})
    assert status == 200 and json.loads(body)["username"] == "smoke-test"
    status, _, _ = http_call(seeded, "GET", f"{PROXY}/api/proxy/api/v1/users/me",
                             headers={"X-Noa-Authorization": f"Bearer {token}x"})
    assert status == 401
    status, _, _ = http_call(seeded, "POST", f"{PROXY}/api/proxy/api/v1/auth/login",
                             {"username": "smoke-test"})
    assert status == 401
    status, _, body = http_call(seeded, "POST", f"{PROXY}/api/proxy/api/v1/chat",
                                {"message": "hi"})
    assert status == 200 and json.loads(body)["served_by"]["version"] == "2.14.0"
    status, _, body = http_call(seeded, "GET", f"{PROXY}/api/proxy/api/v1/migrations")
    migrations = json.loads(body)
    assert status == 200 and migrations["pending"] == []
    assert "0041_add_provider_usage" in migrations["applied"]


def test_bad_release_errors_on_chat(seeded: Running, apps: client.AppsV1Api) -> None:
    releases.mark_release(seeded.state, "2.14.0", bad=True, error_rate=1.0)
    time.sleep(0.2)
    status, _, body = http_call(seeded, "POST", f"{PROXY}/api/proxy/api/v1/chat", {})
    assert status == 500
    releases.mark_release(seeded.state, "2.14.0", good=True)
    time.sleep(0.2)
    status, _, _ = http_call(seeded, "POST", f"{PROXY}/api/proxy/api/v1/chat", {})
    assert status == 200


def test_registry_publishes_the_release_tags(seeded: Running) -> None:
    status, headers, _ = http_call(seeded, "HEAD", "/v2/noa-server/manifests/2.14.0")
    assert status == 200
    assert headers["Docker-Content-Digest"] == registry.digest("noa-server", "2.14.0")
    status, _, _ = http_call(seeded, "HEAD", "/v2/noa-server/manifests/9.9.9")
    assert status == 404
    releases.mark_release(seeded.state, "9.9.9", publish=True)
    time.sleep(0.1)
    status, _, _ = http_call(seeded, "GET", "/v2/noa-server/manifests/9.9.9")
    assert status == 200
