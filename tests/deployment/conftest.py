"""A private Kubernetes API (the sandbox's server with its cluster attached) for one test.

``kube`` serves a fresh seeded cluster (api 3 replicas at 2.14.0 with revisions 1 and 2, Service
``api`` selecting ``{app: api}``) on a loopback port, with an admin and a view token, a request
log, and fault injection; ``kube.target()`` is a :class:`Target` pointing at it, and
``kube.config(tmp)`` writes a private ``noa.toml`` (targets ``sandbox`` and a protected ``prod``)
for runs through the records runner. Nothing here touches the project sandbox.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubestack import start_cluster, wait_until

from noa_lib.config import KubernetesSettings, SecretRef, Target
from noa_sandbox.kube.auth import Principal
from noa_sandbox.kube.requestlog import read_requests
from noa_sandbox.kube.store import Store

ADMIN = "h3-admin-token-0123456789"
VIEWER = "h3-viewer-token-0123456789"
TOKEN_ENV = "NOA_TEST_KUBE_TOKEN"
VIEWER_ENV = "NOA_TEST_KUBE_VIEWER"


@dataclass
class Kube:
    url: str
    log: Path
    store: Store

    def target(self, name: str = "sandbox", *, viewer: bool = False,
               protected: bool = False) -> Target:
        ref = SecretRef(f"env:{VIEWER_ENV if viewer else TOKEN_ENV}")
        settings = KubernetesSettings(api_url=self.url, token=ref, namespace="noa", timeout=10.0)
        return Target(name, protected=protected, kubernetes=settings)

    def offset(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        return read_requests(self.log, since) if self.log.exists() else []

    def mutations(self, since: int = 0) -> list[dict[str, Any]]:
        return [r for r in self.requests(since) if r.get("mutating")]

    def fault(self, **body: Any) -> None:
        req = urllib.request.Request(
            f"{self.url}/sandbox/faults", data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as rsp:
            assert rsp.status in (200, 201)

    def config(self, root: Path) -> Path:
        path = root / "noa.toml"
        body = ""
        for name, protected in (("sandbox", False), ("prod", True)):
            body += (f'[targets.{name}]\nprotected = {"true" if protected else "false"}\n'
                     f'[targets.{name}.kubernetes]\napi_url = "{self.url}"\n'
                     f'token = "env:{TOKEN_ENV}"\nnamespace = "noa"\n\n')
        path.write_text('default_target = "sandbox"\n\n' + body)
        return path


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kube]:
    monkeypatch.setenv(TOKEN_ENV, ADMIN)
    monkeypatch.setenv(VIEWER_ENV, VIEWER)
    stack = start_cluster(tmp_path, {
        ADMIN: Principal("system:admin", "admin"),
        VIEWER: Principal("system:serviceaccount:noa:viewer", "view"),
    })
    running = Kube(stack.url, stack.request_log, stack.store)
    from noa_lib.clients import kube_apps
    from noa_lib.ops.deploy.rollout import rollout_status

    target = running.target()
    for name in ("api", "worker", "web"):
        wait_until(lambda n=name: rollout_status(
            kube_apps.get(target.kubernetes, "deployments", n)).complete, what=f"{name} ready")
    yield running
    stack.stop()
