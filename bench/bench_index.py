"""Benchmark the records index against a naive listing that parses every record notebook.

Run from the repository root::

    python -m bench.bench_index [--records 10000]

It writes N synthetic records (small nbformat-4 notebooks with ``metadata.noa``, ~15 runbooks,
90 days) into a temporary root, then times, in the same run:

1. the naive listing ``noa reports list`` would need without an index (open and ``json``-parse
   every notebook, filter, sort) — the baseline;
2. ``RecordIndex.rebuild()`` from scratch, then again over the up-to-date index;
3. ``RecordIndex.query(runbook=…, status=…, since=…)`` (median of several calls);
4. ``RecordIndex.add()`` of one record (median);
5. the ``noa reports list --runbook …`` command as a subprocess, when the ``noa`` CLI works.

It prints seconds and the ratio to the baseline, then PASS/FAIL for "indexed list < 1 s at N
records" (the query, and the CLI when it ran), and exits 1 on FAIL. The temporary root is removed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from noa_lib.records.index import RecordIndex

RUNBOOKS = [
    "backup/validate_backup",
    "backup/restore_drill",
    "backup/retention_cleanup",
    "deployment/rollout",
    "deployment/rollback",
    "deployment/canary_check",
    "incident/high_error_rate",
    "incident/slow_database",
    "incident/pool_exhaustion",
    "incident/ai_provider_down",
    "incident/oom_loop",
    "monitoring/database_health",
    "monitoring/disk_usage",
    "scaling/capacity_planning",
    "scaling/hpa_review",
]
STATUSES = ["succeeded"] * 8 + ["failed", "stopped-early"]
OUTCOMES = ["ok"] * 6 + ["warning", "warning", "critical", "unreachable"]
TRIGGERS = ["manual", "cron", "cron", "alert"]
LIMIT = 50
QUERY_REPEATS = 7
LIST_BUDGET_S = 1.0


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _notebook(meta: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A small but real record: title, parameters, one step with output, outcome cell."""
    rows = "\n".join(f"db{i}  {rng.uniform(90, 100):.1f}%" for i in range(5))
    code = {"cell_type": "code", "execution_count": 1, "metadata": {}}
    return {
        "cells": [
            {"cell_type": "markdown", "id": "title", "metadata": {}, "source": ["# Runbook\n"]},
            {
                **code,
                "id": "params",
                "metadata": {"tags": ["parameters"]},
                "outputs": [],
                "source": ['target: str = "sandbox"  # environment\n'],
            },
            {
                **code,
                "execution_count": 2,
                "id": "step1",
                "outputs": [{"name": "stdout", "output_type": "stream", "text": [rows]}],
                "source": ["noa.database_health(target)"],
            },
            {
                **code,
                "execution_count": 3,
                "id": "outcome",
                "outputs": [],
                "source": ["noa.record_outcome(findings=findings)"],
            },
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "noa": meta,
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def generate(root: Path, count: int, *, now: datetime, seed: int) -> None:
    """Write ``count`` records under ``root`` the way the runner lays them out."""
    rng = random.Random(seed)
    for n in range(count):
        runbook = rng.choice(RUNBOOKS)
        started = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        run_id = f"r-{started:%Y%m%dT%H%M%SZ}-{n:06x}"
        rel = f"{runbook}/{started:%Y%m%dT%H%M%SZ}_{run_id}.ipynb"
        status = rng.choice(STATUSES)
        duration = round(rng.uniform(1, 600), 3)
        meta = {
            "schema": 1,
            "run_id": run_id,
            "runbook": runbook,
            "area": runbook.split("/")[0],
            "source": {"path": f"notebooks/{runbook}.ipynb", "sha256": f"{n:064x}"},
            "git_commit": f"{rng.getrandbits(160):040x}",
            "target": rng.choice(["sandbox", "sandbox", "staging", "prod"]),
            "operator": "sre@host",
            "trigger": {"kind": rng.choice(TRIGGERS), "fingerprint": None},
            "started_at": _stamp(started),
            "ended_at": _stamp(started + timedelta(seconds=duration)),
            "duration_s": duration,
            "status": status,
            "exit_code": 0 if status == "succeeded" else 1,
            "error": None if status == "succeeded" else {"ename": "StepFailed", "evalue": "x"},
            "parameters": {"target": "sandbox", "long_query_seconds": 60.0},
            "outcome": {
                "status": rng.choice(OUTCOMES),
                "summary": f"{runbook}: synthetic run {n}",
                "figures": {
                    "cache_hit_pct": round(rng.uniform(90, 100), 2),
                    "rpo_s": rng.randint(60, 86400),
                },
                "findings": [],
            },
            "timeline": [],
            "record": {"ipynb": rel, "html": rel.removesuffix(".ipynb") + ".html"},
        }
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_notebook(meta, rng), indent=1, sort_keys=True) + "\n")


