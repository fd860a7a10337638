"""The real data-store exporters of the sandbox: Debian's postgres_exporter and redis_exporter.

- ``prometheus-postgres-exporter`` logs in to the sandbox PostgreSQL as :data:`MONITOR_ROLE`, a
  login role whose only privilege is membership of ``pg_monitor``; it gets the address and user
  from ``DATA_SOURCE_URI``/``DATA_SOURCE_USER`` and the password from ``DATA_SOURCE_PASS_FILE``
  (``secrets/pg_monitor_password``).
- ``prometheus-redis-exporter`` reads the sandbox Redis with the password in ``REDIS_PASSWORD``
  (its environment, readable by its owner only).

Both listen on loopback ports; nothing secret is ever on a command line. Prometheus scrapes them
as :data:`POSTGRES_JOB` and :data:`REDIS_JOB` with the ``instance`` a ServiceMonitor would give
(pod IP and container port, :data:`POSTGRES_INSTANCE`, :data:`REDIS_INSTANCE`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from noa_sandbox import binaries, postgres, processes
from noa_sandbox.binaries import Binary
from noa_sandbox.credentials import PG_MONITOR_PASSWORD
from noa_sandbox.layout import Layout

POSTGRES_BINARY = "prometheus-postgres-exporter"
REDIS_BINARY = "prometheus-redis-exporter"
MONITOR_ROLE = "noa_monitor"
MONITOR_CONNECTION_LIMIT = 5
DATABASE = "noa"
POSTGRES_JOB = "postgres-exporter"
REDIS_JOB = "redis-exporter"
POSTGRES_INSTANCE = "10.42.0.31:9187"
"""``instance`` of the postgres_exporter scrape: pod IP and port, as a ServiceMonitor sets it."""
REDIS_INSTANCE = "10.42.0.32:9121"
"""``instance`` of the redis_exporter scrape (pod IP and port)."""
NAMESPACE = "noa"
POSTGRES_SERVER = "noa-postgres.noa.svc:5432"
"""What the scrape sets postgres_exporter's ``server`` label to: the name of the database service
in production (the sandbox's own is a random loopback port the backfilled history cannot know)."""
INSTALL_HINT = (
    "install with `apt-get install -y prometheus-postgres-exporter prometheus-redis-exporter` "
    "(or run scripts/bootstrap.sh as root)"
)


def find_binary(name: str) -> Binary:
    """Locate ``name`` (:data:`POSTGRES_BINARY` or :data:`REDIS_BINARY`) on ``PATH``.

    Raises:
        PreconditionFailed: not installed or does not run.
    """
    return binaries.find((name,), what=name, hint=INSTALL_HINT,
                         version_re=r"(?:version|Exporter)\s+v?(\d+\.\d+\.\d+)")


def url(port: int) -> str:
    return f"http://{processes.LOOPBACK}:{port}/metrics"


def ensure_monitor_role(port: int, *, superuser_password: str, monitor_password: str) -> None:
    """Create or update :data:`MONITOR_ROLE`: LOGIN, member of ``pg_monitor``, nothing more.

    The password goes to the server as a SCRAM verifier computed client-side. The role may
    connect to database ``noa`` (PUBLIC's default ``CONNECT``) and holds no table privileges.

    Raises:
        Unavailable: PostgreSQL cannot be reached or a statement failed.
    """
    from psycopg import sql

    with postgres.connect(
        port, user=postgres.SUPERUSER, password=superuser_password, dbname="postgres"
    ) as su:
        verifier = su.pgconn.encrypt_password(
            monitor_password.encode(), MONITOR_ROLE.encode(), b"scram-sha-256"
        ).decode()
        exists = su.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (MONITOR_ROLE,)
        ).fetchone()
        verb = sql.SQL("ALTER" if exists else "CREATE")
        su.execute(
            sql.SQL(
                "{} ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                "CONNECTION LIMIT {} PASSWORD {}"
            ).format(
                verb,
                sql.Identifier(MONITOR_ROLE),
                sql.Literal(MONITOR_CONNECTION_LIMIT),
                sql.Literal(verifier),
            )
        )
        su.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(MONITOR_ROLE)))


