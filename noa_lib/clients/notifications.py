"""The only module that posts incident updates: one HTTP request per sink (``requests``).

:func:`send` resolves the sink's URL and secret at the moment it sends, puts the secret where the
request says it belongs (PagerDuty's ``routing_key`` body field, ``Authorization: OAuth`` for
Statuspage, ``Authorization: Bearer`` for a webhook) and
nowhere else, and maps failures to ours with messages scrubbed of the URL's and secret's values.

Error mapping::

    connection refused / DNS / HTTP 5xx      -> Unavailable
    connect or read timeout                  -> Timeout
    HTTP 404                                 -> NotFound
    other non-2xx, a secret that does not resolve -> ClientError / ConfigError
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from noa_lib.clients._errors import failure, safe
from noa_lib.errors import ClientError, NotFound, Timeout, Unavailable
from noa_lib.notifications_config import AUTH_SCHEMES, NotificationSink

BACKEND = "notification sink"


@dataclass(frozen=True)
class SendResult:
    """What a sink answered: HTTP status, and what it said (scrubbed, short)."""

    sink: str
    status_code: int
    answer: str
    data: Any = None


def send(
    sink: NotificationSink, *, method: str, path: str, body: dict[str, Any], auth: str | None
) -> SendResult:
    """Send ``body`` as JSON by ``method`` to the sink's URL + ``path``; ``auth`` says where the
    secret goes (``"routing_key"``, ``"bearer"``, ``"oauth"`` or ``None``).

    Returns:
        :class:`SendResult` for a 2xx answer (``data``: the JSON answer, if any).
    Raises:
        ConfigError: the URL or secret reference does not resolve.
        Unavailable / Timeout / NotFound / ClientError: see the module docstring.
    """
    url = sink.resolved_url()
    secret = sink.secret.resolve() if sink.secret is not None else None
    secrets = [s for s in (secret, url if sink.display_url() != url else None) if s]
    where = f"{sink.name} ({sink.kind}) {sink.display_url()}"
    body = dict(body)
    headers = {"Content-Type": "application/json", "User-Agent": "noa-runbooks"}
    if auth == "routing_key" and secret is not None:
        body = {"routing_key": secret, **body}
    elif auth in AUTH_SCHEMES and secret is not None:
        headers["Authorization"] = f"{AUTH_SCHEMES[auth]} {secret}"
    timeout = (min(sink.timeout, 5.0), sink.timeout)
    try:
        response = requests.request(method, url.rstrip("/") + path if path
                                    else url, data=json.dumps(body), headers=headers,
                                    timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        raise failure(Timeout, BACKEND, where, f"did not answer within {sink.timeout:g} s",
                      secrets) from None
    except requests.ConnectionError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else "cannot connect"
        raise failure(Unavailable, BACKEND, where, f"unreachable: {reason}", secrets) from None
    except requests.RequestException as exc:
        raise failure(ClientError, BACKEND, where, f"request failed: {exc}", secrets) from None
    answer = safe(response.text[:200], secrets)
    code = response.status_code
    if code == 404:
        raise failure(NotFound, BACKEND, where, f"answered 404: {answer}", secrets)
    if code >= 500:
        raise failure(Unavailable, BACKEND, where, f"unavailable: HTTP {code} {answer}", secrets)
    if not 200 <= code < 300:
        raise failure(ClientError, BACKEND, where, f"rejected the update: HTTP {code} {answer}",
                      secrets)
    try:
        data = response.json() if response.content else None
    except ValueError:
        data = None
    return SendResult(sink.name, code, answer, data)


__all__ = ["BACKEND", "SendResult", "send"]
