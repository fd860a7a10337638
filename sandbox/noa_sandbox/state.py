"""``state.json`` (what the sandbox started and where) and the lock guarding up/down.

The file is rewritten atomically (temporary file + ``os.replace``) so readers such as
``noa sandbox status`` never see half of it.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from noa_lib.errors import PreconditionFailed
from noa_lib.files import atomic_write_text, exclusive_flock

STATE_VERSION = 1
SERVICE_NAMES = (
    "postgres",
    "s3",
    "prometheus",
    "simulator",
    "alertmanager",
    "kubernetes",
    "redis",
    "postgres_exporter",
    "redis_exporter",
)


@dataclass(frozen=True)
class ServiceRecord:
    """What ``up`` recorded about one service.

    ``wanted`` is True from a successful start until a clean ``down``: a service that is wanted
    but not alive has crashed. ``pid_start`` is the process start time (clock ticks since boot,
    from ``/proc``) so a recycled pid is never mistaken for ours.
    """

    port: int | None = None
    pid: int | None = None
    pid_start: int | None = None
    wanted: bool = False
    version: str = ""


@dataclass(frozen=True)
class IncidentRecord:
    """A past incident in the backfilled history: what, when (unix seconds and UTC text).

    ``kind`` names the effects: a scenario (``error-spike``, ``pool-exhausted``) or
    ``latency-regression`` (a slow release, rolled back).
    """

    name: str
    kind: str
    start: float
    end: float
    start_utc: str
    end_utc: str
    summary: str


@dataclass(frozen=True)
class DeploymentRecord:
    """A past release in the backfilled history (every service moved to ``version`` at ``at``)."""

    version: str
    at: float
    at_utc: str


@dataclass(frozen=True)
class HistoryRecord:
    """What the history backfill wrote into Prometheus' TSDB (``None`` until it has run)."""

    start: float
    end: float
    step_s: int
    series: int
    samples: int
    seconds: float
    incidents: tuple[IncidentRecord, ...] = ()
    deployments: tuple[DeploymentRecord, ...] = ()


@dataclass(frozen=True)
class SandboxState:
    """Everything the sandbox remembers between commands."""

    postgres: ServiceRecord = field(default_factory=ServiceRecord)
    s3: ServiceRecord = field(default_factory=ServiceRecord)
    seeded: bool = False
    seed_rows: int = 0
    prometheus: ServiceRecord = field(default_factory=ServiceRecord)
    simulator: ServiceRecord = field(default_factory=ServiceRecord)
    alertmanager: ServiceRecord = field(default_factory=ServiceRecord)
    kubernetes: ServiceRecord = field(default_factory=ServiceRecord)
    redis: ServiceRecord = field(default_factory=ServiceRecord)
    postgres_exporter: ServiceRecord = field(default_factory=ServiceRecord)
    redis_exporter: ServiceRecord = field(default_factory=ServiceRecord)
    kube_metrics_port: int | None = None
    """The kube-state-metrics port of the Kubernetes API process (chosen before Prometheus
    starts, so its scrape configuration names it)."""
    with_alertmanager: bool = False
    alert_webhook: str = ""
    history: HistoryRecord | None = None

    def with_service(self, name: str, record: ServiceRecord) -> SandboxState:
        """A copy with the record of the service ``name`` replaced."""
        if name not in SERVICE_NAMES:
            raise KeyError(name)
        changes: dict[str, Any] = {name: record}
        return replace(self, **changes)


def load_state(path: Path) -> SandboxState:
    """Read ``state.json``; a missing file is an empty state.

    Raises:
        PreconditionFailed: the file exists but is not a state file we understand.
    """
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return SandboxState()
    except (OSError, ValueError) as exc:
        raise PreconditionFailed(
            f"{path} is unreadable ({exc}); stop stray services by hand and remove the file"
        ) from None
    if not isinstance(raw, dict) or raw.get("version") != STATE_VERSION:
        raise PreconditionFailed(f"{path} has an unknown format; remove the state directory")
    return SandboxState(
        postgres=_record(raw.get("postgres")),
        s3=_record(raw.get("s3")),
        seeded=bool(raw.get("seeded", False)),
        seed_rows=int(raw.get("seed_rows", 0)),
        prometheus=_record(raw.get("prometheus")),
        simulator=_record(raw.get("simulator")),
        alertmanager=_record(raw.get("alertmanager")),
        kubernetes=_record(raw.get("kubernetes")),
        redis=_record(raw.get("redis")),
        postgres_exporter=_record(raw.get("postgres_exporter")),
        redis_exporter=_record(raw.get("redis_exporter")),
        kube_metrics_port=_optional_port(raw.get("kube_metrics_port")),
        with_alertmanager=bool(raw.get("with_alertmanager", False)),
        alert_webhook=str(raw.get("alert_webhook") or ""),
        history=_history(raw.get("history")),
    )


def _optional_port(raw: object) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


def save_state(path: Path, state: SandboxState) -> None:
    """Write ``state.json`` atomically."""
    body = {"version": STATE_VERSION, **asdict(state)}
    atomic_write_text(path, json.dumps(body, indent=2, sort_keys=True) + "\n", mode=0o644)


def exclusive_lock(
    path: Path, *, timeout: float = 180.0
) -> contextlib.AbstractContextManager[None]:
    """Hold an exclusive ``fcntl`` lock on ``path`` for the duration of the block.

    Raises:
        PreconditionFailed: another sandbox command kept the lock for ``timeout`` seconds.
    """
    return exclusive_flock(path, timeout=timeout, interval=0.2, busy=lambda: PreconditionFailed(
        f"another `noa sandbox` command is running on {path.parent} "
        f"(lock {path} held for {timeout:.0f}s); wait for it or stop it"))


def _record(raw: Any) -> ServiceRecord:
    if not isinstance(raw, dict):
        return ServiceRecord()

    def opt_int(key: str) -> int | None:
        value = raw.get(key)
        return int(value) if isinstance(value, int) else None

    return ServiceRecord(
        port=opt_int("port"),
        pid=opt_int("pid"),
        pid_start=opt_int("pid_start"),
        wanted=bool(raw.get("wanted", False)),
        version=str(raw.get("version", "")),
    )


def _history(raw: Any) -> HistoryRecord | None:
    if not isinstance(raw, dict):
        return None
    try:
        return HistoryRecord(
            start=float(raw["start"]),
            end=float(raw["end"]),
            step_s=int(raw["step_s"]),
            series=int(raw["series"]),
            samples=int(raw["samples"]),
            seconds=float(raw["seconds"]),
            incidents=tuple(IncidentRecord(**i) for i in raw.get("incidents", ())),
            deployments=tuple(DeploymentRecord(**d) for d in raw.get("deployments", ())),
        )
    except (KeyError, TypeError, ValueError):
        raise PreconditionFailed(
            "state.json has a malformed history record; remove the state directory"
        ) from None
