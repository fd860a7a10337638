"""The executables the sandbox runs, found on ``PATH`` with their versions.

One finder for Prometheus, promtool, Alertmanager, Redis and the exporters: the first of the
names on ``PATH`` (or in ``/usr/bin``, where Debian puts them), asked ``--version``, the version
read with a pattern of its own (every tool prints it differently).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from noa_lib.errors import PreconditionFailed

VERSION_RE = r"version\s+v?(\d+\.\d+\.\d+)"


@dataclass(frozen=True)
class Binary:
    """An executable and the version it reports (``"?"`` when it says none we can read)."""

    path: Path
    version: str


def locate(names: Sequence[str], *, what: str, hint: str) -> Path:
    """The first of ``names`` on ``PATH`` or in ``/usr/bin``.

    Raises:
        PreconditionFailed: none is installed (the message says how to install it).
    """
    for name in names:
        path = shutil.which(name) or (
            f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
        if path is not None:
            return Path(path)
    raise PreconditionFailed(f"{what} (`{names[0]}`) not found; {hint}")


def find(names: Sequence[str], *, what: str, hint: str, version_re: str = VERSION_RE
         ) -> Binary:
    """The first of ``names`` that is installed, with the version its ``--version`` prints.

    Raises:
        PreconditionFailed: none is installed, or it does not run.
    """
    path = locate(names, what=what, hint=hint)
    try:
        out = subprocess.run(  # noqa: S603 - argument list
            [str(path), "--version"], capture_output=True, text=True, timeout=15, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise PreconditionFailed(f"{path} does not run ({exc}); {hint}") from None
    match = re.search(version_re, out.stdout + out.stderr)
    return Binary(path, match.group(1) if match else "?")


__all__ = ["VERSION_RE", "Binary", "find", "locate"]
