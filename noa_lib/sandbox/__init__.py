"""The local stand-in for NOA production that ``noa sandbox up|down|status`` manages.

On loopback, under a state directory (default ``<project root>/.sandbox``, or ``NOA_SANDBOX_DIR``):

- PostgreSQL (a real server, password auth, WAL archiving) with database ``noa``: a NOA-like
  schema and ~510k generated rows, owned by the login role ``noa_ops``;
- an S3 endpoint (SeaweedFS) enforcing generated credentials, with buckets ``noa-backups``
  (versioned) and ``noa-records``.

While it runs, ``<state_dir>/target.toml`` publishes the ``sandbox`` target (secrets as ``file:``
references), which the repository's ``noa.toml`` includes. Nothing in ``noa_lib.ops`` or
``noa_lib.clients`` imports this package.

Modules: ``manager`` (up/down/status), ``postgres``, ``seed`` (+ ``schema.sql``, ``data.sql``),
``seaweed``, ``processes``, ``state``, ``credentials``, ``target``, ``layout``, ``models``.
"""

from __future__ import annotations

from noa_lib.sandbox.layout import default_state_dir
from noa_lib.sandbox.manager import down, status, up
from noa_lib.sandbox.models import SandboxStatus, ServiceStatus

__all__ = [
    "SandboxStatus",
    "ServiceStatus",
    "default_state_dir",
    "down",
    "status",
    "up",
]
