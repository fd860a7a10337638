"""Smoke test of one Deployment's pods directly through the pod proxy (before they get traffic).

Against one Ready pod matching ``label_selector``: ``GET /healthz`` and ``/readyz`` (200), then
``POST /api/v1/auth/login`` as ``smoke-test`` with a one-time generated password (the sandbox
accepts any non-empty one; on a real target the smoke account's policy applies) and
``GET /api/v1/users/me`` with the returned token (200; ``kube_pods.proxy`` forwards it in a
header the API server proxy passes on). The token and password never appear in
findings.
"""

from __future__ import annotations

import secrets
from typing import Any

from noa_lib.clients import kube_pods
from noa_lib.errors import ClientError
from noa_lib.ops.deploy.context import KubeContext
from noa_lib.ops.findings import Finding, Status


def _check(name: str, status: int, expect: int = 200, what: str = "") -> Finding:
    ok = status == expect
    message = f"{what or name} answered HTTP {status}" + ("" if ok else f" (expected {expect})")
    return Finding(f"smoke {name}", Status.OK if ok else Status.CRITICAL, message,
                   value=status, threshold=expect)


def smoke_test(kc: KubeContext, deployment: str, *, label_selector: str) -> tuple[Finding, ...]:
    """Findings for each smoke call against one Ready pod of ``deployment``."""
    namespace = kc.namespace
    try:
        pods = [p for p in kube_pods.list_pods(kc.settings, namespace,
                                               label_selector=label_selector) if p.ready]
    except ClientError as exc:
        return (Finding("smoke pods", Status.UNREACHABLE, f"cannot list pods: {exc}"),)
    if not pods:
        return (Finding("smoke pods", Status.CRITICAL,
                        f"no Ready pod of {deployment} ({label_selector}) to smoke test"),)
    pod = pods[0].name
    findings = [Finding("smoke pod", Status.OK, f"testing pod {pod} directly (pod proxy)",
                        evidence={"pod": pod})]
    try:
        for path in ("/healthz", "/readyz"):
            status = kube_pods.proxy(kc.settings, namespace, pod, path, kind="pod").status
            findings.append(_check(path, status, what=f"GET {path}"))
        password = secrets.token_urlsafe(16)
        login = kube_pods.proxy(kc.settings, namespace, pod, "/api/v1/auth/login", method="POST",
                                kind="pod", body={"username": "smoke-test", "password": password})
        status = login.status
        findings.append(_check("login", status, what="POST /api/v1/auth/login"))
        token = _token(login.json)
        if status == 200 and token:
            status = kube_pods.proxy(kc.settings, namespace, pod, "/api/v1/users/me", kind="pod",
                                     headers={"Authorization": f"Bearer {token}"}).status
            findings.append(_check("users/me", status, what="GET /api/v1/users/me"))
        else:
            findings.append(Finding("smoke users/me", Status.CRITICAL,
                                    "login gave no token; /api/v1/users/me not tried"))
    except ClientError as exc:
        findings.append(Finding("smoke", Status.CRITICAL, f"pod proxy failed: {exc}"))
    return tuple(findings)


def _token(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("token") or "")
    return ""


__all__ = ["smoke_test"]
