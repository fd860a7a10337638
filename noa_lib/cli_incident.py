"""``noa incident open|list|show|update|resolve|reopen``: incidents as records.

Thin over :class:`noa_lib.records.incidents.IncidentStore` and
:func:`noa_lib.records.incident_timeline.incident_timeline`. Bad values exit 2 naming the option
and what it accepts; so does an unknown incident id.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from noa_lib.cli_output import say, table

SEVERITY_CHOICES = ("P0", "P1", "P2", "P3")
STATUS_CHOICES = ("detected", "investigating", "mitigated", "resolved")
LIST_CHOICES = ("open", "resolved", "all", "detected", "investigating", "mitigated")


def register(sub: Any) -> None:
    """Add ``noa incident …`` to the ``noa`` subparsers."""
    incident = sub.add_parser("incident", help="incidents: open, list, show, update, resolve")
    isub = incident.add_subparsers(dest="incident_command", required=True, metavar="COMMAND")
    p = isub.add_parser("open", help="open an incident (status detected)")
    p.add_argument("--severity", required=True, choices=SEVERITY_CHOICES, type=str.upper,
                   help="P0 outage/data loss (5 min), P1 major (15 min), P2 minor (1 h), "
                   "P3 cosmetic (24 h)")
    p.add_argument("--title", required=True, help="what is happening, in a line")
    p.add_argument("--commander", help="incident commander")
    p.add_argument("--group-key", help="Alertmanager group key this incident answers")
    p.add_argument("--note", help="first note")
    _common(p)
    p = isub.add_parser("list", help="incidents, newest first (answers from the index)")
    p.add_argument("--status", default="open", choices=LIST_CHOICES,
                   help="open (default: not resolved), resolved, all, or one status")
    p.add_argument("--severity", choices=SEVERITY_CHOICES, type=str.upper)
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    _common(p)
    p = isub.add_parser("show", help="an incident and its timeline (its records' events merged)")
    p.add_argument("id", help="incident id, e.g. INC-20261204-0231")
    _common(p)
    p = isub.add_parser("update", help="change status, severity (with --reason), commander, or "
                        "add a note; each change is recorded with who and when")
    p.add_argument("id", help="incident id")
    p.add_argument("--status", choices=STATUS_CHOICES, help="move forward to this status")
    p.add_argument("--severity", choices=SEVERITY_CHOICES, type=str.upper,
                   help="override the severity (needs --reason)")
    p.add_argument("--reason", help="why the severity changes")
    p.add_argument("--commander", help="new incident commander")
    p.add_argument("--note", help="a note for the timeline")
    _common(p)
    p = isub.add_parser("resolve", help="mark the incident resolved")
    p.add_argument("id", help="incident id")
    p.add_argument("--note", help="how it was resolved")
    _common(p)
    p = isub.add_parser("reopen", help="take a mitigated or resolved incident back to "
                        "investigating (recorded with the reason)")
    p.add_argument("id", help="incident id")
    p.add_argument("--reason", required=True, help="why it is reopened")
    _common(p)
    incident.set_defaults(handler=run)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--reports-dir", type=Path, help="records root (default from noa.toml)")


def run(args: argparse.Namespace) -> int:
    """Handle ``noa incident …``; returns the exit code (errors propagate to ``noa``'s main)."""
    from noa_lib.records.incidents import IncidentStore

    store = IncidentStore(_root(args))
    command = args.incident_command
    if command == "list":
        incidents = store.list(status=args.status, severity=args.severity, limit=args.limit)
        rows = [_row(i.as_dict()) for i in incidents]
        if args.json:
            print(json.dumps([i.as_dict() for i in incidents], indent=2))
        elif rows:
            table(rows, ["id", "severity", "status", "title", "commander", "detected", "records"],
                  widths={"title": 60})
        else:
            say(f"no incidents ({args.status})")
        return 0
    if command == "show":
        return _show(store, args.id, args.json)
    if command == "open":
        incident = store.open(title=args.title, severity=args.severity, commander=args.commander,
                              group_key=args.group_key, note=args.note)
    elif command == "update":
        incident = store.update(args.id, status=args.status, severity=args.severity,
                                reason=args.reason, commander=args.commander, note=args.note)
    elif command == "resolve":
        incident = store.resolve(args.id, note=args.note)
    else:
        incident = store.reopen(args.id, reason=args.reason)
    if args.json:
        print(json.dumps(incident.as_dict(), indent=2))
    else:
        print(incident.id)
        say(f"{incident.id} {incident.severity} {incident.status}: {incident.title} "
            f"(respond by {incident.respond_by})")
    return 0


def _root(args: argparse.Namespace) -> Path:
    if args.reports_dir is not None:
        return Path(args.reports_dir)
    from noa_lib.config import load_config

    return load_config().reports_dir


def _row(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": data["id"],
        "severity": data["severity"],
        "status": data["status"],
        "title": data["title"],
        "commander": data.get("commander") or "-",
        "detected": data["detected_at"][:16].replace("T", " ") + "Z",
        "records": len(data.get("records") or []),
    }


def _show(store: Any, incident_id: str, as_json: bool) -> int:
    from noa_lib.records.incident_timeline import incident_timeline

    incident = store.get(incident_id)
    events = incident_timeline(store, incident_id)
    if as_json:
        print(json.dumps({"incident": incident.as_dict(),
                          "timeline": [e.as_dict() for e in events]}, indent=2))
        return 0
    data = incident.as_dict()
    lines = [
        f"incident   {data['id']}  {data['severity']}  {data['status']}",
        f"title      {data['title']}",
        f"commander  {data.get('commander') or '-'}",
        f"detected   {data['detected_at']}  respond by {data['respond_by']}",
        "status     " + ", ".join(f"{k} {v}" for k, v in data["status_times"].items()),
        f"groups     {', '.join(data['group_keys']) or '-'}",
        f"records    {len(data['records'])}",
        "",
    ]
    print("\n".join(lines))
    rows = [{"at": e.as_dict()["at"], "kind": e.kind,
             "source": f"{e.runbook} {e.run_id}" if e.run_id else (e.by or "-"),
             "text": e.text} for e in events]
    table(rows, ["at", "kind", "source", "text"], widths={"text": 80})
    return 0


__all__ = ["register", "run"]
