"""A private sandbox Kubernetes API (with its simulated cluster and registry) for these tests.

Started as a subprocess (``python -m noa_sandbox.kube``) on a free port with its own state
directory and world file, so tests can give the seeded release bad behaviour without touching the
project sandbox. The request log proves which requests reached the API.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from promstack import free_port

from noa_lib.config import KubernetesSettings, RegistrySettings, SecretRef, Target

# the seeded release 2.14.0 answers 30 % of api requests with a 5xx (and logs them)
WORLD = {"scenario": "normal",
         "releases": {"2.14.0": {"error_5xx": {"api": 0.3}}}}


@dataclass(frozen=True)
class KubeStack:
    url: str
    state: Path
    target: Target

    @property
    def request_log(self) -> Path:
        return self.state / "requests.jsonl"


@pytest.fixture(scope="session")
def kube_stack() -> Iterator[KubeStack]:
    root = Path(tempfile.mkdtemp(prefix="noa-h4-kube-"))
    state = root / "kube"
    state.mkdir()
    world = root / "world.json"
    world.write_text(json.dumps(WORLD))
    token = secrets.token_urlsafe(16)
    (state / "tokens.json").write_text(json.dumps({token: {"user": "admin", "role": "admin"}}))
    os.environ["NOA_H4_KUBE_TOKEN"] = token
    port = free_port()
    log = (root / "kube.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "noa_sandbox.kube", "--port", str(port), "--state-dir",
         str(state), "--world", str(world)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    target = Target(
        name="h4kube",
        kubernetes=KubernetesSettings(api_url=url, token=SecretRef("env:NOA_H4_KUBE_TOKEN")),
        registry=RegistrySettings(url=url, repository="noa-server", timeout=5),
    )
    try:
        deadline = time.monotonic() + 60
        while not _available(url, token):
            assert proc.poll() is None, (root / "kube.log").read_text()
            assert time.monotonic() < deadline, (root / "kube.log").read_text()
            time.sleep(0.3)
        yield KubeStack(url, state, target)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def _available(url: str, token: str) -> bool:
    """Every seeded Deployment has rolled out: all replicas updated and available, none old."""
    request = urllib.request.Request(f"{url}/apis/apps/v1/namespaces/noa/deployments",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            items = json.loads(response.read())["items"]
    except OSError:
        return False
    def done(d: dict[str, object]) -> bool:
        status = d.get("status") or {}
        want = d["spec"]["replicas"]  # type: ignore[index]
        return all(status.get(k) == want for k in  # type: ignore[union-attr]
                   ("replicas", "updatedReplicas", "availableReplicas", "readyReplicas"))

    return len(items) == 3 and all(done(d) for d in items)
