"""The sandbox's Prometheus: Debian's ``prometheus`` on loopback with a generated configuration.

- scrapes the simulated NOA Server every :data:`SCRAPE_INTERVAL` as job ``noa-server`` (labels
  ``namespace="noa"``, ``instance="noa-server"``, like the backfilled history), and itself as job
  ``prometheus``;
- scrapes the cluster like kube-prometheus-stack does (:func:`infrastructure_jobs`): job
  ``kube-state-metrics`` (the API process's metrics port), job ``kubelet`` — one target per node
  and path (``/metrics/cadvisor``, ``/metrics``) with labels ``node``, ``instance="<node
  ip>:10250"``, ``metrics_path``, ``service="kubelet"``, ``endpoint="https-metrics"`` — and job
  ``node-exporter`` (``instance="<node ip>:9100"``), the last two served by the simulator under
  ``/kubelet/<node>/…`` and ``/node-exporter/<node>/metrics``; all with ``honor_labels``;
  evaluates rules every :data:`EVALUATION_INTERVAL`;
- loads the repository's alert rules (``deploy/prometheus/alerts.yml``, or the file named by
  ``NOA_SANDBOX_ALERT_RULES``) when they exist and ``promtool check rules`` accepts them — a
  checked copy lives in ``<state>/prometheus/rules/`` so a broken edit never stops a restart;
- sends alerts to the sandbox Alertmanager when it runs;
- keeps 400 days (the default 15 d would delete the backfilled history at start-up);
- ``--web.enable-lifecycle``: configuration changes are applied with ``POST /-/reload``.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from noa_lib.files import atomic_write_text
from noa_sandbox import binaries, processes
from noa_sandbox.kube.kubelet import NODE_IPS, NODES
from noa_sandbox.layout import Layout

SCRAPE_INTERVAL = "2s"
EVALUATION_INTERVAL = "2s"
RETENTION = "400d"
JOB = "noa-server"
RULES_ENV = "NOA_SANDBOX_ALERT_RULES"
RULES_NAME = "alerts.yml"
INSTALL_HINT = "install with `apt-get install -y prometheus` (or run `make bootstrap` as root)"
KSM_JOB = "kube-state-metrics"
KSM_INSTANCE = "10.244.1.5:8080"
"""The ``instance`` of the kube-state-metrics target (its pod's address, as on a cluster)."""
KUBELET_PATHS = ("/metrics/cadvisor", "/metrics")
_REPO_RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / RULES_NAME


@dataclass(frozen=True)
class Binaries:
    """``prometheus`` and ``promtool`` and the server's version (``2.42.0``)."""

    prometheus: Path
    promtool: Path
    version: str


def find_binaries() -> Binaries:
    """Locate ``prometheus`` and ``promtool`` on ``PATH`` (Debian puts them in /usr/bin).

    Raises:
        PreconditionFailed: either is missing or does not run.
    """
    server = binaries.find(("prometheus",), what="Prometheus", hint=INSTALL_HINT)
    promtool = binaries.locate(("promtool",), what="promtool", hint=INSTALL_HINT)
    return Binaries(server.path, promtool, server.version)


def url(port: int) -> str:
    return f"http://{processes.LOOPBACK}:{port}"


def default_rules_source() -> Path | None:
    """The alert rules to load: ``NOA_SANDBOX_ALERT_RULES`` or the repository's ``alerts.yml``.

    ``None`` when ``NOA_SANDBOX_ALERT_RULES`` is set to an empty string (no rules).
    """
    explicit = os.environ.get(RULES_ENV)
    if explicit is not None:
        return Path(explicit).expanduser() if explicit else None
    return _REPO_RULES


def install_rules(bins: Binaries, layout: Layout, source: Path | None) -> tuple[list[Path], str]:
    """Check ``source`` with ``promtool check rules`` and copy it into the state directory.

    Returns:
        The rule files for the configuration (empty without usable rules) and a note for the
        user (why rules were skipped, or how many were loaded).
    """
    target = layout.prometheus_rules / RULES_NAME
    layout.prometheus_rules.mkdir(parents=True, exist_ok=True)
    if source is None or not source.is_file():
        target.unlink(missing_ok=True)
        return [], f"no alert rules ({source or 'none configured'} does not exist)"
    try:
        check = subprocess.run(  # noqa: S603
            [str(bins.promtool), "check", "rules", str(source)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        check = subprocess.CompletedProcess([], 1, "", str(exc))
    if check.returncode != 0:
        target.unlink(missing_ok=True)
        detail = (check.stderr or check.stdout).strip().splitlines()
        return [], f"alert rules {source} skipped: promtool check failed ({' '.join(detail[-2:])})"
    text = source.read_text()
    if not target.is_file() or target.read_text() != text:
        atomic_write_text(target, text, mode=0o644)
    found = re.search(r"SUCCESS: (\d+) rules found", check.stdout)
    return [target], f"{found.group(1) if found else 'some'} alert rules from {source}"


def kubelet_labels(node: str, metrics_path: str) -> dict[str, str]:
    """The target labels of the ``kubelet`` job's target for ``node`` and ``metrics_path``."""
    return {"node": node, "instance": f"{NODE_IPS[node]}:10250", "metrics_path": metrics_path,
            "service": "kubelet", "endpoint": "https-metrics"}


def node_exporter_labels(node: str) -> dict[str, str]:
    """The target labels of the ``node-exporter`` job's target for ``node``."""
    return {"instance": f"{NODE_IPS[node]}:9100", "node": node, "service": "node-exporter",
            "endpoint": "http-metrics"}


def infrastructure_jobs(simulator_port: int, kube_metrics_port: int | None) -> list[object]:
    """The scrape configs of kube-state-metrics, the kubelets and node-exporter."""
    simulator = f"{processes.LOOPBACK}:{simulator_port}"
    kubelet_targets = [
        {"targets": [simulator],
         "labels": {"__metrics_path__": f"/kubelet/{node}{path}", **kubelet_labels(node, path)}}
        for node in NODES for path in KUBELET_PATHS
    ]
    node_targets = [
        {"targets": [simulator],
         "labels": {"__metrics_path__": f"/node-exporter/{node}/metrics",
                    **node_exporter_labels(node)}}
        for node in NODES
    ]
    jobs: list[object] = [
        {"job_name": "kubelet", "scrape_interval": SCRAPE_INTERVAL, "honor_labels": True,
         "static_configs": kubelet_targets},
        {"job_name": "node-exporter", "scrape_interval": SCRAPE_INTERVAL, "honor_labels": True,
         "static_configs": node_targets},
    ]
    if kube_metrics_port is not None:
        jobs.insert(0, {
            "job_name": KSM_JOB, "scrape_interval": SCRAPE_INTERVAL, "honor_labels": True,
            "static_configs": [{"targets": [f"{processes.LOOPBACK}:{kube_metrics_port}"],
                                "labels": {"instance": KSM_INSTANCE}}],
        })
    return jobs


def render_config(
    *,
    simulator_port: int,
    kube_metrics_port: int | None = None,
    own_port: int,
    alertmanager_port: int | None,
    rule_files: list[Path],
    rules_digest: str = "",
    extra_scrape_configs: list[dict[str, object]] | None = None,
) -> str:
    """The ``prometheus.yml`` text. ``rules_digest`` (a comment) makes a rules change visible;
    ``extra_scrape_configs`` are appended jobs (the data-store exporters)."""
    config: dict[str, object] = {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "evaluation_interval": EVALUATION_INTERVAL,
        },
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {
                "job_name": JOB,
                "scrape_interval": SCRAPE_INTERVAL,
                "static_configs": [
                    {
                        "targets": [f"{processes.LOOPBACK}:{simulator_port}"],
                        "labels": {"namespace": "noa", "instance": "noa-server"},
                    }
                ],
            },
            *infrastructure_jobs(simulator_port, kube_metrics_port),
            {
                "job_name": "prometheus",
                "scrape_interval": "5s",
                "static_configs": [{"targets": [f"{processes.LOOPBACK}:{own_port}"]}],
            },
        ],
    }
    config["scrape_configs"].extend(extra_scrape_configs or ())  # type: ignore[attr-defined]
    if alertmanager_port is not None:
        target = f"{processes.LOOPBACK}:{alertmanager_port}"
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [target]}]}]}
        config["scrape_configs"].append(  # type: ignore[attr-defined]
            {
                "job_name": "alertmanager",
                "scrape_interval": "5s",
                "static_configs": [{"targets": [target]}],
            }
        )
    header = "# Written by `noa sandbox up` on every start; do not edit.\n"
    if rules_digest:
        header += f"# rules: {rules_digest}\n"
    return header + yaml.safe_dump(config, sort_keys=False)


