"""Clusters started from a restored data directory: ``pg_ctl start``/``stop`` as the server's
user on a loopback port, and the postmaster's state read from ``postmaster.pid``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from noa_lib.clients.pgserver.binaries import PgBinaries
from noa_lib.clients.pgserver.osuser import RunAs
from noa_lib.clients.tool_output import log_tail
from noa_lib.errors import Timeout, Unavailable


@dataclass(frozen=True)
class ClusterProcess:
    """A postmaster we started: its pid, data directory, port and log file."""

    pid: int
    data_dir: Path
    port: int
    log_file: Path


def pg_ctl_start_argv(bins: PgBinaries, data_dir: Path, log_file: Path, timeout: float
                      ) -> list[str]:
    """``pg_ctl start -w -s`` of ``data_dir`` logging to ``log_file``, waiting ``timeout`` s."""
    return [bins.tool("pg_ctl"), "start", "-D", str(data_dir), "-l", str(log_file), "-w", "-t",
            str(int(timeout)), "-s"]


def start_cluster(
    bins: PgBinaries,
    data_dir: Path,
    *,
    port: int,
    log_file: Path,
    who: RunAs,
    timeout: float = 600.0,
) -> ClusterProcess:
    """``pg_ctl start -w`` of ``data_dir`` as the server's user; returns once it accepts work.

    With ``hot_standby = off`` a cluster in archive recovery becomes ready only after recovery
    ended (and, with ``recovery_target_action = 'promote'``, after promotion), so this waits for
    the whole replay, up to ``timeout`` seconds.

    Raises:
        Unavailable: the server did not start or stopped during recovery (log tail included).
        Timeout: not ready within ``timeout`` seconds (the server is stopped again).
    """
    argv = pg_ctl_start_argv(bins, data_dir, log_file, timeout)
    try:
        result = subprocess.run(
            who.argv(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout + 30,
            cwd=data_dir.parent,
            check=False,
        )
    except subprocess.TimeoutExpired:
        stop_cluster(bins, data_dir, who=who)
        raise Timeout(
            f"PostgreSQL in {data_dir} was not ready within {timeout:g} s (stopped); last lines "
            f"of {log_file}:\n{log_tail(log_file)}",
            backend="postgres",
        ) from None
    pid = postmaster_pid(data_dir)
    if result.returncode != 0 or pid is None:
        output = (result.stdout + result.stderr).strip()[-500:]
        stop_cluster(bins, data_dir, who=who)
        cls = Timeout if "timed out" in output or "still starting" in output else Unavailable
        raise cls(
            f"PostgreSQL in {data_dir} did not start (pg_ctl exit {result.returncode}: "
            f"{output}); last lines of {log_file}:\n{log_tail(log_file)}",
            backend="postgres",
        )
    # pg_ctl -w returns as soon as a server without hot standby *enters* recovery (status
    # "standby"); a restored cluster is usable only once recovery ended and it is "ready".
    deadline = time.monotonic() + timeout
    while (status := postmaster_status(data_dir)) != "ready":
        if not _alive(pid):
            raise Unavailable(
                f"PostgreSQL in {data_dir} stopped during recovery; last lines of {log_file}:\n"
                f"{log_tail(log_file)}",
                backend="postgres",
            )
        if time.monotonic() > deadline:
            stop_cluster(bins, data_dir, who=who)
            raise Timeout(
                f"PostgreSQL in {data_dir} still in recovery (status {status!r}) after "
                f"{timeout:g} s (stopped); last lines of {log_file}:\n{log_tail(log_file)}",
                backend="postgres",
            )
        time.sleep(0.1)
    return ClusterProcess(pid=pid, data_dir=data_dir, port=port, log_file=log_file)


def stop_cluster(
    bins: PgBinaries, data_dir: Path, *, who: RunAs, timeout: float = 60.0
) -> None:
    """Stop the postmaster of ``data_dir``: ``pg_ctl stop -m fast``, then signals if it lingers.

    A no-op when nothing runs there.
    """
    pid = postmaster_pid(data_dir)
    if pid is None or not _alive(pid):
        return
    argv = [bins.tool("pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast", "-w", "-s"]
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(
            who.argv([*argv, "-t", str(int(timeout))]),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout + 15,
            cwd=data_dir.parent,
            check=False,
        )
    for sig, wait in ((None, 5.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid in ``postmaster.pid``, or ``None`` when there is none."""
    try:
        first = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None


def postmaster_status(data_dir: Path) -> str | None:
    """The status in ``postmaster.pid``: ``starting``, ``standby``, ``ready`` or ``stopping``."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().split("\n")
    except OSError:
        return None
    return lines[7].strip() if len(lines) > 7 else None


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rfind(")") + 2 :].split()
    return bool(fields) and fields[0] not in ("Z", "X")


__all__ = [
    "ClusterProcess",
    "pg_ctl_start_argv",
    "postmaster_pid",
    "postmaster_status",
    "start_cluster",
    "stop_cluster",
]
