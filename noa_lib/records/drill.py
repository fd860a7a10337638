"""Incident drills: inject a scenario, start the clock, score the response from the records.

:func:`run_drill` injects ``scenario`` through the target's injector (:mod:`noa_lib.clients.
scenarios`), then follows the incident response the way the records show it:

1. **detected** — an incident opened by an alert after the injection (``noa alerts serve``);
2. **triaged** — the incident's ``incident/triage`` record and the cause it ranked first;
3. **mitigated** — the incident moved to ``mitigated`` (a mitigation runbook verified its cure);
4. **resolved** — the incident resolved.

In ``observe`` mode the drill only watches (responders act) until ``timeout_min``. In ``auto``
mode it responds where nobody did: it opens the incident when no alert did within
``detect_timeout_s``, runs triage when no triage arrived, runs the runbook triage ranked first
with ``dry_run=False`` (and ``confirm`` on a protected target) — which verifies its cure in the
systems themselves — and resolves the incident: the end-to-end proof that a scenario is
detected, named and cured. The scenario is always cleared at the end (``normal``: only what the
injection created is removed). :func:`~noa_lib.ops.drill_score.score_drill` scores the times;
the drill's record is the training evidence.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from noa_lib.config import Target, load_config
from noa_lib.errors import NoaError, ParameterError, PreconditionFailed
from noa_lib.journal import emit_event
from noa_lib.ops.drill_score import DrillResult, DrillRun, DrillTimes, score_drill
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.safety import check_confirmation
from noa_lib.records.incidents import Incident, IncidentStore
from noa_lib.records.index import RecordIndex
from noa_lib.records.warm_kernels import WarmKernels

MODES = ("auto", "observe")
TRIAGE = "incident/triage"
POLL_S = 2.0
SETTLE_S = 5.0
"""Seconds for a scenario's effect to reach Prometheus (a scrape or two)."""
TRIAGE_WAIT_S = 90.0
"""In auto mode, how long to wait for the alert's own triage before running it."""


def plan_drill(target: Target, scenario: str, mode: str = "auto") -> dict[str, str]:
    """What a drill of ``scenario`` would do (read-only): the scenario, its summary, the runbook
    that cures it and the mode.

    Raises:
        ParameterError: unknown mode or scenario (the message lists the accepted ones).
        ConfigError: the target has no injector installed.
    """
    if mode not in MODES:
        raise ParameterError(f"mode={mode!r} is not one of {', '.join(MODES)}", name="mode",
                             accepted=", ".join(MODES))
    from noa_lib.clients.scenarios import injector_for

    injector = injector_for(target)
    known = {s["name"]: s for s in injector.scenarios()}
    if scenario not in known:
        raise ParameterError(f"unknown scenario {scenario!r}", name="scenario",
                             accepted=", ".join(sorted(known)))
    info = known[scenario]
    return {"scenario": scenario, "summary": info.get("summary", ""),
            "cure": info.get("cure", ""), "mode": mode, "current": injector.current()}


