"""Pods, logs, the service proxy, events and the registry through a real sandbox API server."""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator

import pytest

from deployment_checks.conftest import KubeStack
from noa_lib.clients import kube_pods, registry
from noa_lib.config import KubernetesSettings, RegistrySettings, SecretRef
from noa_lib.errors import ClientError, NotFound, ParameterError, Unavailable
from noa_sandbox.kube.requestlog import read_requests

pytestmark = pytest.mark.integration


def test_list_pods_as_dataclasses(kube_stack: KubeStack) -> None:
    pods = kube_pods.list_pods(kube_stack.target.kubernetes, label_selector="app=api")
    assert len(pods) == 3
    for pod in pods:
        assert pod.ready and pod.phase == "Running" and pod.version == "2.14.0"
        assert pod.image.endswith("noa-server:2.14.0") and pod.containers == ("api",)
        assert pod.started is not None and pod.labels["app"] == "api"
    assert kube_pods.list_pods(kube_stack.target.kubernetes, label_selector="app=none") == []


def test_pod_log_lines_and_previous(kube_stack: KubeStack) -> None:
    settings = kube_stack.target.kubernetes
    pod = kube_pods.list_pods(settings, label_selector="app=api")[0]
    text = kube_pods.read_pod_log(settings, None, pod.name, tail_lines=5)
    lines = text.splitlines()
    assert len(lines) == 5
    stamp, _, body = lines[-1].partition(" ")
    assert stamp.endswith("Z") and json.loads(body)["logger"] == "noa.api"
    one = kube_pods.read_pod_log(settings, None, pod.name, tail_lines=1, timestamps=False)
    assert isinstance(json.loads(one.strip()), dict)  # raw text, not a Python repr
    with pytest.raises(ClientError, match="previous terminated container"):
        kube_pods.read_pod_log(settings, None, pod.name, previous=True)
    with pytest.raises(NotFound):
        kube_pods.read_pod_log(settings, None, "no-such-pod")


def test_service_proxy_answers_any_status(kube_stack: KubeStack) -> None:
    settings = kube_stack.target.kubernetes
    health = kube_pods.proxy(settings, None, "api", "/healthz")
    assert health.ok and health.json["status"] == "ok" and health.status == 200
    status, body = kube_pods.proxy(settings, None, "api", "/api/v1/users/me")
    assert status == 401 and "token" in body["error"]
    login = kube_pods.proxy(settings, None, "api", "/api/v1/auth/login", method="POST",
                            body={"username": "smoke-test", "password": "one-time"})
    token = login.json["token"]
    me = kube_pods.proxy(settings, None, "api", "/api/v1/users/me",
                         headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200 and me.json["username"] == "smoke-test"
    assert kube_pods.proxy(settings, None, "web", "/readyz").status == 200
    with pytest.raises(NotFound, match="nosuch"):
        kube_pods.proxy(settings, None, "nosuch", "/healthz")


def test_names_are_validated_before_any_request(kube_stack: KubeStack) -> None:
    settings = kube_stack.target.kubernetes
    before = kube_stack.request_log.stat().st_size
    for call, name in (
        (lambda: kube_pods.proxy(settings, None, "API", "/healthz"), "service"),
        (lambda: kube_pods.proxy(settings, None, "api", "/../x"), "path"),
        (lambda: kube_pods.proxy(settings, None, "api", "/x", method="TRACE"), "method"),
        (lambda: kube_pods.read_pod_log(settings, "noa;x", "api-0"), "namespace"),
        (lambda: kube_pods.read_pod_log(settings, None, "api_0"), "pod"),
        (lambda: kube_pods.read_pod_log(settings, None, "api-0", tail_lines=0), "tail_lines"),
        (lambda: kube_pods.list_pods(settings, "Noa"), "namespace"),
    ):
        with pytest.raises(ParameterError) as info:
            call()
        assert info.value.name == name
    assert read_requests(kube_stack.request_log, before) == []


def test_events(kube_stack: KubeStack) -> None:
    events = kube_pods.list_events(kube_stack.target.kubernetes)
    assert any(e.reason == "ScalingReplicaSet" and e.kind == "Deployment" for e in events)
    mine = kube_pods.list_events(kube_stack.target.kubernetes, involved_name="api",
                                 involved_kind="Deployment")
    assert mine and {e.name for e in mine} == {"api"}


def test_unreachable_api_is_mapped() -> None:
    os.environ.setdefault("NOA_H4_KUBE_TOKEN", "x")
    dead = KubernetesSettings(api_url="http://127.0.0.1:1", timeout=2,
                              token=SecretRef("env:NOA_H4_KUBE_TOKEN"))
    with pytest.raises(Unavailable, match="connection refused"):
        kube_pods.list_pods(dead)


def test_registry_digest(kube_stack: KubeStack) -> None:
    settings = kube_stack.target.registry
    assert settings is not None
    digest = registry.manifest_digest(settings, "2.15.1")
    assert digest is not None and digest.startswith("sha256:") and len(digest) == 71
    assert registry.manifest_digest(settings, "2.15.1") == digest  # stable
    assert registry.manifest_digest(settings, "9.9.9") is None
    with pytest.raises(ParameterError) as info:
        registry.manifest_digest(settings, "bad tag")
    assert info.value.name == "image_tag"
    with pytest.raises(Unavailable):
        registry.manifest_digest(RegistrySettings(url="http://127.0.0.1:1", timeout=2), "2.15.1")


class _TokenRegistry(http.server.BaseHTTPRequestHandler):
    """A registry that wants a bearer token from its realm (like Docker Hub or GHCR)."""

    token = "registry-token-123456"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/token"):
            ok = self.headers.get("Authorization", "").startswith("Basic ")
            body = json.dumps({"token": self.token}).encode() if ok else b"{}"
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.do_HEAD()

    def do_HEAD(self) -> None:
        port = self.server.server_address[1]
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_response(401)
            self.send_header("WWW-Authenticate", f'Bearer realm="http://127.0.0.1:{port}/token"'
                             ',service="registry",scope="repository:noa/noa-server:pull"')
        elif self.path.endswith("/2.15.1"):
            self.send_response(200)
            self.send_header("Docker-Content-Digest", "sha256:" + "a" * 64)
        else:
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def token_registry() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_registry_bearer_token_challenge(token_registry: str) -> None:
    os.environ["NOA_H4_REGISTRY_PASSWORD"] = "s3cret-pass"
    settings = RegistrySettings(url=token_registry, repository="noa/noa-server", username="ci",
                                password=SecretRef("env:NOA_H4_REGISTRY_PASSWORD"))
    assert registry.manifest_digest(settings, "2.15.1") == "sha256:" + "a" * 64
    assert registry.manifest_digest(settings, "2.0.0") is None
    anonymous = RegistrySettings(url=token_registry, repository="noa/noa-server")
    with pytest.raises(ClientError, match="rejected the credentials") as info:
        registry.manifest_digest(anonymous, "2.15.1")
    assert "s3cret" not in str(info.value)
