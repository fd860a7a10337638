"""The sandbox's Redis (Debian's ``redis-server``): NOA Server's cache, on a loopback port.

Password auth (``requirepass`` from the generated secret ``secrets/redis_password``, written into
a 0600 configuration file; the command line only names that file), ``maxmemory``
:data:`MAXMEMORY_BYTES` with ``allkeys-lru`` eviction, no persistence (no RDB snapshots, no AOF):
a restart starts with an empty cache, as a production cache pod would. Its working directory is
``<state>/redis/``, where :func:`write_endpoint` also publishes the port for the simulator.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from noa_lib.errors import PreconditionFailed
from noa_lib.files import atomic_write_text
from noa_sandbox import binaries, processes
from noa_sandbox.binaries import Binary
from noa_sandbox.layout import Layout
from noa_sandbox.simulator.catalog import REDIS_MAX_BYTES

BINARY = "redis-server"
MAXMEMORY_BYTES = REDIS_MAX_BYTES
MAXMEMORY_POLICY = "allkeys-lru"
INSTALL_HINT = "install with `apt-get install -y redis-server` (or run scripts/bootstrap.sh)"


def find_binary() -> Binary:
    """Locate ``redis-server`` on ``PATH``.

    Raises:
        PreconditionFailed: not installed or does not run.
    """
    return binaries.find((BINARY,), what="Redis", hint=INSTALL_HINT,
                         version_re=r"v=(\d+\.\d+\.\d+)")


def directory(layout: Layout) -> Path:
    """``<state>/redis``: the server's working directory, configuration and endpoint file."""
    return layout.root / "redis"


def config_path(layout: Layout) -> Path:
    return directory(layout) / "redis.conf"


def endpoint_path(layout: Layout) -> Path:
    """The file naming the port clients connect to (``{"host": …, "port": …}``)."""
    return directory(layout) / "endpoint.json"


def render_config(*, port: int, password: str, workdir: Path) -> str:
    """The ``redis.conf`` text: loopback only, password, memory limit, no persistence."""
    if not password or any(c in password for c in ' "\n\r\t\\'):
        raise PreconditionFailed("the Redis password must be non-empty without blanks or quotes")
    lines = [
        "# Written by `noa sandbox up` (0600: it holds the password); do not edit.",
        f"bind {processes.LOOPBACK}",
        f"port {port}",
        "protected-mode yes",
        f'requirepass "{password}"',
        f"maxmemory {MAXMEMORY_BYTES}",
        f"maxmemory-policy {MAXMEMORY_POLICY}",
        'save ""',
        "appendonly no",
        f'dir "{workdir}"',
        "daemonize no",
        "supervised no",
        'logfile ""',
        "databases 16",
        "tcp-backlog 128",
        "always-show-logo no",
    ]
    return "\n".join(lines) + "\n"


def write_config(layout: Layout, text: str) -> None:
    """Write ``redis.conf`` with mode 0600 (the directory is 0700)."""
    workdir = directory(layout)
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(workdir, 0o700)
    atomic_write_text(config_path(layout), text, mode=0o600)


def write_endpoint(layout: Layout, port: int) -> None:
    """Publish the port for the simulator (no secret: the password stays in ``secrets/``)."""
    body = json.dumps({"host": processes.LOOPBACK, "port": port}) + "\n"
    atomic_write_text(endpoint_path(layout), body, mode=0o644)


def command(binary: Binary, layout: Layout) -> list[str]:
    """The argument list: the binary and its configuration file, nothing secret."""
    return [str(binary.path), str(config_path(layout))]


def start(binary: Binary, layout: Layout) -> tuple[int, int]:
    """Start Redis detached (configuration already written); returns ``(pid, start_time)``."""
    return processes.spawn_detached(
        command(binary, layout),
        log_file=layout.log("redis"),
        env=dict(os.environ),
        cwd=directory(layout),
    )


def ping(port: int, password: str, *, timeout: float = 2.0) -> bool:
    """True when ``AUTH`` + ``PING`` on ``port`` answers ``+PONG`` (raw RESP, no client library)."""
    payload = (
        f"*2\r\n$4\r\nAUTH\r\n${len(password)}\r\n{password}\r\n*1\r\n$4\r\nPING\r\n"
    ).encode()
    try:
        with socket.create_connection((processes.LOOPBACK, port), timeout=timeout) as sock:
            sock.sendall(payload)
            answer = b""
            while answer.count(b"\r\n") < 2:
                chunk = sock.recv(256)
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return False
    return answer.startswith(b"+OK\r\n+PONG\r\n")


def wait_ready(
    port: int, password: str, pid: int, start_time: int, log: Path, *, timeout: float = 20.0
) -> None:
    """Wait until Redis answers an authenticated PING; raises ``Unavailable`` or ``Timeout``."""
    processes.require_started(lambda: ping(port, password), pid=pid, start_time=start_time,
                              what="Redis", backend="redis", log_file=log, timeout=timeout)


__all__ = [
    "MAXMEMORY_BYTES",
    "MAXMEMORY_POLICY",
    "Binary",
    "command",
    "config_path",
    "directory",
    "endpoint_path",
    "find_binary",
    "ping",
    "render_config",
    "start",
    "wait_ready",
    "write_config",
    "write_endpoint",
]