def run_drill(
    target: Target,
    scenario: str,
    *,
    mode: str = "auto",
    dry_run: bool = True,
    confirm: str | None = None,
    detect_timeout_s: float = 180.0,
    timeout_min: float = 60.0,
    window: str = "1m",
    mitigation_parameters: Mapping[str, str] | str = "{}",
    root: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DrillResult:
    """Inject ``scenario`` on ``target`` and score the response (see the module docstring).

    A dry run (the default) injects nothing: the result holds the plan as a skipped finding.
    ``mitigation_parameters`` (a mapping or its JSON text) are the responder's choices, given to
    the runbook triage named on top of the parameters triage filled in (e.g. ``{"older_than_s":
    "10"}`` for sessions younger than the guard rail's default).

    Raises:
        ParameterError: unknown mode or scenario.
        UnsafeActionRefused: a protected target without ``confirm``.
        PreconditionFailed: the target is already in a scenario other than ``normal``.
    """
    plan = plan_drill(target, scenario, mode)
    overrides = _overrides(mitigation_parameters)
    if dry_run:
        emit_event("dry-run", summary=f"drill of {scenario} ({mode}) on {target.name}",
                   target=target.name)
        times = DrillTimes(scenario, plan["cure"], datetime.now(UTC))
        needs = f", confirm={target.name!r}" if target.protected else ""
        return DrillResult(scenario, mode, plan["cure"], None, times, score_drill(times), (), (
            Finding("drill", Status.SKIPPED,
                    f"DRY RUN — would inject {scenario} ({plan['summary']}) on {target.name} and "
                    f"{'respond' if mode == 'auto' else 'watch the response'} (cure: "
                    f"{plan['cure'] or 'none named'}); re-run with dry_run=False{needs}"),),
                           dry_run=True)
    check_confirmation(target, confirm)
    if plan["current"] != "normal":
        raise PreconditionFailed(
            f"target {target.name} is in scenario {plan['current']!r}: a drill starts from "
            "normal (switch it back first)")
    from noa_lib.clients.scenarios import injector_for

    reports = root if root is not None else load_config().reports_dir
    drill = _Drill(target, plan, mode, confirm, window, reports, sleep, overrides)
    injector = injector_for(target)
    injector.inject(scenario)
    drill.injected = datetime.now(UTC)
    emit_event("drill-injected", summary=f"scenario {scenario} injected on {target.name}",
               target=target.name)
    try:
        drill.follow(detect_timeout_s, timeout_min * 60)
    finally:
        injector.clear()
        drill.close()
        emit_event("drill-cleared", summary=f"scenario {scenario} cleared", target=target.name)
    return drill.result()


class _Drill:
    def __init__(self, target: Target, plan: dict[str, str], mode: str, confirm: str | None,
                 window: str, reports: Path, sleep: Callable[[float], None],
                 overrides: dict[str, str]) -> None:
        self.target, self.plan, self.mode, self.confirm = target, plan, mode, confirm
        self.window, self.reports, self.sleep, self.overrides = window, reports, sleep, overrides
        # the drill's own runs start on kernels started ahead, as alert runs do
        self.kernels = WarmKernels(1) if mode == "auto" else None
        self.store = IncidentStore(reports)
        self.index = RecordIndex(reports)
        self.injected = datetime.now(UTC)
        self.incident: Incident | None = None
        self.detected: datetime | None = None
        self.triage: DrillRun | None = None
        self.triaged: datetime | None = None
        self.mitigation: DrillRun | None = None
        self.verified = False
        self.runs: list[DrillRun] = []
        self.notes: list[Finding] = []

    # ---------------------------------------------------------------- the response, in order

    def follow(self, detect_timeout_s: float, timeout_s: float) -> None:
        deadline = self.injected + timedelta(seconds=timeout_s)
        self._detect(detect_timeout_s)
        if self.incident is None:
            return
        self._triage(deadline)
        if self.mode == "auto":
            self._mitigate()
            self._resolve()
        else:
            self._watch(deadline)

    def _detect(self, timeout_s: float) -> None:
        until = self.injected + timedelta(seconds=timeout_s)
        while datetime.now(UTC) < until:
            found = self._alert_incident()
            if found is not None:
                self.incident = found
                self.detected = _parse(found.detected_at)
                return
            self.sleep(POLL_S)
        if self.mode == "auto":
            self.incident = self.store.open(
                title=f"drill: {self.plan['scenario']}", severity="P2", by="drill")
            self.notes.append(Finding("detected", Status.WARNING,
                                      f"no alert opened an incident within {timeout_s:g} s; the "
                                      f"drill opened {self.incident.id} to go on"))

    def _alert_incident(self) -> Incident | None:
        for incident in self.store.list(status="open"):
            detected = _parse(incident.detected_at)
            if incident.group_keys and detected is not None and \
                    detected >= self.injected - timedelta(seconds=POLL_S):
                return incident
        return None

    def _triage(self, deadline: datetime) -> None:
        assert self.incident is not None
        wait_until = min(deadline, datetime.now(UTC) + timedelta(seconds=TRIAGE_WAIT_S))
        while self.triage is None and datetime.now(UTC) < wait_until:
            self.triage = self._linked(TRIAGE)
            if self.triage is None:
                if self.mode == "auto" and self.detected is None:
                    break  # no alert, so no alert-run triage is coming
                self.sleep(POLL_S)
        if self.triage is None and self.mode == "auto":
            # no alert said the signal crossed its bar: give the window time to fill first
            ready = self.injected + timedelta(seconds=_seconds(self.window) + SETTLE_S)
            left = (ready - datetime.now(UTC)).total_seconds()
            if left > 0:
                self.sleep(left)
            self.triage = self._run(TRIAGE, {"window": self.window,
                                             "starts_at": self.injected.isoformat()})
        if self.triage is not None:
            self.triaged = self._ended(self.triage.run_id)

    def _mitigate(self) -> None:
        if self.triage is None:
            return
        command = str(self.triage.figures.get("cause_1_command") or "")
        runbook = str(self.triage.figures.get("cause_1") or "")
        if not command or not runbook:
            self.notes.append(Finding("mitigated", Status.CRITICAL,
                                      "triage named no cause: nothing to mitigate"))
            return
        parameters = {**_parameters(command), **self.overrides}
        parameters["dry_run"] = "false"
        if self.confirm:
            parameters["confirm"] = self.confirm
        try:
            self.mitigation = self._run(runbook, parameters)
        except NoaError as exc:
            self.notes.append(Finding("mitigated", Status.CRITICAL,
                                      f"could not run {runbook}: {exc}"))
            return
        # the runbook verified its cure in the systems themselves (Prometheus, the API)
        self.verified = self.mitigation.figures.get("mitigation") == "cured"
        if not self.verified:
            ended = self.mitigation.figures.get("mitigation") or self.mitigation.status
            self.notes.append(Finding("verified", Status.CRITICAL,
                                      f"{runbook} ended {ended} (run {self.mitigation.run_id})"))

    def _resolve(self) -> None:
        assert self.incident is not None
        current = self.store.get(self.incident.id)
        if self.verified and current.status == "mitigated":
            self.store.resolve(current.id, note=f"drill {self.plan['scenario']}: cure verified",
                               by="drill")

    def _watch(self, deadline: datetime) -> None:
        assert self.incident is not None
        while datetime.now(UTC) < deadline:
            current = self.store.get(self.incident.id)
            if current.status == "resolved":
                break
            self.sleep(POLL_S * 5)
        mitigated = self._linked_mitigation()
        if mitigated is not None:
            self.mitigation = mitigated
            self.verified = mitigated.figures.get("mitigation") == "cured"

    # ---------------------------------------------------------------- records

    def _run(self, runbook: str, parameters: dict[str, str]) -> DrillRun:
        from noa_lib.records.runner import RunRequest, run

        assert self.incident is not None
        result = run(RunRequest(runbook, parameters, target=self.target.name,
                                incident=self.incident.id, reports_dir=self.reports,
                                cell_timeout=600, kernels=self.kernels))
        meta = self.index.get(result.run_id) or {}
        found = DrillRun(runbook, result.run_id, result.status,
                         dict((meta.get("outcome") or {}).get("figures") or {}), True)
        self.runs.append(found)
        return found

    def close(self) -> None:
        if self.kernels is not None:
            self.kernels.close()

    def _linked(self, runbook: str) -> DrillRun | None:
        assert self.incident is not None
        for entry in reversed(self.store.get(self.incident.id).records):
            if entry.get("runbook") == runbook:
                meta = self.index.get(str(entry.get("run_id"))) or {}
                found = DrillRun(runbook, str(entry.get("run_id")), str(meta.get("status")),
                                 dict((meta.get("outcome") or {}).get("figures") or {}), False)
                self.runs.append(found)
                return found
        return None

    def _linked_mitigation(self) -> DrillRun | None:
        assert self.incident is not None
        for entry in reversed(self.store.get(self.incident.id).records):
            runbook = str(entry.get("runbook") or "")
            if runbook.startswith("incident/") and runbook not in (TRIAGE, "incident/drill"):
                return self._linked(runbook)
        return None

    def _ended(self, run_id: str) -> datetime | None:
        meta = self.index.get(run_id) or {}
        return _parse(meta.get("ended_at")) or _parse(meta.get("started_at"))

    # ---------------------------------------------------------------- the result

    def result(self) -> DrillResult:
        incident = self.store.get(self.incident.id) if self.incident is not None else None
        times = DrillTimes(
            scenario=self.plan["scenario"], expected_cause=self.plan["cure"],
            injected=self.injected, detected=self.detected, triaged=self.triaged,
            triage_cause=None if self.triage is None
            else str(self.triage.figures.get("likely_cause") or "none"),
            mitigated=None if incident is None
            else _parse(incident.status_times.get("mitigated")),
            mitigation_runbook=None if self.mitigation is None else self.mitigation.runbook,
            verified=self.verified,
            resolved=None if incident is None else _parse(incident.status_times.get("resolved")),
        )
        score = score_drill(times)
        findings = [Finding(s.name, Status.OK if s.points >= 25 else
                            Status.WARNING if s.points > 0 else Status.CRITICAL,
                            f"{s.points:g}/25 — {s.note}", value=s.points,
                            evidence={"minutes": s.minutes}) for s in score.stages]
        return DrillResult(self.plan["scenario"], self.mode, self.plan["cure"],
                           None if incident is None else incident.id, times, score,
                           tuple(self.runs), (*self.notes, *findings))


def _overrides(raw: Mapping[str, str] | str) -> dict[str, str]:
    """The responder's parameters for the mitigation (a mapping, or its JSON text).

    Raises:
        ParameterError: not a JSON object of names to values, or one that sets ``dry_run``,
            ``confirm``, ``incident`` or ``target`` (the drill sets those).
    """
    accepted = 'a JSON object of parameter names to values, e.g. {"older_than_s": "10"}'
    if isinstance(raw, str):
        try:
            raw = json.loads(raw or "{}")
        except ValueError as exc:
            raise ParameterError(f"mitigation_parameters is not JSON: {exc}",
                                 name="mitigation_parameters", accepted=accepted) from None
    if not isinstance(raw, Mapping):
        raise ParameterError("mitigation_parameters must be a JSON object",
                             name="mitigation_parameters", accepted=accepted)
    reserved = sorted(set(raw) & {"dry_run", "confirm", "incident", "target"})
    if reserved:
        raise ParameterError(f"mitigation_parameters may not set {', '.join(reserved)} (the "
                             "drill sets them)", name="mitigation_parameters", accepted=accepted)
    return {str(k): str(v) for k, v in raw.items()}


def _parameters(command: str) -> dict[str, str]:
    """The ``-p name value`` pairs of a ``noa run`` command."""
    words = shlex.split(command)
    out: dict[str, str] = {}
    for i, word in enumerate(words):
        if word == "-p" and i + 2 < len(words):
            out[words[i + 1]] = words[i + 2]
    return out


def _seconds(window: str) -> float:
    from noa_lib.ops.promql import parse_duration

    return parse_duration(window)


def _parse(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


__all__ = ["MODES", "plan_drill", "run_drill"]
