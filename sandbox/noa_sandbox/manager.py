"""``up``, ``down`` and ``status`` of the sandbox: the orchestration over the service modules.

State lives in ``state.json``; up/down hold an exclusive lock on the state directory. A service
that ``up`` started and no ``down`` stopped, but whose process is gone or whose port does not
answer, is reported as crashed; the next ``up`` restarts it and keeps its data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

from noa_lib.clients import pgserver
from noa_lib.errors import NoaError, PreconditionFailed, Unavailable
from noa_sandbox import (
    approle,
    causes,
    datastores,
    kubernetes,
    monitoring,
    postgres,
    processes,
    prometheus,
    seaweed,
    seed,
    services,
    target,
    walarchive,
)
from noa_sandbox.credentials import Credentials, ensure_credentials, load_credentials, scrub
from noa_sandbox.history import describe as describe_history
from noa_sandbox.layout import Layout, default_state_dir
from noa_sandbox.models import SandboxStatus, ServiceStatus
from noa_sandbox.state import (
    SandboxState,
    ServiceRecord,
    exclusive_lock,
    load_state,
    save_state,
)

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

PG_PORTS = (54320, 54999)
KUBE_PORTS = kubernetes.PORTS
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


def up(
    state_dir: Path | None = None,
    *,
    progress: Progress | None = None,
    with_alertmanager: bool | None = None,
    alert_webhook: str | None = None,
    load_data: bool = True,
) -> SandboxStatus:
    """Start the sandbox and publish the ``sandbox`` target.

    PostgreSQL with NOA data, S3, the simulated NOA Server and Prometheus (history backfilled on
    the first start); Alertmanager too when ``with_alertmanager`` (remembered until changed;
    ``None`` keeps the last choice, or ``NOA_SANDBOX_ALERTMANAGER=1``), routing alerts to
    ``alert_webhook`` (default: ``noa alerts serve`` on port 9095).

    A no-op when everything already runs (changed alert rules are reloaded); crashed services are
    restarted with their data. Lines for a human go to ``progress``. ``load_data=False`` skips
    loading the NOA schema and data into a fresh cluster (tests that only need a server; a later
    ``up`` loads it). WAL is archived into the backup bucket and, when the cluster has no base
    backup there yet, one is taken, so PITR works from the first ``up``.

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
        opts = monitoring.options(
            state, with_alertmanager=with_alertmanager, webhook=alert_webhook
        )
        if current.healthy and monitoring.settled(state, opts):
            state = _reserve_kube_metrics_port(state, current)
            state = monitoring.start(layout, state, opts, monitoring.Pending(None, None), say)
            save_state(layout.state_file, state)
            if current.target_file is None:
                _publish(layout, state)
            if state.kubernetes.port is not None:  # new contexts reach the running API server
                kubernetes.write_kubeconfig(layout, state.kubernetes.port)
            creds = ensure_credentials(layout.secrets_dir)
            try:
                _reconcile_archiving(layout, state, creds, say)
                _ensure_app_role(layout, state, creds, say)
                _ensure_base_backup(layout, say)
            except NoaError as exc:
                exc.args = (scrub(str(exc), creds.values()),)
                raise
            say("sandbox already running")
            return _observe(layout, state)
        for svc in current.services:
            if svc.state == "crashed":
                say(f"{svc.name} crashed; restarting it")
        creds = _prepare(layout)
        try:
            state = _start_all(layout, state, current, creds, opts, say, load_data=load_data)
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
        try:
            causes.clear(layout)  # what a scenario created (held sessions, helper processes…)
        except Exception as exc:  # noqa: BLE001 - stopping the sandbox goes on regardless
            say(f"removing the scenario's cause failed ({exc}); see {causes.causes_file(layout)}")
        s3 = state.s3
        pg = state.postgres
        kube = state.kubernetes
        if not (s3.wanted or pg.wanted or services.alive(s3) or services.alive(pg)
                or monitoring.wanted(state) or kube.wanted or services.alive(kube)
                or datastores.wanted(state)):
            say("sandbox is not running")
            return _observe(layout, state)
        if services.alive(kube) and kube.pid is not None:
            say("stopping the Kubernetes API…")
            processes.terminate_group(kube.pid, kube.pid_start)  # flushes its store on SIGTERM
        kube_survivors = ["kubernetes"] if services.alive(kube) else []
        if not kube_survivors:
            state = state.with_service(
                "kubernetes", replace(kube, pid=None, pid_start=None, wanted=False)
            )
        state, monitoring_survivors = monitoring.stop(state, say)
        state, datastore_survivors = datastores.stop(state, say)
        monitoring_survivors += datastore_survivors
        # PostgreSQL first: its shutdown checkpoint archives the last WAL segment to S3
        if services.alive(pg):
            say("stopping PostgreSQL…")
            _stop_postgres(layout, pg)
        if services.alive(s3) and s3.pid is not None:
            say("stopping SeaweedFS…")
            processes.terminate_group(s3.pid, s3.pid_start)
        if s3.port is not None:
            seaweed.remove_stale_sockets(s3.port)
        survivors = [name for name, rec in (("s3", s3), ("postgres", pg)) if services.alive(rec)]
        survivors += monitoring_survivors + kube_survivors
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


