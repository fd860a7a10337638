"""Alertmanager API v2 client (``requests``) with timeouts, errors mapped to ours.

Reads only: :func:`status` (version, cluster, uptime) and :func:`alerts` (what Alertmanager holds
now). The URL is ``PrometheusSettings.alertmanager_url`` of the target; no credentials are sent.

Error mapping::

    connection refused / DNS / HTTP 5xx      -> Unavailable
    connect or read timeout                  -> Timeout
    HTTP 404                                 -> NotFound
    anything else                            -> ClientError
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from noa_lib.clients._errors import failure
from noa_lib.config import PrometheusSettings
from noa_lib.errors import ClientError, ConfigError, NotFound, Timeout, Unavailable

BACKEND = "Alertmanager"


@dataclass(frozen=True)
class AlertmanagerStatus:
    """What :func:`status` learnt about an Alertmanager."""

    endpoint: str
    version: str
    cluster_status: str
    uptime: str
    latency_ms: float


def base_url(settings: PrometheusSettings) -> str:
    """The configured Alertmanager URL without a trailing slash.

    Raises:
        ConfigError: the target configures no ``alertmanager_url``.
    """
    if not settings.alertmanager_url:
        raise ConfigError("no alertmanager_url is configured for this target's prometheus")
    return settings.alertmanager_url.rstrip("/")


def status(settings: PrometheusSettings) -> AlertmanagerStatus:
    """``GET /api/v2/status``, timed.

    Raises:
        ConfigError: no Alertmanager configured.
        Unavailable / Timeout / NotFound / ClientError: see the module docstring.
    """
    url = base_url(settings)
    started = time.perf_counter()
    data = _get(settings, "status")
    latency = (time.perf_counter() - started) * 1000
    info = data.get("versionInfo", {}) if isinstance(data, dict) else {}
    cluster = data.get("cluster", {}) if isinstance(data, dict) else {}
    return AlertmanagerStatus(
        endpoint=url,
        version=str(info.get("version", "unknown")),
        cluster_status=str(cluster.get("status", "unknown")),
        uptime=str(data.get("uptime", "")) if isinstance(data, dict) else "",
        latency_ms=round(latency, 2),
    )


def alerts(
    settings: PrometheusSettings, *, active: bool = True, silenced: bool = False
) -> list[dict[str, Any]]:
    """``GET /api/v2/alerts``: the alerts Alertmanager holds (labels, annotations, startsAt,
    endsAt, fingerprint, status.state).

    Raises:
        ConfigError / Unavailable / Timeout / NotFound / ClientError: as :func:`status`.
    """
    params = {"active": str(active).lower(), "silenced": str(silenced).lower()}
    data = _get(settings, "alerts", params)
    return [a for a in data if isinstance(a, dict)] if isinstance(data, list) else []


def _get(settings: PrometheusSettings, path: str, params: Mapping[str, str] | None = None) -> Any:
    url = base_url(settings)
    timeout = (min(settings.timeout, 5.0), settings.timeout)
    with mapped_errors(url, settings.timeout):
        response = requests.get(f"{url}/api/v2/{path}", params=dict(params or {}), timeout=timeout)
        if response.status_code == 404:
            raise failure(NotFound, BACKEND, url, f"answered 404 for /api/v2/{path}")
        if response.status_code >= 500:
            raise failure(Unavailable, BACKEND, url, f"unavailable: HTTP {response.status_code}")
        if response.status_code != 200:
            raise failure(
                ClientError, BACKEND, url, f"rejected the request: HTTP {response.status_code} "
                f"{response.text[:200]!r}"
            )
        try:
            return response.json()
        except ValueError:
            raise failure(ClientError, BACKEND, url, "answered with something not JSON") from None


@contextmanager
def mapped_errors(url: str, timeout: float) -> Iterator[None]:
    """Map ``requests`` errors raised in the block to ours."""
    try:
        yield
    except requests.Timeout:
        raise failure(Timeout, BACKEND, url, f"did not answer within {timeout:g} s") from None
    except requests.ConnectionError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else "cannot connect"
        raise failure(Unavailable, BACKEND, url, f"unreachable: {reason}") from None
    except requests.RequestException as exc:
        raise failure(ClientError, BACKEND, url, f"request failed: {exc}") from None


__all__ = ["BACKEND", "AlertmanagerStatus", "alerts", "base_url", "mapped_errors", "status"]
