"""A local HTTP receiver standing in for Slack, PagerDuty, a status page and a webhook in tests.

It records every request (method, path, headers, raw body, JSON body) and answers like the service
it imitates: PagerDuty's Events API with ``202 {"status": "success", ...}``, a status page's
``POST …/incidents`` with ``201`` and the new incident's ``id``, everything else with ``200``.
``fail[path_prefix] = code`` makes requests under that prefix answer ``code``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    raw: str
    json: Any


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)

    def on(self, prefix: str) -> list[Received]:
        return [r for r in self.requests if r.path.startswith(prefix)]


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A receiver on a free loopback port, stopped on exit."""
    state = Receiver(url="")
    counter = iter(range(1, 10_000))

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", "replace")
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            state.requests.append(Received(self.command, self.path, dict(self.headers.items()),
                                           raw, body))
            code, answer = 200, {"ok": True}
            if self.path.startswith("/pagerduty"):
                code = 202
                answer = {"status": "success", "message": "Event processed",
                          "dedup_key": (body or {}).get("dedup_key")}
            elif self.path.startswith("/statuspage") and self.command == "POST":
                code, answer = 201, {"id": f"sp{next(counter)}", **(body or {}).get("incident", {})}
            for prefix, failing in state.fail.items():
                if self.path.startswith(prefix):
                    code, answer = failing, {"error": "injected failure"}
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_PATCH = do_PUT = _handle

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def sinks_toml(target: str, url: str, *, refused_url: str | None = None) -> str:
    """``[targets.<target>.notifications.*]`` for one sink of each kind at ``url`` (secrets
    from ``NOTIFY_SLACK_URL``, ``NOTIFY_PD_KEY``, ``NOTIFY_SP_TOKEN``, ``NOTIFY_HOOK_TOKEN``), plus
    a ``dead`` webhook at ``refused_url`` when given."""
    text = f"""
[targets.{target}.notifications.chat]
kind = "slack"
url = "env:NOTIFY_SLACK_URL"

[targets.{target}.notifications.pager]
kind = "pagerduty"
url = "{url}/pagerduty/v2/enqueue"
routing_key = "env:NOTIFY_PD_KEY"

[targets.{target}.notifications.status]
kind = "statuspage"
url = "{url}/statuspage/v1/pages/page1"
token = "env:NOTIFY_SP_TOKEN"

[targets.{target}.notifications.audit]
kind = "webhook"
url = "{url}/hook"
token = "env:NOTIFY_HOOK_TOKEN"
timeout = 3
"""
    if refused_url:
        text += f"""
[targets.{target}.notifications.dead]
kind = "webhook"
url = "{refused_url}"
timeout = 2
"""
    return text
