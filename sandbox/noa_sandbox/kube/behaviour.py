"""NOA Server's HTTP behaviour behind the sandbox's service and pod proxy.

:class:`Behaviour` answers a :class:`~.hooks.ProxyRequest` as the NOA Server release of one of the
Ready pods behind the service would (picked at random, as kube-proxy does):

- ``GET /healthz`` -> 200 ``{"status": "ok", "version", "pod"}``; ``GET /readyz`` -> 200, or 503
  while the database pool is exhausted; ``GET /version``;
- ``POST /api/v1/auth/login`` with ``{"username", "password"}`` (any non-empty password in the
  sandbox) -> 200 ``{"token"}``, 401 when a field is missing; ``GET /api/v1/users/me`` with
  ``Authorization: Bearer <token>`` -> 200, else 401 (through the API server's proxy the
  ``Authorization`` header is the API server's own, so send ``X-Noa-Authorization: Bearer
  <token>`` there);
- ``POST /api/v1/chat`` -> 200, or 500 with the pod's modelled error share when a bad release or
  a scenario adds errors, 503 while the AI provider is down;
- ``GET /api/v1/migrations`` -> ``{"applied": [...], "pending": [...]}`` for the pod's release.

The real server sends ``X-Noa-Version``/``X-Noa-Pod`` headers; a proxy answer here has only status,
body and content type, so every JSON body carries ``"served_by": {"pod", "version"}`` instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from noa_sandbox.kube.hooks import Obj, ProxyRequest, ProxyResponse
from noa_sandbox.kube.worldsync import component, pod_version
from noa_sandbox.releases import migrations_of
from noa_sandbox.simulator import catalog
from noa_sandbox.simulator.catalog import Pod
from noa_sandbox.simulator.spec import WorldSpec

COMMITS = {v: hashlib.sha1(v.encode()).hexdigest()[:12] for v in catalog.RELEASES}  # noqa: S324


class Behaviour:
    """The proxy hook: ``behaviour(request) -> response``. Thread-safe."""

    def __init__(self, world: Callable[[], WorldSpec], *, seed: int | None = None) -> None:
        self._world = world
        self._rng = random.Random(seed)  # noqa: S311 - load balancing and error draws
        self._key = secrets.token_bytes(32)

    def __call__(self, request: ProxyRequest) -> ProxyResponse:
        if not request.pods:
            return _json(503, {"error": "no endpoints available"})
        pod = self._rng.choice(request.pods)
        return self.answer(pod, request)

    # ------------------------------------------------------------------ one pod

    def answer(self, pod: Obj, request: ProxyRequest) -> ProxyResponse:
        """What ``pod`` answers to ``request``."""
        spec = self._world()
        version = pod_version(pod)
        service = component(pod) or "api"
        name = str(pod["metadata"]["name"])
        served = {"pod": name, "version": version}
        sim_pod = Pod(name, service, version)
        effects = spec.effects_for(sim_pod)
        path = urlsplit(request.path).path.rstrip("/") or "/"
        method = request.method.upper()

        def reply(status: int, body: dict[str, Any]) -> ProxyResponse:
            return _json(status, {**body, "served_by": served})

        if path == "/healthz" and method in ("GET", "HEAD"):
            return reply(200, {"status": "ok", "version": version, "pod": name})
        if path == "/readyz" and method in ("GET", "HEAD"):
            if service in effects.pool_full:
                return reply(503, {"status": "not ready", "version": version, "pod": name,
                                   "reason": "database pool exhausted"})
            return reply(200, {"status": "ready", "version": version, "pod": name})
        if path == "/version" and method == "GET":
            return reply(200, {"version": version, "commit": _commit(version),
                               "component": service, "pod": name})
        if path == "/api/v1/auth/login":
            if method != "POST":
                return reply(405, {"error": "method not allowed"})
            return self._login(request, reply)
        if path == "/api/v1/users/me" and method == "GET":
            user = self._user(request.headers)
            if user is None:
                return reply(401, {"error": "missing or invalid bearer token"})
            return reply(200, {"username": user, "id": _user_id(user), "role": "member"})
        if path == "/api/v1/chat":
            if method != "POST":
                return reply(405, {"error": "method not allowed"})
            return self._chat(service, effects, reply)
        if path == "/api/v1/migrations" and method == "GET":
            expected = migrations_of(spec, version)
            applied = list(spec.migrations_applied)
            pending = [m for m in expected if m not in spec.migrations_applied]
            return reply(200, {"applied": applied, "pending": pending, "version": version})
        return reply(404, {"error": f"no route for {method} {path}"})

    def _login(self, request: ProxyRequest, reply: Callable[[int, dict[str, Any]], ProxyResponse]
               ) -> ProxyResponse:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return reply(400, {"error": "body must be JSON"})
        if not isinstance(body, dict):
            return reply(400, {"error": "body must be a JSON object"})
        user, password = body.get("username"), body.get("password")
        if not isinstance(user, str) or not user or not isinstance(password, str) or not password:
            return reply(401, {"error": "username and password are required"})
        return reply(200, {"token": self._token(user), "token_type": "bearer",
                           "expires_in": 3600})

    def _token(self, user: str) -> str:
        encoded = base64.urlsafe_b64encode(user.encode()).decode().rstrip("=")
        mac = hmac.new(self._key, encoded.encode(), hashlib.sha256).hexdigest()[:32]
        return f"noa.{encoded}.{mac}"

    def _user(self, headers: Any) -> str | None:
        value = ""
        for key, item in dict(headers).items():
            # the API server proxy consumes Authorization (it is not forwarded, as in a real
            # cluster): callers going through it send the app token as X-Noa-Authorization
            if str(key).lower() in ("authorization", "x-noa-authorization"):
                value = str(item)
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer":
            return None
        parts = token.strip().split(".")
        if len(parts) != 3 or parts[0] != "noa":
            return None
        mac = hmac.new(self._key, parts[1].encode(), hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(mac, parts[2]):
            return None
        try:
            return base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)).decode()
        except ValueError:
            return None

    def _chat(self, service: str, effects: Any,
              reply: Callable[[int, dict[str, Any]], ProxyResponse]) -> ProxyResponse:
        if effects.ai_down:
            return reply(503, {"error": f"AI provider {effects.ai_down} unavailable "
                                        "(circuit breaker open)"})
        share = effects.error_5xx.get(service)
        if share and self._rng.random() < share:
            return reply(500, {"error": "internal server error",
                               "request_id": f"{self._rng.getrandbits(64):016x}"})
        return reply(200, {"reply": "Hello from NOA.", "model": "gpt-4o",
                           "usage": {"prompt_tokens": 12, "completion_tokens": 5}})


def _json(status: int, body: dict[str, Any]) -> ProxyResponse:
    return ProxyResponse(status=status, body=json.dumps(body).encode(),
                         content_type="application/json")


def _commit(version: str) -> str:
    return COMMITS.get(version) or hashlib.sha1(version.encode()).hexdigest()[:12]  # noqa: S324


def _user_id(user: str) -> int:
    return int(hashlib.sha256(user.encode()).hexdigest()[:6], 16)


__all__ = ["Behaviour"]
