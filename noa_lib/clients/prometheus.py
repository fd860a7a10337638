"""Prometheus HTTP API client: ``prometheus_api_client`` with timeouts, errors mapped to ours.

The only module that imports ``prometheus_api_client``/``requests``. Every request carries the
configured timeout (connect and read) and the bearer token when one is configured; at most one
retry, on gateway errors only, so a dead server fails fast.

Error mapping (:func:`mapped_errors`)::

    connection refused / DNS / HTTP 5xx      -> Unavailable
    connect or read timeout, query timeout   -> Timeout
    HTTP 404                                 -> NotFound
    HTTP 400/401/403/422 and everything else -> ClientError
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from noa_lib.clients._errors import failure, safe
from noa_lib.config import PrometheusSettings
from noa_lib.errors import ClientError, NotFound, Timeout, Unavailable

BACKEND = "Prometheus"
_STATUS_RE = re.compile(r"HTTP Status Code (\d{3})")


@dataclass(frozen=True)
class PrometheusProbe:
    """What :func:`probe` learnt about a Prometheus server."""

    endpoint: str
    version: str
    revision: str
    latency_ms: float


def build(settings: PrometheusSettings) -> PrometheusConnect:
    """A ``PrometheusConnect`` for ``settings`` with timeouts, small retries and the bearer token.

    Raises:
        ConfigError: the token reference cannot be resolved.
    """
    headers: dict[str, str] = {}
    if settings.bearer_token is not None:
        headers["Authorization"] = f"Bearer {settings.bearer_token.resolve()}"
    # read=False: a read timeout surfaces as ReadTimeout (not as a ConnectionError after retries)
    retry = Retry(
        total=1, connect=0, read=False, backoff_factor=0.2, status_forcelist=[502, 503, 504]
    )
    return PrometheusConnect(
        url=settings.url.rstrip("/"),
        headers=headers,
        retry=retry,
        # requests takes (connect, read); the library annotates int but passes it through
        timeout=cast(Any, (min(settings.timeout, 5.0), settings.timeout)),
    )


def build_info(prom: PrometheusConnect) -> dict[str, Any]:
    """``GET /api/v1/status/buildinfo``: the server's version, revision, Go version….

    Returns:
        The ``data`` object of the answer (``{"version": "2.42.0", …}``).

    Raises:
        Unavailable / Timeout: the server cannot be reached or does not answer.
        NotFound: the server has no such endpoint (not a Prometheus, or a very old one).
        ClientError: the token was rejected or another failure.
    """
    with mapped_errors(prom):
        response = prom._session.get(
            f"{prom.url}/api/v1/status/buildinfo",
            headers=prom.headers,
            timeout=prom._timeout,
        )
        if response.status_code != 200:
            raise PrometheusApiClientException(
                f"HTTP Status Code {response.status_code} ({response.text[:200]!r})"
            )
        data = response.json().get("data", {})
    if not isinstance(data, dict):
        raise failure(ClientError, BACKEND, prom.url, "answered buildinfo without data")
    return data


def query(prom: PrometheusConnect, promql: str) -> list[dict[str, Any]]:
    """Evaluate an instant PromQL query; returns the ``result`` list of the answer.

    Raises:
        Unavailable / Timeout / NotFound / ClientError: see the module docstring.
    """
    with mapped_errors(prom):
        result = prom.custom_query(query=promql)
    return list(result)


def probe(settings: PrometheusSettings) -> PrometheusProbe:
    """Ask the server its build information and time the round trip.

    Raises:
        ConfigError: the token reference cannot be resolved.
        Unavailable / Timeout / NotFound / ClientError: as :func:`build_info`.
    """
    prom = build(settings)
    try:
        started = time.perf_counter()
        info = build_info(prom)
        latency = (time.perf_counter() - started) * 1000
    finally:
        prom.close()
    return PrometheusProbe(
        endpoint=settings.url,
        version=str(info.get("version", "unknown")),
        revision=str(info.get("revision", "")),
        latency_ms=round(latency, 2),
    )


@contextmanager
def mapped_errors(prom: PrometheusConnect) -> Iterator[None]:
    """Map ``requests`` and ``prometheus_api_client`` errors raised in the block to ours."""
    try:
        yield
    except (requests.RequestException, PrometheusApiClientException) as exc:
        raise _failure(exc, prom) from None


def _secrets(prom: PrometheusConnect) -> list[str]:
    header = (prom.headers or {}).get("Authorization", "")
    token = header.split(" ", 1)[-1] if header else ""
    return [token] if token else []


def _failure(exc: Exception, prom: PrometheusConnect) -> ClientError:
    where = str(prom.url)
    secrets = _secrets(prom)
    if isinstance(exc, requests.Timeout) or "timed out" in str(exc).lower():
        timeout = prom._timeout
        limit = timeout[-1] if isinstance(timeout, tuple) else timeout
        return failure(Timeout, BACKEND, where, f"did not answer within {limit:g} s", secrets)
    if isinstance(exc, requests.exceptions.RetryError):
        return failure(
            Unavailable, BACKEND, where, "unavailable: gateway errors persisted", secrets
        )
    if isinstance(exc, requests.ConnectionError):
        text = str(exc).lower()
        if "refused" in text:
            reason = "connection refused"
        elif "name or service not known" in text or "name resolution" in text:
            reason = "unknown host"
        else:
            reason = "cannot connect"
        return failure(Unavailable, BACKEND, where, f"unreachable: {reason}", secrets)
    if isinstance(exc, PrometheusApiClientException):
        text = str(exc)
        match = _STATUS_RE.search(text)
        status = int(match.group(1)) if match else 0
        detail = safe(text, secrets)
        if status == 404:
            return failure(NotFound, BACKEND, where, f"answered 404: {detail}", secrets)
        if status >= 500:
            return failure(Unavailable, BACKEND, where, f"unavailable: {detail}", secrets)
        if "timed out" in text.lower() or "timeout" in text.lower():
            return failure(Timeout, BACKEND, where, f"query timed out: {detail}", secrets)
        if status in (401, 403):
            return failure(
                ClientError, BACKEND, where, f"rejected the credentials (HTTP {status})", secrets
            )
        return failure(ClientError, BACKEND, where, f"rejected the request: {detail}", secrets)
    return failure(ClientError, BACKEND, where, f"request failed: {exc}", secrets)


__all__ = ["BACKEND", "PrometheusProbe", "build", "build_info", "mapped_errors", "probe", "query"]