def _quiet(line: str) -> None:
    log.info("%s", line)


def _first_scrapes(state: SandboxState, say: Progress) -> None:
    """Wait (bounded) for Prometheus' first scrape of every target: runbooks started right after
    ``up`` then see live series, not a gap after the history."""
    if state.prometheus.port is None or not services.alive(state.prometheus):
        return
    pending = prometheus.wait_scraped(state.prometheus.port)
    if pending:
        say(f"Prometheus has not scraped {', '.join(pending)} yet")


def _prepare(layout: Layout) -> Credentials:
    """Checks and set-up that precede any start."""
    pgserver.find_binaries()  # fail early with the install hint
    seaweed.find_weed()
    walarchive.check_tools()
    datastores.check_binaries()
    postgres.validate_location(layout)
    pgserver.check_traversable(layout.root, pgserver.run_as())
    layout.logs_dir.mkdir(mode=0o755, exist_ok=True)
    layout.s3_dir.mkdir(mode=0o700, exist_ok=True)
    return ensure_credentials(layout.secrets_dir)


def _start_all(
    layout: Layout,
    state: SandboxState,
    current: SandboxStatus,
    creds: Credentials,
    opts: monitoring.Options,
    say: Progress,
    *,
    load_data: bool = True,
) -> SandboxState:
    started: list[str] = []
    pending = monitoring.begin(layout, state, say)  # the history backfill overlaps the seeding
    try:
        if current.service("s3").state != "running":
            state = _start_s3(layout, state, creds, say)
            started.append("s3")
            save_state(layout.state_file, state)
            s3 = state.s3
            if s3.pid is not None and s3.pid_start is not None:
                # before PostgreSQL starts: its archive_command needs the bucket
                seaweed.wait_ready(
                    services.port_of(s3), creds, s3.pid, s3.pid_start, layout.log("s3"),
                    layout.s3_data,
                )
        base = services.port_of(state.s3)
        seaweed.ensure_buckets(base, creds)
        say(f"S3 ready on {seaweed.endpoint_url(base)}")
        if current.service("postgres").state != "running":
            state = _start_postgres(layout, state, creds, say)
            started.append("postgres")
            save_state(layout.state_file, state)
        pg_port = services.port_of(state.postgres)
        if not load_data and not state.seeded:
            seed.seed(pg_port, creds, progress=say, with_data=False)  # role + empty database
        elif not state.seeded:
            rows = seed.seed(pg_port, creds, progress=say)
            state = replace(state, seeded=True, seed_rows=rows)
            save_state(layout.state_file, state)
        say(f"PostgreSQL ready on {processes.LOOPBACK}:{pg_port}")
        _reconcile_archiving(layout, state, creds, say)  # S3 may have moved while PG ran
        state = datastores.start(layout, state, creds, say, started)  # Redis before simulator
        state = _reserve_kube_metrics_port(state, current)
        save_state(layout.state_file, state)
        state = monitoring.start(layout, state, opts, pending, say)
        if current.service("kubernetes").state != "running":
            started.append("kubernetes")
        state = _start_kubernetes(layout, state, current, say)
        _ensure_app_role(layout, state, creds, say)
        _publish(layout, state)
        _ensure_base_backup(layout, say)
        _first_scrapes(state, say)
        return state
    except BaseException:
        pending.abandon()
        target.withdraw(layout.target_file)
        state, _ = datastores.stop(state, say, only=started)
        if "kubernetes" in started and state.kubernetes.pid is not None:
            processes.terminate_group(state.kubernetes.pid, state.kubernetes.pid_start)
            state = state.with_service("kubernetes", replace(state.kubernetes, wanted=False))
        if "postgres" in started:
            _stop_postgres(layout, state.postgres)
            state = state.with_service("postgres", replace(state.postgres, wanted=False))
        if "s3" in started and state.s3.pid is not None:
            processes.terminate_group(state.s3.pid, state.s3.pid_start)
            state = state.with_service("s3", replace(state.s3, wanted=False))
        save_state(layout.state_file, state)
        raise


