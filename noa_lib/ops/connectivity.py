"""Is every backend of a target reachable? One finding per backend, checked concurrently.

Each backend (PostgreSQL, S3, Prometheus, Kubernetes API) is probed with its client's own
timeouts, all at the same time, so the whole check takes about as long as the slowest backend and
a dead one cannot stall a notebook: a probe still running after its budget is reported
``unreachable`` and abandoned. Failures never escape as exceptions — they become ``unreachable``
findings whose message is one scrubbed line ("PostgreSQL at 127.0.0.1:5999 unreachable:
connection refused"). Evidence names endpoints, never credentials.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from typing import Any

from noa_lib.clients._errors import safe
from noa_lib.config import (
    KubernetesSettings,
    PostgresSettings,
    PrometheusSettings,
    S3Settings,
    Target,
)
from noa_lib.errors import ClientError, ConfigError
from noa_lib.ops.findings import Finding, Status

BACKENDS: tuple[str, ...] = ("postgres", "s3", "prometheus", "kubernetes")
LABELS = {
    "postgres": "PostgreSQL",
    "s3": "S3",
    "prometheus": "Prometheus",
    "kubernetes": "Kubernetes API",
}
SLOW_MS = 1000.0
"""A backend answering slower than this (one round trip) is reported as a warning."""


def check_backends(target: Target) -> list[Finding]:
    """Probe every backend of ``target`` concurrently; one :class:`Finding` per backend.

    Findings come in the order of :data:`BACKENDS`: ``ok`` (value = round-trip latency in ms,
    evidence = endpoint, server version…), ``warning`` (reachable but slow, or a configured
    bucket missing), ``unreachable`` (refused, unknown host, timeout, credentials rejected,
    unusable configuration) or ``skipped`` (not configured for this target).

    Returns:
        Four findings, never raising for a backend failure.
    """
    checks: dict[str, tuple[Callable[[Any], Finding], Any, float]] = {}
    if target.postgres is not None:
        pg = target.postgres
        checks["postgres"] = (_postgres, pg, max(2.0, pg.connect_timeout) + 5.0)
    if target.s3 is not None:
        checks["s3"] = (_s3, target.s3, 4 * target.s3.timeout + 2.0)
    if target.prometheus is not None:
        checks["prometheus"] = (_prometheus, target.prometheus, 2 * target.prometheus.timeout + 2.0)
    if target.kubernetes is not None:
        checks["kubernetes"] = (_kubernetes, target.kubernetes, 2 * target.kubernetes.timeout + 2.0)

    results: dict[str, Finding] = {}
    pool = cf.ThreadPoolExecutor(max_workers=max(1, len(checks)), thread_name_prefix="noa-probe")
    try:
        futures = {
            name: pool.submit(_guarded, name, fn, settings, target)
            for name, (fn, settings, _budget) in checks.items()
        }
        budget = max((b for _fn, _s, b in checks.values()), default=0.0)
        cf.wait(futures.values(), timeout=budget)
        for name, future in futures.items():
            if future.done():
                results[name] = future.result()
            else:
                results[name] = _unreachable(
                    name, _endpoint(name, checks[name][1]), f"did not answer within {budget:g} s"
                )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)

    findings: list[Finding] = []
    for name in BACKENDS:
        if name in results:
            findings.append(results[name])
        else:
            findings.append(
                Finding(
                    check=_check_name(name),
                    status=Status.SKIPPED,
                    message=f"{LABELS[name]} is not configured for target {target.name}",
                )
            )
    return findings


def latency_figures(findings: list[Finding]) -> dict[str, float | None]:
    """``<backend>_latency_ms`` for each backend of ``findings`` (``None`` when not measured),
    keyed by the backend named in each finding's evidence, as outcome figures for the record."""
    figures: dict[str, float | None] = {f"{name}_latency_ms": None for name in BACKENDS}
    for finding in findings:
        backend = finding.evidence.get("backend")
        if backend in BACKENDS and finding.status in (Status.OK, Status.WARNING):
            value = finding.value
            measured = float(value) if isinstance(value, int | float) else None
            figures[f"{backend}_latency_ms"] = measured
    return figures


def _check_name(name: str) -> str:
    return f"{name} connectivity"


def _endpoint(name: str, settings: Any) -> str:
    if isinstance(settings, PostgresSettings):
        return f"{settings.host}:{settings.port}"
    if isinstance(settings, S3Settings):
        return settings.endpoint_url or f"https://s3.{settings.region}.amazonaws.com"
    if isinstance(settings, PrometheusSettings):
        return settings.url
    if isinstance(settings, KubernetesSettings):
        return settings.api_url or f"kubeconfig context {settings.context or '(current)'}"
    return name


