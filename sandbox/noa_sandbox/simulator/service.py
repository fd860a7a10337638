"""Starting and checking the simulator process from ``noa sandbox up`` (by pid, on loopback)."""

from __future__ import annotations

import sys
from pathlib import Path

from noa_sandbox import processes, redisserver
from noa_sandbox.credentials import REDIS_PASSWORD
from noa_sandbox.layout import Layout

VERSION = "NOA Server simulator"


def url(port: int) -> str:
    return f"http://{processes.LOOPBACK}:{port}/metrics"


def command(
    port: int, world_file: Path, redis: tuple[Path, Path] | None = None
) -> list[str]:
    """``python -m noa_sandbox.simulator`` with this interpreter; ``redis`` names the endpoint
    file and the password *file* of the Redis holding the caches (no secret on the command line).
    """
    extra = [] if redis is None else [
        "--redis-endpoint", str(redis[0]), "--redis-password-file", str(redis[1])
    ]
    return [
        sys.executable,
        "-m",
        "noa_sandbox.simulator",
        "--port",
        str(port),
        "--state",
        str(world_file),
        *extra,
    ]


def start(layout: Layout, port: int) -> tuple[int, int]:
    """Start the simulator detached, its caches in the sandbox Redis; ``(pid, start_time)``."""
    layout.simulator_dir.mkdir(parents=True, exist_ok=True)
    env = processes.python_env()
    redis = (redisserver.endpoint_path(layout), layout.secrets_dir / REDIS_PASSWORD)
    return processes.spawn_detached(
        command(port, layout.world_file, redis),
        log_file=layout.log("simulator"),
        env=env,
        cwd=layout.simulator_dir,
    )


def ready(port: int) -> bool:
    """True when ``/metrics`` answers 200."""
    return processes.http_ok(url(port))


def wait_ready(port: int, pid: int, start_time: int, log: Path, *, timeout: float = 30.0) -> None:
    """Wait until ``/metrics`` answers; raises ``Unavailable`` (exited) or ``Timeout``."""
    processes.require_started(lambda: ready(port), pid=pid, start_time=start_time,
                              what="the NOA Server simulator", backend="simulator",
                              log_file=log, timeout=timeout, interval=0.1)

