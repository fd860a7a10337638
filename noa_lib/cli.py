"""The ``noa`` command: a thin layer over the runner, the records index and the alert receiver.

Other distributions add commands through the ``noa.commands`` entry-point group: each entry is a
function taking the subparsers object, which adds its parser and sets ``handler`` (a function
of the parsed arguments returning the exit code). ``noa-sandbox`` adds ``noa sandbox`` that way;
without it, ``noa sandbox`` says in one line how to install it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from noa_lib.cli_output import say, table
from noa_lib.errors import ClientError, ConfigError, NoaError, ParameterError

RUN_EPILOG = """\
exit codes:
  0  the runbook succeeded (or stopped early on purpose)
  1  the runbook failed (a check failed, an error in a cell), or --fail-on was reached
  2  bad parameters or usage: unknown runbook/parameter, wrong type, unknown target (nothing ran)
  3  infrastructure: the kernel died, a cell timed out, or a backend was unreachable

A record (.ipynb + .html) is written under the reports directory for every run that started,
whatever its outcome. Secrets are never parameters: they come from the target's configuration.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="noa",
        description="Executable runbooks for NOA Server: run them headless, keep every run as a "
        "record, and manage the local sandbox.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list every runbook (area, title, risk, purpose)")
    p.add_argument("--area", help="only this area (deployment, incident, scaling, backup, …)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("show", help="show a runbook's parameters (type, default, help)")
    p.add_argument("runbook", help="AREA/NAME, e.g. monitoring/database_health")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser(
        "run",
        help="execute a runbook headless and keep the record",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runbook", help="AREA/NAME, e.g. monitoring/connectivity_check")
    p.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="set a parameter (typed by its declaration; repeatable)",
    )
    p.add_argument("-f", "--parameters-file", type=Path, help="YAML file of parameter values")
    p.add_argument("--target", help="environment from noa.toml (default: the configured one)")
    p.add_argument("--trigger", default="manual", choices=["manual", "cron", "alert"],
                   help="why this run happens (recorded)")
    p.add_argument("--fingerprint", help="alert fingerprint, for --trigger alert")
    p.add_argument("--incident", metavar="ID",
                   help="the incident this run belongs to (must exist; see `noa incident list`)")
    p.add_argument("--fail-on", choices=["warning", "unreachable", "critical"],
                   help="exit 1 when the outcome is at least this bad (for cron and alerts)")
    p.add_argument("--cell-timeout", type=float, default=1800.0,
                   help="seconds one cell may run before the run is stopped (default 1800)")
    p.add_argument("--no-html", action="store_true", help="skip the HTML rendering")
    p.add_argument("--reports-dir", type=Path, help="records root (default from noa.toml)")

    reports = sub.add_parser("reports", help="find and read records of earlier runs")
    rsub = reports.add_subparsers(dest="reports_command", required=True, metavar="COMMAND")
    p = rsub.add_parser("list", help="list records, newest first (answers from the index)")
    p.add_argument("--runbook", help="only this runbook (AREA/NAME)")
    p.add_argument("--status", choices=["succeeded", "failed", "stopped-early"])
    p.add_argument("--since", help="only newer than this: 7d, 12h, 30m, 2w or an ISO date")
    p.add_argument("--target", help="only runs against this target")
    p.add_argument("--trigger", choices=["manual", "cron", "alert"])
    p.add_argument("--incident", metavar="ID", help="only runs made for this incident")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--reports-dir", type=Path, help="records root (default from noa.toml)")
    p = rsub.add_parser("show", help="show one record's metadata")
    p.add_argument("run_id", help="run id (a unique prefix is enough)")
    p.add_argument("--json", action="store_true", help="print metadata.noa as JSON")
    p.add_argument("--reports-dir", type=Path, help="records root (default from noa.toml)")
    p = rsub.add_parser("reindex", help="rebuild the index from the record files")
    p.add_argument("--reports-dir", type=Path, help="records root (default from noa.toml)")

    alerts = sub.add_parser("alerts", help="run runbooks when Alertmanager sends alerts")
    asub = alerts.add_subparsers(dest="alerts_command", required=True, metavar="COMMAND")
    p = asub.add_parser("serve", help="receive Alertmanager webhooks; run each firing alert's "
                        "runbook headless (read-only), one record per alert")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=9095, help="port to listen on (default 9095)")
    p.add_argument("--max-concurrent", type=int, default=2, help="runs at a time (default 2)")
    p.add_argument("--warm-kernels", type=int, default=1,
                   help="kernels started ahead with the library imported, so an alert's run "
                        "starts at its first query (default 1; 0: start each run cold)")
    p.add_argument("--max-queue", type=int, default=32,
                   help="runs waiting before webhooks get 503 (default 32)")
    p.add_argument("--dedup-window", type=float, default=900.0,
                   help="seconds a fingerprint is not run again (default 900)")
    p.add_argument("--shared-secret", metavar="REF",
                   help="require 'Authorization: Bearer <secret>'; a reference env:NAME or "
                   "file:PATH, never the secret itself")
    p.add_argument("--target", help="environment the runbooks run against (default configured)")
    p.add_argument("--cell-timeout", type=float, default=600.0,
                   help="seconds one cell may run (default 600)")
    p.add_argument("--reports-dir", type=Path, help="records root (default from noa.toml)")

    _add_plugins(sub)
    return parser


