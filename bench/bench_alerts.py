"""Benchmark alert handling and long range queries.

Run from the repository root::

    python -m bench.bench_alerts [--runs 3] [--runbook incident/triage] [--days 90] …

1. **Webhook → finished triage record.** ``noa alerts serve``'s receiver (in-process, real HTTP,
   real runner) gets an Alertmanager webhook for ``HighErrorRate`` (P1); the clock stops when the
   ``incident/triage`` record (.ipynb + .html, indexed) is written (``--runbook
   monitoring/alert_response``: the quick actions' record, for comparison). The run targets the
   project sandbox when ``noa.toml`` publishes it with Prometheus (read-only), else a target
   without backends. Parts, from the record's own timestamps: accept (HTTP answer), queue (to the
   runner's start), kernel start (to the first cell), imports + target (first cells), queries
   (the triage cell), other cells, rendering (after the last cell: redaction, .ipynb, HTML, index).
2. **90 days × 1-minute resolution × 20 series.** A private Prometheus (Debian binary, loopback)
   is backfilled with 20 counters at one-minute resolution; ``rate(…[5m])`` over 90 days is
   129,601 points per series, 12 chunks under the 11,000-points limit. Chunked fetch with a
   bounded thread pool (``--workers``) against the same chunks fetched one after the other.

Prints seconds, each part's share of the total, and the sequential / concurrent ratio. Every
process started here is stopped and temporary directories are removed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the throwaway Prometheus of the tests (promstack)


# --------------------------------------------------------------------------- 1. alert → record


def _parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _webhook(fingerprint: str, runbook: str) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "service": "api", "severity": "P1",
                   "runbook": runbook},
        "annotations": {"summary": "High 5xx error rate on api"},
        "startsAt": "2026-11-26T22:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph", "fingerprint": fingerprint,
    }
    return json.dumps({"version": "4", "status": "firing", "receiver": "noa-runbooks",
                       "groupKey": "{}", "alerts": [alert], "groupLabels": {},
                       "commonLabels": {}, "commonAnnotations": {},
                       "externalURL": "http://alertmanager"}).encode()


def _target_name() -> tuple[str | None, str]:
    from noa_lib.config import load_config
    from noa_lib.errors import ConfigError

    os.environ.setdefault("NOA_CONFIG", str(ROOT / "noa.toml"))
    try:
        target = load_config().target("sandbox")
    except ConfigError:
        target = None
    if target is not None and target.prometheus is not None:
        return "sandbox", f"project sandbox (Prometheus {target.prometheus.url})"
    fixtures = ROOT / "tests" / "fixtures" / "noa.toml"
    os.environ["NOA_CONFIG"] = str(fixtures)
    return "sandbox", "fixture target without backends (start the sandbox for real queries)"


def bench_alert_to_record(runs: int, runbook: str) -> None:
    """Cold kernels (each run starts its own) against warm ones (``noa alerts serve``'s default:
    a kernel started ahead), in the same session, alternating run by run."""
    target, where = _target_name()
    print(f"== webhook → finished {runbook} record ({runs} runs each, cold and warm kernel, "
          f"{where})")
    medians = {}
    for warm in (0, 1):
        medians[warm] = _alert_runs(runs, runbook, target, warm)
    print(f"  ratio cold / warm (total): {medians[0] / medians[1]:.2f}x")


def _alert_runs(runs: int, runbook: str, target: str | None, warm: int) -> float:
    from noa_lib.records.alert_dispatch import DispatchSettings
    from noa_lib.records.alerts_server import ServerSettings, serve

    reports = Path(tempfile.mkdtemp(prefix="noa-bench-alerts-"))
    server = serve(ServerSettings("127.0.0.1", 0, None, dispatch=DispatchSettings(
        max_concurrent=1, target=target, reports_dir=reports, dedup_window=0.0,
        warm_kernels=warm)))
    server.start()
    host, port = server.server_address[:2]
    parts: dict[str, list[float]] = {}
    label = "warm kernel" if warm else "cold kernel"
    try:
        for i in range(runs):
            kernels = server.dispatcher.kernels
            deadline = time.time() + 120
            while kernels is not None and kernels.ready() < 1 and time.time() < deadline:
                time.sleep(0.2)  # alerts are minutes apart: the next kernel is up by then
            body = _webhook(f"bench{warm}{i:04d}{int(time.time()):x}", runbook)
            t0 = time.time()
            conn = http.client.HTTPConnection(str(host), port, timeout=30)
            conn.request("POST", "/alerts", body=body, headers={"Content-Type": "application/json"})
            answer = conn.getresponse()
            answer.read()
            t_accept = time.time()
            assert answer.status == 200, answer.status
            assert server.dispatcher.wait_idle(600), "the run did not finish in 10 minutes"
            t_done = time.time()
            result = server.dispatcher.completed[-1]
            notebook = json.loads(Path(str(result.record)).read_text())
            meta = notebook["metadata"]["noa"]
            cells = {c.get("id"): c["metadata"].get("papermill", {}) for c in notebook["cells"]}
            timed = [c for c in cells.values() if c.get("start_time")]
            first = min(_parse(c["start_time"]) for c in timed)
            last = max(_parse(c["end_time"]) for c in timed)
            started = _parse(meta["started_at"])
            triage_cell = cells.get("triage", {}).get("duration") or 0.0
            early = sum(cells.get(k, {}).get("duration") or 0.0
                        for k in ("parameters", "imports", "load-target"))
            sample = {
                "accept (HTTP answer)": t_accept - t0,
                "queue → runner start": started - t_accept,
                "kernel start (or take a warm one)": first - started,
                "imports + load target": early,
                "queries (triage cell)": triage_cell,
                "other cells": (last - first) - early - triage_cell,
                "rendering (redact, .ipynb, HTML, index)": t_done - last,
                "total": t_done - t0,
            }
            for key, value in sample.items():
                parts.setdefault(key, []).append(value)
            print(f"  {label} run {i + 1}: {sample['total']:.2f} s ({meta['status']}, outcome "
                  f"{meta['outcome'].get('status')})")
    finally:
        server.stop(timeout=60)
        shutil.rmtree(reports, ignore_errors=True)
    total = statistics.median(parts["total"])
    print(f"  {label}: {'part':42s} {'median s':>9s} {'share':>7s}")
    for key, values in parts.items():
        median = statistics.median(values)
        print(f"  {label}: {key:42s} {median:9.3f} {median / total:7.1%}")
    return total


# --------------------------------------------------------------------------- 2. range queries


def bench_range(days: int, series: int, workers: int, repeats: int) -> None:
    from promstack import PromStack, counter, openmetrics

    from noa_lib.clients import prometheus
    from noa_lib.clients.prometheus_frames import range_chunks
    from noa_lib.config import PrometheusSettings

    root = Path(tempfile.mkdtemp(prefix="noa-bench-prom-"))
    end = float(int(time.time()) // 60 * 60)
    start = end - days * 86400
    print(f"\n== {days} days × 1-minute resolution × {series} series: chunked fetch, "
          f"{workers} workers vs sequential")
    stack = PromStack(root)
    try:
        t = time.perf_counter()
        text = openmetrics(
            ("noa_bench_requests_total", {"series": f"s{i:02d}"},
             counter(start - 600, end, 60, 1.0 + i)) for i in range(series))
        stack.backfill(text)
        del text
        print(f"  backfill of {series * (days * 1440 + 11):,} samples: "
              f"{time.perf_counter() - t:.1f} s")
        stack.start()
        prom = prometheus.build(PrometheusSettings(url=stack.url, timeout=120.0))
        chunks = range_chunks(int(start * 1000), int(end * 1000), 60_000, prometheus.MAX_POINTS)
        for promql, kind in (
            ("rate(noa_bench_requests_total[5m])", "a dashboard rate (client-bound)"),
            ("rate(noa_bench_requests_total[2h])", "a long rate window (server-bound)"),
        ):
            prometheus.query_range(prom, promql, start, end, 60)  # warm the page cache
            timings: dict[str, list[float]] = {"sequential": [], "concurrent": []}
            shape = None
            for _ in range(repeats):
                for label, pool in (("sequential", 1), ("concurrent", workers)):
                    t = time.perf_counter()
                    frame = prometheus.query_range(prom, promql, start, end, 60,
                                                   max_workers=pool)
                    timings[label].append(time.perf_counter() - t)
                    shape = frame.shape
            seq = statistics.median(timings["sequential"])
            conc = statistics.median(timings["concurrent"])
            rows = f"{shape[0]:,} rows × {shape[1]} columns" if shape else "no frame"
            print(f"  {promql} — {kind}: {rows} from {len(chunks)} chunks")
            print(f"    sequential chunked fetch: {seq:.2f} s (median of {repeats})")
            print(f"    concurrent chunked fetch: {conc:.2f} s ({workers} workers)")
            print(f"    ratio sequential / concurrent: {seq / conc:.2f}x")
        prom.close()
    finally:
        stack.stop()
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="alert → record runs (default 3)")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="range fetches per mode")
    parser.add_argument("--runbook", default="incident/triage",
                        help="the runbook the alert names (default incident/triage)")
    parser.add_argument("--skip-alerts", action="store_true")
    parser.add_argument("--skip-range", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_alerts:
        bench_alert_to_record(args.runs, args.runbook)
    if not args.skip_range:
        bench_range(args.days, args.series, args.workers, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__: list[Any] = []
