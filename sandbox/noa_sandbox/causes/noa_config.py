"""NOA Server's ConfigMap ``noa/noa-config`` as the configuration causes read and change it: over
the sandbox Kubernetes API (HTTP, bearer token), like NOA Server itself would.

NOA Server reloads its runtime settings (``AI_PROVIDER_PRIMARY``, ``RATE_LIMIT_PER_KEY_RPS``) live:
it watches its own ConfigMap through the API (the ``noa-server`` ServiceAccount may read it), so a
change takes effect without restarting the pods. The observers (:mod:`.ai_provider`,
:mod:`.ddos`) read it through the API server over HTTP — one GET per poll, shared between them by
:class:`SettingsReader` — rather than the server's ``store.json``, so the simulated NOA Server sees
exactly what a client changed, through the same API.

The causes write with the admin context, the observers read with the read-only viewer context.
A cause records what it :func:`found` for the keys it sets and :func:`restore` puts exactly
those back, leaving every other key alone.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Mapping
from typing import Any

from noa_sandbox import kubernetes, processes
from noa_sandbox.layout import Layout
from noa_sandbox.state import load_state

log = logging.getLogger(__name__)

NAMESPACE = "noa"
CONFIGMAP = "noa-config"
PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{CONFIGMAP}"
TIMEOUT_S = 5.0
READ_TTL_S = 1.0
"""Observers polled within this many seconds share one read of the ConfigMap."""


def _url(layout: Layout) -> str:
    port = load_state(layout.state_file).kubernetes.port
    if port is None:
        raise RuntimeError(f"the sandbox Kubernetes API of {layout.root} has no port recorded")
    return f"http://{processes.LOOPBACK}:{port}{PATH}"


def _call(url: str, token: str, method: str = "GET", body: Any = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/merge-patch+json"
    request = urllib.request.Request(url, data=data, method=method,  # noqa: S310 - loopback
                                     headers=headers)
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as rsp:  # noqa: S310
        out: dict[str, Any] = json.loads(rsp.read())
    return out


def read_data(layout: Layout) -> dict[str, str]:
    """The ConfigMap's ``data`` (admin context; for the causes).

    Raises:
        OSError / urllib.error.URLError: the API could not be reached or refused.
    """
    token = kubernetes.ensure_tokens(layout)[kubernetes.CONTEXT]
    return dict(_call(_url(layout), token).get("data") or {})


def found(layout: Layout, keys: tuple[str, ...]) -> dict[str, str | None]:
    """The current value of each of ``keys`` (``None``: absent) — what a cause must restore."""
    data = read_data(layout)
    return {key: data.get(key) for key in keys}


def set_keys(layout: Layout, values: Mapping[str, str | None]) -> None:
    """Merge-patch the ConfigMap's ``data`` (a ``None`` value removes the key); nothing is sent
    when every key already has its value."""
    data = read_data(layout)
    changes = {k: v for k, v in values.items() if data.get(k) != v}
    if not changes:
        return
    token = kubernetes.ensure_tokens(layout)[kubernetes.CONTEXT]
    _call(_url(layout), token, "PATCH", {"data": changes})


def restore(layout: Layout, made: Mapping[str, Any]) -> None:
    """Put back the values a cause found (``made["found"]``), only those keys."""
    values = made.get("found") or {}
    if isinstance(values, dict) and values:
        set_keys(layout, {str(k): None if v is None else str(v) for k, v in values.items()})


class SettingsReader:
    """Reads the ConfigMap's ``data`` for the observers (viewer context), at most once per
    :data:`READ_TTL_S`; thread-safe. While the API cannot be read (it starts after the simulator,
    or restarts) the last data read stands in, as NOA Server keeps the settings it has."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self._lock = threading.Lock()
        self._at = -READ_TTL_S
        self._data: dict[str, str] | None = None
        self._token: str | None = None

    def data(self) -> dict[str, str] | None:
        """The ConfigMap's data now (``None`` when it was never readable)."""
        with self._lock:
            now = time.monotonic()
            if now - self._at >= READ_TTL_S:
                self._at = now
                try:
                    if self._token is None:
                        if not (self.layout.kube_dir / "tokens.json").is_file():
                            raise FileNotFoundError("no tokens yet")
                        tokens = kubernetes.ensure_tokens(self.layout)
                        self._token = tokens[kubernetes.VIEWER_CONTEXT]
                    self._data = dict(_call(_url(self.layout), self._token).get("data") or {})
                except (OSError, ValueError, RuntimeError, KeyError):
                    log.debug("cannot read %s/%s yet", NAMESPACE, CONFIGMAP, exc_info=True)
            return None if self._data is None else dict(self._data)


_READERS: dict[str, SettingsReader] = {}
_READERS_LOCK = threading.Lock()


def reader(layout: Layout) -> SettingsReader:
    """The shared :class:`SettingsReader` of the sandbox in ``layout``."""
    with _READERS_LOCK:
        key = str(layout.root)
        if key not in _READERS:
            _READERS[key] = SettingsReader(layout)
        return _READERS[key]


__all__ = ["CONFIGMAP", "NAMESPACE", "SettingsReader", "found", "read_data", "reader",
           "restore", "set_keys"]