def write_config(layout: Layout, text: str) -> bool:
    """Write ``prometheus.yml``; returns True when its content changed."""
    path = layout.prometheus_config
    if path.is_file() and path.read_text() == text:
        return False
    atomic_write_text(path, text, mode=0o644)
    return True


def command(bins: Binaries, layout: Layout, port: int) -> list[str]:
    """The argument list of a server on ``port`` using the state directory's config and TSDB."""
    return [
        str(bins.prometheus),
        f"--config.file={layout.prometheus_config}",
        f"--storage.tsdb.path={layout.prometheus_data}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address={processes.LOOPBACK}:{port}",
        "--web.enable-lifecycle",
        f"--web.external-url={url(port)}/",
    ]


def start(bins: Binaries, layout: Layout, port: int) -> tuple[int, int]:
    """Start the server detached; returns ``(pid, start_time)`` without waiting for readiness."""
    layout.prometheus_data.mkdir(parents=True, exist_ok=True)
    return processes.spawn_detached(
        command(bins, layout, port),
        log_file=layout.log("prometheus"),
        env=dict(os.environ),
        cwd=layout.prometheus_dir,
    )


def ready(port: int) -> bool:
    """True when ``/-/ready`` answers 200."""
    return processes.http_ok(f"{url(port)}/-/ready")


