"""What the simulated NOA Server consists of: services, pods, endpoints, caches, queues, providers.

Static data shared by the live exporter (:mod:`.exporter`) and the history backfill
(:mod:`noa_sandbox.history`), so both describe the same system with the same label values.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 2**30
MIB = 2**20

SERVICES = ("api", "worker", "web")
DEFAULT_VERSION = "2.14.0"
"""The version every pod runs unless the world file says otherwise."""


@dataclass(frozen=True)
class Pod:
    """One pod of a service; ``version`` is the NOA Server release it runs."""

    name: str
    service: str
    version: str = DEFAULT_VERSION


DEFAULT_PODS = (
    Pod("api-0", "api"),
    Pod("api-1", "api"),
    Pod("api-2", "api"),
    Pod("worker-0", "worker"),
    Pod("worker-1", "worker"),
    Pod("web-0", "web"),
)


def resolve_pod(name: str | None, pods: tuple[Pod, ...]) -> str | None:
    """The pod a scenario means by ``name``: that pod, or for ``<service>-<i>`` (``worker-0``)
    the i-th pod of the service by name when pods carry Kubernetes names (``worker-7d9f…-x2kq``).
    """
    if name is None or any(p.name == name for p in pods):
        return name
    service, _, index = name.rpartition("-")
    if not index.isdigit():
        return name
    names = sorted(p.name for p in pods if p.service == service)
    return names[int(index)] if int(index) < len(names) else name


NODES = ("sandbox-node-1", "sandbox-node-2", "sandbox-node-3")
"""The sandbox cluster's worker nodes (the Node objects of the sandbox Kubernetes API)."""
NODE_IPS = {name: f"172.18.0.{i + 2}" for i, name in enumerate(NODES)}
NODE_CPU = 4.0
NODE_MEMORY = 15_896_988 * 1024
"""Capacity of a node (an m5.xlarge: 4 cores, ~15.2 GiB)."""
NODE_DISK = 85_886_742_528
"""Size of a node's root filesystem (80 GiB volume, ext4)."""
CPU_LIMIT = {"api": 1.0, "worker": 2.0, "web": 0.5}
CPU_REQUEST = {"api": 0.25, "worker": 0.5, "web": 0.1}
MEMORY_REQUEST = {"api": 512 * MIB, "worker": 1 * GIB, "web": 128 * MIB}
"""Requests and limits of each service's container (the seeded Deployments use these)."""
VOLUMES = {"web": ("noa-uploads", "/data/uploads", 20 * GIB),
           "worker": ("noa-worker-data", "/data", 50 * GIB)}
"""Service -> (PVC its pods mount, mount path, size)."""
UPLOADS_PVC = "noa-uploads"
"""The PVC the ``disk-filling`` scenario fills."""

RELEASES = ("2.12.0", "2.13.0", "2.14.0", "2.15.0", "2.15.1")
"""Tags of ``noa-server`` the sandbox registry publishes from the start."""
MIGRATIONS = {
    "2.12.0": ("0001_initial", "0017_add_organizations", "0029_add_api_keys",
               "0038_add_org_quotas"),
    "2.13.0": ("0040_add_chat_feedback",),
    "2.14.0": ("0041_add_provider_usage",),
    "2.15.0": ("0042_add_usage_index",),
}
"""Database migrations each release introduces (later releases include the earlier ones)."""


@dataclass(frozen=True)
class Endpoint:
    """An HTTP endpoint: its share of its service's traffic and its typical latency.

    ``median_s`` is the median duration at zero load; ``db_bound`` endpoints slow down when the
    database does (slow queries, an exhausted pool).
    """

    service: str
    path: str
    method: str
    share: float
    median_s: float
    db_bound: bool = True


