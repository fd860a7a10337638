"""What the process managers share about a recorded service: alive?, its port, stopping it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from noa_lib.errors import PreconditionFailed
from noa_sandbox import processes
from noa_sandbox.state import SandboxState, ServiceRecord


def alive(record: ServiceRecord) -> bool:
    """True when the recorded process still runs (same pid and start time)."""
    return record.pid is not None and processes.is_alive(record.pid, record.pid_start)


def port_of(record: ServiceRecord) -> int:
    """The port of a running service.

    Raises:
        PreconditionFailed: the state file lacks it (a state written by another version).
    """
    if record.port is None:
        raise PreconditionFailed("state.json lacks a port for a running service; run `down`")
    return record.port


def stop(state: SandboxState, names: Iterable[str], say: Callable[[str], None]
         ) -> tuple[SandboxState, list[str]]:
    """Stop the services ``names`` in that order (by pid: SIGTERM, then SIGKILL after a grace).

    Returns:
        The state with the stopped services' pids forgotten (a survivor's kept) and the names of
        the survivors.
    """
    survivors = []
    for name in names:
        rec: ServiceRecord = getattr(state, name)
        if alive(rec) and rec.pid is not None:
            say(f"stopping {name.replace('_', '-')}…")
            processes.terminate_group(rec.pid, rec.pid_start)
        if alive(rec):
            survivors.append(name)
        else:
            state = state.with_service(name, replace(rec, pid=None, pid_start=None, wanted=False))
    return state, survivors


__all__ = ["alive", "port_of", "stop"]
