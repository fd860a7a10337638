"""``noa sandbox …``: the commands this distribution adds to ``noa`` (entry point
``noa.commands``, see :mod:`noa_lib.cli`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from noa_lib.cli_output import say, table


def register(sub: Any) -> None:
    """Add ``noa sandbox up|down|status|scenario|release`` to the ``noa`` subparsers."""
    sandbox = sub.add_parser("sandbox", help="the local stand-in for NOA production")
    ssub = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="COMMAND")
    p = ssub.add_parser("up", help="start PostgreSQL, S3, Prometheus and the simulated NOA "
                        "Server on loopback (safe to repeat)")
    p.add_argument("--with-alertmanager", action=argparse.BooleanOptionalAction, default=None,
                   help="also run Alertmanager (remembered; --no-with-alertmanager stops it)")
    p.add_argument("--alert-webhook", metavar="URL",
                   help="where Alertmanager sends alerts (default http://127.0.0.1:9095/alerts, "
                   "`noa alerts serve`)")
    ssub.add_parser("down", help="stop everything the sandbox started")
    p = ssub.add_parser("scenario", help="put the simulated NOA Server into a situation "
                        "(error-spike, slow-db, …; normal ends it)")
    p.add_argument("name", nargs="?", help="scenario name (see --list)")
    p.add_argument("--list", action="store_true", help="list the scenarios and what they show")
    p = ssub.add_parser("release", help="mark a NOA Server release of the sandbox registry bad, "
                        "crashing, … (only the pods running it are affected), or publish one")
    p.add_argument("version", nargs="?", help="release tag, e.g. 2.15.0 (see --list)")
    p.add_argument("--list", action="store_true", help="list the published releases")
    p.add_argument("--bad", action="store_true", help="its pods answer 5xx and slowly")
    p.add_argument("--error-rate", type=float, default=0.25,
                   help="with --bad: share of 5xx responses (default 0.25)")
    p.add_argument("--extra-latency", type=float, default=0.8,
                   help="with --bad: seconds added to database-bound requests (default 0.8)")
    p.add_argument("--crash", action="store_true", help="its pods crash-loop (never Ready)")
    p.add_argument("--migration-fails", action="store_true",
                   help="its database migration Job fails")
    p.add_argument("--good", action="store_true", help="clear every fault of the release")
    p.add_argument("--publish", action="store_true",
                   help="publish the tag in the sandbox registry first (a new release)")
    p = ssub.add_parser("status", help="what is running and where")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sandbox.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from noa_sandbox import manager as sandbox

    if args.sandbox_command == "scenario":
        return _cmd_scenario(args)
    if args.sandbox_command == "release":
        return _cmd_release(args)
    if args.sandbox_command == "up":
        state = sandbox.up(progress=say, with_alertmanager=args.with_alertmanager,
                           alert_webhook=args.alert_webhook)
    elif args.sandbox_command == "down":
        state = sandbox.down(progress=say)
    else:
        state = sandbox.status()
    if getattr(args, "json", False):
        print(json.dumps(state.to_dict(), indent=2))
    else:
        rows = [
            {"service": s.name, "state": s.state, "pid": s.pid or "-",
             "endpoint": s.endpoint or "-", "detail": s.detail.splitlines()[0] if s.detail else ""}
            for s in state.services
        ]
        table(rows, ["service", "state", "pid", "endpoint", "detail"], widths={"detail": 60})
        print(f"state: {state.state_dir}")
    if args.sandbox_command == "down":
        return 0
    return 0 if state.healthy else 3


def _cmd_scenario(args: argparse.Namespace) -> int:
    from noa_sandbox import scenarios

    if args.list or not args.name:
        current = scenarios.current()
        rows = [{"scenario": s.name + (" *" if current and current.scenario == s.name else ""),
                 "simulates": s.summary, "shows": s.shows} for s in scenarios.available()]
        table(rows, ["scenario", "simulates", "shows"])
        if not args.list:
            say("give a scenario name to switch to it (* marks the current one)")
        return 0
    spec = scenarios.set_scenario(None, args.name)
    say(f"scenario {spec.scenario} since {spec.to_json()['since_utc']}; Prometheus shows it "
         "within ~15 s (`noa sandbox down` ends it)")
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from noa_sandbox import releases

    if args.list or not args.version:
        rows = [{"release": r.version, "pods": r.pods,
                 "errors": f"{r.error_rate:.0%}" if r.error_rate else "-",
                 "extra latency": f"{r.extra_latency_s:g}s" if r.extra_latency_s else "-",
                 "crash": "yes" if r.crash else "-",
                 "migration": "fails" if r.migration_fails else "-",
                 "migrations": ", ".join(r.migrations[-2:])}
                for r in releases.list_releases()]
        table(rows, ["release", "pods", "errors", "extra latency", "crash", "migration",
                      "migrations"])
        if not args.list:
            say("give a release to mark it (--bad, --crash, --migration-fails, --good)")
        return 0
    release = releases.mark_release(
        None, args.version, bad=args.bad, error_rate=args.error_rate,
        extra_latency_s=args.extra_latency, crash=args.crash,
        migration_fails=args.migration_fails, good=args.good, publish=args.publish,
    )
    state = "healthy" if release.healthy else ", ".join(
        part for part, on in (
            (f"{release.error_rate:.0%} errors", release.error_rate),
            (f"+{release.extra_latency_s:g}s latency", release.extra_latency_s),
            ("crash-looping", release.crash),
            ("failing migrations", release.migration_fails),
        ) if on
    )
    say(f"release {release.version}: {state}; {release.pods} pod(s) run it now")
    return 0