ENDPOINTS = (
    Endpoint("api", "/api/v1/chat", "POST", 0.30, 0.12),
    Endpoint("api", "/api/v1/completions", "POST", 0.15, 0.15),
    Endpoint("api", "/api/v1/users", "GET", 0.25, 0.045),
    Endpoint("api", "/api/v1/auth/login", "POST", 0.10, 0.08),
    Endpoint("api", "/api/v1/organizations", "GET", 0.20, 0.05),
    Endpoint("worker", "/internal/jobs/run", "POST", 1.0, 0.22),
    Endpoint("web", "/", "GET", 0.40, 0.02, db_bound=False),
    Endpoint("web", "/app", "GET", 0.35, 0.035, db_bound=False),
    Endpoint("web", "/static", "GET", 0.25, 0.008, db_bound=False),
)

STATUSES = ("200", "404", "500", "503")
PEAK_RPS = {"api": 30.0, "worker": 6.0, "web": 12.0}
"""Requests per second of a whole service at load 1.0 (a weekday afternoon at the epoch)."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0)
"""Upper bounds (s) of the HTTP and AI latency histograms; +Inf gets well under 1 %."""
BUCKET_LABELS = tuple(f"{b:g}" if b < 1 else f"{b:.1f}" for b in LATENCY_BUCKETS)
"""The ``le`` label of each bound, formatted as prometheus_client does (``0.005``, ``1.0``)."""
LATENCY_SIGMA = 0.55
"""Log-normal shape of request durations (p95 ≈ 2.5 × median)."""

POOL_MAX = {"api": 20, "worker": 10}
"""Database connection pool size per pod (the web pods have no database pool)."""
MEMORY_LIMIT = {"api": 1 * GIB, "worker": 2 * GIB, "web": 512 * MIB}
MEMORY_BASE = {"api": 0.52, "worker": 0.58, "web": 0.40}
"""Share of the memory limit a pod uses when idle."""
CPU_BASE = {"api": 0.10, "worker": 0.15, "web": 0.05}
CPU_PER_LOAD = {"api": 0.38, "worker": 0.35, "web": 0.22}


CACHES = {"session": (2.5, 0.92), "api_response": (1.2, 0.74)}
"""Cache name -> (lookups per API request, hit ratio)."""
REDIS_MAX_BYTES = 256 * MIB
"""``maxmemory`` of the sandbox Redis holding the caches."""
REDIS_COMMANDS = ("get", "set", "del", "expire")
"""The commands the caches send (see :mod:`.cache`)."""

QUEUES = {"default": (15.0, 55.0), "ai": (5.0, 30.0), "email": (0.0, 12.0)}
"""Queue name -> (depth when idle, added depth at load 1)."""


@dataclass(frozen=True)
class Provider:
    """An AI provider: model, share of the calls, price per call, median latency."""

    name: str
    model: str
    share: float
    usd_per_call: float
    median_s: float


PROVIDERS = (
    Provider("openai", "gpt-4o", 0.60, 0.0040, 1.1),
    Provider("anthropic", "claude-3-5-sonnet", 0.30, 0.0060, 1.3),
    Provider("azure", "gpt-4o", 0.10, 0.0045, 1.2),
)
AI_STATUSES = ("ok", "error", "timeout")
AI_CALLS_PER_REQUEST = {"/api/v1/chat": 0.9, "/api/v1/completions": 1.0, "/internal/jobs/run": 0.5}
AI_TIMEOUT_S = 8.0
"""Client-side timeout of an AI call: timed-out calls are observed at this duration."""


def endpoints_of(service: str) -> tuple[Endpoint, ...]:
    """The endpoints served by ``service``."""
    return tuple(e for e in ENDPOINTS if e.service == service)


__all__ = [
    "AI_STATUSES",
    "DEFAULT_PODS",
    "DEFAULT_VERSION",
    "ENDPOINTS",
    "MIGRATIONS",
    "NODES",
    "NODE_IPS",
    "RELEASES",
    "LATENCY_BUCKETS",
    "PROVIDERS",
    "SERVICES",
    "STATUSES",
    "Endpoint",
    "Pod",
    "Provider",
    "endpoints_of",
    "resolve_pod",
]
