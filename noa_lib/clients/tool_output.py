"""What PostgreSQL tools and servers print, read back: versions, stderr tails, log tails.

One definition each for the clients that spawn tools (:mod:`.pgdump`, :mod:`.pgserver`) and for
the sandbox's process managers.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import IO

from noa_lib.errors import PreconditionFailed

STDERR_TAIL = 4000  # characters of a tool's stderr kept for its error message


def tool_version(path: str, *, hint: str = "") -> str:
    """The version a PostgreSQL tool reports (``pg_dump --version`` → ``"15.18"``).

    ``hint`` (how to install the tool) ends the error message.

    Raises:
        PreconditionFailed: the tool does not run or prints no version.
    """
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=15, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        advice = f"; {hint}" if hint else ""
        raise PreconditionFailed(f"{path} does not run ({exc}){advice}") from None
    match = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)*)", out)
    match = match or re.search(r"(\d+(?:\.\d+)+)", out)
    if match is None:
        raise PreconditionFailed(f"{path} --version printed no version: {out.strip()[:100]!r}")
    return match.group(1)


def read_tail(handle: IO[bytes], max_chars: int = STDERR_TAIL) -> str:
    """The last ``max_chars`` bytes written to ``handle`` (a temporary stderr file), as text."""
    handle.flush()
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - max_chars))
    return handle.read().decode("utf-8", "replace")


def log_tail(path: Path, lines: int = 20, max_chars: int = 3000) -> str:
    """The last ``lines`` lines of ``path`` (at most ``max_chars``), or a note when unreadable."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"(log {path} unreadable: {exc.strerror})"
    tail = "\n".join(text.rstrip("\n").splitlines()[-lines:])
    return tail[-max_chars:] if tail else "(log is empty)"


def plain_env() -> dict[str, str]:
    """Our environment without libpq variables (they must not redirect a tool)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


__all__ = ["STDERR_TAIL", "log_tail", "plain_env", "read_tail", "tool_version"]
