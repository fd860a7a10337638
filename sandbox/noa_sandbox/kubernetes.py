"""Starting and checking the sandbox Kubernetes API from ``noa sandbox up`` (by pid, on loopback).

The process is ``python -m noa_sandbox.kube --port P --state-dir <state>/kube --world
<state>/simulator/world.json``: the API server with the simulated cluster attached (NOA Server's
Deployments, pods that drive the simulator, pod logs, the service proxy, the image registry on
``/v2/``). Its objects persist in ``<state>/kube/store.json``, so they survive ``down``/``up``.

Credentials: ``<state>/kube/tokens.json`` (0600) holds random tokens; ``<state>/kube/kubeconfig``
(0600, JSON — kubeconfig accepts it) has one context per token, all in namespace ``noa``:
``noa-sandbox`` (admin, the current one), ``noa-sandbox-viewer`` (read-only), and
``noa-sandbox-observer`` / ``noa-sandbox-deployer`` bound to exactly the rules of the Roles in
``deploy/kubernetes/rbac-deployment-runbooks.yaml`` — run a runbook under them to prove the shipped
Roles are enough.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from noa_lib.errors import Timeout
from noa_lib.files import atomic_write_text
from noa_sandbox import processes
from noa_sandbox.layout import Layout

VERSION = "Kubernetes API v1.30.0-noa-sandbox"
PORTS = (16440, 16700)
METRICS_PORTS = (16700, 16960)
"""Where the kube-state-metrics port of the API process is chosen."""
CONTEXT = "noa-sandbox"
VIEWER_CONTEXT = "noa-sandbox-viewer"
NAMESPACE = "noa"
ADMIN_USER = "noa-sandbox-admin"
VIEWER_USER = "system:serviceaccount:noa:viewer"
DEPLOYMENTS = ("api", "worker", "web")
RBAC_MANIFEST = (
    Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "rbac-deployment-runbooks.yaml"
)
"""The Roles the project ships for its Kubernetes-facing runbooks; the sandbox enforces them."""
ROLE_CONTEXTS = {
    "noa-sandbox-observer": "noa-runbooks-observer",
    "noa-sandbox-deployer": "noa-deployer",
}
"""Kubeconfig context -> shipped Role whose exact rules its token carries."""


def url(port: int) -> str:
    return f"http://{processes.LOOPBACK}:{port}"


def command(port: int, kube_dir: Path, world_file: Path, metrics_port: int | None = None
            ) -> list[str]:
    """``python -m noa_sandbox.kube`` with this interpreter (``--metrics-port`` when given:
    kube-state-metrics on that port)."""
    out = [sys.executable, "-m", "noa_sandbox.kube", "--port", str(port),
           "--state-dir", str(kube_dir), "--world", str(world_file)]
    if metrics_port is not None:
        out += ["--metrics-port", str(metrics_port)]
    return out


def shipped_roles() -> dict[str, dict[str, Any]]:
    """The Roles of :data:`RBAC_MANIFEST` by name: ``{"namespace": ..., "rules": [...]}``
    (empty when the manifest is not beside the package, e.g. in an installed wheel)."""
    if not RBAC_MANIFEST.is_file():
        return {}
    roles: dict[str, dict[str, Any]] = {}
    for doc in yaml.safe_load_all(RBAC_MANIFEST.read_text()):
        if isinstance(doc, dict) and doc.get("kind") == "Role":
            meta = doc.get("metadata") or {}
            roles[str(meta.get("name"))] = {"namespace": meta.get("namespace"),
                                            "rules": doc.get("rules") or []}
    return roles


def ensure_tokens(layout: Layout) -> dict[str, str]:
    """Context name -> token, kept in ``tokens.json`` (0600): an admin token, a view token and
    one per shipped Role (:data:`ROLE_CONTEXTS`). Tokens are generated once; the rules of the
    Role contexts are refreshed from the manifest on every call."""
    path = layout.kube_dir / "tokens.json"
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        raw = {}
    by_user = {str(e.get("user")): t for t, e in raw.items() if isinstance(e, dict)}
    roles = shipped_roles()
    wanted: dict[str, tuple[str, dict[str, Any]]] = {
        CONTEXT: (ADMIN_USER, {"role": "admin"}),
        VIEWER_CONTEXT: (VIEWER_USER, {"role": "view"}),
    }
    for context, role_name in ROLE_CONTEXTS.items():
        role = roles.get(role_name)
        if role is not None:
            wanted[context] = (role_name, {"role": "rules", **role})
    body: dict[str, Any] = {}
    contexts: dict[str, str] = {}
    for context, (user, entry) in wanted.items():
        token = by_user.get(user) or secrets.token_urlsafe(32)
        body[token] = {"user": user, **entry}
        contexts[context] = token
    if body != raw:
        layout.kube_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(body, indent=2) + "\n", mode=0o600)
    return contexts


def render_kubeconfig(port: int, tokens: dict[str, str]) -> str:
    """The kubeconfig (JSON) for the API on ``port``: one context (and user) per token."""
    cluster = "noa-sandbox"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": cluster, "cluster": {"server": url(port)}}],
        "users": [{"name": context, "user": {"token": token}}
                  for context, token in tokens.items()],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": context,
                                                   "namespace": NAMESPACE}}
                     for context in tokens],
        "current-context": CONTEXT,
    }
    return json.dumps(config, indent=2) + "\n"


def write_kubeconfig(layout: Layout, port: int) -> Path:
    """Write ``<state>/kube/kubeconfig`` (0600) for ``port``; returns its path."""
    tokens = ensure_tokens(layout)
    atomic_write_text(layout.kubeconfig, render_kubeconfig(port, tokens), mode=0o600)
    return layout.kubeconfig


def start(layout: Layout, port: int, metrics_port: int | None = None) -> tuple[int, int]:
    """Start the API server detached; returns ``(pid, start_time)``."""
    layout.kube_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ensure_tokens(layout)
    env = processes.python_env()
    return processes.spawn_detached(
        command(port, layout.kube_dir, layout.world_file, metrics_port),
        log_file=layout.log("kubernetes"),
        env=env,
        cwd=layout.kube_dir,
    )


def ready(port: int) -> bool:
    """True when ``/readyz`` answers 200."""
    return processes.http_ok(f"{url(port)}/readyz")


def wait_ready(port: int, pid: int, start_time: int, log: Path, *, timeout: float = 30.0) -> None:
    """Wait until ``/readyz`` answers; raises ``Unavailable`` (exited) or ``Timeout``."""
    processes.require_started(lambda: ready(port), pid=pid, start_time=start_time,
                              what="the sandbox Kubernetes API", backend="kubernetes",
                              log_file=log, timeout=timeout, interval=0.1)


def get_object(layout: Layout, port: int, path: str) -> Any:
    """The JSON the sandbox API answers for ``path`` (GET, as the admin context).

    Raises:
        OSError / urllib.error.URLError: the API cannot be reached or answered an error.
    """
    return _get(port, ensure_tokens(layout)[CONTEXT], path)


def _get(port: int, token: str, path: str) -> Any:
    request = urllib.request.Request(  # noqa: S310 - our loopback http URL
        f"{url(port)}{path}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as rsp:  # noqa: S310
        return json.loads(rsp.read())


def rollout_complete(deployment: dict[str, Any]) -> bool:
    """What ``kubectl rollout status`` waits for: observed, updated, no old pods, available."""
    meta, spec, status = deployment["metadata"], deployment["spec"], deployment.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    return (
        int(status.get("observedGeneration") or 0) >= int(meta.get("generation") or 0)
        and int(status.get("updatedReplicas") or 0) == replicas
        and int(status.get("replicas") or 0) == replicas
        and int(status.get("availableReplicas") or 0) == replicas
    )


def wait_deployments(layout: Layout, port: int, *, timeout: float = 60.0) -> None:
    """Wait until NOA Server's Deployments have rolled out (a fresh cluster's first minutes).

    Raises:
        Timeout: not all of them within ``timeout`` seconds (the message says which).
    """
    admin = ensure_tokens(layout)[CONTEXT]
    deadline = time.monotonic() + timeout
    pending: list[str] = list(DEPLOYMENTS)
    while True:
        try:
            items = _get(port, admin, f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments")[
                "items"]
            done = {d["metadata"]["name"] for d in items if rollout_complete(d)}
            pending = [name for name in DEPLOYMENTS if name not in done]
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            pass
        if not pending:
            return
        if time.monotonic() > deadline:
            raise Timeout(
                f"the sandbox cluster's deployments {pending} did not roll out within "
                f"{timeout:.0f}s; see {layout.log('kubernetes')}",
                backend="kubernetes",
            )
        time.sleep(0.2)


__all__ = [
    "CONTEXT",
    "get_object",
    "NAMESPACE",
    "PORTS",
    "VERSION",
    "VIEWER_CONTEXT",
    "command",
    "ensure_tokens",
    "ready",
    "render_kubeconfig",
    "rollout_complete",
    "start",
    "url",
    "wait_deployments",
    "wait_ready",
    "write_kubeconfig",
]