def _ensure_app_role(
    layout: Layout, state: SandboxState, creds: Credentials, say: Progress
) -> None:
    """NOA Server's database role, with the password of the Secret its Deployments read."""
    port = state.kubernetes.port
    if port is None:
        return
    secret = kubernetes.get_object(
        layout, port, f"/api/v1/namespaces/{kubernetes.NAMESPACE}/secrets/{approle.SECRET}")
    role, password = approle.decode_credentials(secret)
    if approle.ensure_app_role(services.port_of(state.postgres),
                               superuser_password=creds.pg_superuser_password,
                               role=role, password=password):
        say(f"PostgreSQL role {role} created (password from the Secret {approle.SECRET})")


def _reserve_kube_metrics_port(state: SandboxState, current: SandboxStatus) -> SandboxState:
    """Choose (or keep) the kube-state-metrics port before Prometheus is configured: a running
    API process keeps the one it was started with."""
    if current.service("kubernetes").state == "running" and state.kube_metrics_port is not None:
        return state
    if current.service("kubernetes").state == "running":
        return state  # started before it had a metrics port: nothing to scrape until restarted
    port = processes.choose_ports(state.kube_metrics_port, 1, low=kubernetes.METRICS_PORTS[0],
                                  high=kubernetes.METRICS_PORTS[1])
    return replace(state, kube_metrics_port=port)


def _start_kubernetes(
    layout: Layout, state: SandboxState, current: SandboxStatus, say: Progress
) -> SandboxState:
    """Start the Kubernetes API (simulated cluster) unless it runs; wait for NOA Server's
    Deployments to roll out; (re)write the kubeconfig."""
    old = state.kubernetes
    if current.service("kubernetes").state == "running" and old.port is not None:
        kubernetes.write_kubeconfig(layout, old.port)
        return state
    if old.pid is not None:  # alive but not answering: replace it
        processes.terminate_group(old.pid, old.pid_start)
    port = processes.choose_ports(old.port, 1, low=KUBE_PORTS[0], high=KUBE_PORTS[1])
    say(f"starting the Kubernetes API on {kubernetes.url(port)}…")
    pid, began = kubernetes.start(layout, port, state.kube_metrics_port)
    state = state.with_service(
        "kubernetes",
        ServiceRecord(port=port, pid=pid, pid_start=began, wanted=True,
                      version=kubernetes.VERSION),
    )
    save_state(layout.state_file, state)
    kubernetes.wait_ready(port, pid, began, layout.log("kubernetes"))
    kubernetes.write_kubeconfig(layout, port)
    say("waiting for NOA Server's deployments (api, worker, web) to roll out…")
    kubernetes.wait_deployments(layout, port)
    say(f"Kubernetes API ready on {kubernetes.url(port)} (kubeconfig {layout.kubeconfig})")
    return state


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
    bins = pgserver.find_binaries()
    who = pgserver.run_as()
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
    _configure_archive(layout, bins, who, state, creds)
    postgres.write_config(bins, layout, who, port)
    say(f"starting PostgreSQL on {processes.LOOPBACK}:{port}…")
    pid, started = postgres.start(bins, layout, who)
    record = ServiceRecord(
        port=port, pid=pid, pid_start=started, wanted=True, version=f"PostgreSQL {bins.version}"
    )
    return state.with_service("postgres", record)


def _configure_archive(
    layout: Layout,
    bins: pgserver.PgBinaries,
    who: pgserver.RunAs,
    state: SandboxState,
    creds: Credentials,
) -> bool:
    """Write ``wal-push`` for the current S3 endpoint and this cluster; True when it changed."""
    system_id = pgserver.controldata(bins, layout.pg_data).get("Database system identifier", "")
    if not system_id.isdigit():
        raise PreconditionFailed(f"pg_controldata of {layout.pg_data} shows no system identifier")
    dest = walarchive.ArchiveDestination(
        endpoint=seaweed.endpoint_url(services.port_of(state.s3)),
        bucket=seaweed.BACKUP_BUCKET,
        region=seaweed.REGION,
        system_identifier=system_id,
    )
    return walarchive.configure(
        layout,
        who,
        dest,
        access_key_id=creds.s3_access_key_id,
        secret_access_key=creds.s3_secret_access_key,
    )


