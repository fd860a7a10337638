"""Canary deployments: a canary Deployment beside stable, traffic steps, analysis at each step.

:func:`plan_canary` validates the parameters, reads the stable Deployment and its Service and
lays out the whole sequence as Plans (create the canary, one scaling plan per traffic step,
promote, remove the canary, and the abort plan) — what a dry run shows. :func:`run_canary`
applies them one by one through :func:`~noa_lib.ops.safety.apply_plan` (each applied change goes
into the record's timeline): at each step the canary is scaled up first and must be Ready before
stable is scaled down, then after ``warmup_s`` the analysis (:mod:`.analysis`, Argo Rollouts
semantics) decides. Failed / Error / Inconclusive beyond its limits, or a step that cannot get
Ready -> **abort**: stable back to its replicas, canary deleted, a critical finding. All steps
pass -> **promote**: stable's image set to the new tag (rolling), rollout watched, canary deleted.

The canary is ``<stable>-canary`` (its object and every plan: :mod:`.canary_plans`); traffic
follows the replica ratio (see :mod:`.traffic`).
``skip_analysis`` is an emergency mode: no analysis runs, a loud warning finding, a timeline
event and the ``analysis_skipped`` figure say so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from noa_lib.clients import kube_apps
from noa_lib.config import Target
from noa_lib.errors import ClientError, NoaError, ParameterError, PreconditionFailed
from noa_lib.journal import emit_event
from noa_lib.ops.deploy import params
from noa_lib.ops.deploy.analysis import (
    AnalysisResult,
    AnalysisSpec,
    run_analysis,
    skipped_analysis,
)
from noa_lib.ops.deploy.canary_plans import abort_plan, canary_name, sequence_plans
from noa_lib.ops.deploy.context import kube_context
from noa_lib.ops.deploy.rollout import watch_rollout
from noa_lib.ops.deploy.traffic import TrafficStep, traffic_steps
from noa_lib.ops.deploy.workload import (
    TRACK,
    Obj,
    meta,
    pick_container,
    replicas,
    template,
)
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.names import validate_name
from noa_lib.ops.safety import Applied, Plan, apply_plan, check_confirmation

Progress = Callable[[str], None]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@dataclass(frozen=True)
class CanaryPlan:
    """Everything a canary run will do, decided before anything changes."""

    target: Target
    namespace: str
    stable: str
    canary: str
    service: str
    container: str
    stable_image: str
    canary_image: str
    original_replicas: int
    total_replicas: int
    steps: tuple[TrafficStep, ...]
    spec: AnalysisSpec
    warmup_s: float
    ready_timeout_s: float
    skip_analysis: bool
    skip_reason: str
    plans: tuple[Plan, ...]
    abort: Plan
    findings: tuple[Finding, ...]
    stable_object: Obj = field(repr=False, compare=False, default_factory=dict)

    @property
    def stable_version(self) -> str:
        return params.tag_of(self.stable_image)

    @property
    def canary_version(self) -> str:
        return params.tag_of(self.canary_image)



def plan_canary(
    target: Target,
    *,
    deployment: str,
    image_tag: str,
    steps: str = "10,25,50,75,100",
    spec: AnalysisSpec,
    namespace: str = "",
    service: str = "",
    container: str = "",
    total_replicas: int = 0,
    warmup_s: float = 10.0,
    ready_timeout_s: float = 120.0,
    skip_analysis: bool = False,
    skip_reason: str = "",
) -> CanaryPlan:
    """Validate every parameter (before any request), read stable and its Service, plan it all.

    Raises:
        ParameterError: a bad parameter, naming it and what is accepted.
        PreconditionFailed: a canary Deployment already exists, or the Service would not send
            the canary any traffic.
        NotFound / ClientError: stable or the Service cannot be read.
    """
    kc = kube_context(target, namespace)
    ns = kc.namespace
    params.workload(ns, deployment, container=container)
    if service:
        validate_name(service, "service")
    params.tag(image_tag)
    weights = params.parse_weights(steps, "steps")
    params.whole(total_replicas, "total_replicas")
    params.positive(warmup_s, "warmup_s", allow_zero=True)
    params.positive(ready_timeout_s, "ready_timeout_s")
    if skip_analysis and not skip_reason.strip():
        skip_reason = "skip_analysis=True (emergency mode; no reason given)"
    stable = kube_apps.get(kc.settings, "deployments", deployment, ns)
    picked = pick_container(stable, container)
    cname = str(picked.get("name"))
    stable_image = str(picked.get("image") or "")
    canary_image = params.image_with_tag(stable_image, image_tag)
    n = replicas(stable)
    total = total_replicas or n
    if total < n:
        raise ParameterError(f"total_replicas={total} is below stable's {n} replicas",
                             name="total_replicas", accepted=f"0 (= {n}) or a number >= {n}")
    split = traffic_steps(weights, total)
    tpl_labels = dict(meta(template(stable)).get("labels") or {})
    svc_name = service or str(tpl_labels.get("app") or deployment)
    validate_name(svc_name, "service")
    svc = kube_apps.get(kc.settings, "services", svc_name, ns)
    selector = dict((svc.get("spec") or {}).get("selector") or {})
    canary_labels = {**tpl_labels, TRACK: "canary"}
    if not selects(selector, canary_labels):
        raise PreconditionFailed(
            f"Service {ns}/{svc_name} selects {selector}: canary pods (labels {canary_labels}) "
            "would get no traffic; the Service must select by app without track")
    name = canary_name(deployment)
    if kube_apps.find(kc.settings, "deployments", name, ns) is not None:
        raise PreconditionFailed(f"Deployment {ns}/{name} already exists: a canary is in "
                                 "progress or was left behind; finish or delete it first")
    findings: list[Finding] = []
    notes = [s.note(prev) for prev, s in zip((None, *split[:-1]), split, strict=True)]
    for s, note in zip(split, notes, strict=True):
        if note:
            findings.append(Finding(f"traffic {s.label}", Status.OK, note,
                                    value=s.effective, threshold=s.weight, unit="%"))
    if skip_analysis:
        findings.append(Finding("canary analysis SKIPPED", Status.WARNING,
                                "!!! skip_analysis=True — EMERGENCY MODE: no step of this canary "
                                f"will be verified against any metric. Reason: {skip_reason}",
                                evidence={"skip_analysis": True}))
    if stable_image == canary_image:
        raise PreconditionFailed(f"{deployment} already runs {stable_image}: nothing to canary")
    plans = sequence_plans(kc, deployment, name, stable, cname, canary_image, n,
                   split, ready_timeout_s)
    abort = abort_plan(kc, deployment, name, n, (0, n), ready_timeout_s)
    return CanaryPlan(
        target=target, namespace=ns, stable=deployment, canary=name, service=svc_name,
        container=cname, stable_image=stable_image, canary_image=canary_image,
        original_replicas=n, total_replicas=total, steps=split, spec=spec, warmup_s=warmup_s,
        ready_timeout_s=ready_timeout_s, skip_analysis=skip_analysis,
        skip_reason=skip_reason.strip(), plans=tuple(plans), abort=abort,
        findings=tuple(findings), stable_object=stable,
    )



@dataclass(frozen=True)
class StepOutcome:
    """What happened at one traffic step."""

    index: int
    weight: int
    effective: float
    canary: int
    stable: int
    phase: str  # analysis phase, "Skipped", "not run", "dry run", "failed to scale"
    message: str


@dataclass(frozen=True)
class CanaryRun:
    """How a canary run ended: ``promoted``, ``aborted`` or ``dry-run``."""

    plan: CanaryPlan
    verdict: str
    steps: tuple[StepOutcome, ...]
    analyses: tuple[AnalysisResult, ...]
    applied: tuple[Applied, ...]
    findings: tuple[Finding, ...]
    dry_run: bool

    @property
    def steps_completed(self) -> int:
        return sum(1 for s in self.steps if s.phase in ("Successful", "Skipped"))

    def figures(self) -> dict[str, Any]:
        """Outcome figures for the record."""
        p = self.plan
        return {
            "deployment": f"{p.namespace}/{p.stable}",
            "from_image": p.stable_image,
            "to_image": p.canary_image,
            "verdict": self.verdict,
            "dry_run": self.dry_run,
            "steps_planned": len(p.steps),
            "steps_completed": self.steps_completed,
            "analysis_phases": ",".join(a.phase for a in self.analyses),
            "analysis_skipped": p.skip_analysis,
            "changes_applied": sum(len(a.plan.changes) for a in self.applied if a.applied),
        }


def run_canary(plan: CanaryPlan, *, dry_run: bool = True, confirm: str | None = None,
               progress: Progress | None = None,
               sleep: Callable[[float], None] = time.sleep) -> CanaryRun:
    """Run ``plan``: every plan through ``apply_plan`` (dry run: shown only, nothing changes).

    Raises:
        UnsafeActionRefused: a protected target without ``confirm`` (before any change).
    Failures after the first change never raise: they abort the canary (stable back, canary
    deleted) and come back as a critical finding with verdict ``aborted``.
    """
    say = progress or (lambda _line: None)
    confirm = confirm or None
    if dry_run:
        return _dry(plan, say)
    check_confirmation(plan.target, confirm)
    applied: list[Applied] = []
    analyses: list[AnalysisResult] = []
    outcomes: list[StepOutcome] = []
    findings: list[Finding] = list(plan.findings)
    create, promote, cleanup = plan.plans[0], plan.plans[-2], plan.plans[-1]
    step_plans = plan.plans[1:-2]
    current = (0, plan.original_replicas)
    try:
        say(create.action)
        applied.append(apply_plan(create, dry_run=False, confirm=confirm))
        current = (0, plan.original_replicas)
        for s, step in zip(plan.steps, step_plans, strict=True):
            say(step.action)
            try:
                applied.append(apply_plan(step, dry_run=False, confirm=confirm))
            except NoaError as exc:
                outcomes.append(StepOutcome(s.index, s.weight, s.effective, s.canary, s.stable,
                                            "failed to scale", str(exc)))
                raise
            current = (s.canary, s.stable)
            result = _analyse(plan, s, say, sleep)
            analyses.append(result)
            findings.extend(result.findings)
            outcomes.append(StepOutcome(s.index, s.weight, s.effective, s.canary, s.stable,
                                        str(result.phase), _summary(result)))
            if not result.passed:
                raise _Abort(f"analysis {result.phase} at {s.label}")
    except (NoaError, _Abort) as exc:
        reason = str(exc)
        _abort(plan, current, reason, applied, findings, say, confirm)
        done = {o.index for o in outcomes}
        outcomes += [StepOutcome(s.index, s.weight, s.effective, s.canary, s.stable, "not run",
                                 "canary aborted before this step")
                     for s in plan.steps if s.index not in done]
        return CanaryRun(plan, "aborted", tuple(outcomes), tuple(analyses), tuple(applied),
                         tuple(findings), dry_run=False)
    say(promote.action)
    applied.append(apply_plan(promote, dry_run=False, confirm=confirm))
    watch = watch_rollout(plan.target, plan.stable, namespace=plan.namespace,
                          timeout_s=max(plan.ready_timeout_s, 60.0), applied=True)
    findings.extend(watch.findings)
    say(cleanup.action)
    applied.append(apply_plan(cleanup, dry_run=False, confirm=confirm))
    emit_event("canary-promoted", summary=f"{plan.stable} promoted to {plan.canary_image}",
               target=plan.target.name, analysis_phases=[a.phase for a in analyses])
    findings.append(Finding("canary", Status.OK if watch.ok else Status.CRITICAL,
                            f"promoted {plan.namespace}/{plan.stable} to {plan.canary_image}; "
                            f"canary {plan.canary} removed",
                            evidence={"steps": [s.weight for s in plan.steps]}))
    return CanaryRun(plan, "promoted", tuple(outcomes), tuple(analyses), tuple(applied),
                     tuple(findings), dry_run=False)


class _Abort(Exception):
    """The analysis said no."""


def _summary(result: AnalysisResult) -> str:
    return "; ".join(f.message for f in result.findings)


def _analyse(plan: CanaryPlan, s: TrafficStep, say: Progress,
             sleep: Callable[[float], None]) -> AnalysisResult:
    if plan.skip_analysis:
        result = skipped_analysis(s.label, plan.skip_reason)
        emit_event("analysis-skipped", summary=f"canary {s.label}: ANALYSIS SKIPPED "
                   f"(emergency mode): {plan.skip_reason}", target=plan.target.name)
        say(f"{s.label}: analysis SKIPPED — {plan.skip_reason}")
        return result
    if plan.warmup_s:
        say(f"{s.label}: warming up {plan.warmup_s:g} s so Prometheus has canary data")
        sleep(plan.warmup_s)
    result = run_analysis(plan.target, service=plan.service,
                          canary_version=plan.canary_version, stable_version=plan.stable_version,
                          spec=plan.spec, label=s.label, sleep=sleep)
    emit_event("analysis", summary=f"canary {s.label}: {result.phase}", target=plan.target.name,
               phase=str(result.phase), findings=[f.as_dict() for f in result.findings])
    say(f"{s.label}: analysis {result.phase}")
    return result


def _abort(plan: CanaryPlan, current: tuple[int, int], reason: str, applied: list[Applied],
           findings: list[Finding], say: Progress, confirm: str | None) -> None:
    kc = kube_context(plan.target, plan.namespace)
    abort = abort_plan(kc, plan.stable, plan.canary,
                       plan.original_replicas, current, plan.ready_timeout_s)
    emit_event("canary-aborted", summary=f"canary of {plan.canary_image} aborted: {reason}",
               target=plan.target.name)
    say(f"ABORT ({reason}): {abort.action}")
    try:
        applied.append(apply_plan(abort, dry_run=False, confirm=confirm))
        back = "all traffic is back on stable"
        status = Status.CRITICAL
    except (NoaError, ClientError) as exc:
        back = f"the abort itself failed ({exc}): check {plan.namespace}/{plan.stable} by hand"
        status = Status.CRITICAL
    findings.append(Finding("canary", status,
                            f"canary of {plan.canary_image} ABORTED — {reason}; {back} "
                            f"({plan.stable} at {plan.original_replicas} replicas, "
                            f"{plan.canary} deleted)",
                            evidence={"reason": reason, "stable_image": plan.stable_image}))


def _dry(plan: CanaryPlan, say: Progress) -> CanaryRun:
    applied = []
    for p in plan.plans:
        say(f"DRY RUN — {p.action}")
        applied.append(apply_plan(p, dry_run=True))
    outcomes = tuple(StepOutcome(s.index, s.weight, s.effective, s.canary, s.stable, "dry run",
                                 "not run: nothing was changed") for s in plan.steps)
    mode = ("analysis would be SKIPPED (emergency mode)" if plan.skip_analysis
            else f"analysis at each step: {len(plan.spec.metrics)} metrics × "
                 f"{plan.spec.count} measurements, {plan.spec.interval_s:g} s apart")
    finding = Finding("canary", Status.SKIPPED,
                      f"dry run: nothing changed; {len(plan.plans)} plans shown for "
                      f"{plan.stable} {plan.stable_image} -> {plan.canary_image}; {mode}")
    return CanaryRun(plan, "dry-run", outcomes, (), tuple(applied),
                     (*plan.findings, finding), dry_run=True)


def with_spec(plan: CanaryPlan, spec: AnalysisSpec) -> CanaryPlan:
    """``plan`` with another analysis spec."""
    return replace(plan, spec=spec)


__all__ = [
    "CanaryPlan",
    "CanaryRun",
    "StepOutcome",
    "plan_canary",
    "run_canary",
]
