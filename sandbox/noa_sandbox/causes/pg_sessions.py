"""Database causes: NOA's sessions in the sandbox PostgreSQL, and what the simulator sees of them.

- ``pool-exhausted``: a holder process (:mod:`.pg_holder`) keeps as many sessions open under
  NOA's application names (``noa-api``, ``noa-worker``; role ``noa_ops``, NOA's own) as the
  services' pods have pool slots (``POOL_MAX`` × pods), each ``idle in transaction``.
- ``slow-db``: the holder's ``noa-worker`` session locks a row in an open transaction and
  ``noa-api`` / ``noa-worker`` sessions run an ``UPDATE`` of it that waits on the lock
  (``pg_blocking_pids`` names the blocker).

The **observer** counts NOA's sessions in ``pg_stat_activity`` (as the sandbox's monitoring role)
per service: *held* (idle in transaction) and *slow* (waiting on a lock, or active for more than
:data:`SLOW_S`), and turns them into :class:`Effects`: every such session occupies a pool slot
(``pool_held``); a service whose pods' pools are all taken is ``pool_full`` (503s, slower
requests, QueuePool errors in its logs); slow sessions stretch the database-bound requests
(``extra_latency_s``) and press on the pools (``pool_pressure``). No NOA session: no effects,
exactly the normal world. Terminating the sessions (``incident/db_pool_exhausted``,
``incident/high_latency``) is what cures it.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from noa_lib.errors import PreconditionFailed, Unavailable
from noa_sandbox import postgres, processes
from noa_sandbox.causes import Cause, Observer, register
from noa_sandbox.credentials import (
    PG_MONITOR_PASSWORD,
    PG_PASSWORD,
    PG_SUPERUSER_PASSWORD,
    read_secret,
)
from noa_sandbox.exporters import MONITOR_ROLE
from noa_sandbox.layout import Layout
from noa_sandbox.seed import DATABASE, OPS_ROLE
from noa_sandbox.simulator import catalog
from noa_sandbox.simulator.scenarios import Effects
from noa_sandbox.simulator.spec import read_spec
from noa_sandbox.state import load_state

APPS = {"api": "noa-api", "worker": "noa-worker"}
"""Service -> the ``application_name`` its pods' database sessions carry."""
SLOW_S = 1.0
"""An active NOA statement running longer than this counts as slow."""
POOL_FULL = Effects(error_5xx={"api": 0.04, "worker": 0.03},
                    extra_latency_s={"api": 0.8, "worker": 0.8})
"""What an exhausted pool does besides ``pool_full`` (per service, the entry of that service)."""
LOCK_WAIT_LATENCY_S = {"api": 1.6, "worker": 2.0}
LOCK_WAIT_PRESSURE = 0.45
SLOW_DB_WAITERS = {"noa-api": 3, "noa-worker": 2}
READY_TIMEOUT_S = 60.0

ACTIVITY_SQL = """
SELECT application_name AS app, state, wait_event_type,
       extract(epoch FROM now() - query_start)::float8 AS running_s
  FROM pg_stat_activity
 WHERE application_name = ANY(%s) AND backend_type = 'client backend'
   AND pid <> pg_backend_pid()
"""


def pool_slots(layout: Layout) -> dict[str, int]:
    """Service -> pool slots of all its pods now (``POOL_MAX`` × the pods the world runs)."""
    try:
        pods = read_spec(layout.world_file).pods
    except (OSError, ValueError):
        pods = catalog.DEFAULT_PODS
    return {s: size * max(1, sum(1 for p in pods if p.service == s))
            for s, size in catalog.POOL_MAX.items()}


def effects_of(rows: Sequence[Mapping[str, Any]], slots: Mapping[str, int]) -> Effects:
    """The effects NOA's sessions (rows of :data:`ACTIVITY_SQL`) have on the services whose
    pools have ``slots`` in all."""
    service_of = {app: service for service, app in APPS.items()}
    held: dict[str, int] = {}
    slow: dict[str, int] = {}
    for row in rows:
        service = service_of.get(str(row.get("app")))
        if service is None:
            continue
        waiting = row.get("wait_event_type") == "Lock"
        long_running = row.get("state") == "active" and float(row.get("running_s") or 0) > SLOW_S
        if row.get("state") == "idle in transaction":
            held[service] = held.get(service, 0) + 1
        elif waiting or long_running:
            slow[service] = slow.get(service, 0) + 1
    effects = Effects()
    taken = {s: held.get(s, 0) + slow.get(s, 0) for s in APPS}
    if any(taken.values()):
        effects = effects.merged(Effects(pool_held={s: n for s, n in taken.items() if n}))
    full = frozenset(s for s, n in taken.items() if n and n >= slots.get(s, math.inf))
    if full:
        effects = effects.merged(Effects(
            pool_full=full,
            error_5xx={s: v for s, v in POOL_FULL.error_5xx.items() if s in full},
            extra_latency_s={s: v for s, v in POOL_FULL.extra_latency_s.items() if s in full}))
    if slow:
        effects = effects.merged(Effects(
            extra_latency_s={s: LOCK_WAIT_LATENCY_S[s] for s in slow},
            pool_pressure=LOCK_WAIT_PRESSURE))
    return effects


