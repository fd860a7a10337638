"""Log investigation of one service: read every pod's logs, keep the errors, find the patterns.

:func:`investigate_logs` lists the pods labelled ``app=<service>`` through the Kubernetes API,
reads each container's log over ``window`` (and, for restarted pods, the previous container's
log — where the crash is), parses the lines (:mod:`.parse`), keeps those at or above
``min_level`` matching ``grep``, groups them into patterns (:mod:`.patterns`) and judges:

- ``log sources``  every pod's log could be read (``unreachable`` when some could not; critical
  when the service has no pod);
- ``error share``  error lines as a share of all lines, against the ``error_rate`` threshold
  (the log's own view of the 5xx share);
- ``error trend``  errors per minute in the last quarter of the window against the rest of it
  (``warning`` when at least 3× and at least one a minute: it is getting worse now);
- ``top pattern``  the most frequent pattern, its share of the kept lines and its pods (a pattern
  on one pod only points at that pod: a bad node, a canary) — informational, always ``ok``;
- ``crashes``      previous-container logs (restarts), with their last lines.

Sources: the Kubernetes API only. Loki / Elasticsearch are not supported yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, ParameterError
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.logs.parse import LogLine, check_level, keep, level_rank, parse_text
from noa_lib.ops.logs.patterns import PatternGroup, group
from noa_lib.ops.names import validate_name
from noa_lib.ops.promql import parse_duration
from noa_lib.ops.thresholds import THRESHOLDS

MAX_WINDOW_S = 7 * 86400
MAX_PODS = 50
TREND_FACTOR = 3.0


@dataclass(frozen=True)
class LogSource:
    """One container log that was read (or could not be)."""

    pod: str
    container: str
    previous: bool
    lines: int
    error: str | None = None


@dataclass(frozen=True)
class LogInvestigation:
    """What the logs of one service said over a window."""

    service: str
    namespace: str
    window: str
    min_level: str
    grep: str
    since: datetime
    until: datetime
    sources: tuple[LogSource, ...]
    total_lines: int
    lines: tuple[LogLine, ...]
    groups: tuple[PatternGroup, ...]
    findings: tuple[Finding, ...]

    def figures(self) -> dict[str, float | int | str]:
        """Outcome figures for a record."""
        minutes = max((self.until - self.since).total_seconds() / 60.0, 1e-9)
        return {
            "service": self.service,
            "window": self.window,
            "pods": len({s.pod for s in self.sources}),
            "lines": self.total_lines,
            "kept_lines": len(self.lines),
            "kept_per_minute": round(len(self.lines) / minutes, 3),
            "patterns": len(self.groups),
            "top_pattern": self.groups[0].pattern if self.groups else "",
        }


def investigate_logs(
    target: Target,
    service: str,
    *,
    window: str = "15m",
    min_level: str = "error",
    grep: str = "",
    namespace: str | None = None,
    include_previous: bool = True,
    top: int = 10,
) -> LogInvestigation:
    """Read, filter and group the logs of ``service``'s pods over the last ``window``.

    Raises:
        ParameterError: a bad service/namespace name, window (at most 7d), level or ``top``
            (before any call).
        ConfigError: the target has no Kubernetes section.
    Unreadable pods or an unreachable API become findings, not exceptions.
    """
    validate_name(service, "service")
    if namespace is not None:
        validate_name(namespace, "namespace")
    seconds = parse_duration(window)
    if seconds > MAX_WINDOW_S:
        raise ParameterError(f"window={window!r} is longer than 7d", name="window",
                             accepted="a Prometheus-style duration up to 7d, e.g. 15m, 1h, 6h")
    level = check_level(min_level)
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ParameterError(f"top={top!r} must be an integer >= 1", name="top",
                             accepted="an integer >= 1")
    if target.kubernetes is None:
        raise ConfigError(f"Kubernetes is not configured for target {target.name}")
    from noa_lib.clients import kube_pods

    settings = target.kubernetes
    ns = namespace or settings.namespace
    until = datetime.now(UTC)
    since = until - timedelta(seconds=seconds)
    sources: list[LogSource] = []
    parsed: list[LogLine] = []
    try:
        pods = kube_pods.list_pods(settings, ns, label_selector=f"app={service}")
    except ClientError as exc:
        finding = Finding("log sources", Status.UNREACHABLE, f"cannot list pods: {exc}",
                          evidence={"namespace": ns, "selector": f"app={service}"})
        return LogInvestigation(service, ns, window, level, grep, since, until, (), 0, (), (),
                                (finding,))
    for pod in pods[:MAX_PODS]:
        reads = [(c, False) for c in pod.containers]
        if include_previous and pod.restarts > 0:
            reads += [(c, True) for c in pod.containers]
        for container, previous in reads:
            try:
                text = kube_pods.read_pod_log(
                    settings, ns, pod.name, container if len(pod.containers) > 1 else None,
                    since_seconds=None if previous else max(1, int(seconds)),
                    previous=previous, timestamps=True,
                )
            except ClientError as exc:
                if not previous:
                    sources.append(LogSource(pod.name, container, previous, 0, str(exc)))
                continue
            lines = list(parse_text(text, pod=pod.name, container=container,
                                    previous=previous))
            sources.append(LogSource(pod.name, container, previous, len(lines)))
            parsed.extend(lines)
    in_window = [x for x in parsed if x.previous or x.time is None or x.time >= since]
    kept = keep(in_window, min_level=level, grep=grep)
    kept.sort(key=lambda x: x.time or since)
    groups = tuple(group(kept))
    findings = _findings(service, pods, sources, in_window, kept, groups, since, until,
                         level, top)
    return LogInvestigation(service, ns, window, level, grep, since, until, tuple(sources),
                            len(in_window), tuple(kept), groups, findings)


def _findings(service: str, pods: Sequence[object], sources: list[LogSource],
              lines: list[LogLine], kept: list[LogLine], groups: tuple[PatternGroup, ...],
              since: datetime, until: datetime, level: str, top: int) -> tuple[Finding, ...]:
    out: list[Finding] = []
    failed = [s for s in sources if s.error]
    if not pods:
        out.append(Finding("log sources", Status.CRITICAL,
                           f"no pod is labelled app={service}: nothing to read"))
    elif failed:
        out.append(Finding(
            "log sources", Status.UNREACHABLE,
            f"{len(failed)} of {len(sources)} logs could not be read: {failed[0].error}",
            evidence={"failed": [f"{s.pod}/{s.container}" for s in failed]}))
    else:
        out.append(Finding("log sources", Status.OK,
                           f"read {len(sources)} container logs of {len(pods)} pods "
                           f"({len(lines)} lines)",
                           value=len(lines), evidence={"pods": sorted({s.pod for s in sources})}))
    out.append(_share(lines))
    out.append(_trend(kept, lines, since, until, level))
    if groups:
        first = groups[0]
        pods_all = {s.pod for s in sources if not s.error}
        where = (f"only on pod {first.pods[0]} (of {len(pods_all)})"
                 if len(first.pods) == 1 and len(pods_all) > 1 else
                 f"on {len(first.pods)} pod(s)")
        # informational: the error share and the trend are what is judged
        out.append(Finding(
            "top pattern", Status.OK,
            f"{first.count} × [{first.level}] {first.pattern} — {first.share:.0%} of the kept "
            f"lines, {where}; {len(groups)} pattern(s) in all",
            value=first.count,
            evidence={"example": first.example, "pods": list(first.pods),
                      "patterns": [g.pattern for g in groups[:top]]}))
    else:
        out.append(Finding("top pattern", Status.OK,
                           f"no {level}+ lines in the window" if level else "no lines"))
    crashed = [s for s in sources if s.previous]
    if crashed:
        last = [x for x in lines if x.previous][-3:]
        out.append(Finding(
            "crashes", Status.WARNING,
            f"{len(crashed)} container(s) restarted; their previous log ends with: "
            + " | ".join(x.message[:120] for x in last),
            value=len(crashed), evidence={"pods": sorted({s.pod for s in crashed})}))
    return tuple(out)


def _share(lines: list[LogLine]) -> Finding:
    current = [x for x in lines if not x.previous]
    errors = sum(level_rank(x.level) >= level_rank("error") for x in current)
    if not current:
        return Finding("error share", Status.WARNING, "no log lines in the window to judge")
    pct = 100.0 * errors / len(current)
    bound = THRESHOLDS["error_rate"]
    status = bound.classify(pct)
    return Finding("error share", status,
                   f"{errors} of {len(current)} lines are errors ({pct:.2f} %; "
                   f"{bound.describe()})",
                   value=round(pct, 3), threshold=bound.warning, unit="%")


def _trend(kept: list[LogLine], lines: list[LogLine], since: datetime, until: datetime,
           level: str) -> Finding:
    """Kept lines per minute in the last quarter of the covered span against before it.

    The span starts at the oldest line read (pods younger than the window have no "before")."""
    times = [x.time for x in lines if x.time is not None and not x.previous]
    start = max(since, min(times)) if times else since
    span = (until - start).total_seconds()
    split = until - timedelta(seconds=span / 4)
    timed = [x.time for x in kept if x.time is not None and not x.previous]
    recent = sum(t >= split for t in timed)
    earlier = len(timed) - recent
    if span < 240:
        return Finding("error trend", Status.OK,
                       f"not enough history to compare ({span / 60:.1f} min of logs)",
                       value=len(timed), unit="lines")
    recent_rate = recent / (span / 4 / 60)
    earlier_rate = earlier / (span * 3 / 4 / 60)
    message = (f"{level}+ lines per minute: {recent_rate:.2f} in the last "
               f"{span / 4 / 60:.0f} min vs {earlier_rate:.2f} before")
    worse = (recent >= 5 and recent_rate >= 1.0
             and recent_rate >= TREND_FACTOR * max(earlier_rate, 1e-9))
    return Finding("error trend", Status.WARNING if worse else Status.OK,
                   message + (" — rising now" if worse else ""),
                   value=round(recent_rate, 3), threshold=round(earlier_rate, 3),
                   unit="/min")


__all__ = ["LogInvestigation", "LogSource", "investigate_logs"]