def _unreachable(name: str, endpoint: str, message: str) -> Finding:
    return Finding(
        check=_check_name(name),
        status=Status.UNREACHABLE,
        message=message,
        unit="ms",
        evidence={"backend": name, "endpoint": safe(endpoint)},
    )


def _guarded(name: str, fn: Callable[[Any], Finding], settings: Any, target: Target) -> Finding:
    """Run one probe; every failure becomes an ``unreachable`` finding."""
    endpoint = _endpoint(name, settings)
    label = LABELS[name]
    try:
        return fn(settings)
    except ClientError as exc:
        return _unreachable(name, endpoint, str(exc))
    except ConfigError as exc:
        message = f"{label} at {endpoint} not checked: {exc}"
        return _unreachable(name, endpoint, safe(message, target.secret_values()))
    except Exception as exc:  # noqa: BLE001 - a connectivity check reports; it must not crash
        message = f"{label} at {endpoint} unreachable: {type(exc).__name__}: {exc}"
        return _unreachable(name, endpoint, safe(message, target.secret_values()))


def _latency_status(latency_ms: float) -> Status:
    return Status.WARNING if latency_ms > SLOW_MS else Status.OK


def _postgres(settings: PostgresSettings) -> Finding:
    from noa_lib.clients import postgres

    info = postgres.probe(settings)
    status = _latency_status(info.latency_ms)
    role = "standby" if info.in_recovery else "primary"
    message = (
        f"PostgreSQL {info.version.split()[0]} ({role}) at {info.endpoint} answered in "
        f"{info.latency_ms:g} ms (connect {info.connect_ms:g} ms, database {info.database})"
    )
    return Finding(
        check=_check_name("postgres"),
        status=status,
        message=message,
        value=info.latency_ms,
        threshold=SLOW_MS,
        unit="ms",
        evidence={
            "backend": "postgres",
            "endpoint": info.endpoint,
            "database": info.database,
            "version": info.version,
            "server_version_num": info.server_version_num,
            "in_recovery": info.in_recovery,
            "connect_ms": info.connect_ms,
            "latency_ms": info.latency_ms,
        },
    )


def _s3(settings: S3Settings) -> Finding:
    from noa_lib.clients import s3

    info = s3.probe(settings)
    status = _latency_status(info.latency_ms)
    absent = [f"{b} {state}" for b, state in info.buckets.items() if state != "present"]
    server = f" ({info.server})" if info.server else ""
    message = f"S3{server} at {info.endpoint} answered in {info.latency_ms:g} ms"
    if absent:
        status = Status.WARNING
        message += "; bucket " + ", ".join(absent)
    else:
        message += "; buckets " + ", ".join(info.buckets) + " present"
    return Finding(
        check=_check_name("s3"),
        status=status,
        message=message,
        value=info.latency_ms,
        threshold=SLOW_MS,
        unit="ms",
        evidence={
            "backend": "s3",
            "endpoint": safe(info.endpoint),
            "server": info.server,
            "buckets": dict(info.buckets),
            "latency_ms": info.latency_ms,
        },
    )


def _prometheus(settings: PrometheusSettings) -> Finding:
    from noa_lib.clients import prometheus

    info = prometheus.probe(settings)
    return Finding(
        check=_check_name("prometheus"),
        status=_latency_status(info.latency_ms),
        message=f"Prometheus {info.version} at {info.endpoint} answered in {info.latency_ms:g} ms",
        value=info.latency_ms,
        threshold=SLOW_MS,
        unit="ms",
        evidence={
            "backend": "prometheus",
            "endpoint": safe(info.endpoint),
            "version": info.version,
            "revision": info.revision,
            "latency_ms": info.latency_ms,
        },
    )


def _kubernetes(settings: KubernetesSettings) -> Finding:
    from noa_lib.clients import kubernetes

    info = kubernetes.probe(settings)
    return Finding(
        check=_check_name("kubernetes"),
        status=_latency_status(info.latency_ms),
        message=(
            f"Kubernetes API {info.version} at {info.endpoint} answered in {info.latency_ms:g} ms"
        ),
        value=info.latency_ms,
        threshold=SLOW_MS,
        unit="ms",
        evidence={
            "backend": "kubernetes",
            "endpoint": safe(info.endpoint),
            "version": info.version,
            "platform": info.platform,
            "namespace": settings.namespace,
            "latency_ms": info.latency_ms,
        },
    )


__all__ = ["BACKENDS", "SLOW_MS", "check_backends", "latency_figures"]
