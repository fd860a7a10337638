"""Where the PostgreSQL server binaries of a major version live, and their version."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from noa_lib.errors import PreconditionFailed

SYSTEM_ROOT = Path("/usr/lib/postgresql")
INSTALL_HINT = "install with `apt-get install -y postgresql` or run `make bootstrap`"
SERVER_TOOLS = ("initdb", "pg_ctl", "postgres")


@dataclass(frozen=True)
class PgBinaries:
    """Where the PostgreSQL server binaries live, and their version (e.g. ``15.18``)."""

    bindir: Path
    version: str

    @property
    def major(self) -> int:
        """The major version (``15`` for ``15.18``)."""
        return int(self.version.split(".", 1)[0])

    def tool(self, name: str) -> str:
        """Absolute path of the tool ``name`` in :attr:`bindir`."""
        return str(self.bindir / name)


def find_binaries(major: int | None = None, *, tools: Sequence[str] = SERVER_TOOLS) -> PgBinaries:
    """The PostgreSQL server binaries: of ``major`` when given, else the newest installed.

    Looks in ``/usr/lib/postgresql/<version>/bin`` (the requested major, else the highest), then
    ``pg_config --bindir``, then the directory of ``initdb`` on ``PATH``. A directory qualifies
    when every tool in ``tools`` is executable there.

    Raises:
        PreconditionFailed: no such binaries (the message names the major version wanted).
    """
    candidates: list[Path] = []
    versioned: list[tuple[float, Path]] = []
    for bindir in SYSTEM_ROOT.glob("*/bin"):
        with contextlib.suppress(ValueError):
            versioned.append((float(bindir.parent.name), bindir))
    candidates.extend(b for _, b in sorted(versioned, reverse=True))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    seen: list[str] = []
    for bindir in dict.fromkeys(candidates):
        if not all(os.access(bindir / tool, os.X_OK) for tool in tools):
            continue
        found = PgBinaries(bindir=bindir, version=_server_version(bindir))
        if major is None or found.major == major:
            return found
        seen.append(f"{bindir} ({found.version})")
    wanted = f"PostgreSQL {major} server binaries" if major else "PostgreSQL binaries"
    other = f" (found only {', '.join(seen)})" if seen else ""
    hint = f"`apt-get install -y postgresql-{major}`" if major else INSTALL_HINT
    raise PreconditionFailed(f"{wanted} ({', '.join(tools)}) not found{other}; install {hint}")


def _server_version(bindir: Path) -> str:
    try:
        out = subprocess.run(
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


__all__ = ["INSTALL_HINT", "SERVER_TOOLS", "SYSTEM_ROOT", "PgBinaries", "find_binaries"]