def observer(layout: Layout) -> Observer | None:
    """Reads NOA's sessions every poll (``None`` when the sandbox has no PostgreSQL yet)."""
    port = load_state(layout.state_file).postgres.port
    if port is None:
        return None

    def observe_sessions() -> Effects:
        password = read_secret(layout.secrets_dir, PG_MONITOR_PASSWORD)
        with postgres.connect(port, user=MONITOR_ROLE, password=password,
                              dbname=DATABASE) as conn:
            cur = conn.execute(ACTIVITY_SQL, (list(APPS.values()),))
            names = [d.name for d in cur.description or ()]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        return effects_of(rows, pool_slots(layout))

    return observe_sessions


# --------------------------------------------------------------------------- the causes


def _holder_dir(layout: Layout) -> Path:
    return layout.root / "causes"


def start_holder(layout: Layout, plan: Mapping[str, Any], *, expect_waiting: int = 0
                 ) -> dict[str, Any]:
    """Start the holder with ``plan`` and wait until its sessions exist (and ``expect_waiting``
    of them wait on a lock).

    Returns:
        What was made: the holder's ``pid``/``start_time`` and its backends' pids by role.
    Raises:
        PreconditionFailed: the sandbox's PostgreSQL is not running.
        Unavailable / Timeout: the holder exited or did not get its sessions in time (it is
            stopped again).
    """
    port = load_state(layout.state_file).postgres.port
    if port is None:
        raise PreconditionFailed("the sandbox's PostgreSQL is not running (`noa sandbox up`)")
    work = _holder_dir(layout)
    work.mkdir(mode=0o700, exist_ok=True)
    ready = work / "pg_holder.json"
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "noa_sandbox.causes.pg_holder", "--port", str(port),
            "--user", OPS_ROLE, "--dbname", DATABASE,
            "--password-file", str(layout.secrets_dir / PG_PASSWORD),
            "--plan", json.dumps(dict(plan)), "--ready", str(ready)]
    log = layout.log("pg_holder")
    pid, start = processes.spawn_detached(argv, log_file=log, env=processes.python_env(),
                                          cwd=work)
    made: dict[str, Any] = {"pid": pid, "start_time": start}
    try:
        processes.require_started(ready.is_file, pid=pid, start_time=start,
                                  what="the session holder", backend="postgres",
                                  log_file=log, timeout=READY_TIMEOUT_S)
        made["backends"] = json.loads(ready.read_text())["backends"]
        if expect_waiting:
            processes.require(lambda: _waiting(layout, port) >= expect_waiting,
                              timeout=20.0, what="the lock waits", log_file=log, interval=0.2)
    except Exception:
        remove_holder(layout, made)
        raise
    return made


def _waiting(layout: Layout, port: int) -> int:
    password = read_secret(layout.secrets_dir, PG_MONITOR_PASSWORD)
    with postgres.connect(port, user=MONITOR_ROLE, password=password, dbname=DATABASE) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                           " AND application_name = ANY(%s)", (list(APPS.values()),)).fetchone()
    return int(str(row[0])) if row else 0


def remove_holder(layout: Layout, made: Mapping[str, Any]) -> None:
    """Stop the holder (its sessions close with it), then make sure none of its backends is
    left: the recorded pids still under NOA's application names are terminated.

    Raises:
        Unavailable: sessions were still there after terminating them.
    """
    pid, start = made.get("pid"), made.get("start_time")
    if isinstance(pid, int):
        processes.terminate_group(pid, start if isinstance(start, int) else None, grace=5.0)
    backends = [int(p) for pids in (made.get("backends") or {}).values() for p in pids]
    port = load_state(layout.state_file).postgres.port
    if not backends or port is None:
        return
    password = read_secret(layout.secrets_dir, PG_SUPERUSER_PASSWORD)
    left_sql = ("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)"
                " AND application_name = ANY(%s)")
    args = (backends, list(APPS.values()))
    try:
        with postgres.connect(port, user=postgres.SUPERUSER, password=password,
                              dbname=DATABASE) as conn:
            deadline = time.monotonic() + 10.0
            while True:
                left = [r[0] for r in conn.execute(left_sql, args).fetchall()]
                if not left:
                    return
                conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid",
                             (left,))
                if time.monotonic() >= deadline:
                    raise Unavailable(f"sessions {left} outlived their holder",
                                      backend="postgres")
                time.sleep(0.2)
    except Unavailable:
        if not postgres_running(layout):
            return  # no server, no sessions
        raise


def postgres_running(layout: Layout) -> bool:
    port = load_state(layout.state_file).postgres.port
    return port is not None and processes.port_open(port)


def _create_pool_exhausted(layout: Layout) -> dict[str, Any]:
    slots = pool_slots(layout)
    return start_holder(layout, {"held": {APPS[s]: n for s, n in slots.items()}})


def _create_slow_db(layout: Layout) -> dict[str, Any]:
    plan = {"blocker": APPS["worker"], "waiters": SLOW_DB_WAITERS}
    return start_holder(layout, plan, expect_waiting=sum(SLOW_DB_WAITERS.values()))


register(Cause("pool-exhausted",
               "NOA sessions held idle in transaction, as many as the api and worker pools have "
               "slots", _create_pool_exhausted, remove_holder), observer=observer)
register(Cause("slow-db",
               "a noa-worker session holds a row lock; noa-api and noa-worker UPDATEs wait on it",
               _create_slow_db, remove_holder))

__all__ = ["ACTIVITY_SQL", "APPS", "SLOW_S", "effects_of", "observer", "pool_slots",
           "remove_holder", "start_holder"]
