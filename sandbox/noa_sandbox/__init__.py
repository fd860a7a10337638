"""The local stand-in for NOA production that ``noa sandbox up|down|status`` manages.

On loopback, under a state directory (default ``<project root>/.sandbox``, or ``NOA_SANDBOX_DIR``):

- PostgreSQL (a real server, password auth) with database ``noa``: a NOA-like schema and ~510k
  generated rows, owned by the login role ``noa_ops``; WAL archived into ``noa-backups`` by
  ``wal-push`` (:mod:`.walarchive`: curl SigV4, never overwrites) and a base backup taken when
  the cluster has none, so point-in-time recovery works from the first ``up``;
- an S3 endpoint (SeaweedFS) enforcing generated credentials, with buckets ``noa-backups``
  (versioned) and ``noa-records``;
- the simulated NOA Server (:mod:`.simulator`): ``/metrics`` of pods api-0..2, worker-0..1 and
  web-0 with daily/weekly traffic, driven by a scenario (``noa sandbox scenario NAME``,
  :mod:`.scenarios`);
- Prometheus (a real server, :mod:`.prometheus`) scraping it every 2 s, with 91 days of history
  backfilled on the first start (:mod:`.history`: seasonality, growth, three past incidents at
  known times) and NOA's alert rules from ``deploy/prometheus/alerts.yml``;
- optionally Alertmanager (:mod:`.alertmanager`, ``up --with-alertmanager``) routing alerts to
  ``noa alerts serve``;
- a Kubernetes API (:mod:`.kube`, started by :mod:`.kubernetes`) with a simulated cluster:
  NOA Server's Deployments ``api``/``worker``/``web`` in namespace ``noa`` (real rollout
  semantics), pods whose Ready set decides what the simulator serves (a canary gets its share of
  the traffic), pod logs, the service proxy (health, login, chat, migrations), Jobs, HPAs,
  CronJobs, and the image registry on ``/v2/`` (``noa sandbox release`` marks releases bad,
  crashing… :mod:`.releases`); kubeconfig in ``<state>/kube/kubeconfig``.

While it runs, ``<state_dir>/target.toml`` publishes the ``sandbox`` target (secrets as ``file:``
references), which the repository's ``noa.toml`` includes. This is its own distribution
(``noa-sandbox``, ``sandbox/pyproject.toml``): it depends on ``noa_lib``; nothing in ``noa_lib``
imports it (an import-linter contract).

Modules: ``manager`` (up/down/status), ``postgres``, ``walarchive``, ``seed`` (+ ``schema.sql``,
``data.sql``), ``seaweed``, ``monitoring`` (Prometheus, simulator, Alertmanager orchestration),
``prometheus``, ``alertmanager``, ``history`` (+ ``history_series``), ``scenarios``, ``simulator/``,
``kube/``, ``kubernetes``, ``releases``, ``processes``, ``state``, ``credentials``, ``target``,
``layout``, ``models``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "SandboxStatus": "noa_sandbox.models",
    "ServiceStatus": "noa_sandbox.models",
    "default_state_dir": "noa_sandbox.layout",
    "down": "noa_sandbox.manager",
    "list_releases": "noa_sandbox.releases",
    "mark_release": "noa_sandbox.releases",
    "set_scenario": "noa_sandbox.scenarios",
    "status": "noa_sandbox.manager",
    "up": "noa_sandbox.manager",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import on first use: ``noa`` loads this package's CLI entry point on every command."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'noa_sandbox' has no attribute {name!r}")
    return getattr(import_module(module), name)
