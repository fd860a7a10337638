"""The observability half of the sandbox: history backfill, simulator, Prometheus, Alertmanager.

:func:`begin` starts the one-off history backfill in the background (so it overlaps PostgreSQL's
seeding), :func:`start` brings up whatever is not running — simulator, then Alertmanager (when
wanted), then Prometheus — and applies configuration changes to running servers by reload,
:func:`stop` stops them by pid, :func:`observe` lists them for ``status``. The manager
(:mod:`noa_sandbox.manager`) calls these under its lock.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from noa_sandbox import alertmanager, datastores, history, processes, prometheus, services
from noa_sandbox.layout import Layout
from noa_sandbox.simulator import service as simulator
from noa_sandbox.simulator.spec import WorldSpec, default_spec, read_spec, update_spec
from noa_sandbox.state import HistoryRecord, SandboxState, ServiceRecord, save_state

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

PROMETHEUS_PORTS = (19100, 19400)
SIMULATOR_PORTS = (19400, 19700)
ALERTMANAGER_PORTS = (19700, 19990)
ALERTMANAGER_ENV = "NOA_SANDBOX_ALERTMANAGER"
HISTORY_ENV = "NOA_SANDBOX_HISTORY"
"""``0`` skips the history backfill of a new sandbox (private sandboxes in tests and benchmarks)."""
SERVICES = ("prometheus", "simulator", "alertmanager")
OPTIONAL = frozenset({"alertmanager"})


@dataclass(frozen=True)
class Options:
    """What ``up`` should run: Alertmanager or not, its webhook, the alert rules to load."""

    alertmanager: bool
    webhook: str
    rules_source: Path | None


def options(state: SandboxState, *, with_alertmanager: bool | None, webhook: str | None) -> Options:
    """The wanted set-up: explicit arguments, else what the last ``up`` chose, else defaults.

    Alertmanager defaults to off unless ``NOA_SANDBOX_ALERTMANAGER=1``.

    Raises:
        ParameterError: ``webhook`` is not an http(s) URL.
    """
    if with_alertmanager is None:
        env = os.environ.get(ALERTMANAGER_ENV, "").strip().lower() in ("1", "true", "yes")
        with_alertmanager = state.with_alertmanager or env
    hook = webhook or state.alert_webhook or alertmanager.DEFAULT_WEBHOOK_URL
    return Options(
        alertmanager=with_alertmanager,
        webhook=alertmanager.validate_webhook(hook),
        rules_source=prometheus.default_rules_source(),
    )


def settled(state: SandboxState, opts: Options) -> bool:
    """True when the running services already match ``opts`` (Alertmanager on/off, webhook)."""
    am_alive = services.alive(state.alertmanager)
    if opts.alertmanager != am_alive:
        return False
    return not opts.alertmanager or state.alert_webhook == opts.webhook


class Pending:
    """A history backfill running in the background (or nothing to do)."""

    def __init__(self, future: Future[HistoryRecord] | None, pool: ThreadPoolExecutor | None):
        self._future = future
        self._pool = pool

    def abandon(self) -> None:
        """Wait for a running backfill and drop its outcome (``up`` failed elsewhere)."""
        try:
            self.result()
        except Exception as exc:  # noqa: BLE001 - the other failure is the one reported
            log.info("history backfill abandoned: %s", exc)

    def result(self) -> HistoryRecord | None:
        """Wait for the backfill; its record, or ``None`` when none was needed.

        Raises:
            Unavailable: promtool failed.
        """
        try:
            return None if self._future is None else self._future.result()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


def begin(layout: Layout, state: SandboxState, say: Progress) -> Pending:
    """Check the binaries and, on the first ``up``, start the history backfill in the background.

    Raises:
        PreconditionFailed: ``prometheus``/``promtool`` missing.
    """
    bins = prometheus.find_binaries()
    if state.history is not None or services.alive(state.prometheus):
        return Pending(None, None)
    if os.environ.get(HISTORY_ENV, "1").strip() == "0":
        say(f"no history backfill ({HISTORY_ENV}=0)")
        done: Future[HistoryRecord] = Future()
        done.set_result(history.empty())
        return Pending(done, None)
    layout.prometheus_dir.mkdir(parents=True, exist_ok=True)
    # Data without a history record is what an interrupted first start left: start afresh.
    shutil.rmtree(layout.prometheus_data, ignore_errors=True)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="noa-history")
    future = pool.submit(
        history.backfill,
        bins.promtool,
        layout.prometheus_data,
        layout.prometheus_dir / "backfill.tmp",
        progress=say,
    )
    return Pending(future, pool)


def start(
    layout: Layout, state: SandboxState, opts: Options, pending: Pending, say: Progress
) -> SandboxState:
    """Start what is not running (simulator, Alertmanager, Prometheus) and apply config changes.

    State is saved after every step, so a failure leaves nothing unrecorded; whatever this call
    started is stopped again before the error propagates.

    Raises:
        PreconditionFailed / Unavailable / Timeout: a service could not be started.
    """
    started: list[str] = []
    try:
        record = pending.result()
        if record is not None:
            state = replace(state, history=record)
            save_state(layout.state_file, state)
        # A clean start (after `down`) begins normal; a crash restart keeps the scenario.
        _ensure_world(layout, state.history, fresh=not state.simulator.wanted, say=say)
        if not _running(state.simulator, simulator.ready):
            state = _start_simulator(layout, state, say)
            started.append("simulator")
            save_state(layout.state_file, state)
            sim = state.simulator
            assert sim.port is not None and sim.pid is not None and sim.pid_start is not None
            simulator.wait_ready(sim.port, sim.pid, sim.pid_start, layout.log("simulator"))
        state = _reconcile_alertmanager(layout, state, opts, say, started)
        state = _start_or_reload_prometheus(layout, state, opts, say, started)
        return state
    except BaseException:
        for name in reversed(started):
            rec = getattr(state, name)
            if rec.pid is not None:
                processes.terminate_group(rec.pid, rec.pid_start)
            state = state.with_service(name, replace(rec, wanted=False))
        save_state(layout.state_file, state)
        raise


def _ensure_world(
    layout: Layout, record: HistoryRecord | None, *, fresh: bool, say: Progress
) -> None:
    """Write the world file if missing; its growth epoch is the history's start.

    ``fresh`` (the simulator was stopped cleanly or never ran) resets the scenario to normal.
    """

    def adjust(spec: WorldSpec) -> WorldSpec:
        updated = spec
        if record is not None and record.series > 0:
            updated = replace(updated, epoch=record.start)
        if fresh and spec.scenario != "normal":
            say(f"scenario {spec.scenario} ended with the last `down`; starting normal")
            updated = replace(updated, scenario="normal", since=time.time())
        return updated

    update_spec(layout.world_file, adjust, broken=default_spec)  # locked: the cluster writes too


def _start_simulator(layout: Layout, state: SandboxState, say: Progress) -> SandboxState:
    old = state.simulator
    if old.pid is not None:
        processes.terminate_group(old.pid, old.pid_start)
    port = processes.choose_ports(old.port, 1, low=SIMULATOR_PORTS[0], high=SIMULATOR_PORTS[1])
    say(f"starting the NOA Server simulator on {simulator.url(port)}…")
    pid, began = simulator.start(layout, port)
    rec = ServiceRecord(port=port, pid=pid, pid_start=began, wanted=True, version=simulator.VERSION)
    return state.with_service("simulator", rec)


def _reconcile_alertmanager(
    layout: Layout, state: SandboxState, opts: Options, say: Progress, started: list[str]
) -> SandboxState:
    rec = state.alertmanager
    if not opts.alertmanager:
        if services.alive(rec) and rec.pid is not None:
            say("stopping Alertmanager (not wanted)…")
            processes.terminate_group(rec.pid, rec.pid_start)
        state = replace(state, with_alertmanager=False)
        return state.with_service(
            "alertmanager", replace(rec, pid=None, pid_start=None, wanted=False)
        )
    binary = alertmanager.find_binary()
    layout.alertmanager_dir.mkdir(parents=True, exist_ok=True)
    changed = alertmanager.write_config(layout, alertmanager.render_config(opts.webhook))
    state = replace(state, alert_webhook=opts.webhook, with_alertmanager=True)
    if _running(rec, alertmanager.ready):
        if changed:
            say(f"Alertmanager now routes alerts to {opts.webhook}")
            alertmanager.reload(services.port_of(rec))
        return state
    if rec.pid is not None:
        processes.terminate_group(rec.pid, rec.pid_start)
    port = processes.choose_ports(
        rec.port, 1, low=ALERTMANAGER_PORTS[0], high=ALERTMANAGER_PORTS[1]
    )
    say(f"starting Alertmanager on {alertmanager.url(port)} (alerts to {opts.webhook})…")
    pid, began = alertmanager.start(binary, layout, port)
    version = f"Alertmanager {binary.version}"
    state = state.with_service(
        "alertmanager",
        ServiceRecord(port=port, pid=pid, pid_start=began, wanted=True, version=version),
    )
    started.append("alertmanager")
    save_state(layout.state_file, state)
    alertmanager.wait_ready(port, pid, began, layout.log("alertmanager"))
    return state


def _start_or_reload_prometheus(
    layout: Layout, state: SandboxState, opts: Options, say: Progress, started: list[str]
) -> SandboxState:
    bins = prometheus.find_binaries()
    rules, note = prometheus.install_rules(bins, layout, opts.rules_source)
    digest = ""
    if rules:
        digest = hashlib.sha256(rules[0].read_bytes()).hexdigest()[:16]
    rec = state.prometheus
    running = _running(rec, prometheus.ready)
    if running:
        port = services.port_of(rec)
    else:
        if rec.pid is not None:
            processes.terminate_group(rec.pid, rec.pid_start)
        port = processes.choose_ports(
            rec.port, 1, low=PROMETHEUS_PORTS[0], high=PROMETHEUS_PORTS[1]
        )
    am = state.alertmanager
    text = prometheus.render_config(
        simulator_port=services.port_of(state.simulator),
        kube_metrics_port=state.kube_metrics_port,
        own_port=port,
        alertmanager_port=am.port if opts.alertmanager else None,
        rule_files=rules,
        rules_digest=digest,
        extra_scrape_configs=datastores.scrape_configs(state),
    )
    changed = prometheus.write_config(layout, text)
    if running:
        if changed:
            say(f"reloading Prometheus configuration ({note})")
            prometheus.reload(port)
        return state
    say(f"starting Prometheus on {prometheus.url(port)} ({note})…")
    pid, began = prometheus.start(bins, layout, port)
    state = state.with_service(
        "prometheus",
        ServiceRecord(
            port=port, pid=pid, pid_start=began, wanted=True, version=f"Prometheus {bins.version}"
        ),
    )
    started.append("prometheus")
    save_state(layout.state_file, state)
    prometheus.wait_ready(port, pid, began, layout.log("prometheus"))
    return state


def stop(state: SandboxState, say: Progress) -> tuple[SandboxState, list[str]]:
    """Stop Prometheus, Alertmanager and the simulator (by pid).

    Returns:
        The state with their pids forgotten (a survivor's kept) and the names of survivors.
    """
    return services.stop(state, SERVICES, say)


@dataclass(frozen=True)
class Observed:
    """What ``status`` needs to judge one service."""

    name: str
    record: ServiceRecord
    port: int | None
    endpoint: str | None
    optional: bool


def observe(state: SandboxState) -> list[Observed]:
    """Prometheus, the simulator and Alertmanager as the manager reports them."""
    endpoints: dict[str, Callable[[int], str]] = {
        "prometheus": prometheus.url,
        "simulator": simulator.url,
        "alertmanager": alertmanager.url,
    }
    out = []
    for name in SERVICES:
        rec: ServiceRecord = getattr(state, name)
        endpoint = None if rec.port is None else endpoints[name](rec.port)
        out.append(Observed(name, rec, rec.port, endpoint, name in OPTIONAL))
    return out


def urls(state: SandboxState) -> tuple[str | None, str | None]:
    """The Prometheus URL and, when it runs, the Alertmanager URL to publish in the target."""
    prom, am = state.prometheus, state.alertmanager
    prom_url = None if prom.port is None else prometheus.url(prom.port)
    am_url = alertmanager.url(am.port) if am.port is not None and services.alive(am) else None
    return prom_url, am_url


def scenario_name(layout: Layout) -> str | None:
    """The scenario in the world file, or ``None`` before the first ``up`` (or unreadable)."""
    if not layout.world_file.is_file():
        return None
    try:
        return read_spec(layout.world_file).scenario
    except (OSError, ValueError):
        return None


def wanted(state: SandboxState) -> bool:
    """True when any of these services is wanted or alive (``down`` has something to do)."""
    return any(getattr(state, n).wanted or services.alive(getattr(state, n)) for n in SERVICES)


def _running(rec: ServiceRecord, ready: Callable[[int], bool]) -> bool:
    return services.alive(rec) and rec.port is not None and ready(rec.port)


__all__ = [
    "Observed",
    "Options",
    "Pending",
    "begin",
    "observe",
    "options",
    "settled",
    "scenario_name",
    "start",
    "stop",
    "urls",
    "wanted",
]
