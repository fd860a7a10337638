"""The data-store half of the sandbox: Redis and the postgres/redis exporters.

:func:`start` brings up what is not running — Redis, then postgres_exporter (after the monitoring
role is in place), then redis_exporter — :func:`stop` stops them by pid (exporters first),
:func:`observe` lists them for ``status`` and :func:`scrape_configs` gives Prometheus their jobs.
The manager (:mod:`noa_sandbox.manager`) calls these under its lock, after PostgreSQL is ready
and before the simulator (a Redis client) and Prometheus start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from noa_sandbox import exporters, processes, redisserver, services
from noa_sandbox.credentials import Credentials
from noa_sandbox.layout import Layout
from noa_sandbox.state import SandboxState, ServiceRecord, save_state

Progress = Callable[[str], None]

REDIS_PORTS = (16700, 16900)
POSTGRES_EXPORTER_PORTS = (16900, 17100)
REDIS_EXPORTER_PORTS = (17100, 17300)
SERVICES = ("redis", "postgres_exporter", "redis_exporter")
"""In start order; :func:`stop` goes the other way."""


def check_binaries() -> None:
    """Fail early with the install hint when a binary is missing.

    Raises:
        PreconditionFailed: ``redis-server`` or an exporter is not installed.
    """
    redisserver.find_binary()
    exporters.find_binary(exporters.POSTGRES_BINARY)
    exporters.find_binary(exporters.REDIS_BINARY)


def start(
    layout: Layout,
    state: SandboxState,
    creds: Credentials,
    say: Progress,
    started: list[str],
) -> SandboxState:
    """Start Redis and the exporters unless they run; names of what started go to ``started``.

    An exporter whose server was (re)started in this ``up`` (``postgres`` or ``redis`` in
    ``started``) is restarted too, so it never keeps reading a stale address.

    State is saved after every start. The caller stops what ``started`` names when a later step
    fails (see :func:`stop`).

    Raises:
        PreconditionFailed / Unavailable / Timeout: a service could not be started.
    """
    pg_port = services.port_of(state.postgres)
    exporters.ensure_monitor_role(
        pg_port,
        superuser_password=creds.pg_superuser_password,
        monitor_password=creds.pg_monitor_password,
    )
    if not _redis_running(state.redis, creds):
        state = _start_redis(layout, state, creds, say)
        started.append("redis")
        save_state(layout.state_file, state)
    redisserver.write_endpoint(layout, services.port_of(state.redis))
    pg_exporter = exporters.find_binary(exporters.POSTGRES_BINARY)
    state = _ensure_exporter(
        layout, state, say, started,
        name="postgres_exporter",
        binary=pg_exporter,
        ports=POSTGRES_EXPORTER_PORTS,
        argv=lambda port: exporters.postgres_command(pg_exporter, port),
        env=exporters.postgres_env(layout, pg_port),
        restart="postgres" in started,
    )
    redis_exporter = exporters.find_binary(exporters.REDIS_BINARY)
    return _ensure_exporter(
        layout, state, say, started,
        name="redis_exporter",
        binary=redis_exporter,
        ports=REDIS_EXPORTER_PORTS,
        argv=lambda port: exporters.redis_command(redis_exporter, port),
        env=exporters.redis_env(services.port_of(state.redis), creds.redis_password),
        restart="redis" in started,
    )


def _start_redis(
    layout: Layout, state: SandboxState, creds: Credentials, say: Progress
) -> SandboxState:
    binary = redisserver.find_binary()
    old = state.redis
    if old.pid is not None:  # alive but not answering: replace it
        processes.terminate_group(old.pid, old.pid_start)
    port = processes.choose_ports(old.port, 1, low=REDIS_PORTS[0], high=REDIS_PORTS[1])
    workdir = redisserver.directory(layout)
    redisserver.write_config(
        layout, redisserver.render_config(port=port, password=creds.redis_password,
                                          workdir=workdir)
    )
    say(f"starting Redis {binary.version} on {processes.LOOPBACK}:{port}…")
    pid, began = redisserver.start(binary, layout)
    state = state.with_service(
        "redis",
        ServiceRecord(port=port, pid=pid, pid_start=began, wanted=True,
                      version=f"Redis {binary.version}"),
    )
    save_state(layout.state_file, state)
    redisserver.wait_ready(port, creds.redis_password, pid, began, layout.log("redis"))
    return state


def _ensure_exporter(
    layout: Layout,
    state: SandboxState,
    say: Progress,
    started: list[str],
    *,
    name: str,
    binary: exporters.Binary,
    ports: tuple[int, int],
    argv: Callable[[int], list[str]],
    env: dict[str, str],
    restart: bool,
) -> SandboxState:
    """(Re)start the exporter ``name`` unless it runs and ``restart`` is false."""
    rec: ServiceRecord = getattr(state, name)
    if not restart and services.alive(rec) and rec.port is not None and exporters.ready(rec.port):
        return state
    if rec.pid is not None:
        processes.terminate_group(rec.pid, rec.pid_start)
    port = processes.choose_ports(rec.port, 1, low=ports[0], high=ports[1])
    label = name.replace("_", "-")
    say(f"starting {label} {binary.version} on {exporters.url(port)}…")
    pid, began = exporters.start(name, argv(port), env, layout)
    state = state.with_service(
        name,
        ServiceRecord(port=port, pid=pid, pid_start=began, wanted=True,
                      version=f"{label} {binary.version}"),
    )
    started.append(name)
    save_state(layout.state_file, state)
    exporters.wait_ready(label, port, pid, began, layout.log(name))
    return state


def stop(
    state: SandboxState, say: Progress, *, only: list[str] | None = None
) -> tuple[SandboxState, list[str]]:
    """Stop the exporters, then Redis (by pid); ``only`` limits it to those names.

    Returns:
        The state with the stopped services' pids forgotten (a survivor's kept) and the names of
        survivors.
    """
    return services.stop(state, [n for n in reversed(SERVICES) if only is None or n in only],
                         say)


@dataclass(frozen=True)
class Observed:
    """What ``status`` needs to judge one service."""

    name: str
    record: ServiceRecord
    port: int | None
    endpoint: str | None


def observe(state: SandboxState) -> list[Observed]:
    """Redis and the exporters as the manager reports them."""
    out = []
    for name in SERVICES:
        rec: ServiceRecord = getattr(state, name)
        if rec.port is None:
            endpoint = None
        elif name == "redis":
            endpoint = f"redis://{processes.LOOPBACK}:{rec.port}/0"
        else:
            endpoint = exporters.url(rec.port)
        out.append(Observed(name, rec, rec.port, endpoint))
    return out


def scrape_configs(state: SandboxState) -> list[dict[str, Any]]:
    """Prometheus jobs for the exporters the state records."""
    return exporters.scrape_configs(state.postgres_exporter.port, state.redis_exporter.port)


def wanted(state: SandboxState) -> bool:
    """True when any of these services is wanted or alive (``down`` has something to do)."""
    return any(getattr(state, n).wanted or services.alive(getattr(state, n)) for n in SERVICES)


def _redis_running(rec: ServiceRecord, creds: Credentials) -> bool:
    return (services.alive(rec) and rec.port is not None
            and redisserver.ping(rec.port, creds.redis_password))


__all__ = [
    "SERVICES",
    "Observed",
    "check_binaries",
    "observe",
    "scrape_configs",
    "start",
    "stop",
    "wanted",
]
