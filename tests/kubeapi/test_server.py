"""The server around the API: version, health, discovery, request log, persistence, faults."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from noa_sandbox.kube.requestlog import log_offset, read_requests

from .conftest import ADMIN, NS, VIEWER, Kube, auth, deployment


def test_version_and_health_need_no_token(kube: Kube, http: urllib3.PoolManager) -> None:
    info = client.VersionApi(kube.api_client("no-such-token")).get_code()
    assert info.git_version == "v1.30.0-noa-sandbox"
    assert info.platform == "linux/amd64" and info.major == "1" and info.minor == "30"
    for path in ("/healthz", "/livez", "/readyz"):
        answer = http.request("GET", kube.url + path)
        assert (answer.status, answer.data) == (200, b"ok")


def test_discovery(kube: Kube, http: urllib3.PoolManager) -> None:
    assert http.request("GET", kube.url + "/api").status == 401
    api = kube.api_client()
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]
    groups = {g.name: g.preferred_version.group_version
              for g in client.ApisApi(api).get_api_versions().groups}
    assert groups["apps"] == "apps/v1"
    assert groups["autoscaling.k8s.io"] == "autoscaling.k8s.io/v1"
    resources = {r.name: r for r in client.AppsV1Api(api).get_api_resources().resources}
    assert resources["deployments"].short_names == ["deploy"]
    assert "watch" in resources["deployments"].verbs
    assert resources["deployments/scale"].kind == "Scale"
    core = {r.name: r for r in client.CoreV1Api(api).get_api_resources().resources}
    assert core["namespaces"].namespaced is False and core["pods/log"].verbs == ["get"]
    assert client.AppsApi(api).get_api_group().name == "apps"


def test_unknown_paths_methods_and_bodies(kube: Kube, http: urllib3.PoolManager) -> None:
    missing = http.request("GET", kube.url + "/apis/apps/v1/namespaces/noa/widgets",
                           headers=auth())
    assert missing.status == 404 and json.loads(missing.data)["kind"] == "Status"
    assert http.request("GET", kube.url + "/nope", headers=auth()).status == 404
    collection = f"{kube.url}/apis/apps/v1/namespaces/{NS}/deployments"
    assert http.request("PUT", collection, body=b"{}", headers=auth()).status == 405
    bad = http.request("POST", collection, body=b"{oops", headers=auth())
    assert bad.status == 400 and json.loads(bad.data)["reason"] == "BadRequest"


def test_keep_alive(kube: Kube) -> None:
    pool = urllib3.HTTPConnectionPool("127.0.0.1", kube.server.server_address[1], maxsize=1)
    for _ in range(5):
        answer = pool.request("GET", "/api/v1/namespaces", headers=auth())
        assert answer.status == 200
    assert pool.num_connections == 1


def test_request_log_is_written_before_the_response(kube: Kube, apps: client.AppsV1Api) -> None:
    offset = log_offset(kube.request_log)
    apps.create_namespaced_deployment(NS, deployment(), dry_run="All")
    [entry] = read_requests(kube.request_log, offset)
    assert entry["verb"] == "create" and entry["dry_run"] is True and entry["mutating"] is False
    apps.create_namespaced_deployment(NS, deployment())
    apps.patch_namespaced_deployment_scale("api", NS, {"spec": {"replicas": 3}})
    apps.read_namespaced_deployment("api", NS)
    apps.list_namespaced_deployment(NS, label_selector="app=api")
    with pytest.raises(ApiException):
        client.AppsV1Api(kube.api_client(VIEWER)).delete_namespaced_deployment("api", NS)
    entries = read_requests(kube.request_log, offset)[1:]
    summary = [(e["method"], e["verb"], e["subresource"], e["status"], e["mutating"])
               for e in entries]
    assert summary == [
        ("POST", "create", None, 201, True),
        ("PATCH", "patch", "scale", 200, True),
        ("GET", "get", None, 200, False),
        ("GET", "list", None, 200, False),
        ("DELETE", "delete", None, 403, True),
    ]
    assert entries[0]["plural"] == "deployments" and entries[0]["namespace"] == NS
    assert entries[1]["name"] == "api" and entries[0]["user"] == "system:admin"
    assert entries[3]["query"] == "labelSelector=app%3Dapi"
    offset = log_offset(kube.request_log)
    with pytest.raises(ApiException):
        client.AppsV1Api(kube.api_client("bogus")).read_namespaced_deployment("api", NS)
    [denied] = read_requests(kube.request_log, offset)
    assert (denied["verb"], denied["status"], denied["user"], denied["name"]) == (
        "get", 401, None, "api")


def test_persistence_across_restart(kube: Kube, restart: Callable[[], Kube],
                                    apps: client.AppsV1Api) -> None:
    created = apps.create_namespaced_deployment(NS, deployment())
    rv = kube.store.resource_version
    restarted = restart()
    again = client.AppsV1Api(restarted.api_client())
    kept = again.read_namespaced_deployment("api", NS)
    assert kept.metadata.uid == created.metadata.uid
    assert kept.metadata.resource_version == created.metadata.resource_version
    assert restarted.store.resource_version == rv
    patched = again.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 3}})
    assert int(patched.metadata.resource_version) > rv


def test_persistence_is_debounced_in_the_background(kube: Kube, core: client.CoreV1Api) -> None:
    snapshot = kube.state / "store.json"
    core.create_namespaced_config_map(NS, {"metadata": {"name": "late"}})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if snapshot.exists() and '"late"' in snapshot.read_text():
            break
        time.sleep(0.1)
    assert '"late"' in snapshot.read_text()


def test_fault_injection_conflict_then_success(kube: Kube, apps: client.AppsV1Api,
                                               http: urllib3.PoolManager) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    fault = {"verb": "patch", "plural": "deployments", "name": "api", "status": 409, "times": 1}
    armed = http.request("POST", kube.url + "/sandbox/faults", body=json.dumps(fault).encode(),
                         headers=auth())
    assert armed.status == 201
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 3}})
    assert err.value.status == 409
    assert json.loads(err.value.body)["reason"] == "Conflict"
    assert apps.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 3}}).spec.replicas \
        == 3
    viewer = http.request("POST", kube.url + "/sandbox/faults", body=json.dumps(fault).encode(),
                          headers=auth(VIEWER))
    assert viewer.status == 403
    delay = {"verb": "get", "plural": "deployments", "delay_s": 1.5, "times": 4}
    http.request("POST", kube.url + "/sandbox/faults", body=json.dumps(delay).encode(),
                 headers=auth())
    with pytest.raises(urllib3.exceptions.HTTPError):  # the client retries 3 times, then gives up
        apps.read_namespaced_deployment("api", NS, _request_timeout=(2, 0.3))
    http.request("POST", kube.url + "/sandbox/faults", body=json.dumps(fault).encode(),
                 headers=auth())
    assert http.request("DELETE", kube.url + "/sandbox/faults", headers=auth()).status == 200
    apps.patch_namespaced_deployment("api", NS, {"spec": {"replicas": 4}})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_module_runs_as_a_process(tmp_path: Path) -> None:
    (tmp_path / "tokens.json").write_text(json.dumps({ADMIN: {"user": "admin",
                                                              "role": "admin"}}))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "noa_sandbox.kube", "--port", str(port), "--state-dir",
         str(tmp_path)],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        http = urllib3.PoolManager()
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = http.request("GET", url + "/readyz", retries=False)
                break
            except urllib3.exceptions.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert ready.status == 200 and ready.data == b"ok"
        version = json.loads(http.request("GET", url + "/version").data)
        assert version["gitVersion"] == "v1.30.0-noa-sandbox"
        created = http.request("POST", url + "/api/v1/namespaces", headers=auth(),
                               body=json.dumps({"metadata": {"name": "persisted"}}).encode())
        assert created.status == 201
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "listening on" in stderr
    assert '"persisted"' in (tmp_path / "store.json").read_text()
    assert (tmp_path / "requests.jsonl").exists()