PLUGIN_GROUP = "noa.commands"
SANDBOX_HINT = (
    "the sandbox is not installed: from a clone of noa-runbooks run `make bootstrap` "
    "(or `pip install ./sandbox`)"
)


def _add_plugins(sub: Any) -> None:
    """The commands other installed distributions add (entry points ``noa.commands``)."""
    from importlib.metadata import entry_points

    from noa_lib import cli_incident, cli_metrics

    cli_metrics.register(sub)
    cli_incident.register(sub)
    names = set()
    for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        entry.load()(sub)
        names.add(entry.name)
    if "sandbox" not in names:
        p = sub.add_parser("sandbox", help="the local stand-in for NOA production (not installed)",
                           add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(handler=_sandbox_missing)


def _sandbox_missing(args: argparse.Namespace) -> int:
    say(SANDBOX_HINT)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``noa`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        handler = getattr(args, "handler", None) or {
            "list": _cmd_list,
            "show": _cmd_show,
            "run": _cmd_run,
            "reports": _cmd_reports,
            "alerts": _cmd_alerts,
        }[args.command]
        return int(handler(args))
    except (ParameterError, ConfigError) as exc:
        say(f"error: {exc}")
        return 2
    except ClientError as exc:
        say(f"error: {exc}")
        return 3
    except NoaError as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130


def _cmd_list(args: argparse.Namespace) -> int:
    from noa_lib.records.catalog import Catalog

    books = [b for b in Catalog().runbooks() if not args.area or b.area == args.area]
    rows = [
        {"runbook": b.id, "area": b.area, "title": b.title, "risk": b.risk, "purpose": b.purpose}
        for b in books
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table(rows, ["runbook", "risk", "title", "purpose"], widths={"purpose": 70})
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from noa_lib.records.catalog import Catalog

    book = Catalog().get(args.runbook)
    params = [
        {
            "name": p.name,
            "type": p.type.describe(),
            "default": "(required)" if p.required else repr(p.default),
            "help": p.help,
        }
        for p in book.parameters
    ]
    if args.json:
        info = {"runbook": book.id, "title": book.title, "risk": book.risk,
                "purpose": book.purpose, "path": str(book.path), "parameters": params}
        print(json.dumps(info, indent=2))
        return 0
    print(f"{book.id} — {book.title}")
    print(f"risk: {book.risk}")
    if book.purpose:
        print(book.purpose)
    print()
    table(params, ["name", "type", "default", "help"])
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from noa_lib.records.runner import RunRequest, Trigger, run

    values: dict[str, Any] = {}
    if args.parameters_file:
        values.update(_read_parameters_file(args.parameters_file))
    for name, value in args.parameter:
        values[name] = value
    request = RunRequest(
        runbook=args.runbook,
        parameters=values,
        target=args.target,
        trigger=Trigger(args.trigger, args.fingerprint),
        reports_dir=args.reports_dir,
        cell_timeout=args.cell_timeout,
        html=not args.no_html,
        fail_on=args.fail_on,
        progress_bar=sys.stderr.isatty(),
        incident=args.incident,
    )
    result = run(request, progress=say)
    if result.record is not None:
        print(result.record)
    if result.html is not None:
        print(result.html)
    return int(result.exit_code)


def _read_parameters_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ParameterError(f"--parameters-file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"--parameters-file {path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise ParameterError(
            f"--parameters-file {path}: must be a mapping of parameter names to values"
        )
    return data


def _reports_root(args: argparse.Namespace) -> Path:
    if args.reports_dir is not None:
        return Path(args.reports_dir)
    from noa_lib.config import load_config

    return load_config().reports_dir


def _cmd_reports(args: argparse.Namespace) -> int:
    from noa_lib.records.index import RecordIndex, parse_since

    index = RecordIndex(_reports_root(args))
    if args.reports_command == "reindex":
        count = index.rebuild()
        say(f"indexed {count} records")
        return 0
    if args.reports_command == "show":
        meta = index.get(args.run_id)
        if meta is None:
            raise ParameterError(f"no record with run id {args.run_id!r} (see `noa reports list`)")
        if args.json:
            print(json.dumps(meta, indent=2))
        else:
            _print_record(meta, index.root)
        return 0
    since = parse_since(args.since) if args.since else None
    summaries = index.query(runbook=args.runbook, status=args.status, since=since,
                            target=args.target, trigger=args.trigger, incident=args.incident,
                            limit=args.limit)
    rows = [
        {
            "run_id": s.run_id,
            "started": s.started_at.strftime("%Y-%m-%d %H:%M:%SZ"),
            "runbook": s.runbook,
            "target": s.target or "-",
            "status": s.status,
            "outcome": s.outcome_status or "-",
            "duration": f"{s.duration_s:.1f}s" if s.duration_s is not None else "-",
            "incident": s.incident or "-",
            "record": s.path,
        }
        for s in summaries
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif rows:
        table(rows, ["run_id", "started", "runbook", "target", "status", "outcome", "duration"])
    else:
        say("no records match")
    return 0


def _print_record(meta: dict[str, Any], root: Path) -> None:
    outcome = meta.get("outcome") or {}
    trigger = meta.get("trigger") or {}
    lines = [
        f"run        {meta.get('run_id')}",
        f"runbook    {meta.get('runbook')}  ({meta.get('title', '')})",
        f"status     {meta.get('status')} (exit {meta.get('exit_code')})",
        f"outcome    {outcome.get('status', '-')}: {outcome.get('summary', '')}",
        f"target     {meta.get('target')}",
        f"operator   {meta.get('operator')}  trigger {trigger.get('kind')}"
        + (f" {trigger['fingerprint']}" if trigger.get("fingerprint") else ""),
        f"incident   {meta.get('incident') or '-'}",
        f"time       {meta.get('started_at')} → {meta.get('ended_at')} "
        f"({meta.get('duration_s')} s)",
        f"source     {meta.get('source', {}).get('path')} @ {meta.get('git_commit') or '-'}",
        f"parameters {json.dumps(meta.get('parameters', {}))}",
    ]
    if meta.get("error"):
        err = meta["error"]
        lines.append(f"error      {err.get('ename')}: {err.get('evalue')} (cell {err.get('cell')})")
    for figure, value in (outcome.get("figures") or {}).items():
        lines.append(f"  {figure} = {value}")
    for event in meta.get("timeline") or []:
        lines.append(f"timeline   {event.get('at')} {event.get('kind')}: {event.get('summary')}")
    record = meta.get("record", {})
    lines.append(f"record     {root / record.get('ipynb', '')}")
    if record.get("html"):
        lines.append(f"html       {root / record['html']}")
    print("\n".join(lines))


def _cmd_alerts(args: argparse.Namespace) -> int:
    import logging
    import os

    from noa_lib.config import SecretRef, load_config
    from noa_lib.records.alert_dispatch import DispatchSettings
    from noa_lib.records.alerts_server import ServerSettings, serve
    from noa_lib.records.redaction import RedactingFilter, Redactor, known_secrets

    if args.max_concurrent < 1 or args.max_queue < 0 or args.warm_kernels < 0:
        raise ParameterError("--max-concurrent must be >= 1, --max-queue and --warm-kernels "
                             ">= 0")
    secret = None
    if args.shared_secret:
        if not args.shared_secret.startswith(("env:", "file:")):  # never echo a literal
            raise ConfigError("--shared-secret takes a reference, env:NAME or file:PATH, "
                              "not the secret itself")
        secret = SecretRef(args.shared_secret, Path.cwd()).resolve()
    config = load_config()
    config.target(args.target)  # unknown target: ConfigError before listening
    if config.source is not None:  # every run (in any worker thread) reads the same file
        os.environ["NOA_CONFIG"] = str(config.source)
    dispatch = DispatchSettings(
        max_concurrent=args.max_concurrent, max_queue=args.max_queue,
        dedup_window=args.dedup_window, target=args.target, reports_dir=args.reports_dir,
        cell_timeout=args.cell_timeout, warm_kernels=args.warm_kernels,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s noa-alerts %(message)s")
    masking = RedactingFilter(Redactor([*known_secrets(config), *([secret] if secret else [])]))
    for handler in logging.getLogger().handlers:  # alert labels, errors: anything can carry one
        handler.addFilter(masking)
    server = serve(ServerSettings(args.host, args.port, secret, dispatch=dispatch))
    auth = "bearer token required" if secret else "no authentication"
    say(f"receiving Alertmanager webhooks on {server.url}/alerts ({auth}); "
         f"health on {server.url}/healthz; Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        say("stopping; waiting up to 60 s for running runbooks")
    finally:
        server.stop(timeout=60.0)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
