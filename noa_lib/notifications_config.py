"""A target's ``[targets.<name>.notifications.<sink>]`` sections: where incident updates go.

Each sink names its ``kind`` and where it posts; secrets are only references (``env:NAME``,
``file:PATH``), resolved when an update is sent::

    [targets.prod.notifications.sre-channel]
    kind = "slack"                          # Slack-compatible incoming webhook (text + blocks)
    url = "env:NOA_SLACK_WEBHOOK_URL"       # a webhook URL carries its secret: a reference here

    [targets.prod.notifications.pager]
    kind = "pagerduty"                      # PagerDuty Events API v2
    url = "https://events.pagerduty.com/v2/enqueue"
    routing_key = "env:NOA_PAGERDUTY_ROUTING_KEY"

    [targets.prod.notifications.status-page]
    kind = "statuspage"                     # Statuspage-style incidents API (bearer token)
    url = "https://api.statuspage.io/v1/pages/PAGE_ID"
    token = "env:NOA_STATUSPAGE_TOKEN"

    [targets.prod.notifications.audit]
    kind = "webhook"                        # generic JSON webhook (optional bearer token)
    url = "https://hooks.internal/noa"
    token = "file:secrets/audit-token"

``url`` may be a plain ``http(s)://`` URL or a reference; ``timeout`` (seconds, default 5) bounds
each request. Which keys each kind needs is checked here, before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from noa_lib.errors import ConfigError

AUTH_SCHEMES = {"bearer": "Bearer", "oauth": "OAuth"}
"""The ``Authorization`` scheme of each header-borne secret (Statuspage's API takes
``OAuth <api key>``; a generic webhook a bearer token)."""


class SecretRef(Protocol):
    """What :class:`noa_lib.config.SecretRef` offers (this module sits below ``config``)."""

    @property
    def ref(self) -> str: ...

    def resolve(self) -> str: ...

KINDS = ("slack", "pagerduty", "statuspage", "webhook")
SINK_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$")
_SECRET_KEY = {"slack": None, "pagerduty": "routing_key", "statuspage": "token",
               "webhook": "token"}
_REQUIRED_SECRET = {"pagerduty", "statuspage"}
_SCHEMES = ("env:", "file:")


@dataclass(frozen=True)
class NotificationSink:
    """One configured sink. ``url`` is a plain URL or a :class:`SecretRef`; ``secret`` is the
    routing key (PagerDuty) or bearer token (Statuspage, webhook), always a reference."""

    name: str
    kind: str
    url: str | SecretRef
    secret: SecretRef | None = None
    timeout: float = 5.0

    def secret_refs(self) -> list[SecretRef]:
        """The references this sink names (for redaction)."""
        return [r for r in (self.url, self.secret) if r is not None and not isinstance(r, str)]

    def resolved_url(self) -> str:
        """The URL to post to (a reference resolved now).

        Raises:
            ConfigError: the reference does not resolve, or is not an http(s) URL.
        """
        url = self.url if isinstance(self.url, str) else self.url.resolve()
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"notification sink {self.name!r}: url is not an http(s) URL")
        return url

    def display_url(self) -> str:
        """The URL as a plan may show it: a reference as written, a plain URL as is."""
        return self.url if isinstance(self.url, str) else self.url.ref


def parse_notifications(
    body: Any, where: str, base: Path, make_ref: Callable[[str, Path], SecretRef]
) -> Mapping[str, NotificationSink]:
    """The ``notifications`` table at ``where``; ``make_ref(text, base)`` builds a reference
    (``file:`` ones relative to ``base``).

    Raises:
        ConfigError: not a table, unknown kind or keys, a missing url or secret, a secret given
            as a literal value — each naming the key and what is accepted.
    """
    if not isinstance(body, Mapping):
        raise ConfigError(f"{where} must be a table of sinks")
    sinks: dict[str, NotificationSink] = {}
    for name, table in body.items():
        sinks[name] = _parse_sink(name, table, f"{where}.{name}", base, make_ref)
    return MappingProxyType(sinks)


def _parse_sink(name: str, table: Any, where: str, base: Path,
                make_ref: Callable[[str, Path], SecretRef]) -> NotificationSink:
    if not SINK_NAME_RE.match(name):
        raise ConfigError(f"{where}: sink name {name!r} is not valid (lowercase, digits, - and _)")
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    kind = str(table.get("kind", ""))
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind {kind!r} is not a sink kind; accepted: {', '.join(KINDS)}")
    secret_key = _SECRET_KEY[kind]
    allowed = {"kind", "url", "timeout", *([secret_key] if secret_key else [])}
    unknown = set(table) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; accepted: {sorted(allowed)}")
    raw_url = table.get("url")
    if not isinstance(raw_url, str) or not raw_url:
        raise ConfigError(f"{where}.url is required (an http(s) URL or env:/file: reference)")
    url: str | SecretRef
    if raw_url.startswith(_SCHEMES):
        url = make_ref(raw_url, base)
    elif raw_url.startswith(("http://", "https://")):
        if kind == "slack":
            raise ConfigError(f"{where}.url: a Slack webhook URL is a secret; give a reference "
                              "(env:NAME or file:PATH)")
        url = raw_url
    else:
        raise ConfigError(f"{where}.url must be an http(s) URL or an env:/file: reference")
    secret: SecretRef | None = None
    if secret_key and secret_key in table:
        raw = table[secret_key]
        if not isinstance(raw, str) or not raw.startswith(_SCHEMES):
            raise ConfigError(f"{where}.{secret_key} is a secret and must be a reference "
                              "(env:NAME or file:PATH), not a literal value")
        secret = make_ref(raw, base)
    elif kind in _REQUIRED_SECRET:
        raise ConfigError(f"{where}.{secret_key} is required for a {kind} sink (a reference)")
    try:
        timeout = float(table.get("timeout", 5.0))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.timeout must be a number of seconds") from None
    if not 0 < timeout <= 60:
        raise ConfigError(f"{where}.timeout must be between 0 and 60 seconds")
    return NotificationSink(name=name, kind=kind, url=url, secret=secret, timeout=timeout)


__all__ = [
    "AUTH_SCHEMES","KINDS", "NotificationSink", "parse_notifications"]
