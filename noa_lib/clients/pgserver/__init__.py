"""PostgreSQL server tooling as child processes, one module per concern; this facade re-exports
their public names (``from noa_lib.clients import pgserver`` then ``pgserver.find_binaries()``).

The only package that spawns ``pg_basebackup``, ``pg_controldata``, ``pg_waldump`` and, for
restored clusters, ``pg_ctl`` (argument lists, never shell strings):

* :mod:`.binaries` — the server binaries of a major version (:func:`find_binaries`);
* :mod:`.osuser` — who runs them (:func:`run_as`): as root the ``postgres`` system user through
  ``runuser``, otherwise the current user; :func:`check_traversable`;
* :mod:`.basebackup` — ``pg_basebackup`` streamed from a pipe (:class:`BaseBackupStream`);
* :mod:`.controldata` — ``pg_controldata`` (:func:`controldata`);
* :mod:`.waldump` — commit records listed with ``pg_waldump`` (:func:`scan_wal`);
* :mod:`.tar` — a base backup's tar stream extracted into a data directory (:func:`extract_tar_gz`);
* :mod:`.cluster` — a restored cluster started/stopped on a loopback port (:func:`start_cluster`,
  :func:`stop_cluster`);
* ports (:mod:`noa_lib.clients.ports`) and tool output (:mod:`noa_lib.clients.tool_output`:
  ``tool_version``, ``read_tail``, ``log_tail``) are shared with :mod:`noa_lib.clients.pgdump`
  and the sandbox.

The sandbox (``noa_sandbox``) imports the binary/user helpers from here; this package never
imports the sandbox.
"""

from __future__ import annotations

from noa_lib.clients.pgserver.basebackup import BaseBackupInfo, BaseBackupStream
from noa_lib.clients.pgserver.binaries import INSTALL_HINT, SERVER_TOOLS, PgBinaries, find_binaries
from noa_lib.clients.pgserver.cluster import (
    ClusterProcess,
    pg_ctl_start_argv,
    postmaster_pid,
    postmaster_status,
    start_cluster,
    stop_cluster,
)
from noa_lib.clients.pgserver.controldata import controldata
from noa_lib.clients.pgserver.osuser import SYSTEM_USER, RunAs, check_traversable, run_as
from noa_lib.clients.pgserver.tar import extract_tar_gz
from noa_lib.clients.pgserver.waldump import WalScan, scan_wal
from noa_lib.clients.ports import LOOPBACK, free_port, port_open
from noa_lib.clients.tool_output import log_tail

__all__ = [
    "INSTALL_HINT",
    "LOOPBACK",
    "SERVER_TOOLS",
    "SYSTEM_USER",
    "BaseBackupInfo",
    "BaseBackupStream",
    "ClusterProcess",
    "PgBinaries",
    "RunAs",
    "WalScan",
    "check_traversable",
    "controldata",
    "extract_tar_gz",
    "find_binaries",
    "free_port",
    "log_tail",
    "port_open",
    "postmaster_pid",
    "postmaster_status",
    "run_as",
    "scan_wal",
    "pg_ctl_start_argv",
    "start_cluster",
    "stop_cluster",
]
