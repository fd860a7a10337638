"""Prometheus HTTP API client: ``prometheus_api_client`` with timeouts, errors mapped to ours.

The only module that imports ``prometheus_api_client``/``requests``. Every request carries the
configured timeout (connect and read) and the bearer token when one is configured; at most one
retry, on gateway errors only, so a dead server fails fast.

Besides instant queries it serves range queries as pandas DataFrames (:func:`query_range`: long
ranges split into chunks under Prometheus' 11,000-points-per-series limit, fetched concurrently by a
bounded thread pool, merged and de-duplicated) and the status endpoints the monitoring-stack
checks read (:func:`targets`, :func:`rules`, :func:`alerts`, :func:`tsdb_status`,
:func:`alertmanagers`), each returning the ``data`` member of the answer.

Error mapping (:func:`mapped_errors`)::

    connection refused / DNS / HTTP 5xx      -> Unavailable
    connect or read timeout, query timeout   -> Timeout
    HTTP 404                                 -> NotFound
    HTTP 400/401/403/422 and everything else -> ClientError
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from noa_lib.clients._errors import connection_reason, failure, safe
from noa_lib.config import PrometheusSettings
from noa_lib.errors import ClientError, NotFound, Timeout, Unavailable

if TYPE_CHECKING:
    import pandas as pd

BACKEND = "Prometheus"
MAX_POINTS = 11_000
"""Prometheus refuses range queries with more points per series than this."""
DEFAULT_WORKERS = 4
"""Concurrent chunk requests of one :func:`query_range` (bounded: a Prometheus is shared)."""
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


def api_get(
    prom: PrometheusConnect, path: str, params: Mapping[str, str] | None = None
) -> Any:
    """``GET <url>/api/v1/<path>``; returns the ``data`` member of a successful answer.

    Raises:
        Unavailable / Timeout / NotFound / ClientError: see the module docstring (a rejected
            query's message carries Prometheus' own error text).
    """
    headers = dict(prom.headers or {})
    if _loopback(prom.url):  # gzip costs both ends CPU and saves nothing on loopback
        headers["Accept-Encoding"] = "identity"
    with mapped_errors(prom):
        response = prom._session.get(
            f"{prom.url}/api/v1/{path}",
            params=dict(params or {}),
            headers=headers,
            timeout=prom._timeout,
        )
        if response.status_code != 200:
            raise PrometheusApiClientException(
                f"HTTP Status Code {response.status_code} ({_error_text(response)})"
            )
        body = response.json()
    if not isinstance(body, dict) or body.get("status") != "success":
        raise failure(ClientError, BACKEND, prom.url, f"answered {path} without success")
    return body.get("data")


def query(
    prom: PrometheusConnect, promql: str, *, at: datetime | float | None = None
) -> list[dict[str, Any]]:
    """Evaluate an instant PromQL query (now, or ``at``); returns the ``result`` list.

    Each item is ``{"metric": {labels}, "value": [timestamp, "text"]}`` for a vector result.

    Raises:
        Unavailable / Timeout / NotFound / ClientError: see the module docstring.
    """
    params = {"query": promql}
    if at is not None:
        params["time"] = _timestamp(at)
    data = api_get(prom, "query", params)
    result = data.get("result", []) if isinstance(data, dict) else []
    if isinstance(data, dict) and data.get("resultType") == "scalar":
        return [{"metric": {}, "value": result}]
    return list(result)


def targets(prom: PrometheusConnect) -> dict[str, Any]:
    """``/api/v1/targets``: ``{"activeTargets": [...], "droppedTargets": [...]}``."""
    data = api_get(prom, "targets")
    return data if isinstance(data, dict) else {}


def rules(prom: PrometheusConnect) -> list[dict[str, Any]]:
    """``/api/v1/rules``: the rule groups, each with its rules' health and last error."""
    data = api_get(prom, "rules")
    groups = data.get("groups", []) if isinstance(data, dict) else []
    return list(groups)


