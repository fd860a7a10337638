"""The process holding NOA's sessions open in the sandbox PostgreSQL (``pool-exhausted``,
``slow-db``): ``python -m noa_sandbox.causes.pg_holder --port P --password-file F --plan J``.

The plan (JSON) says which sessions to open:

- ``{"held": {"noa-api": 60, …}}`` — sessions under that ``application_name``, each ``BEGIN`` +
  a query, then waiting: ``idle in transaction``, as an application that leaked its connections;
- ``{"blocker": "noa-worker", "waiters": {"noa-api": 3, …}}`` — one session locks a row
  (``SELECT … FOR UPDATE`` in an open transaction) and the waiters run an ``UPDATE`` of that row,
  which waits on the lock (``wait_event_type = Lock``) until the blocker is gone.

The password comes from a file (never argv). A session that ends (terminated by a runbook, the
server restarting) is **not** reconnected; a waiter whose statement finally ran closes its
session. The process exits when it has no session left. Once every session is open it writes
``--ready`` (JSON: its backend pids by role) so the cause knows the state exists.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import selectors
import sys
import threading
from pathlib import Path
from typing import Any

import psycopg

log = logging.getLogger("pg_holder")

HELD_SQL = ("SELECT id, slug, plan FROM organizations WHERE deleted_at IS NULL "
            "ORDER BY id LIMIT 1")
LOCK_ROW_SQL = ("SELECT id, name FROM organizations WHERE id = (SELECT min(id) FROM "
                "organizations) FOR UPDATE")
WAIT_SQL = ("UPDATE organizations SET monthly_budget_usd = monthly_budget_usd "
            "WHERE id = (SELECT min(id) FROM organizations)")


def _connect(args: argparse.Namespace, password: str, app: str) -> psycopg.Connection[Any]:
    return psycopg.connect(host="127.0.0.1", port=args.port, user=args.user, dbname=args.dbname,
                           password=password, application_name=app, connect_timeout=10,
                           autocommit=False)


def _gone(conn: psycopg.Connection[Any]) -> bool:
    """True when the server closed the session (the socket became readable: an error or EOF)."""
    try:
        conn.pgconn.consume_input()
    except psycopg.Error:
        return True
    return conn.pgconn.status != psycopg.pq.ConnStatus.OK or conn.broken


def _wait(conn: psycopg.Connection[Any], done: threading.Event) -> None:
    """Run the waiting statement; whatever happens, the session is closed afterwards."""
    try:
        conn.execute(WAIT_SQL)
        conn.commit()
    except psycopg.Error:
        pass
    finally:
        conn.close()
        done.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pg_holder")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", default="noa_ops")
    parser.add_argument("--dbname", default="noa")
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--plan", required=True, help="JSON: held / blocker + waiters")
    parser.add_argument("--ready", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    password = args.password_file.read_text().strip()
    plan = json.loads(args.plan)

    held: list[psycopg.Connection[Any]] = []
    pids: dict[str, list[int]] = {}
    for app, count in (plan.get("held") or {}).items():
        for _ in range(int(count)):
            conn = _connect(args, password, app)
            conn.execute(HELD_SQL).fetchall()  # BEGIN + a query, then idle in transaction
            held.append(conn)
            pids.setdefault(app, []).append(conn.info.backend_pid)
    blocker = plan.get("blocker")
    if blocker:
        conn = _connect(args, password, str(blocker))
        conn.execute(LOCK_ROW_SQL).fetchall()
        held.append(conn)
        pids.setdefault("blocker", []).append(conn.info.backend_pid)
    waiters: list[threading.Event] = []
    for app, count in (plan.get("waiters") or {}).items():
        for _ in range(int(count)):
            conn = _connect(args, password, app)
            pids.setdefault(app, []).append(conn.info.backend_pid)
            done = threading.Event()
            threading.Thread(target=_wait, args=(conn, done), daemon=True).start()
            waiters.append(done)
    tmp = args.ready.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "backends": pids}))
    os.replace(tmp, args.ready)
    log.info("holding %d session(s), %d waiting", len(held), len(waiters))

    selector = selectors.DefaultSelector()
    for conn in held:
        selector.register(conn.fileno(), selectors.EVENT_READ, conn)
    while held or not all(w.is_set() for w in waiters):
        for key, _ in selector.select(timeout=0.5):
            conn = key.data
            if _gone(conn):
                selector.unregister(key.fileobj)
                held.remove(conn)
                conn.close()
                log.info("a session ended; %d held", len(held))
    log.info("no session left; exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
