"""``up``, ``down`` and ``status`` of the sandbox: the orchestration over the service modules.

State lives in ``state.json``; up/down hold an exclusive lock on the state directory. A service
that ``up`` started and no ``down`` stopped, but whose process is gone or whose port does not
answer, is reported as crashed; the next ``up`` restarts it and keeps its data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from noa_lib.errors import NoaError, PreconditionFailed, Unavailable
from noa_lib.sandbox import postgres, processes, seaweed, seed, target
from noa_lib.sandbox.credentials import Credentials, ensure_credentials, load_credentials, scrub
from noa_lib.sandbox.layout import Layout, default_state_dir
from noa_lib.sandbox.models import SandboxStatus, ServiceStatus
from noa_lib.sandbox.state import (
    SandboxState,
    ServiceRecord,
    exclusive_lock,
    load_state,
    save_state,
)

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

PG_PORTS = (54320, 54999)
S3_PORTS = (20000, 22700)  # + 10004 for admin gRPC stays below the ephemeral range


def status(state_dir: Path | None = None) -> SandboxStatus:
    """Observe the sandbox without changing anything.

    Each service is ``running`` (process alive and port answering), ``stopped`` (never started or
    stopped by :func:`down`) or ``crashed`` (started, not stopped, but dead or not answering;
    ``detail`` then carries the reason and the tail of its log).

    Raises:
        PreconditionFailed: ``state.json`` is unreadable.
    """
    layout = Layout(state_dir if state_dir is not None else default_state_dir())
    return _observe(layout, load_state(layout.state_file))


def up(state_dir: Path | None = None, *, progress: Progress | None = None) -> SandboxStatus:
    """Start the sandbox (PostgreSQL with NOA data, S3) and publish the ``sandbox`` target.

    A no-op when everything already runs; crashed services are restarted with their data. Lines
    for a human go to ``progress``.

    Returns:
        The status after start-up (healthy).

    Raises:
        PreconditionFailed: binaries missing, state directory unusable, no free ports.
        Unavailable / Timeout: a service did not come up (message carries its log tail); whatever
            this call started has been stopped again.
    """
    say = progress or _quiet
    layout = Layout(state_dir if state_dir is not None else default_state_dir())
    layout.root.mkdir(mode=0o755, parents=True, exist_ok=True)
    with exclusive_lock(layout.lock_file):
        state = load_state(layout.state_file)
        current = _observe(layout, state)
        if current.healthy:
            if current.target_file is None:
                target.publish(layout.target_file, _port(state.postgres), _port(state.s3))
            say("sandbox already running")
            return _observe(layout, state)
        for svc in current.services:
            if svc.state == "crashed":
                say(f"{svc.name} crashed; restarting it")
        creds = _prepare(layout)
        try:
            state = _start_all(layout, state, current, creds, say)
        except NoaError as exc:
            exc.args = (scrub(str(exc), creds.values()),)
            raise
        return _observe(layout, state)


def down(state_dir: Path | None = None, *, progress: Progress | None = None) -> SandboxStatus:
    """Stop every service the sandbox started (by pid) and withdraw the ``sandbox`` target.

    Data stays in the state directory for the next :func:`up`. A no-op when nothing runs.

    Returns:
        The status afterwards (everything stopped).

    Raises:
        Unavailable: a process survived SIGKILL.
    """
    say = progress or _quiet
    layout = Layout(state_dir if state_dir is not None else default_state_dir())
    if not layout.root.is_dir():
        return _observe(layout, SandboxState())
    with exclusive_lock(layout.lock_file):
        state = load_state(layout.state_file)
        target.withdraw(layout.target_file)
        s3 = state.s3
        pg = state.postgres
        if not (s3.wanted or pg.wanted or _alive(s3) or _alive(pg)):
            say("sandbox is not running")
            return _observe(layout, state)
        if _alive(s3) and s3.pid is not None:
            say("stopping SeaweedFS…")
            processes.terminate_group(s3.pid, s3.pid_start)
        if s3.port is not None:
            seaweed.remove_stale_sockets(s3.port)
        if _alive(pg):
            say("stopping PostgreSQL…")
            _stop_postgres(layout, pg)
        survivors = [name for name, rec in (("s3", s3), ("postgres", pg)) if _alive(rec)]
        # Forget the pids of what stopped; keep a survivor's so status and down still see it.
        state = replace(
            state,
            s3=s3 if "s3" in survivors else replace(s3, pid=None, pid_start=None, wanted=False),
            postgres=pg
            if "postgres" in survivors
            else replace(pg, pid=None, pid_start=None, wanted=False),
        )
        save_state(layout.state_file, state)
        if survivors:
            raise Unavailable(
                f"sandbox services still running after SIGKILL: {survivors}; see `noa sandbox "
                "status` and stop them by pid"
            )
        say("sandbox stopped")
        return _observe(layout, state)


def _alive(record: ServiceRecord) -> bool:
    return record.pid is not None and processes.is_alive(record.pid, record.pid_start)


def _quiet(line: str) -> None:
    log.info("%s", line)


def _port(record: ServiceRecord) -> int:
    if record.port is None:
        raise PreconditionFailed("state.json lacks a port for a running service; run `down`")
    return record.port


def _prepare(layout: Layout) -> Credentials:
    """Checks and set-up that precede any start."""
    postgres.find_binaries()  # fail early with the install hint
    seaweed.find_weed()
    postgres.validate_location(layout)
    postgres.check_traversable(layout.root, postgres.run_as())
    layout.logs_dir.mkdir(mode=0o755, exist_ok=True)
    layout.s3_dir.mkdir(mode=0o700, exist_ok=True)
    return ensure_credentials(layout.secrets_dir)


def _start_all(
    layout: Layout,
    state: SandboxState,
    current: SandboxStatus,
    creds: Credentials,
    say: Progress,
) -> SandboxState:
    started: list[str] = []
    try:
        if current.service("s3").state != "running":
            state = _start_s3(layout, state, creds, say)
            started.append("s3")
            save_state(layout.state_file, state)
        if current.service("postgres").state != "running":
            state = _start_postgres(layout, state, creds, say)
            started.append("postgres")
            save_state(layout.state_file, state)
        pg_port = _port(state.postgres)
        if not state.seeded:
            rows = seed.seed(pg_port, creds, progress=say)
            state = replace(state, seeded=True, seed_rows=rows)
            save_state(layout.state_file, state)
        say(f"PostgreSQL ready on {processes.LOOPBACK}:{pg_port}")
        s3 = state.s3
        base = _port(s3)
        if "s3" in started and s3.pid is not None and s3.pid_start is not None:
            seaweed.wait_ready(base, creds, s3.pid, s3.pid_start, layout.log("s3"), layout.s3_data)
        seaweed.ensure_buckets(base, creds)
        say(f"S3 ready on {seaweed.endpoint_url(base)}")
        target.publish(layout.target_file, pg_port, base)
        return state
    except BaseException:
        target.withdraw(layout.target_file)
        if "postgres" in started:
            _stop_postgres(layout, state.postgres)
            state = state.with_service("postgres", replace(state.postgres, wanted=False))
        if "s3" in started and state.s3.pid is not None:
            processes.terminate_group(state.s3.pid, state.s3.pid_start)
            state = state.with_service("s3", replace(state.s3, wanted=False))
        save_state(layout.state_file, state)
        raise


def _start_s3(
    layout: Layout, state: SandboxState, creds: Credentials, say: Progress
) -> SandboxState:
    old = state.s3
    if old.pid is not None:  # alive but not answering: replace it
        processes.terminate_group(old.pid, old.pid_start)
    weed = seaweed.find_weed()
    base = processes.choose_ports(
        old.port,
        seaweed.PORT_COUNT,
        low=S3_PORTS[0],
        high=S3_PORTS[1],
        extra_offsets=seaweed.EXTRA_PORT_OFFSETS,
    )
    say(f"starting SeaweedFS S3 on {seaweed.endpoint_url(base)}…")
    pid, started = seaweed.start(weed, layout, base, creds)
    record = ServiceRecord(
        port=base, pid=pid, pid_start=started, wanted=True, version=seaweed.weed_version(weed)
    )
    return state.with_service("s3", record)


def _start_postgres(
    layout: Layout, state: SandboxState, creds: Credentials, say: Progress
) -> SandboxState:
    bins = postgres.find_binaries()
    who = postgres.run_as()
    old = state.postgres
    if old.pid is not None:
        postgres.stop(bins, layout, who, old.pid, old.pid_start)
        postgres.await_remains(layout, old.pid, old.pid_start)
    postgres.prepare_dirs(layout, who)
    if not postgres.is_initialised(layout):
        say(f"initialising PostgreSQL {bins.version} cluster…")
        postgres.initdb(bins, layout, who, creds.pg_superuser_password)
        state = replace(state, seeded=False, seed_rows=0)
    port = processes.choose_ports(old.port, 1, low=PG_PORTS[0], high=PG_PORTS[1])
    postgres.write_config(bins, layout, who, port)
    say(f"starting PostgreSQL on {processes.LOOPBACK}:{port}…")
    pid, started = postgres.start(bins, layout, who)
    record = ServiceRecord(
        port=port, pid=pid, pid_start=started, wanted=True, version=f"PostgreSQL {bins.version}"
    )
    return state.with_service("postgres", record)


def _stop_postgres(layout: Layout, record: ServiceRecord) -> None:
    if record.pid is None:
        return
    bins: postgres.PgBinaries | None
    try:
        bins = postgres.find_binaries()
        who = postgres.run_as()
    except PreconditionFailed:
        # binaries gone: fall back to signals (root may signal the postgres user's processes)
        bins, who = None, postgres.RunAs(uid=0, gid=0, switch_user=False)
    postgres.stop(bins, layout, who, record.pid, record.pid_start)


def _observe(layout: Layout, state: SandboxState) -> SandboxStatus:
    creds = load_credentials(layout.secrets_dir)
    secret_values = creds.values() if creds is not None else ()
    pg, s3 = state.postgres, state.s3
    services = (
        _observe_one(
            "postgres",
            pg,
            pg.port,
            None
            if pg.port is None
            else f"postgresql://{seed.OPS_ROLE}@{processes.LOOPBACK}:{pg.port}/{seed.DATABASE}",
            layout.log("postgres"),
            secret_values,
        ),
        _observe_one(
            "s3",
            s3,
            None if s3.port is None else seaweed.s3_port(s3.port),
            None if s3.port is None else seaweed.endpoint_url(s3.port),
            layout.log("s3"),
            secret_values,
        ),
    )
    target_file = layout.target_file if layout.target_file.is_file() else None
    return SandboxStatus(state_dir=layout.root, services=services, target_file=target_file)


def _observe_one(
    name: str,
    record: ServiceRecord,
    port: int | None,
    endpoint: str | None,
    log_file: Path,
    secret_values: tuple[str, ...],
) -> ServiceStatus:
    alive = _alive(record)
    if not record.wanted and not alive:
        detail = "stopped" if record.version else "never started"
        return ServiceStatus(name=name, state="stopped", pid=None, endpoint=None, detail=detail)
    if not alive:
        reason = f"process {record.pid} is gone without `noa sandbox down`"
    elif port is None or not processes.port_open(port):
        reason = f"process {record.pid} runs but port {port} does not answer"
    else:
        return ServiceStatus(
            name=name, state="running", pid=record.pid, endpoint=endpoint, detail=record.version
        )
    tail = scrub(processes.log_tail(log_file), secret_values)
    detail = f"{reason}; run `noa sandbox up` to restart it. Last lines of {log_file}:\n{tail}"
    return ServiceStatus(
        name=name, state="crashed", pid=record.pid, endpoint=endpoint, detail=detail
    )
