"""Starting and checking the simulator process from ``noa sandbox up`` (by pid, on loopback)."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from noa_lib.errors import Unavailable
from noa_lib.sandbox import processes
from noa_lib.sandbox.layout import Layout

VERSION = "NOA Server simulator"


def url(port: int) -> str:
    return f"http://{processes.LOOPBACK}:{port}/metrics"


def command(port: int, world_file: Path) -> list[str]:
    """``python -m noa_lib.sandbox.simulator`` with this interpreter."""
    return [
        sys.executable,
        "-m",
        "noa_lib.sandbox.simulator",
        "--port",
        str(port),
        "--state",
        str(world_file),
    ]


def start(layout: Layout, port: int) -> tuple[int, int]:
    """Start the simulator detached; returns ``(pid, start_time)``."""
    layout.simulator_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[3])  # the directory holding noa_lib/
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return processes.spawn_detached(
        command(port, layout.world_file),
        log_file=layout.log("simulator"),
        env=env,
        cwd=layout.simulator_dir,
    )


def ready(port: int) -> bool:
    """True when ``/metrics`` answers 200."""
    try:
        with urllib.request.urlopen(url(port), timeout=2) as rsp:  # noqa: S310 - loopback
            return bool(rsp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def wait_ready(port: int, pid: int, start_time: int, log: Path, *, timeout: float = 30.0) -> None:
    """Wait until ``/metrics`` answers.

    Raises:
        Unavailable: the process exited (message carries its log tail).
        Timeout: not ready in time.
    """

    def check() -> bool:
        if not processes.is_alive(pid, start_time):
            raise Unavailable(
                f"the NOA Server simulator exited during start-up; last lines of {log}:\n"
                + processes.log_tail(log),
                backend="simulator",
            )
        return ready(port)

    processes.require(
        check, timeout=timeout, what="NOA Server simulator", log_file=log, interval=0.1
    )


__all__ = ["VERSION", "command", "start", "url", "wait_ready"]
