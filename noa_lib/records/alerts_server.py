"""``noa alerts serve``: an HTTP receiver for Alertmanager's webhook that runs runbooks.

Endpoints::

    POST /alerts (or /)   Alertmanager webhook JSON (version 4). Every firing alert runs its
                          runbook headless (read-only), tagged with the alert's fingerprint.
    GET  /healthz         {"status": "ok", "queued": n, "running": n, ...}

Answers: 200 with ``{"accepted": [...], "duplicates": [...], "resolved": [...]}``; 400 the body is
not JSON; 401 the shared secret is required and missing or wrong; 404 unknown path; 411 no
``Content-Length``; 413 body larger than ``max_body``; 422 JSON that is not a webhook payload;
503 the run queue is full (Alertmanager retries). A rejected call starts no run.

The optional shared secret is compared with :func:`hmac.compare_digest` against
``Authorization: Bearer <secret>`` (Alertmanager: ``http_config.authorization.credentials_file``).
It is given to the CLI as a reference (``env:NAME`` / ``file:PATH``), never as a literal.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from noa_lib.records import alert_dispatch
from noa_lib.records.alert_dispatch import (
    Dispatcher,
    DispatchSettings,
    PayloadError,
    QueueFull,
    RunFn,
    parse_webhook,
)
from noa_lib.records.catalog import Catalog
from noa_lib.records.redaction import RedactingFilter, Redactor, known_secrets

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20
"""Largest webhook body accepted (1 MiB)."""
WEBHOOK_PATHS = ("/", "/alerts", "/webhook")


@dataclass(frozen=True)
class ServerSettings:
    """Where to listen and how to authenticate; the dispatch settings ride along."""

    host: str = "127.0.0.1"
    port: int = 9095
    shared_secret: str | None = None
    max_body: int = MAX_BODY
    dispatch: DispatchSettings = DispatchSettings()


class AlertsServer(ThreadingHTTPServer):
    """The receiver: an HTTP server owning a :class:`Dispatcher`."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(
        self, settings: ServerSettings, run: RunFn | None = None, catalog: Catalog | None = None
    ) -> None:
        self.settings = settings
        self.dispatcher = Dispatcher(settings.dispatch, run=run, catalog=catalog)
        self._secret = settings.shared_secret.encode() if settings.shared_secret else None
        _mask_logs(settings.shared_secret)
        super().__init__((settings.host, settings.port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def authorized(self, header: str | None) -> bool:
        """Whether ``header`` carries the shared secret (always true without one)."""
        if self._secret is None:
            return True
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(token.strip().encode(), self._secret)

    def start(self) -> threading.Thread:
        """Serve in a background thread (for tests and embedding); returns the thread."""
        thread = threading.Thread(target=self.serve_forever, name="noa-alerts-http", daemon=True)
        thread.start()
        return thread

    def stop(self, timeout: float = 0.0) -> None:
        """Stop serving; running runs get ``timeout`` seconds to finish."""
        self.shutdown()
        self.server_close()
        self.dispatcher.close(timeout)


class _Handler(BaseHTTPRequestHandler):
    server: AlertsServer
    server_version = "noa-alerts"
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a client may take to send its request

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.info("%s %s", self.address_string(), format % args)

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
               ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.split("?", 1)[0] != "/healthz":
            self._reply(404, {"error": "not found; POST alerts to /alerts, GET /healthz"})
            return
        self._reply(200, {"status": "ok", **self.server.dispatcher.stats()})

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.split("?", 1)[0] not in WEBHOOK_PATHS:
            self.close_connection = True
            self._reply(404, {"error": "not found; POST alerts to /alerts"})
            return
        if not self.server.authorized(self.headers.get("Authorization")):
            self.close_connection = True
            self._reply(401, {"error": "missing or wrong bearer token"},
                        {"WWW-Authenticate": 'Bearer realm="noa-alerts"'})
            return
        body = self._body()
        if body is None:
            return
        try:
            jobs = parse_webhook(body, self.server.settings.dispatch.default_runbook)
        except PayloadError as exc:
            status = 400 if "not JSON" in str(exc) else 422
            self._reply(status, {"error": str(exc)})
            return
        try:
            admission = self.server.dispatcher.submit(jobs)
        except QueueFull as exc:
            log.warning("webhook refused: %s", exc)
            self._reply(503, {"error": str(exc)}, {"Retry-After": "30"})
            return
        self._reply(200, admission.as_dict())

    def _body(self) -> bytes | None:
        """The request body, or ``None`` after answering 411/413/400."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            self._reply(411, {"error": "send Content-Length (chunked bodies are not accepted)"})
            return None
        raw = self.headers.get("Content-Length")
        if raw is None:
            self.close_connection = True
            self._reply(411, {"error": "Content-Length required"})
            return None
        try:
            length = int(raw)
        except ValueError:
            self.close_connection = True
            self._reply(400, {"error": "Content-Length is not a number"})
            return None
        limit = self.server.settings.max_body
        if length < 0 or length > limit:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            self._reply(413, {"error": f"body of {length} bytes exceeds {limit} bytes"})
            return None
        return self.rfile.read(length)


def _mask_logs(shared_secret: str | None) -> None:
    """Mask secrets (the shared one, secret-named environment variables, secret-looking text) in
    everything the receiver and its dispatcher log: alert labels, request lines, errors."""
    known = [*known_secrets(None), *([shared_secret] if shared_secret else [])]
    masking = RedactingFilter(Redactor(known))
    for logger in (log, logging.getLogger(alert_dispatch.__name__)):
        for old in [f for f in logger.filters if isinstance(f, RedactingFilter)]:
            logger.removeFilter(old)
        logger.addFilter(masking)


def serve(
    settings: ServerSettings, run: RunFn | None = None, catalog: Catalog | None = None
) -> AlertsServer:
    """Bind the receiver (``port`` 0 picks a free one); call ``serve_forever()`` or ``start()``.

    ``run`` replaces :func:`noa_lib.records.runner.run` and ``catalog`` the runbook catalogue
    (tests and embedding).

    Raises:
        OSError: the address cannot be bound.
    """
    return AlertsServer(settings, run=run, catalog=catalog)


__all__ = ["MAX_BODY", "AlertsServer", "ServerSettings", "serve"]