def alerts(prom: PrometheusConnect) -> list[dict[str, Any]]:
    """``/api/v1/alerts``: the alerts pending or firing now (labels, state, activeAt, value)."""
    data = api_get(prom, "alerts")
    found = data.get("alerts", []) if isinstance(data, dict) else []
    return list(found)


def tsdb_status(prom: PrometheusConnect) -> dict[str, Any]:
    """``/api/v1/status/tsdb``: head statistics (series, chunks, min/max time) and top series."""
    data = api_get(prom, "status/tsdb")
    return data if isinstance(data, dict) else {}


def alertmanagers(prom: PrometheusConnect) -> dict[str, Any]:
    """``/api/v1/alertmanagers``: the Alertmanagers Prometheus sends alerts to."""
    data = api_get(prom, "alertmanagers")
    return data if isinstance(data, dict) else {}


def query_range(
    prom: PrometheusConnect,
    promql: str,
    start: datetime | float,
    end: datetime | float,
    step: float,
    *,
    max_points: int = MAX_POINTS,
    max_workers: int = DEFAULT_WORKERS,
) -> pd.DataFrame:
    """Evaluate ``promql`` over ``[start, end]`` every ``step`` seconds as a DataFrame.

    The range is cut into chunks of at most ``max_points`` evaluation points (Prometheus refuses
    more than 11,000 per series) on the same grid a single request would use, so the merged
    frame is the one a single request would give. Chunks are fetched concurrently by at most
    ``max_workers`` threads (1 = sequentially).

    Returns:
        One float column per series (named by :func:`noa_lib.clients.prometheus_frames.
        column_names`), a UTC ``DatetimeIndex`` named ``time``; the label set of each column in
        ``frame.attrs["labels"]`` and the query in ``frame.attrs["promql"]``.

    Raises:
        ParameterError: non-positive step, end before start, fewer than 1 point per chunk.
        Unavailable / Timeout / NotFound / ClientError: the first failing chunk's error.
    """
    from noa_lib.clients import prometheus_frames as frames

    start_ms, end_ms, step_ms = _ms(start), _ms(end), round(step * 1000)
    chunks = frames.range_chunks(start_ms, end_ms, step_ms, max_points)

    def fetch(chunk: tuple[int, int]) -> list[dict[str, Any]]:
        params = {
            "query": promql,
            "start": f"{chunk[0] / 1000:.3f}",
            "end": f"{chunk[1] / 1000:.3f}",
            "step": f"{step_ms / 1000:.3f}",
        }
        data = api_get(prom, "query_range", params)
        return list(data.get("result", [])) if isinstance(data, dict) else []

    parts = frames.fetch_all(fetch, chunks, max_workers)
    frame = frames.merge(parts)
    frame.attrs["promql"] = promql
    return frame


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


def _loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _timestamp(at: datetime | float) -> str:
    return f"{_ms(at) / 1000:.3f}"


def _ms(moment: datetime | float) -> int:
    """Milliseconds since the epoch (naive datetimes are taken as UTC)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return round(moment.timestamp() * 1000)
    return round(float(moment) * 1000)


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return repr(response.text[:200])
    if isinstance(body, dict) and body.get("error"):
        return f"{body.get('errorType', 'error')}: {body['error']}"
    return repr(response.text[:200])


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
        return failure(Unavailable, BACKEND, where, f"unreachable: {connection_reason(exc)}",
                       secrets)
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


__all__ = [
    "BACKEND",
    "DEFAULT_WORKERS",
    "MAX_POINTS",
    "PrometheusConnect",
    "PrometheusProbe",
    "alertmanagers",
    "alerts",
    "api_get",
    "build",
    "build_info",
    "mapped_errors",
    "probe",
    "query",
    "query_range",
    "rules",
    "targets",
    "tsdb_status",
]
