"""History backfill: 91 days of NOA Server metrics written into Prometheus' TSDB before it starts.

The history follows the live model (:mod:`noa_sandbox.simulator.model`): daily and weekly
seasonality, 40 % growth over 90 days, releases 2.11.0 → 2.14.0, and three past incidents at
known times relative to the backfill (:data:`INCIDENTS`, recorded in ``state.json`` and shown by
``noa sandbox status --json``):

- an error-rate spike 9 days ago (15:20–16:00 UTC, api 5xx ~30 %);
- a latency regression 33 days ago (13:00–15:00 UTC: release 2.13.1, rolled back to 2.13.0);
- a database pool exhaustion 52 days ago (10:30–11:15 UTC).

Resolution is :data:`STEP_S` (150 s: any 5-minute window holds two samples, so
``rate(x[5m])`` works anywhere in the history). The series set is reduced (see
:mod:`noa_sandbox.history_series`). Speed: the OpenMetrics text is split into one file per
TSDB block (promtool re-reads its whole input for every block it cuts), and two files are
converted at a time while the next is written.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import numpy as np

from noa_lib.errors import Unavailable
from noa_sandbox import history_datastores
from noa_sandbox.history_series import Series, Timeline, generate
from noa_sandbox.simulator import catalog
from noa_sandbox.simulator.scenarios import Effects
from noa_sandbox.simulator.spec import utc_text
from noa_sandbox.state import DeploymentRecord, HistoryRecord, IncidentRecord

log = logging.getLogger(__name__)

STEP_S = 150
DAYS = 91
MAX_BLOCK_DURATION = "744h"
BLOCK_S = 486 * 3600
"""promtool cuts blocks of 486 h for ``--max-block-duration=744h`` (2 h × 3ⁿ, at most 744 h)."""
PROMTOOL_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class PastIncident:
    """An incident placed ``days_ago`` days before the backfill, at ``at`` (HH:MM UTC)."""

    name: str
    kind: str
    days_ago: int
    at: str
    minutes: int
    summary: str
    effects: Effects


REGRESSION_VERSION = "2.13.1"
ERROR_SPIKE_EFFECTS = Effects(
    error_5xx=MappingProxyType({"api": 0.30, "web": 0.12, "worker": 0.10}),
    cpu_extra=MappingProxyType({"api": 0.05}),
)
"""The past error-rate spike (the live ``error-spike`` scenario is a real bad release now)."""

INCIDENTS = (
    PastIncident(
        "error-rate spike",
        "error-spike",
        9,
        "15:20",
        40,
        "api answered ~30 % 5xx for 40 minutes",
        ERROR_SPIKE_EFFECTS,
    ),
    PastIncident(
        "latency regression",
        "latency-regression",
        33,
        "13:00",
        120,
        f"release {REGRESSION_VERSION} added ~1.2 s to api requests until rolled back",
        Effects(extra_latency_s={"api": 1.2}),
    ),
    PastIncident(
        "connection pool exhaustion",
        "pool-exhausted",
        52,
        "10:30",
        45,
        "api and worker DB pools at their maximum; 503s and slow requests",
        # the live scenario is caused by real sessions now; the past one keeps its effects
        Effects(
            pool_full=frozenset({"api", "worker"}),
            extra_latency_s={"api": 0.8, "worker": 0.8},
            error_5xx={"api": 0.04, "worker": 0.03},
        ),
    ),
)

DEPLOYMENTS = (  # (days ago, HH:MM UTC, version); before the first one: 2.11.0
    (70, "10:00", "2.12.0"),
    (45, "10:00", "2.13.0"),
    (33, "13:00", REGRESSION_VERSION),
    (33, "15:00", "2.13.0"),
    (20, "10:00", catalog.DEFAULT_VERSION),
)
FIRST_VERSION = "2.11.0"


def _at(end: float, days_ago: int, hhmm: str) -> float:
    day = math.floor((end - days_ago * 86_400) / 86_400) * 86_400
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return float(day + hours * 3600 + minutes * 60)


def plan(now: float) -> tuple[Timeline, tuple[IncidentRecord, ...], tuple[DeploymentRecord, ...]]:
    """The timeline (steps, load, effects, versions) of a history ending just before ``now``."""
    end = math.floor(now / STEP_S) * STEP_S - STEP_S
    start = end - DAYS * 86_400
    times = np.arange(start, end + 1, STEP_S, dtype=np.float64)
    rng = np.random.default_rng(int(start))
    from noa_sandbox.simulator import model

    level = model.load(times, float(start)) * np.exp(rng.normal(0.0, 0.03, times.shape))
    effects: list[Effects] = [Effects()]
    effect_index = np.zeros(times.shape, dtype=np.int64)
    incidents = []
    for incident in INCIDENTS:
        begin = _at(end, incident.days_ago, incident.at)
        finish = begin + incident.minutes * 60
        effects.append(incident.effects)
        effect_index[(times >= begin) & (times < finish)] = len(effects) - 1
        incidents.append(
            IncidentRecord(
                name=incident.name,
                kind=incident.kind,
                start=begin,
                end=finish,
                start_utc=utc_text(begin),
                end_utc=utc_text(finish),
                summary=incident.summary,
            )
        )
    versions = [FIRST_VERSION]
    version_index = np.zeros(times.shape, dtype=np.int64)
    deployments = []
    for days_ago, hhmm, version in DEPLOYMENTS:
        at = _at(end, days_ago, hhmm)
        if version not in versions:
            versions.append(version)
        version_index[times >= at] = versions.index(version)
        deployments.append(DeploymentRecord(version=version, at=at, at_utc=utc_text(at)))
    timeline = Timeline(
        times=times,
        level=level,
        effects=tuple(effects),
        effect_index=effect_index,
        versions=tuple(versions),
        version_index=version_index,
        epoch=float(start),
    )
    return timeline, tuple(incidents), tuple(deployments)


def backfill(
    promtool: Path,
    data_dir: Path,
    work_dir: Path,
    *,
    now: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> HistoryRecord:
    """Generate the history and turn it into TSDB blocks in ``data_dir`` (Prometheus stopped).

    ``work_dir`` holds the temporary OpenMetrics files and blocks; it is removed afterwards.

    Raises:
        Unavailable: promtool failed (its output is in the message).
    """
    say = progress or log.info
    started = time.monotonic()
    timeline, incidents, deployments = plan(time.time() if now is None else now)
    series = list(generate(timeline, np.random.default_rng(int(timeline.epoch) + 1)))
    series += history_datastores.generate(timeline, np.random.default_rng(int(timeline.epoch) + 2))
    samples = sum(int(np.isfinite(s.values).sum()) for s in series)
    say(f"backfilling {DAYS} days of history ({len(series)} series, {samples:,} samples)…")
    shutil.rmtree(work_dir, ignore_errors=True)
    blocks_dir = work_dir / "blocks"
    blocks_dir.mkdir(parents=True)
    try:
        ranges = _block_ranges(timeline.times)
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [
                pool.submit(
                    _convert,
                    promtool,
                    work_dir / f"block-{i}.om",
                    series,
                    lo,
                    hi,
                    timeline.times,
                    blocks_dir,
                )
                for i, (lo, hi) in enumerate(ranges)
            ]
            for future in futures:
                future.result()
        data_dir.mkdir(parents=True, exist_ok=True)
        for block in blocks_dir.iterdir():
            block.rename(data_dir / block.name)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    seconds = round(time.monotonic() - started, 1)
    say(f"history backfilled in {seconds:.1f}s")
    return HistoryRecord(
        start=float(timeline.times[0]),
        end=float(timeline.times[-1]),
        step_s=STEP_S,
        series=len(series),
        samples=samples,
        seconds=seconds,
        incidents=incidents,
        deployments=deployments,
    )


def _block_ranges(times: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges ``[lo, hi)`` of the steps falling into each promtool block."""
    block_of = np.floor(times / BLOCK_S).astype(np.int64)
    edges = np.flatnonzero(np.diff(block_of)) + 1
    bounds = [0, *edges.tolist(), len(times)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _convert(
    promtool: Path,
    path: Path,
    series: list[Series],
    lo: int,
    hi: int,
    times: np.ndarray,
    blocks_dir: Path,
) -> None:
    _write_openmetrics(path, series, lo, hi, times)
    argv = [
        str(promtool),
        "tsdb",
        "create-blocks-from",
        "openmetrics",
        str(path),
        str(blocks_dir),
        f"--max-block-duration={MAX_BLOCK_DURATION}",
    ]
    try:
        proc = subprocess.run(  # noqa: S603 - argument list
            argv,
            capture_output=True,
            text=True,
            timeout=PROMTOOL_TIMEOUT_S,
            check=False,
            env={**os.environ, "GOGC": "400"},  # ~15 % less CPU in the garbage collector
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise Unavailable(f"promtool failed to run: {exc}", backend="prometheus") from None
    finally:
        path.unlink(missing_ok=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-1500:]
        raise Unavailable(f"promtool could not backfill the history:\n{tail}", backend="prometheus")


def _write_openmetrics(
    path: Path, series: Iterable[Series], lo: int, hi: int, times: np.ndarray
) -> None:
    stamps = [f" {int(t)}\n" for t in times[lo:hi].tolist()]
    current = None
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as out:
        for s in series:
            if s.family.name != current:
                current = s.family.name
                out.write(f"# TYPE {s.family.base} {s.family.kind}\n")
            values = s.values[lo:hi]
            keep = np.isfinite(values)
            if not keep.any():
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in s.labels.items())
            prefix = f"{s.name}{{{labels}}} "
            where = np.flatnonzero(keep)  # sparse series (a pod of one era) skip the gaps
            present = values[where]
            if s.decimals == 0:
                texts: list[str] = [str(v) for v in present.astype(np.int64).tolist()]
            else:
                texts = [repr(v) for v in present.tolist()]
            out.write("".join([prefix + v + stamps[i]
                               for v, i in zip(texts, where.tolist(), strict=True)]))
        out.write("# EOF\n")


def empty(now: float | None = None) -> HistoryRecord:
    """The record of a sandbox started without history (``NOA_SANDBOX_HISTORY=0``)."""
    at = time.time() if now is None else now
    return HistoryRecord(start=at, end=at, step_s=STEP_S, series=0, samples=0, seconds=0.0)


def describe(record: HistoryRecord) -> str:
    """One line for ``noa sandbox status``: the span and the incidents."""
    if record.series == 0:
        return "no backfilled history"
    span = (record.end - record.start) / 86_400
    when = datetime.fromtimestamp(record.start, UTC).strftime("%Y-%m-%d")
    return f"{span:.0f} days of history from {when} ({len(record.incidents)} past incidents)"


__all__ = ["DAYS", "DEPLOYMENTS", "INCIDENTS", "STEP_S", "backfill", "describe", "empty", "plan"]
