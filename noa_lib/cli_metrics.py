"""``noa metrics check|list``: which catalogue entries a target's Prometheus can answer.

``check`` asks the target's Prometheus for every metric the runbooks read
(:func:`noa_lib.ops.coverage.check_coverage`) and prints one line per catalogue entry: ok, or
what is missing and which exporter provides it. Exit status: 0 when every required entry has
data, 1 when one does not, 3 when Prometheus cannot be reached. ``list`` prints the catalogue:
each entry, its sources and the series it reads in the target's names.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from noa_lib.cli_output import say, table


def register(sub: Any) -> None:
    """Add ``noa metrics check|list`` to the ``noa`` subparsers."""
    metrics = sub.add_parser("metrics", help="the PromQL catalogue on a target: coverage, names")
    msub = metrics.add_subparsers(dest="metrics_command", required=True, metavar="COMMAND")
    p = msub.add_parser("check", help="which catalogue entries have data on the target, and "
                        "which exporter provides what is missing (exit 1 if a required one)")
    p.add_argument("--target", help="environment from noa.toml (default: the configured one)")
    p.add_argument("--entry", action="append", default=[], metavar="NAME",
                   help="only this catalogue entry (repeatable)")
    p.add_argument("--lookback", default="15m", help="how far back a series counts (default 15m)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = msub.add_parser("list", help="every catalogue entry: unit, sources, series it reads")
    p.add_argument("--target", help="show the series in this target's names")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    metrics.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from noa_lib.config import load_config

    target = load_config().target(args.target)
    if args.metrics_command == "list":
        return _list(target, args.json)
    from noa_lib.ops.coverage import check_coverage, required_missing
    from noa_lib.ops.findings import Status

    findings = check_coverage(target, entries=args.entry or None, lookback=args.lookback)
    if args.json:
        print(json.dumps([f.as_dict() for f in findings], indent=2, default=str))
    else:
        rows = [{"entry": f.check.split(": ", 1)[-1], "status": f.status.value,
                 "exporters": ", ".join(f.evidence.get("exporters", [])),
                 "series": "-" if f.value is None else f.value, "detail": f.message}
                for f in findings]
        table(rows, ["entry", "status", "exporters", "series", "detail"], widths={"detail": 90})
    bad = required_missing(findings)
    unreachable = [f for f in bad if f.status == Status.UNREACHABLE]
    warnings = sum(1 for f in findings if f.status == Status.WARNING)
    say(f"target {target.name}: {len(findings) - len(bad) - warnings} entries with data, "
        f"{warnings} optional missing, {len(bad)} required missing or failing")
    if unreachable and len(unreachable) == len(bad):
        return 3
    return 1 if bad else 0


def _list(target: Any, as_json: bool) -> int:
    from noa_lib.ops.promql import QUERIES, naming_for, series_of, sources_of

    naming = naming_for(target)
    rows = [{"entry": q.name, "unit": q.unit,
             "sources": ", ".join(s.exporter for s in sources_of(q)),
             "series": ", ".join(series_of(q, naming)), "description": q.description}
            for q in QUERIES]
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        table(rows, ["entry", "unit", "sources", "series"], widths={"series": 90})
    return 0