def postgres_env(layout: Layout, pg_port: int) -> dict[str, str]:
    """The environment of postgres_exporter: where and as whom to connect, the password *file*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATA_SOURCE_", "PG"))}
    env.update(
        DATA_SOURCE_URI=f"{processes.LOOPBACK}:{pg_port}/{DATABASE}?sslmode=disable",
        DATA_SOURCE_USER=MONITOR_ROLE,
        DATA_SOURCE_PASS_FILE=str(layout.secrets_dir / PG_MONITOR_PASSWORD),
    )
    return env


def postgres_command(binary: Binary, listen_port: int) -> list[str]:
    """postgres_exporter's arguments: the listen address only (default collectors)."""
    return [str(binary.path), f"--web.listen-address={processes.LOOPBACK}:{listen_port}"]


def redis_env(redis_port: int, password: str) -> dict[str, str]:
    """The environment of redis_exporter: the address and the password (never argv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    env.update(REDIS_ADDR=f"redis://{processes.LOOPBACK}:{redis_port}", REDIS_PASSWORD=password)
    return env


def redis_command(binary: Binary, listen_port: int) -> list[str]:
    """redis_exporter's arguments: the listen address only (default metrics)."""
    return [str(binary.path), f"-web.listen-address={processes.LOOPBACK}:{listen_port}"]


def start(
    name: str, argv: list[str], env: dict[str, str], layout: Layout
) -> tuple[int, int]:
    """Start the exporter ``name`` detached (log ``logs/<name>.log``); ``(pid, start_time)``."""
    workdir = layout.root / "exporters"
    workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return processes.spawn_detached(argv, log_file=layout.log(name), env=env, cwd=workdir)


def ready(port: int) -> bool:
    """True when ``/metrics`` answers 200."""
    return processes.http_ok(url(port), timeout=5.0)


def wait_ready(
    name: str, port: int, pid: int, start_time: int, log: Path, *, timeout: float = 20.0
) -> None:
    """Wait until ``/metrics`` answers; raises ``Unavailable`` (exited) or ``Timeout``."""
    processes.require_started(lambda: ready(port), pid=pid, start_time=start_time,
                              what=name, backend=name, log_file=log, timeout=timeout)


def scrape_configs(postgres_port: int | None, redis_port: int | None) -> list[dict[str, Any]]:
    """Prometheus scrape jobs for the exporters that have a port (a ServiceMonitor's labels)."""
    jobs: list[dict[str, Any]] = []
    for job, port, instance in (
        (POSTGRES_JOB, postgres_port, POSTGRES_INSTANCE),
        (REDIS_JOB, redis_port, REDIS_INSTANCE),
    ):
        if port is None:
            continue
        job_config: dict[str, Any] = {"job_name": job}
        if job == POSTGRES_JOB:
            # a stable `server`; no `datid` (a per-cluster OID the history cannot match)
            job_config["metric_relabel_configs"] = [
                {"source_labels": ["server"], "regex": ".+", "target_label": "server",
                 "replacement": POSTGRES_SERVER},
                {"action": "labeldrop", "regex": "datid"},
            ]
        jobs.append(
            {
                **job_config,
                "scrape_interval": "5s",
                "scrape_timeout": "4s",
                "static_configs": [
                    {
                        "targets": [f"{processes.LOOPBACK}:{port}"],
                        "labels": {"instance": instance, "namespace": NAMESPACE},
                    }
                ],
            }
        )
    return jobs


__all__ = [
    "MONITOR_ROLE",
    "POSTGRES_BINARY",
    "POSTGRES_INSTANCE",
    "POSTGRES_JOB",
    "REDIS_BINARY",
    "REDIS_INSTANCE",
    "REDIS_JOB",
    "Binary",
    "ensure_monitor_role",
    "find_binary",
    "postgres_command",
    "postgres_env",
    "redis_command",
    "redis_env",
    "scrape_configs",
    "start",
    "wait_ready",
]
