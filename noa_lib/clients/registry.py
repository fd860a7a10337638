"""Container registry client (OCI distribution API v2): does an image tag exist, and its digest.

:func:`manifest_digest` sends ``HEAD /v2/<repository>/manifests/<tag>`` with the ``Accept``
headers of OCI and Docker manifests and indexes, and returns the ``Docker-Content-Digest``
(``sha256:…``), or ``None`` when the registry answers 404 (no such tag or repository). When a
registry answers HEAD without the digest header, a ``GET`` follows and the digest is the SHA-256 of
the manifest bytes, as the distribution spec defines it.

Authentication: ``username`` + ``password`` (a secret reference) as HTTP basic auth; a
``password`` without ``username`` is sent as a bearer token. When the registry answers 401 with a
``WWW-Authenticate: Bearer realm=…,service=…,scope=…`` challenge (Docker Hub, GHCR, Harbor…), a
token is fetched from the realm (with the basic credentials, if any) and the request repeated once.

Error mapping::

    connection refused / DNS / HTTP 5xx   -> Unavailable
    connect or read timeout               -> Timeout
    HTTP 401/403 after authenticating     -> ClientError (credentials rejected)
    other unexpected status               -> ClientError
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import requests

from noa_lib.clients._errors import connection_reason, failure
from noa_lib.config import RegistrySettings
from noa_lib.errors import ClientError, ConfigError, ParameterError, Timeout, Unavailable

BACKEND = "Registry"
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*\Z")
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')


def _check(settings: RegistrySettings, tag: str) -> None:
    if not isinstance(tag, str) or not _TAG_RE.match(tag):
        raise ParameterError(
            f"image tag {tag!r} is not valid", name="image_tag",
            accepted="1-128 characters of A-Z, a-z, 0-9, '_', '.', '-' (e.g. 2.15.1)",
        )
    if not _REPO_RE.match(settings.repository or ""):
        raise ParameterError(
            f"registry repository {settings.repository!r} is not valid", name="repository",
            accepted="lower-case path components such as noa/noa-server",
        )


def _secrets(settings: RegistrySettings, extra: str = "") -> list[str]:
    values = [extra] if extra else []
    if settings.password is not None:
        try:
            values.append(settings.password.resolve())
        except ConfigError:
            pass
    return values


def _auth_headers(settings: RegistrySettings) -> tuple[dict[str, str], Any]:
    """(headers, requests auth) from the configured credentials."""
    if settings.password is None:
        return {}, None
    secret = settings.password.resolve()
    if settings.username:
        return {}, (settings.username, secret)
    return {"Authorization": f"Bearer {secret}"}, None


def _token(session: requests.Session, settings: RegistrySettings, challenge: str) -> str | None:
    """A bearer token from the realm of a ``WWW-Authenticate: Bearer`` challenge."""
    if not challenge.lower().startswith("bearer "):
        return None
    params = dict(_CHALLENGE_RE.findall(challenge))
    realm = params.pop("realm", "")
    if not realm.startswith(("https://", "http://")):
        return None
    _, auth = _auth_headers(settings)
    response = session.get(realm, params=params, auth=auth,
                           timeout=(min(settings.timeout, 5.0), settings.timeout))
    if response.status_code != 200:
        return None
    body = response.json()
    token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
    return str(token) if token else None


def manifest_digest(settings: RegistrySettings, tag: str) -> str | None:
    """The digest of ``<repository>:<tag>`` in the registry, ``None`` when it does not exist.

    Raises:
        ParameterError: a malformed tag or repository (before any request).
        ConfigError: the password reference cannot be resolved.
        Unavailable / Timeout / ClientError: see the module docstring.
    """
    _check(settings, tag)
    base = settings.url.rstrip("/")
    url = f"{base}/v2/{settings.repository}/manifests/{tag}"
    headers, auth = _auth_headers(settings)
    headers = {**headers, "Accept": ", ".join(MANIFEST_TYPES)}
    timeout = (min(settings.timeout, 5.0), settings.timeout)
    token = ""
    with requests.Session() as session:
        try:
            response = session.head(url, headers=headers, auth=auth, timeout=timeout)
            if response.status_code == 401:
                challenge = response.headers.get("WWW-Authenticate", "")
                token = _token(session, settings, challenge) or ""
                if token:
                    headers["Authorization"] = f"Bearer {token}"
                    auth = None
                    response = session.head(url, headers=headers, timeout=timeout)
            if response.status_code == 200 and not response.headers.get("Docker-Content-Digest"):
                response = session.get(url, headers=headers, auth=auth, timeout=timeout)
        except requests.RequestException as exc:
            raise _failure(exc, base, _secrets(settings, token)) from None
    return _digest(response, base, _secrets(settings, token))


def _digest(response: requests.Response, where: str, secrets: list[str]) -> str | None:
    status = response.status_code
    if status == 404:
        return None
    if status in (401, 403):
        raise failure(ClientError, BACKEND, where,
                      f"rejected the credentials (HTTP {status})", secrets)
    if status >= 500:
        raise failure(Unavailable, BACKEND, where, f"unavailable: HTTP {status}", secrets)
    if status != 200:
        raise failure(ClientError, BACKEND, where, f"answered HTTP {status}", secrets)
    digest = response.headers.get("Docker-Content-Digest")
    if digest:
        return str(digest)
    if response.content:
        return "sha256:" + hashlib.sha256(response.content).hexdigest()
    raise failure(ClientError, BACKEND, where, "answered without a manifest digest", secrets)


def _failure(exc: requests.RequestException, where: str, secrets: list[str]) -> ClientError:
    if isinstance(exc, requests.Timeout):
        return failure(Timeout, BACKEND, where, "did not answer in time", secrets)
    if isinstance(exc, requests.ConnectionError):
        return failure(Unavailable, BACKEND, where, f"unreachable: {connection_reason(exc)}",
                       secrets)
    return failure(ClientError, BACKEND, where, f"request failed: {exc}", secrets)


def image_reference(settings: RegistrySettings, tag: str) -> str:
    """``<registry host>/<repository>:<tag>`` as a pod spec names it."""
    host = settings.url.split("://", 1)[-1].rstrip("/")
    return f"{host}/{settings.repository}:{tag}"


__all__ = ["BACKEND", "MANIFEST_TYPES", "image_reference", "manifest_digest"]
