"""Post-deployment verification: is what was deployed healthy, on the right version, serving?

Read-only. :func:`post_deployment_verification` checks, pass/fail per check:

- ``health <service>``: ``GET /healthz`` and ``/readyz`` of every Service through the API
  server's service proxy (both must answer 200);
- ``pods <deployment>``: every pod the Deployment selects is Ready and runs the expected version
  (``expected_version``, default: the tag the Deployment specifies);
- ``smoke …``: ``POST /api/v1/auth/login`` as ``smoke_user`` with a one-time generated password
  (the sandbox accepts any non-empty one; a real target's smoke account policy applies — the
  password is never a parameter and never shown), then ``GET /api/v1/users/me`` with the token and
  ``POST /api/v1/chat``;
- ``error rate <service>`` / ``p95 <service>`` of the new version over ``window`` (Prometheus,
  by the ``version`` label; no traffic yet is a warning);
- ``migrations``: none pending (``GET /api/v1/migrations``);
- ``database connections``: PostgreSQL connections against ``max_connections``
  (:func:`noa_lib.ops.database.database_health`) and the application pools (Prometheus).

Any ``critical`` (or ``unreachable``) check fails the runbook via ``require_ok``.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from noa_lib.config import Target
from noa_lib.errors import ClientError, ParameterError
from noa_lib.ops.deploy.context import kube_context
from noa_lib.ops.findings import Finding, Status, worst
from noa_lib.ops.names import validate_label_value, validate_name

Obj = dict[str, Any]


@dataclass(frozen=True)
class Verification:
    """All checks of one verification run."""

    namespace: str
    expected: dict[str, str]
    findings: tuple[Finding, ...]
    checked_at: datetime

    @property
    def failed(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings
                     if f.status in (Status.CRITICAL, Status.UNREACHABLE))

    def figures(self) -> dict[str, float | int | str]:
        """Outcome figures: checks, failed, status, expected versions."""
        return {
            "checks": len(self.findings),
            "failed": len(self.failed),
            "status": str(worst(self.findings)),
            "expected_versions": ", ".join(f"{k}={v}" for k, v in sorted(self.expected.items())),
        }


def _tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def post_deployment_verification(
    target: Target,
    *,
    namespace: str = "",
    deployments: Sequence[str] = (),
    expected_version: str = "",
    window: str = "5m",
    smoke_service: str = "api",
    smoke_user: str = "smoke-test",
    max_error_rate: float = 0.01,
    max_p95_s: float = 1.0,
    check_database: bool = True,
) -> Verification:
    """Run every check (see the module docstring); backend failures become findings.

    Raises:
        ParameterError: bad names, version, window or bounds (before any call).
        ConfigError: the target has no Kubernetes section.
    """
    from noa_lib.ops.deploy.analysis import default_metrics
    from noa_lib.ops.promql import parse_duration

    if namespace:
        validate_name(namespace, "namespace")
    for d in deployments:
        validate_name(d, "deployments", kind="subdomain")
    if expected_version:
        validate_label_value(expected_version, "expected_version")
    validate_name(smoke_service, "smoke_service")
    if not isinstance(smoke_user, str) or not smoke_user.strip() or len(smoke_user) > 100:
        raise ParameterError(f"smoke_user={smoke_user!r}", name="smoke_user",
                             accepted="a non-empty user name")
    parse_duration(window)
    metrics = default_metrics(max_error_rate, max_p95_s)
    from noa_lib.clients import kube_apps

    kc = kube_context(target, namespace)
    ns = kc.namespace
    findings: list[Finding] = []
    try:
        objs = kube_apps.list_objects(kc.settings, "deployments", ns)
        services = [str((s.get("metadata") or {}).get("name"))
                    for s in kube_apps.list_objects(kc.settings, "services", ns)]
    except ClientError as exc:
        finding = Finding("kubernetes", Status.UNREACHABLE, f"cannot list workloads: {exc}")
        return Verification(ns, {}, (finding,), datetime.now(UTC))
    chosen = [o for o in objs
              if not deployments or (o.get("metadata") or {}).get("name") in deployments]
    missing = set(deployments) - {str((o.get("metadata") or {}).get("name")) for o in chosen}
    for name in sorted(missing):
        findings.append(Finding(f"pods {name}", Status.CRITICAL, f"no Deployment {name} in {ns}"))
    expected: dict[str, str] = {}
    for obj in chosen:
        name = str((obj.get("metadata") or {}).get("name"))
        containers = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers") or [{}]
        expected[name] = expected_version or _tag(str(containers[0].get("image", "")))
    for service in services:
        findings.append(_health(target, ns, service))
    for obj in chosen:
        name = str((obj.get("metadata") or {}).get("name"))
        findings.append(_pods(target, ns, obj, expected[name]))
    findings.extend(_smoke(target, ns, smoke_service, smoke_user))
    for service in services:
        version = expected.get(service)
        if version:
            findings.extend(_metrics(target, service, version, window, metrics))
    findings.append(_migrations(target, ns, smoke_service))
    if check_database:
        findings.extend(_database(target))
    return Verification(ns, expected, tuple(findings), datetime.now(UTC))


def _health(target: Target, ns: str, service: str) -> Finding:
    from noa_lib.clients import kube_pods

    check = f"health {service}"
    answers = {}
    try:
        for path in ("/healthz", "/readyz"):
            answers[path] = kube_pods.proxy(target.kubernetes, ns, service, path).status
    except ClientError as exc:
        return Finding(check, Status.CRITICAL, f"{service} did not answer: {exc}",
                       evidence={"answers": answers})
    bad = {p: s for p, s in answers.items() if s != 200}
    text = ", ".join(f"{p} {s}" for p, s in answers.items())
    if bad:
        return Finding(check, Status.CRITICAL, f"{service}: {text} (all must be 200)",
                       evidence={"answers": answers})
    return Finding(check, Status.OK, f"{service}: {text}", evidence={"answers": answers})


def _pods(target: Target, ns: str, obj: Obj, version: str) -> Finding:
    from noa_lib.clients import kube_pods

    name = str((obj.get("metadata") or {}).get("name"))
    check = f"pods {name}"
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or f"app={name}"
    try:
        pods = kube_pods.list_pods(target.kubernetes, ns, label_selector=selector)
    except ClientError as exc:
        return Finding(check, Status.UNREACHABLE, str(exc))
    want = int((obj.get("spec") or {}).get("replicas") or 0)
    not_ready = [p.name for p in pods if not p.ready]
    wrong = [f"{p.name}={p.version}" for p in pods if p.version != version]
    ev = {"selector": selector, "pods": {p.name: p.version for p in pods}}
    if not pods and want:
        return Finding(check, Status.CRITICAL, f"no pod of {name} ({selector})", evidence=ev)
    problems = []
    if not_ready:
        problems.append(f"not Ready: {', '.join(not_ready)}")
    if wrong:
        problems.append(f"not on {version}: {', '.join(wrong)}")
    if len(pods) < want:
        problems.append(f"{len(pods)} of {want} replicas")
    if problems:
        return Finding(check, Status.CRITICAL, f"{name}: " + "; ".join(problems),
                       value=len(pods), threshold=want, evidence=ev)
    return Finding(check, Status.OK, f"{name}: {len(pods)}/{want} pods Ready on {version}",
                   value=len(pods), threshold=want, evidence=ev)


def _smoke(target: Target, ns: str, service: str, user: str) -> list[Finding]:
    from noa_lib.clients import kube_pods

    out: list[Finding] = []
    password = secrets.token_urlsafe(18)  # one-time; never shown, never a parameter
    try:
        login = kube_pods.proxy(target.kubernetes, ns, service, "/api/v1/auth/login",
                                method="POST", body={"username": user, "password": password})
        token = str(login.json.get("token") or "") if isinstance(login.json, dict) else ""
        ok = login.status == 200 and bool(token)
        out.append(Finding("smoke login", Status.OK if ok else Status.CRITICAL,
                           f"POST /api/v1/auth/login as {user}: HTTP {login.status}"
                           + ("" if ok else " (no token)"), value=login.status, threshold=200))
        if not ok:
            out.append(Finding("smoke users/me", Status.CRITICAL, "not tried: login failed"))
            out.append(Finding("smoke chat", Status.CRITICAL, "not tried: login failed"))
            return out
        auth = {"Authorization": f"Bearer {token}"}
        me = kube_pods.proxy(target.kubernetes, ns, service, "/api/v1/users/me", headers=auth)
        out.append(Finding("smoke users/me", Status.OK if me.status == 200 else Status.CRITICAL,
                           f"GET /api/v1/users/me with the token: HTTP {me.status}",
                           value=me.status, threshold=200))
        chat = kube_pods.proxy(target.kubernetes, ns, service, "/api/v1/chat", method="POST",
                               headers=auth, body={"message": "smoke test: reply with OK"})
        out.append(Finding("smoke chat", Status.OK if chat.status == 200 else Status.CRITICAL,
                           f"POST /api/v1/chat: HTTP {chat.status}", value=chat.status,
                           threshold=200))
    except ClientError as exc:
        out.append(Finding("smoke", Status.CRITICAL, f"smoke test through {service} failed: "
                           f"{exc}"))
    return out


def _metrics(target: Target, service: str, version: str, window: str,
             metrics: Sequence[Any]) -> list[Finding]:
    from noa_lib.clients import prometheus
    from noa_lib.ops import metrics as readings
    from noa_lib.ops.deploy.analysis import for_target

    if target.prometheus is None:
        return [Finding(f"metrics {service}", Status.WARNING, "not checked: no Prometheus")]
    out = []
    prom = readings.connect(target)
    try:
        for metric in metrics:
            label = "error rate" if metric.name == "error-rate" else "p95"
            check = f"{label} {service}"
            promql = for_target(metric, prom.naming).render(service=service, version=version,
                                                            window=window)
            try:
                result = prometheus.query(prom.client, promql)
            except ClientError as exc:
                out.append(Finding(check, Status.UNREACHABLE, str(exc),
                                   evidence={"promql": promql}))
                continue
            values = [float(r["value"][1]) for r in result if r.get("value")]
            values = [v for v in values if v == v]  # NaN: no traffic
            if not values:
                out.append(Finding(check, Status.WARNING,
                                   f"no traffic on {service} {version} over {window} yet",
                                   threshold=metric.success, evidence={"promql": promql}))
                continue
            value = max(values)
            ok = metric.success_condition.holds(value)
            shown = f"{value:.2%}" if label == "error rate" else f"{value:.3f} s"
            out.append(Finding(check, Status.OK if ok else Status.CRITICAL,
                               f"{service} {version}: {shown} over {window} "
                               f"({metric.success}{'' if ok else ' does not hold'})",
                               value=round(value, 5), threshold=metric.success,
                               unit=metric.unit, evidence={"promql": promql}))
    finally:
        prom.close()
    return out


def _migrations(target: Target, ns: str, service: str) -> Finding:
    from noa_lib.clients import kube_pods

    try:
        answer = kube_pods.proxy(target.kubernetes, ns, service, "/api/v1/migrations")
    except ClientError as exc:
        return Finding("migrations", Status.UNREACHABLE, str(exc))
    body = answer.json if isinstance(answer.json, dict) else {}
    if answer.status != 200 or "pending" not in body:
        return Finding("migrations", Status.CRITICAL,
                       f"GET /api/v1/migrations answered HTTP {answer.status}")
    pending = [str(m) for m in body.get("pending") or []]
    applied = [str(m) for m in body.get("applied") or []]
    ev = {"applied": applied, "pending": pending}
    if pending:
        return Finding("migrations", Status.CRITICAL, f"pending: {', '.join(pending)}",
                       value=len(pending), evidence=ev)
    return Finding("migrations", Status.OK,
                   f"none pending; {len(applied)} applied, latest "
                   f"{applied[-1] if applied else '-'}", value=0, evidence=ev)


def _database(target: Target) -> list[Finding]:
    from noa_lib.ops.database import database_health
    from noa_lib.ops.metrics_checks import check_thresholds

    out: list[Finding] = []
    health = database_health(target)
    first = health.findings[0] if health.findings else None
    if first is not None:
        out.append(Finding("database connections", first.status, first.message,
                           value=first.value, threshold=first.threshold, unit=first.unit,
                           evidence=first.evidence))
    if target.prometheus is not None:
        for f in check_thresholds(target, window="5m"):
            if f.check == "db_connections":
                out.append(Finding("application db pools", f.status, f.message, value=f.value,
                                   threshold=f.threshold, unit=f.unit, evidence=f.evidence))
    return out


__all__ = ["Verification", "post_deployment_verification"]
