"""A throwaway Prometheus (and Alertmanager) for tests and benchmarks: real Debian binaries on a
free loopback port, history backfilled with promtool from OpenMetrics text we generate.

Used where a test needs data it controls exactly (chunked vs single range queries, the bench's
90 days x 20 series) or a private, mutable stack (alert end to end); read-only checks use the
project sandbox's Prometheus instead. Every process started here is stopped by ``stop()`` (by pid).
"""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))


def openmetrics(series: Iterable[tuple[str, dict[str, str], Sequence[tuple[float, float]]]]) -> str:
    """OpenMetrics text for ``(name, labels, [(unix seconds, value), …])`` series."""
    lines: list[str] = []
    for name, labels, samples in series:
        prefix = f"{name}{{{_labels(labels)}}}"
        lines.extend(f"{prefix} {value:.12g} {ts:.3f}" for ts, value in samples)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def wave(start: float, end: float, step: float, *, base: float, amplitude: float = 0.0,
         period: float = 86400.0, phase: float = 0.0) -> list[tuple[float, float]]:
    """A gauge: ``base + amplitude * sin(…)`` every ``step`` seconds."""
    out = []
    t = start
    while t <= end:
        out.append((t, base + amplitude * math.sin(2 * math.pi * (t / period) + phase)))
        t += step
    return out


def counter(start: float, end: float, step: float, rate: float) -> list[tuple[float, float]]:
    """A counter increasing by ``rate`` per second (with a daily wave)."""
    out = []
    total = 0.0
    t = start
    while t <= end:
        out.append((t, total))
        total += rate * step * (1.0 + 0.3 * math.sin(2 * math.pi * t / 86400.0))
        t += step
    return out


@dataclass
class PromStack:
    """One Prometheus (optionally an Alertmanager) under ``root``."""

    root: Path
    rule_files: Sequence[Path] = ()
    scrape_targets: Sequence[str] = ()  # host:port of /metrics endpoints (job noa-server)
    scrape_interval: str = "1s"
    evaluation_interval: str = "1s"
    alertmanager: bool = False
    webhook_url: str | None = None
    group_wait: str = "1s"
    port: int = 0
    am_port: int = 0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def am_url(self) -> str:
        return f"http://127.0.0.1:{self.am_port}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def backfill(self, text: str) -> None:
        """Write ``text`` (OpenMetrics) into the TSDB with promtool; call before :meth:`start`."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        source = self.root / "backfill.om"
        source.write_text(text)
        subprocess.run(
            [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source),
             str(self.data_dir), "--max-block-duration=744h"],
            check=True, capture_output=True, timeout=900,
        )
        source.unlink()

    def _config(self) -> str:
        config: dict[str, object] = {
            "global": {"scrape_interval": self.scrape_interval,
                       "evaluation_interval": self.evaluation_interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [],
        }
        if self.scrape_targets:
            config["scrape_configs"] = [{
                "job_name": "noa-server",
                "static_configs": [{"targets": list(self.scrape_targets),
                                    "labels": {"namespace": "noa"}}],
            }]
        if self.alertmanager:
            config["alerting"] = {"alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{self.am_port}"]}]}]}
        return json.dumps(config)  # JSON is YAML

    def _am_config(self) -> str:
        receiver: dict[str, object] = {"name": "noa"}
        if self.webhook_url:
            receiver["webhook_configs"] = [{"url": self.webhook_url, "send_resolved": True}]
        return json.dumps({
            "route": {"receiver": "noa", "group_by": ["alertname"], "group_wait": self.group_wait,
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [receiver],
        })

    def start(self, timeout: float = 30.0) -> PromStack:
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(exist_ok=True)
        self.port = self.port or free_port()
        if self.alertmanager:
            self.am_port = self.am_port or free_port()
            (self.root / "alertmanager.yml").write_text(self._am_config())
            (self.root / "am-data").mkdir(exist_ok=True)
            self._spawn("alertmanager", [
                ALERTMANAGER, f"--config.file={self.root / 'alertmanager.yml'}",
                f"--storage.path={self.root / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.am_port}", "--cluster.listen-address=",
            ])
            self._wait(f"{self.am_url}/-/ready", timeout)
        (self.root / "prometheus.yml").write_text(self._config())
        self._spawn("prometheus", [
            PROMETHEUS, f"--config.file={self.root / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.data_dir}", "--storage.tsdb.retention.time=400d",
            f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-lifecycle",
        ])
        self._wait(f"{self.url}/-/ready", timeout)
        return self

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.root / f"{name}.log").open("wb")
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))

    def _wait(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited: {self.logs()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"{url} not ready: {self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in self.root.glob("*.log"))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        self.procs.clear()

    def api(self, path: str) -> object:
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}", timeout=10) as response:
            return json.loads(response.read())["data"]

    def __enter__(self) -> PromStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.5) -> T:
    """Poll ``predicate`` until it returns something true; raises TimeoutError after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")


BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _cdf(le: float, median: float, sigma: float = 0.45) -> float:
    return 0.5 * (1 + math.erf((math.log(le) - math.log(median)) / (sigma * math.sqrt(2))))


@dataclass(frozen=True)
class Knobs:
    """How the simulated NOA Server behaves in a generated history (one scenario)."""

    rps: float = 20.0
    error_fraction: float = 0.004
    latency_median: float = 0.12
    pool_used: float = 0.35
    cpu: float = 0.35
    memory: float = 0.5
    queue: float = 40.0
    cache_hit: float = 0.85
    ai_error: float = 0.01
    disk: float = 0.4
    ooms_per_hour: float = 0.0


SOURCES = ("noa", "cadvisor", "kube_state_metrics", "kubelet", "node_exporter",
           "postgres_exporter", "redis_exporter")
"""The groups of series :func:`contract_history` can write (the catalogue's sources)."""


def contract_history(start: float, end: float, step: float, knobs: Knobs = Knobs(),
                     sources: Sequence[str] = SOURCES,
                     ) -> list[tuple[str, dict[str, str], list[tuple[float, float]]]]:
    """Every metric the catalogue reads, a few series each, following ``knobs``: NOA Server's
    own and the real exporters' (cAdvisor, kube-state-metrics, kubelet volume stats,
    node-exporter, postgres_exporter, redis_exporter) with their real labels, only the groups in
    ``sources``."""
    ns = {"namespace": "noa", "job": "noa-server"}
    times = []
    t = start
    while t <= end:
        times.append(t)
        t += step
    out: list[tuple[str, dict[str, str], list[tuple[float, float]]]] = []

    def cumulative(per_step: float) -> list[tuple[float, float]]:
        return [(ts, per_step * i) for i, ts in enumerate(times)]

    def gauge(value: float) -> list[tuple[float, float]]:
        return [(ts, value) for ts in times]

    def add(source: str, name: str, labels: dict[str, str],
            values: list[tuple[float, float]]) -> None:
        if source in sources:
            out.append((name, labels, values))

    limits = {"api": (1.0, 2**30), "worker": (2.0, 2 * 2**30), "web": (0.5, 2**29)}
    for service in ("api", "worker", "web"):
        pod = f"{service}-7d9f8c6b5d-x{service[0]}2kq"
        for endpoint in ("/v1/chat", "/health"):
            base = {**ns, "service": service, "endpoint": endpoint, "version": "v1", "pod": pod}
            n = knobs.rps * step / 2
            for status, share in (("200", 1 - knobs.error_fraction), ("500", knobs.error_fraction)):
                add("noa", "noa_http_requests_total", {**base, "method": "GET", "status": status},
                    cumulative(n * share))
            for le in BUCKETS:
                add("noa", "noa_http_request_duration_seconds_bucket", {**base, "le": f"{le:g}"},
                    cumulative(n * _cdf(le, knobs.latency_median)))
            add("noa", "noa_http_request_duration_seconds_bucket", {**base, "le": "+Inf"},
                cumulative(n))
            add("noa", "noa_http_request_duration_seconds_count", base, cumulative(n))
            add("noa", "noa_http_request_duration_seconds_sum", base,
                cumulative(n * knobs.latency_median))
        pb = {**ns, "service": service, "pod": pod}
        add("noa", "noa_db_pool_connections_in_use", pb, gauge(round(20 * knobs.pool_used)))
        add("noa", "noa_db_pool_connections_max", pb, gauge(20))
        cores, memory = limits[service]
        container = {"namespace": "noa", "pod": pod, "container": service}
        kubelet = {"job": "kubelet", "node": "node-1", "instance": "10.0.0.1:10250"}
        add("cadvisor", "container_cpu_usage_seconds_total",
            {**kubelet, "metrics_path": "/metrics/cadvisor", **container, "cpu": "total",
             "image": "registry.noa.example/noa-server:v1"},
            cumulative(knobs.cpu * cores * step))
        add("cadvisor", "container_cpu_usage_seconds_total",  # the pod's cgroup: no container
            {**kubelet, "metrics_path": "/metrics/cadvisor", "namespace": "noa", "pod": pod,
             "container": "", "cpu": "total"}, cumulative(knobs.cpu * cores * step))
        add("cadvisor", "container_memory_working_set_bytes",
            {**kubelet, "metrics_path": "/metrics/cadvisor", **container,
             "image": "registry.noa.example/noa-server:v1"}, gauge(knobs.memory * memory))
        ksm = {"job": "kube-state-metrics", "instance": "10.0.0.9:8080", **container,
               "uid": f"uid-{service}", "node": "node-1"}
        for resource, unit, value in (("cpu", "core", cores), ("memory", "byte", memory)):
            add("kube_state_metrics", "kube_pod_container_resource_limits",
                {**ksm, "resource": resource, "unit": unit}, gauge(value))
            add("kube_state_metrics", "kube_pod_container_resource_requests",
                {**ksm, "resource": resource, "unit": unit}, gauge(value / 2))
        restarts = {k: v for k, v in ksm.items() if k != "node"}
        add("kube_state_metrics", "kube_pod_container_status_restarts_total", restarts,
            cumulative(knobs.ooms_per_hour * step / 3600))
        if knobs.ooms_per_hour:
            add("kube_state_metrics", "kube_pod_container_status_last_terminated_reason",
                {**restarts, "reason": "OOMKilled"}, gauge(1))
        add("kube_state_metrics", "kube_pod_info",
            {"job": "kube-state-metrics", "namespace": "noa", "pod": pod, "node": "node-1",
             "uid": f"uid-{service}", "created_by_kind": "ReplicaSet"}, gauge(1))
        for condition, value in (("true", 1), ("false", 0), ("unknown", 0)):
            add("kube_state_metrics", "kube_pod_status_ready",
                {"job": "kube-state-metrics", "namespace": "noa", "pod": pod,
                 "uid": f"uid-{service}", "condition": condition}, gauge(value))
        add("kube_state_metrics", "kube_deployment_status_replicas_unavailable",
            {"job": "kube-state-metrics", "namespace": "noa", "deployment": service}, gauge(0))
    for claim, capacity in (("noa-uploads", 20 * 2**30), ("noa-worker-data", 50 * 2**30)):
        volume = {"job": "kubelet", "metrics_path": "/metrics", "node": "node-1",
                  "namespace": "noa", "persistentvolumeclaim": claim}
        add("kubelet", "kubelet_volume_stats_used_bytes", volume, gauge(knobs.disk * capacity))
        add("kubelet", "kubelet_volume_stats_capacity_bytes", volume, gauge(capacity))
    for node in ("10.0.0.1:9100", "10.0.0.2:9100"):
        labels = {"job": "node-exporter", "instance": node}
        for mode, share in (("idle", 1 - knobs.cpu), ("user", knobs.cpu)):
            add("node_exporter", "node_cpu_seconds_total", {**labels, "cpu": "0", "mode": mode},
                cumulative(share * step))
        add("node_exporter", "node_memory_MemTotal_bytes", labels, gauge(16 * 2**30))
        add("node_exporter", "node_memory_MemAvailable_bytes", labels,
            gauge((1 - knobs.memory) * 16 * 2**30))
    pg = {"job": "postgres-exporter", "instance": "10.0.0.5:9187"}
    add("postgres_exporter", "pg_up", pg, gauge(1))
    add("postgres_exporter", "pg_settings_max_connections", pg, gauge(100))
    add("postgres_exporter", "pg_stat_database_numbackends", {**pg, "datid": "16384",
                                                              "datname": "noa"},
        gauge(round(100 * knobs.pool_used)))
    for state, share in (("active", 0.3), ("idle", 0.7)):
        add("postgres_exporter", "pg_stat_activity_count", {**pg, "datname": "noa",
                                                            "state": state},
            gauge(round(100 * knobs.pool_used * share)))
    for name, rate in (("pg_stat_database_blks_hit", 990.0), ("pg_stat_database_blks_read", 10.0)):
        add("postgres_exporter", name, {**pg, "datid": "16384", "datname": "noa"},
            cumulative(rate * step))
    for cache in ("sessions", "responses"):
        add("noa", "noa_cache_hits_total", {**ns, "cache": cache},
            cumulative(50 * step * knobs.cache_hit))
        add("noa", "noa_cache_misses_total", {**ns, "cache": cache},
            cumulative(50 * step * (1 - knobs.cache_hit)))
    redis = {"job": "redis-exporter", "instance": "10.0.0.6:9121"}
    add("redis_exporter", "redis_up", redis, gauge(1))
    add("redis_exporter", "redis_memory_used_bytes", redis, gauge(300 * 2**20))
    add("redis_exporter", "redis_memory_max_bytes", redis, gauge(1024 * 2**20))
    add("redis_exporter", "redis_commands_total", {**redis, "cmd": "get"}, cumulative(100 * step))
    add("redis_exporter", "redis_keyspace_hits_total", redis,
        cumulative(100 * step * knobs.cache_hit))
    add("redis_exporter", "redis_keyspace_misses_total", redis,
        cumulative(100 * step * (1 - knobs.cache_hit)))
    for queue in ("default", "ai", "email"):
        add("noa", "noa_queue_depth", {**ns, "queue": queue}, gauge(knobs.queue))
    for provider in ("openai", "anthropic", "azure"):
        pv = {**ns, "provider": provider}
        add("noa", "noa_ai_provider_requests_total", {**pv, "model": "m", "status": "ok"},
            cumulative(2 * step * (1 - knobs.ai_error)))
        add("noa", "noa_ai_provider_requests_total", {**pv, "model": "m", "status": "error"},
            cumulative(2 * step * knobs.ai_error))
        for le in BUCKETS:
            add("noa", "noa_ai_provider_request_duration_seconds_bucket",
                {**pv, "le": f"{le:g}"}, cumulative(2 * step * _cdf(le, 0.8)))
        add("noa", "noa_ai_provider_request_duration_seconds_bucket", {**pv, "le": "+Inf"},
            cumulative(2 * step))
        add("noa", "noa_ai_provider_cost_usd_total", pv, cumulative(0.002 * step))
        add("noa", "noa_ai_provider_circuit_breaker_state", pv,
            gauge(2 if knobs.ai_error > 0.5 else 0))
    add("noa", "up", {"job": "noa-server", "instance": "127.0.0.1:1", "namespace": "noa"},
        gauge(1))
    return out


def renamed(series: list[tuple[str, dict[str, str], list[tuple[float, float]]]],
            metrics: dict[str, str], labels: dict[str, str],
            ) -> list[tuple[str, dict[str, str], list[tuple[float, float]]]]:
    """``series`` as a Prometheus that names things otherwise would hold them."""
    out = []
    for name, series_labels, values in series:
        new_name = metrics.get(name, name)
        for suffix in ("_bucket", "_count", "_sum"):
            base = name.removesuffix(suffix)
            if base != name and base + suffix in metrics:
                new_name = metrics[base + suffix]
        out.append((new_name, {labels.get(k, k): v for k, v in series_labels.items()}, values))
    return out