def _reconcile_archiving(
    layout: Layout, state: SandboxState, creds: Credentials, say: Progress
) -> None:
    """Keep a running server archiving to the current S3 endpoint with the current settings.

    ``wal-push`` is read at every call, so rewriting it is enough when S3 moved; a changed
    ``archive_command`` (e.g. a sandbox from before WAL went to S3) needs a configuration reload.
    """
    bins = pgserver.find_binaries()
    who = pgserver.run_as()
    _configure_archive(layout, bins, who, state, creds)
    if postgres.write_config(bins, layout, who, services.port_of(state.postgres)):
        say("PostgreSQL settings changed (WAL archiving to S3); reloading them")
        postgres.reload(bins, layout, who)


def _ensure_base_backup(layout: Layout, say: Progress) -> None:
    """Take a base backup when the cluster has none in the bucket, as production would have.

    With it, PITR and the WAL checks have something real to work on from the first ``up``.
    """
    from noa_lib.config import load_config
    from noa_lib.ops.backup import basebackup, wal_catalog

    sandbox = load_config(layout.target_file, env={}).target(target.TARGET_NAME)
    if wal_catalog.load_catalog(sandbox).base_backups:
        return
    say("taking a first base backup of the cluster into the backup bucket (for PITR)…")
    result = basebackup.take_base_backup(sandbox)
    say(f"base backup {result.backup.stamp} stored ({result.backup.size_bytes >> 20} MB)")


def _stop_postgres(layout: Layout, record: ServiceRecord) -> None:
    if record.pid is None:
        return
    bins: pgserver.PgBinaries | None
    try:
        bins = pgserver.find_binaries()
        who = pgserver.run_as()
    except PreconditionFailed:
        # binaries gone: fall back to signals (root may signal the postgres user's processes)
        bins, who = None, pgserver.RunAs(uid=0, gid=0, switch_user=False)
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
        *(_observe_monitoring(layout, state, obs, secret_values)
          for obs in monitoring.observe(state)),
        *(_observe_one(obs.name, obs.record, obs.port, obs.endpoint, layout.log(obs.name),
                       secret_values) for obs in datastores.observe(state)),
        _with_metrics_port(state, _observe_one(
            "kubernetes",
            state.kubernetes,
            state.kubernetes.port,
            None if state.kubernetes.port is None else kubernetes.url(state.kubernetes.port),
            layout.log("kubernetes"),
            secret_values,
        )),
    )
    target_file = layout.target_file if layout.target_file.is_file() else None
    record = state.history
    return SandboxStatus(
        state_dir=layout.root,
        services=services,
        target_file=target_file,
        history=None if record is None else {"summary": describe_history(record),
                                             **asdict(record)},
        scenario=monitoring.scenario_name(layout),
    )


def _with_metrics_port(state: SandboxState, status: ServiceStatus) -> ServiceStatus:
    """The Kubernetes API's status, saying where its kube-state-metrics are served."""
    if status.state != "running" or state.kube_metrics_port is None:
        return status
    where = f"http://{processes.LOOPBACK}:{state.kube_metrics_port}/metrics"
    return replace(status, detail=f"{status.detail}; kube-state-metrics on {where}")


def _observe_monitoring(
    layout: Layout, state: SandboxState, obs: monitoring.Observed, secret_values: tuple[str, ...]
) -> ServiceStatus:
    status = _observe_one(
        obs.name, obs.record, obs.port, obs.endpoint, layout.log(obs.name), secret_values
    )
    if status.state == "running":
        extra = {
            "prometheus": None if state.history is None else describe_history(state.history),
            "simulator": f"scenario {monitoring.scenario_name(layout) or 'normal'}",
            "alertmanager": f"alerts to {state.alert_webhook}" if state.alert_webhook else None,
        }[obs.name]
        if extra:
            status = replace(status, detail=f"{status.detail}; {extra}")
    elif status.state == "stopped" and obs.optional:
        status = replace(status, detail="optional: `noa sandbox up --with-alertmanager`")
    return replace(status, optional=obs.optional)


def _publish(layout: Layout, state: SandboxState) -> None:
    """Write ``target.toml`` for the running services."""
    prometheus_url, alertmanager_url = monitoring.urls(state)
    kube = state.kubernetes
    target.publish(
        layout.target_file,
        services.port_of(state.postgres),
        services.port_of(state.s3),
        prometheus_url=prometheus_url,
        alertmanager_url=alertmanager_url,
        kubernetes=None
        if kube.port is None or not services.alive(kube)
        else (layout.kubeconfig, kubernetes.url(kube.port)),
    )


def _observe_one(
    name: str,
    record: ServiceRecord,
    port: int | None,
    endpoint: str | None,
    log_file: Path,
    secret_values: tuple[str, ...],
) -> ServiceStatus:
    alive = services.alive(record)
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