def wait_ready(port: int, pid: int, start_time: int, log: Path, *, timeout: float = 60.0) -> None:
    """Wait for ``/-/ready``; raises ``Unavailable`` (exited) or ``Timeout``."""
    processes.require_started(lambda: ready(port), pid=pid, start_time=start_time,
                              what="Prometheus", backend="prometheus", log_file=log,
                              timeout=timeout)



def wait_scraped(port: int, *, timeout: float = 30.0) -> list[str]:
    """Wait until Prometheus has scraped every target once (health no longer ``unknown``), so a
    runbook started right after ``up`` finds live series.

    Returns:
        The targets still unscraped when ``timeout`` ran out (``job instance``), empty when all
        were scraped.
    """
    import json
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    pending = ["?"]
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url(port)}/api/v1/targets", timeout=5  # noqa: S310
                                        ) as rsp:
                targets = json.loads(rsp.read()).get("data", {}).get("activeTargets", [])
        except (OSError, urllib.error.URLError, ValueError):
            targets = []
        pending = [f"{t.get('labels', {}).get('job')} {t.get('labels', {}).get('instance')}"
                   for t in targets if t.get("health") == "unknown"]
        if targets and not pending:
            return []
        time.sleep(0.25)
    return pending


def reload(port: int) -> None:
    """Apply a changed configuration (``POST /-/reload``); raises ``Unavailable`` if refused."""
    processes.lifecycle_reload(url(port), what="Prometheus", backend="prometheus")


__all__ = [
    "Binaries",
    "command",
    "default_rules_source",
    "find_binaries",
    "infrastructure_jobs",
    "kubelet_labels",
    "node_exporter_labels",
    "install_rules",
    "reload",
    "render_config",
    "start",
    "wait_ready",
    "wait_scraped",
    "write_config",
]
