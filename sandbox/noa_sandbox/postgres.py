"""The sandbox's PostgreSQL server: find binaries, initdb, configure, start, stop, connect.

As root the server binaries run as the ``postgres`` system user (``initdb`` refuses root) through
``runuser -u postgres -- …``; otherwise they run as the current user. Authentication is
scram-sha-256 everywhere (no trust), the server listens on 127.0.0.1 only, and WAL archiving
stores finished segments in the S3 backup bucket through ``wal-push`` (see
:mod:`noa_sandbox.walarchive`). Binaries and the server's OS user come from
:mod:`noa_lib.clients.pgserver`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from noa_lib.clients.pgserver import PgBinaries, RunAs, pg_ctl_start_argv
from noa_lib.errors import PreconditionFailed, Unavailable
from noa_sandbox import processes, walarchive
from noa_sandbox.layout import Layout

if TYPE_CHECKING:
    import psycopg

SUPERUSER = "postgres"
CONF_NAME = "noa_sandbox.conf"
_SOCKET_PATH_MAX = 107


def validate_location(layout: Layout) -> None:
    """Reject state directories whose path cannot be quoted into server settings.

    Raises:
        PreconditionFailed: the path contains a quote, ``%`` or a control character.
    """
    text = str(layout.root)
    if any(ch in text for ch in "'%\\\"") or any(ord(ch) < 32 for ch in text):
        raise PreconditionFailed(
            f"sandbox state directory {text!r} contains quotes, '%', backslashes or control "
            "characters; choose another NOA_SANDBOX_DIR"
        )


def prepare_dirs(layout: Layout, who: RunAs) -> None:
    """Create the server's directories and log file, owned by the server's user."""
    for directory in (layout.pg_dir, layout.pg_tools):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        who.own(directory)
    layout.pg_run.mkdir(mode=0o755, exist_ok=True)
    who.own(layout.pg_run)
    log = layout.log("postgres")
    if not log.exists():
        log.touch(mode=0o600)
    who.own(log)


def is_initialised(layout: Layout) -> bool:
    """True when ``pg/data`` holds a complete cluster."""
    return (layout.pg_data / "PG_VERSION").is_file() and (
        layout.pg_data / "postgresql.conf"
    ).is_file()


def initdb(bins: PgBinaries, layout: Layout, who: RunAs, superuser_password: str) -> None:
    """Create the cluster with scram-sha-256 auth and the given superuser password.

    The password reaches ``initdb`` through a short-lived file readable only by the server's user.

    Raises:
        PreconditionFailed: initdb failed (its output is included; it never contains the password).
    """
    if layout.pg_data.exists():
        shutil.rmtree(layout.pg_data)  # a half-made cluster from an interrupted run
    pwfile = layout.pg_dir / ".initdb_pw"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(superuser_password + "\n")
        who.own(pwfile)
        argv = [
            bins.tool("initdb"),
            "-D",
            str(layout.pg_data),
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        ]
        result = subprocess.run(  # noqa: S603
            who.argv(argv),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=layout.pg_dir,
            check=False,
        )
    finally:
        with contextlib.suppress(FileNotFoundError):
            pwfile.unlink()
    if result.returncode != 0:
        raise PreconditionFailed(
            f"initdb failed (exit {result.returncode}):\n{(result.stdout + result.stderr)[-2000:]}"
        )


def write_config(bins: PgBinaries, layout: Layout, who: RunAs, port: int) -> bool:
    """(Re)write the sandbox settings and ``pg_hba.conf`` for a server on ``port``.

    WAL goes to S3 through ``wal-push`` (:func:`noa_sandbox.walarchive.archive_command`);
    write the script with :func:`noa_sandbox.walarchive.configure` before the server starts.

    Returns:
        True when a file changed (a running server then needs :func:`reload`).
    """
    validate_location(layout)
    socket_dir = str(layout.pg_run)
    if len(socket_dir) + len("/.s.PGSQL.65535") > _SOCKET_PATH_MAX:
        socket_dir = ""  # path too long for a unix socket: TCP only
    settings: dict[str, str | int] = {
        "listen_addresses": "127.0.0.1",
        "port": port,
        "unix_socket_directories": socket_dir,
        "max_connections": 100,
        "password_encryption": "scram-sha-256",
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": walarchive.archive_command(layout),
        "archive_timeout": 60,
        "max_wal_senders": 5,
        "logging_collector": "off",
        "log_destination": "stderr",
        "log_line_prefix": "%m [%p] %q%u@%d ",
        "log_min_duration_statement": 1000,
        "log_checkpoints": "on",
        "log_lock_waits": "on",
        "track_io_timing": "on",
    }
    if extension_available(bins, "pg_stat_statements"):
        settings["shared_preload_libraries"] = "pg_stat_statements"
        settings["pg_stat_statements.track"] = "all"
    lines = ["# Written by `noa sandbox up`; rewritten on every start.\n"]
    for key, value in settings.items():
        if isinstance(value, int):
            lines.append(f"{key} = {value}\n")
        else:
            lines.append(f"{key} = '{value.replace(chr(39), chr(39) * 2)}'\n")
    changed = _write_if_changed(layout.pg_data / CONF_NAME, "".join(lines), who)

    main_conf = layout.pg_data / "postgresql.conf"
    include = f"include_if_exists = '{CONF_NAME}'\n"
    text = main_conf.read_text()
    if include not in text:
        _write_owned(main_conf, text + "\n" + include, who)
        changed = True

    hba = (
        "# Written by `noa sandbox up`: password (scram-sha-256) authentication only.\n"
        "# TYPE  DATABASE     USER  ADDRESS       METHOD\n"
        "local   all          all                 scram-sha-256\n"
        "host    all          all   127.0.0.1/32  scram-sha-256\n"
        "local   replication  all                 scram-sha-256\n"
        "host    replication  all   127.0.0.1/32  scram-sha-256\n"
    )
    return _write_if_changed(layout.pg_data / "pg_hba.conf", hba, who) or changed


def reload(bins: PgBinaries, layout: Layout, who: RunAs) -> None:
    """Make the running server re-read its configuration (``pg_ctl reload``).

    Raises:
        Unavailable: pg_ctl failed (no server running in the data directory…).
    """
    result = subprocess.run(
        who.argv([bins.tool("pg_ctl"), "reload", "-D", str(layout.pg_data), "-s"]),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=layout.pg_dir,
        check=False,
    )
    if result.returncode != 0:
        raise Unavailable(
            f"pg_ctl reload failed (exit {result.returncode}): "
            f"{(result.stdout + result.stderr).strip()[-500:]}",
            backend="postgres",
        )


def _write_if_changed(path: Path, text: str, who: RunAs) -> bool:
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    _write_owned(path, text, who)
    return True


def extension_available(bins: PgBinaries, name: str) -> bool:
    """True when extension ``name`` is installed (control file and library)."""
    pg_config = bins.bindir / "pg_config"
    try:
        out = subprocess.run(  # noqa: S603
            [str(pg_config), "--sharedir", "--pkglibdir"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return False
    if len(out) != 2:
        return False
    sharedir, libdir = map(Path, out)
    return (sharedir / "extension" / f"{name}.control").is_file() and (
        libdir / f"{name}.so"
    ).is_file()


def _write_owned(path: Path, text: str, who: RunAs) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    who.own(tmp)
    os.replace(tmp, path)


def start(
    bins: PgBinaries, layout: Layout, who: RunAs, *, timeout: float = 60.0
) -> tuple[int, int]:
    """Start the server with ``pg_ctl start -w`` (it detaches the postmaster).

    Returns:
        ``(pid, start_time)`` of the postmaster.

    Raises:
        Unavailable: the server did not start; the message carries the log tail.
    """
    log = layout.log("postgres")
    argv = pg_ctl_start_argv(bins, layout.pg_data, log, timeout)
    result = subprocess.run(  # noqa: S603
        who.argv(argv),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout + 15,
        cwd=layout.pg_dir,
        check=False,
    )
    pid = postmaster_pid(layout)
    start_time = processes.process_start_time(pid) if pid is not None else None
    if result.returncode != 0 or pid is None or start_time is None:
        raise Unavailable(
            f"PostgreSQL did not start (pg_ctl exit {result.returncode}: "
            f"{(result.stdout + result.stderr).strip()[-500:]}); last lines of {log}:\n"
            + processes.log_tail(log),
            backend="postgres",
        )
    return pid, start_time


def await_remains(layout: Layout, pid: int, start_time: int | None, timeout: float = 20.0) -> None:
    """After a crash, wait until the dead postmaster and its orphaned backends are gone.

    Until then a new postmaster refuses to start (stale ``postmaster.pid`` naming a zombie) or
    must not start (old backends still attached to shared memory).

    Raises:
        Unavailable: something of the old server is still there after ``timeout`` seconds.
    """
    if processes.wait_for(
        lambda: (
            processes.is_gone(pid, start_time) and not processes.pids_working_in(layout.pg_data)
        ),
        timeout=timeout,
        interval=0.2,
    ):
        return
    left = processes.pids_working_in(layout.pg_data)
    raise Unavailable(
        f"the crashed PostgreSQL (pid {pid}) has not fully exited after {timeout:.0f}s "
        f"(processes still in its data directory: {left or 'none'}, postmaster entry: "
        f"{'gone' if processes.is_gone(pid, start_time) else 'still present'}); "
        "try `noa sandbox up` again in a moment",
        backend="postgres",
    )


def postmaster_pid(layout: Layout) -> int | None:
    """The pid in ``postmaster.pid``, or ``None`` when there is none."""
    try:
        first = (layout.pg_data / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except OSError:
        return None
    return int(first) if first.isdigit() else None


def stop(
    bins: PgBinaries | None, layout: Layout, who: RunAs, pid: int, start_time: int | None
) -> None:
    """Stop the postmaster ``pid``: ``pg_ctl stop -m fast``, then signals if it lingers."""
    if not processes.is_alive(pid, start_time):
        return
    if bins is not None and postmaster_pid(layout) == pid:
        argv = [bins.tool("pg_ctl"), "stop", "-D", str(layout.pg_data), "-m", "fast", "-w", "-s"]
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            subprocess.run(  # noqa: S603
                who.argv([*argv, "-t", "30"]),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=45,
                cwd=layout.pg_dir,
                check=False,
            )
    if processes.wait_for(lambda: not processes.is_alive(pid, start_time), timeout=5):
        return
    for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if processes.wait_for(lambda: not processes.is_alive(pid, start_time), timeout=wait):
            return


def connect(
    port: int, *, user: str, password: str, dbname: str, autocommit: bool = True
) -> psycopg.Connection[tuple[object, ...]]:
    """A psycopg connection over TCP to the sandbox server.

    Raises:
        Unavailable: the connection failed (message without secrets).
    """
    import psycopg

    try:
        return psycopg.connect(
            host=processes.LOOPBACK,
            port=port,
            user=user,
            password=password,
            dbname=dbname,
            connect_timeout=10,
            autocommit=autocommit,
            application_name="noa-sandbox",
        )
    except psycopg.Error as exc:
        message = str(exc).replace(password, "***")
        raise Unavailable(
            f"cannot connect to sandbox PostgreSQL as {user} on port {port}: {message}",
            backend="postgres",
        ) from None
