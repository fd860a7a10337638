"""Who runs the server binaries: as root, the ``postgres`` system user through
``runuser -u postgres --`` (``initdb``/``postgres`` refuse root, and that user cannot execute a
virtualenv under ``/root``); otherwise the current user.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from noa_lib.clients.pgserver.binaries import INSTALL_HINT
from noa_lib.errors import PreconditionFailed

SYSTEM_USER = "postgres"


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
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def own_tree(self, root: Path) -> None:
        """Give ``root`` and everything below it to the server's user."""
        if not self.switch_user:
            return
        self.own(root)
        for directory, dirs, files in os.walk(root):
            for name in (*dirs, *files):
                self.own(Path(directory) / name)


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
    groups = {who.gid, *(g.gr_gid for g in grp.getgrall() if SYSTEM_USER in g.gr_mem)}
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
                f"{path}; run `chmod o+x {directory}` or choose another directory"
            )


__all__ = ["SYSTEM_USER", "RunAs", "check_traversable", "run_as"]
