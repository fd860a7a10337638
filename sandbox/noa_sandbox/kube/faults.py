"""Fault injection for tests: the next matching requests fail or are delayed.

``POST /sandbox/faults`` (admin token) with ``{"verb": "patch", "plural": "deployments",
"name": "api", "status": 409, "times": 1}`` makes the next matching request answer 409 (with the
real Conflict message), ``{"verb": "get", "delay_s": 3}`` delays it; ``verb``, ``plural``,
``namespace``, ``name`` are optional filters (``verb`` matches the RBAC verb or the request-log
verb: ``log``, ``proxy``); ``times`` defaults to 1. ``GET`` lists the armed faults, ``DELETE``
clears them. Not under ``/api``, so no client reaches it by accident.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from noa_sandbox.kube.errors import ApiError, bad_request, conflict, from_status

_FIELDS = {"verb", "plural", "namespace", "name", "status", "delay_s", "times", "message"}


@dataclass
class Fault:
    """One armed fault (``times`` counts down to 0)."""

    verb: str | None = None
    plural: str | None = None
    namespace: str | None = None
    name: str | None = None
    status: int | None = None
    delay_s: float = 0.0
    times: int = 1
    message: str | None = None

    def matches(self, verbs: tuple[str, ...], plural: str | None, namespace: str | None,
                name: str | None) -> bool:
        return (
            (self.verb is None or self.verb in verbs)
            and (self.plural is None or self.plural == plural)
            and (self.namespace is None or self.namespace == namespace)
            and (self.name is None or self.name == name)
        )

    def error(self, plural: str | None, group: str, name: str | None) -> ApiError | None:
        """The injected failure (``None`` for a pure delay)."""
        if self.status is None:
            return None
        if self.status == 409 and self.message is None and plural and name:
            return conflict(plural, group, name)
        message = self.message or f"injected fault: HTTP {self.status}"
        return from_status(self.status, message, {"kind": plural} if plural else {})


def parse_fault(body: Any) -> Fault:
    """A :class:`Fault` from a request body; 400 for unknown fields or bad values."""
    if not isinstance(body, dict):
        raise bad_request("a fault must be a JSON object")
    unknown = set(body) - _FIELDS
    if unknown:
        raise bad_request(f"unknown fault fields: {', '.join(sorted(unknown))}; accepted: "
                          f"{', '.join(sorted(_FIELDS))}")
    status = body.get("status")
    if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
        raise bad_request("fault status must be an HTTP error code (400-599)")
    delay = body.get("delay_s", 0)
    times = body.get("times", 1)
    if not isinstance(delay, int | float) or delay < 0 or delay > 300:
        raise bad_request("fault delay_s must be a number of seconds between 0 and 300")
    if not isinstance(times, int) or times < 1:
        raise bad_request("fault times must be a positive integer")
    if status is None and not delay:
        raise bad_request("a fault needs a status, a delay_s, or both")
    return Fault(
        verb=body.get("verb"),
        plural=body.get("plural"),
        namespace=body.get("namespace"),
        name=body.get("name"),
        status=status,
        delay_s=float(delay),
        times=times,
        message=body.get("message"),
    )


class Faults:
    """The armed faults of one server (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def take(self, verbs: tuple[str, ...], plural: str | None, namespace: str | None,
             name: str | None) -> Fault | None:
        """The first fault matching the request, counted down (removed at 0)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(verbs, plural, namespace, name):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


__all__ = ["Fault", "Faults", "parse_fault"]