def naive_list(root: Path, *, runbook: str, status: str, since: datetime) -> list[str]:
    """What listing costs without an index: parse every notebook, filter, sort, cut."""
    since_text = _stamp(since)
    found: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not name.endswith(".ipynb"):
                continue
            with open(os.path.join(dirpath, name), "rb") as handle:
                meta = json.load(handle).get("metadata", {}).get("noa")
            if (
                meta
                and meta["runbook"] == runbook
                and meta["status"] == status
                and meta["started_at"] >= since_text
            ):
                found.append((meta["started_at"], meta["run_id"]))
    found.sort(reverse=True)
    return [run_id for _, run_id in found[:LIMIT]]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _median(fn: Callable[[], Any], repeats: int) -> float:
    return statistics.median(_timed(fn)[0] for _ in range(repeats))


def _noa_executable() -> Path | None:
    beside = Path(sys.executable).parent / "noa"
    if beside.exists():
        return beside
    found = shutil.which("noa")
    return Path(found) if found else None


def run(records: int, seed: int) -> int:
    now = datetime.now(UTC).replace(microsecond=0)
    runbook, status, since = "monitoring/database_health", "failed", now - timedelta(days=30)
    root = Path(tempfile.mkdtemp(prefix="noa-bench-index-"))
    rows: list[tuple[str, float | None, str]] = []
    checked: list[tuple[str, float]] = []
    try:
        gen_s, _ = _timed(lambda: generate(root, records, now=now, seed=seed))
        print(f"generated {records} records in {gen_s:.1f} s under {root}")

        naive_s, expected = _timed(
            lambda: naive_list(root, runbook=runbook, status=status, since=since)
        )
        rows.append(("naive list (parse every notebook)", naive_s, "baseline"))

        index = RecordIndex(root)
        rebuild_s, count = _timed(index.rebuild)
        assert count == records, f"rebuild indexed {count} of {records}"
        rows.append(("rebuild() from scratch", rebuild_s, ""))
        again_s, _ = _timed(index.rebuild)
        rows.append(("rebuild() over an up-to-date index", again_s, "in place"))

        def query() -> list[str]:
            found = RecordIndex(root).query(runbook=runbook, status=status, since=since)
            return [r.run_id for r in found]

        got = query()
        match = "results match" if got == expected else "RESULTS DIFFER from the naive listing"
        query_s = _median(query, QUERY_REPEATS)
        rows.append((f"query(runbook, status, since) median/{QUERY_REPEATS}", query_s, match))
        checked.append(("query", query_s))

        sample = index.get(got[0]) if got else None
        if sample is not None:
            counter = itertools.count()

            def add_one() -> None:
                index.add({**sample, "run_id": f"{sample['run_id']}-bench{next(counter)}"})

            rows.append((f"add() one record median/{QUERY_REPEATS}", _median(add_one, 7), ""))

        noa = _noa_executable()
        if noa is None:
            rows.append(("noa reports list (subprocess)", None, "skipped: noa CLI not found"))
        else:
            env = {**os.environ, "NOA_REPORTS_DIR": str(root)}
            argv = [str(noa), "reports", "list", "--runbook", runbook]

            def cli() -> subprocess.CompletedProcess[str]:
                return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)

            first_s, proc = _timed(cli)
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1][:100]
                rows.append(
                    ("noa reports list (subprocess)", None, f"skipped: noa CLI failed: {tail}")
                )
            else:
                cli_s = min(first_s, _median(cli, 3))
                rows.append(("noa reports list --runbook (subprocess)", cli_s, "incl. startup"))
                checked.append(("noa reports list", cli_s))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print()
    print(f"{'step':<44} {'seconds':>9} {'vs naive':>10} {'speedup':>9}  note")
    for name, seconds, note in rows:
        if seconds is None:
            print(f"{name:<44} {'-':>9} {'-':>10} {'-':>9}  {note}")
            continue
        ratio = seconds / naive_s
        print(f"{name:<44} {seconds:>9.4f} {ratio:>10.4f} {naive_s / seconds:>8.1f}x  {note}")
    print()
    failed = [name for name, seconds in checked if seconds >= LIST_BUDGET_S]
    ok = not failed and match == "results match"
    verdict = "PASS" if ok else "FAIL"
    what = " and ".join(name for name, _ in checked)
    print(f"{verdict}: indexed list < {LIST_BUDGET_S:g} s at {records} records ({what})")
    if match != "results match":
        print("FAIL: the index returned different records than the naive listing")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=10_000, help="records to generate")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the synthetic data")
    args = parser.parse_args(argv)
    return run(args.records, args.seed)


if __name__ == "__main__":
    sys.exit(main())
