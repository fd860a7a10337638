"""The sandbox's PostgreSQL server: find binaries, initdb, configure, start, stop, connect.

As root the server binaries run as the ``postgres`` system user (``initdb`` refuses root) through
``runuser -u postgres -- …``; otherwise they run as the current user. Authentication is
scram-sha-256 everywhere (no trust), the server listens on 127.0.0.1 only, and WAL archiving
copies finished segments into ``<state_dir>/wal_archive``.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from noa_lib.errors import PreconditionFailed, Unavailable
from noa_lib.sandbox import processes
from noa_lib.sandbox.layout import Layout

if TYPE_CHECKING:
    import psycopg

SUPERUSER = "postgres"
SYSTEM_USER = "postgres"
CONF_NAME = "noa_sandbox.conf"
INSTALL_HINT = "install with `apt-get install -y postgresql` or run `make bootstrap`"
_SOCKET_PATH_MAX = 107


@dataclass(frozen=True)
class PgBinaries:
    """Where the PostgreSQL server binaries live, and their version (e.g. ``15.18``)."""

    bindir: Path
    version: str

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


@dataclass(frozen=True)
class RunAs:
    """Who runs the server binaries: the ``postgres`` system user when we are root."""

    uid: int
    gid: int
    switch_user: bool

    def argv(self, args: Sequence[str]) -> list[str]:
        """``args`` wrapped in ``runuser`` when the user must be switched."""
        if not self.switch_user:
            return list(args)
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", SYSTEM_USER, "--", *args]

    def own(self, path: Path) -> None:
        """Give ``path`` to the server's user (no-op when not switching users)."""
        if self.switch_user:
            os.chown(path, self.uid, self.gid)


def find_binaries() -> PgBinaries:
    """The newest PostgreSQL server binaries on this machine.

    Looks in ``/usr/lib/postgresql/*/bin`` (highest version), then ``pg_config --bindir``, then
    ``PATH``.

    Raises:
        PreconditionFailed: no ``initdb``/``pg_ctl``/``postgres`` found.
    """
    candidates: list[Path] = []
    versioned = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        with contextlib.suppress(ValueError):
            versioned.append((float(bindir.parent.name), bindir))
    candidates.extend(b for _, b in sorted(versioned, reverse=True))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(  # noqa: S603
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return PgBinaries(bindir=bindir, version=_server_version(bindir))
    raise PreconditionFailed(f"PostgreSQL binaries not found; {INSTALL_HINT}")


def _server_version(bindir: Path) -> str:
    try:
        out = subprocess.run(  # noqa: S603
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise PreconditionFailed(
            f"{bindir}/postgres does not run ({exc}); {INSTALL_HINT}"
        ) from None
    match = re.search(r"(\d+(?:\.\d+)*)", out)
    return match.group(1) if match else out.strip()


def run_as() -> RunAs:
    """How to run server binaries from this process.

    Raises:
        PreconditionFailed: running as root but there is no ``postgres`` system user.
    """
    if os.geteuid() != 0:
        return RunAs(uid=os.geteuid(), gid=os.getegid(), switch_user=False)
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PreconditionFailed(
            "running as root needs a `postgres` system user to own the cluster; "
            f"{INSTALL_HINT} (it creates the user)"
        ) from None
    return RunAs(uid=entry.pw_uid, gid=entry.pw_gid, switch_user=True)


def check_traversable(path: Path, who: RunAs) -> None:
    """Make sure the server's user can reach ``path`` through every parent directory.

    Raises:
        PreconditionFailed: a parent directory does not let that user through (names it).
    """
    if not who.switch_user:
        return
    groups = {who.gid, *(g.gr_gid for g in _groups_of(SYSTEM_USER))}
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_uid == who.uid:
            ok = bool(st.st_mode & 0o100)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & 0o010)
        else:
            ok = bool(st.st_mode & 0o001)
        if not ok:
            raise PreconditionFailed(
                f"the `{SYSTEM_USER}` user cannot enter {directory}, so PostgreSQL cannot use "
                f"{path}; run `chmod o+x {directory}` or choose another NOA_SANDBOX_DIR"
            )


def _groups_of(user: str) -> list[grp.struct_group]:
    return [g for g in grp.getgrall() if user in g.gr_mem]


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
    for directory, mode in ((layout.pg_dir, 0o700), (layout.wal_archive, 0o700)):
        directory.mkdir(mode=mode, parents=True, exist_ok=True)
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


def write_config(bins: PgBinaries, layout: Layout, who: RunAs, port: int) -> None:
    """(Re)write the sandbox settings and ``pg_hba.conf`` for a server on ``port``."""
    validate_location(layout)
    socket_dir = str(layout.pg_run)
    if len(socket_dir) + len("/.s.PGSQL.65535") > _SOCKET_PATH_MAX:
        socket_dir = ""  # path too long for a unix socket: TCP only
    archive = layout.wal_archive
    # Never overwrite an archived segment; copy via a temporary name so a crash mid-copy leaves no
    # truncated segment; succeed if an identical copy exists (a crash between copy and PG noting
    # it would otherwise block archiving forever).
    dest = f"'{archive}/%f'"
    archive_command = (
        f"test ! -f {dest} && cp %p '{archive}/%f.part' && mv '{archive}/%f.part' {dest}"
        f" || cmp -s %p {dest}"
    )
    settings: dict[str, str | int] = {
        "listen_addresses": "127.0.0.1",
        "port": port,
        "unix_socket_directories": socket_dir,
        "max_connections": 100,
        "password_encryption": "scram-sha-256",
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": archive_command,
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
    _write_owned(layout.pg_data / CONF_NAME, "".join(lines), who)

    main_conf = layout.pg_data / "postgresql.conf"
    include = f"include_if_exists = '{CONF_NAME}'\n"
    text = main_conf.read_text()
    if include not in text:
        _write_owned(main_conf, text + "\n" + include, who)

    hba = (
        "# Written by `noa sandbox up`: password (scram-sha-256) authentication only.\n"
        "# TYPE  DATABASE     USER  ADDRESS       METHOD\n"
        "local   all          all                 scram-sha-256\n"
        "host    all          all   127.0.0.1/32  scram-sha-256\n"
        "local   replication  all                 scram-sha-256\n"
        "host    replication  all   127.0.0.1/32  scram-sha-256\n"
    )
    _write_owned(layout.pg_data / "pg_hba.conf", hba, who)


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
    argv = [
        bins.tool("pg_ctl"),
        "start",
        "-D",
        str(layout.pg_data),
        "-l",
        str(log),
        "-w",
        "-t",
        str(int(timeout)),
        "-s",
    ]
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
