"""Where the sandbox keeps its files inside the state directory.

::

    <state_dir>/
      state.json          ports, pids, versions, seed marker (written atomically)
      target.toml         the published ``sandbox`` target (only while services run)
      .lock               fcntl lock guarding up/down
      secrets/            generated passwords and keys (0700; files 0600)
      logs/               <service>.log (postgres, s3, prometheus, simulator, alertmanager,
                          redis, postgres_exporter, redis_exporter, kubernetes)
      pg/data/            the PostgreSQL cluster (owned by ``postgres`` when run as root)
      pg/run/             its unix socket
      pg/tools/           wal-push (archive_command: WAL to the S3 backup bucket) + its S3 key
      s3/data/            SeaweedFS data
      prometheus/         prometheus.yml, rules/ (checked copy of alerts.yml), data/ (TSDB)
      alertmanager/       alertmanager.yml and its data (only with --with-alertmanager)
      simulator/world.json  what the simulated NOA Server does (scenario, pods, releases)
      redis/              redis.conf (0600: holds the password), endpoint.json (its port, for
                          the simulator's caches); 0700, no persistence files
      exporters/          working directory of postgres_exporter and redis_exporter
      kube/               the Kubernetes API: store.json (objects), tokens.json (0600),
                          kubeconfig (0600), requests.jsonl (request log)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from noa_lib.config import find_config_file

STATE_DIR_ENV = "NOA_SANDBOX_DIR"
DEFAULT_DIRNAME = ".sandbox"


def default_state_dir() -> Path:
    """The sandbox state directory.

    ``NOA_SANDBOX_DIR`` when set; otherwise ``.sandbox`` beside the project's ``noa.toml``
    (see :func:`noa_lib.config.find_config_file`), or in the working directory when there is none.

    Raises:
        ConfigError: ``NOA_CONFIG`` names a file that does not exist.
    """
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser().resolve()
    config_file = find_config_file()
    root = config_file.parent if config_file is not None else Path.cwd()
    return (root / DEFAULT_DIRNAME).resolve()


@dataclass(frozen=True)
class Layout:
    """Absolute paths of everything the sandbox writes under ``root``."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def target_file(self) -> Path:
        return self.root / "target.toml"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def pg_dir(self) -> Path:
        return self.root / "pg"

    @property
    def pg_data(self) -> Path:
        return self.pg_dir / "data"

    @property
    def pg_run(self) -> Path:
        return self.pg_dir / "run"

    @property
    def pg_tools(self) -> Path:
        return self.pg_dir / "tools"

    @property
    def s3_dir(self) -> Path:
        return self.root / "s3"

    @property
    def s3_data(self) -> Path:
        return self.s3_dir / "data"

    @property
    def prometheus_dir(self) -> Path:
        return self.root / "prometheus"

    @property
    def prometheus_data(self) -> Path:
        return self.prometheus_dir / "data"

    @property
    def prometheus_config(self) -> Path:
        return self.prometheus_dir / "prometheus.yml"

    @property
    def prometheus_rules(self) -> Path:
        return self.prometheus_dir / "rules"

    @property
    def alertmanager_dir(self) -> Path:
        return self.root / "alertmanager"

    @property
    def simulator_dir(self) -> Path:
        return self.root / "simulator"

    @property
    def world_file(self) -> Path:
        return self.simulator_dir / "world.json"

    @property
    def kube_dir(self) -> Path:
        return self.root / "kube"

    @property
    def kubeconfig(self) -> Path:
        return self.kube_dir / "kubeconfig"

    def log(self, service: str) -> Path:
        """Log file of ``service`` (``postgres``, ``s3``, ``prometheus``, ``simulator``…)."""
        return self.logs_dir / f"{service}.log"
