"""Detached service processes: start, identify, wait for, stop — always by pid, never by name.

Process identity is (pid, start time from ``/proc/<pid>/stat``), so a recycled pid is not ours.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from noa_lib.clients.ports import port_open as port_open  # re-exported for the managers
from noa_lib.clients.tool_output import log_tail as log_tail  # re-exported
from noa_lib.errors import PreconditionFailed, Timeout, Unavailable

LOOPBACK = "127.0.0.1"


def process_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or ``None`` when it is gone or a zombie."""
    _reap(pid)
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rfind(")") + 2 :].split()
    if not fields or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_alive(pid: int | None, start_time: int | None) -> bool:
    """True when ``pid`` runs and is the same process that was recorded (same start time)."""
    if pid is None:
        return False
    current = process_start_time(pid)
    return current is not None and (start_time is None or current == start_time)


def is_gone(pid: int, start_time: int | None) -> bool:
    """True when ``pid`` has left the process table entirely (a zombie is not gone yet).

    A restarted server must wait for this: PostgreSQL treats the pid in a stale
    ``postmaster.pid`` as a running postmaster while its zombie lingers.
    """
    _reap(pid)
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    fields = raw[raw.rfind(")") + 2 :].split()
    return start_time is not None and len(fields) > 19 and int(fields[19]) != start_time


def pids_working_in(directory: Path) -> list[int]:
    """Pids of the processes whose working directory is ``directory`` (those we may inspect)."""
    found = []
    target = str(directory)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "cwd") == target:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is an exited child of ours (otherwise it lingers as a zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def python_env() -> dict[str, str]:
    """This environment for a ``python -m noa_sandbox…`` child: unbuffered, with the directories
    holding ``noa_sandbox`` and ``noa_lib`` first on ``PYTHONPATH`` (a source checkout runs
    without either package installed)."""
    import noa_lib

    env = dict(os.environ)
    roots = (Path(__file__).resolve().parents[1], Path(noa_lib.__file__).resolve().parents[1])
    paths = [str(r) for r in roots] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def spawn_detached(
    argv: Sequence[str], *, log_file: Path, env: Mapping[str, str], cwd: Path
) -> tuple[int, int]:
    """Start ``argv`` in a new session with stdout/stderr appended to ``log_file``.

    Returns:
        ``(pid, start_time)`` of the new process.
    """
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(  # noqa: S603 - argument list, no shell
            list(argv),
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    start = process_start_time(proc.pid)
    return proc.pid, start if start is not None else 0


def terminate_group(pid: int, start_time: int | None, *, grace: float = 10.0) -> None:
    """Stop the session led by ``pid``: SIGTERM, wait up to ``grace`` s, then SIGKILL.

    Only signals the group when ``pid`` is still the recorded process and leads its group.
    """
    if not is_alive(pid, start_time):
        return
    try:
        leads_group = os.getpgid(pid) == pid
    except ProcessLookupError:
        return

    def send(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if leads_group:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)

    send(signal.SIGTERM)
    if wait_for(lambda: not is_alive(pid, start_time), timeout=grace):
        return
    send(signal.SIGKILL)
    wait_for(lambda: not is_alive(pid, start_time), timeout=5.0)


def wait_for(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true (returns True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def require(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    log_file: Path,
    interval: float = 0.1,
) -> None:
    """Like :func:`wait_for` but raises with the log tail when the deadline passes.

    Raises:
        Timeout: ``predicate`` stayed false for ``timeout`` seconds.
    """
    if not wait_for(predicate, timeout=timeout, interval=interval):
        raise Timeout(
            f"{what} not ready after {timeout:.0f}s; last lines of {log_file}:\n"
            + log_tail(log_file),
            backend="sandbox",
        )


def http_ok(url: str, *, timeout: float = 2.0) -> bool:
    """True when ``url`` answers HTTP 200 (loopback readiness probes)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as rsp:  # noqa: S310 - loopback only
            return bool(rsp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def lifecycle_reload(base_url: str, *, what: str, backend: str) -> None:
    """``POST <base_url>/-/reload`` (Prometheus and Alertmanager lifecycle API).

    Raises:
        Unavailable: the server refused the new configuration or did not answer.
    """
    request = urllib.request.Request(  # noqa: S310 - our loopback http URL
        f"{base_url}/-/reload", method="POST", data=b""
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as rsp:  # noqa: S310
            rsp.read()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")[:500]
        raise Unavailable(f"{what} refused the reload: {body}", backend=backend) from None
    except OSError as exc:
        raise Unavailable(f"{what} reload failed: {exc}", backend=backend) from None


def require_started(
    ready: Callable[[], bool],
    *,
    pid: int,
    start_time: int,
    what: str,
    backend: str,
    log_file: Path,
    timeout: float,
    interval: float = 0.2,
) -> None:
    """Wait for a freshly spawned service: ``ready()`` true before ``timeout``.

    Raises:
        Unavailable: the process exited during start-up (message carries its log tail).
        Timeout: not ready within ``timeout`` seconds.
    """

    def check() -> bool:
        if not is_alive(pid, start_time):
            raise Unavailable(
                f"{what} exited during start-up; last lines of {log_file}:\n"
                + log_tail(log_file),
                backend=backend,
            )
        return ready()

    require(check, timeout=timeout, what=what, log_file=log_file, interval=interval)


def port_free(port: int, host: str = LOOPBACK) -> bool:
    """True when ``host:port`` can be bound now (nobody listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers bind with SO_REUSEADDR, so a port held only by TIME_WAIT sockets is usable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return not port_open(port, host, timeout=0.2)


def choose_ports(
    preferred: int | None,
    count: int,
    *,
    low: int,
    high: int,
    extra_offsets: Sequence[int] = (),
    attempts: int = 200,
) -> int:
    """A base port ``b`` with ``b .. b+count-1`` and ``b+offset`` (each extra offset) all free.

    ``preferred`` is returned when its ports are still free, so a restart keeps its endpoint.

    Raises:
        PreconditionFailed: no free block found in ``[low, high)``.
    """
    offsets = [*range(count), *extra_offsets]

    def fits(base: int) -> bool:
        return all(port_free(base + off) for off in offsets)

    if preferred is not None and fits(preferred):
        return preferred
    rng = random.SystemRandom()
    for _ in range(attempts):
        base = rng.randrange(low, high - count)
        if fits(base):
            return base
    raise PreconditionFailed(
        f"no block of {count} free loopback ports found in {low}-{high}; free some ports"
    )


