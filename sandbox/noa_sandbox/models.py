"""What ``noa sandbox status`` reports: one :class:`ServiceStatus` per service."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ServiceState = Literal["running", "stopped", "crashed"]


@dataclass(frozen=True)
class ServiceStatus:
    """The observed state of one sandbox service.

    ``detail`` is the server version when running, the reason plus the last lines of the
    service's log when crashed, and a short note when stopped.
    """

    name: str
    state: ServiceState
    pid: int | None
    endpoint: str | None
    detail: str
    optional: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping of the fields."""
        return {
            "name": self.name,
            "state": self.state,
            "pid": self.pid,
            "endpoint": self.endpoint,
            "detail": self.detail,
            "optional": self.optional,
        }


@dataclass(frozen=True)
class SandboxStatus:
    """The state of the whole sandbox in ``state_dir``.

    ``target_file`` is the published ``target.toml`` when it exists, else ``None``.
    ``history`` describes the backfilled Prometheus history (span, past incidents with their
    times, past releases) once it exists; ``scenario`` is the simulated NOA Server's current
    scenario (``None`` before the first ``up``).
    """

    state_dir: Path
    services: tuple[ServiceStatus, ...]
    target_file: Path | None
    history: dict[str, Any] | None = None
    scenario: str | None = None

    @property
    def healthy(self) -> bool:
        """True when every service is running (an optional one may also be stopped)."""
        return bool(self.services) and all(
            s.state == "running" or (s.optional and s.state == "stopped") for s in self.services
        )

    def service(self, name: str) -> ServiceStatus:
        """The status of the service called ``name``.

        Raises:
            KeyError: no such service.
        """
        for svc in self.services:
            if svc.name == name:
                return svc
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (paths as strings), e.g. for ``noa sandbox status --json``."""
        return {
            "state_dir": str(self.state_dir),
            "healthy": self.healthy,
            "target_file": None if self.target_file is None else str(self.target_file),
            "services": [s.to_dict() for s in self.services],
            "scenario": self.scenario,
            "history": self.history,
        }
