"""Blue-green deployments: a second Deployment beside the live one, switched by Service selector.

Two slots per component: ``<name>`` (its own ``track``, ``stable`` in NOA's manifests) and
``<name>-green`` (``track: green``). **Blue** is the slot the Service sends traffic to now;
the new version goes into the other slot (**green**), so a second blue-green run alternates back
to ``<name>`` cleanly. The sequence (:func:`run_blue_green`, each change a Plan through
``apply_plan``):

1. narrow the Service selector to blue's track (green gets no traffic before the switch);
2. create (or update) green with the new image and blue's replica count; wait until Ready;
3. DB migrations: a Job ``<name>-migrate-<tag>`` running the new image with ``migration_command``;
4. smoke test green directly through the pod proxy (health, readiness, login, ``users/me``);
5. switch the Service selector to green's track;
6. monitor ``monitor_minutes`` (error rate and p95 of green's version against the thresholds,
   pods Ready); a failure switches back to blue automatically (a recorded change) and the run
   fails;
7. success: blue is kept, annotated ``noa.io/decommission-after`` = now + ``keep_blue_hours``.

Which slot is which, the green object and decommissioning the idle slot (a separate mode that
deletes it once its keep time has passed) live in :mod:`noa_lib.ops.deploy.bluegreen_slots`.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from noa_lib.clients import kube_apps
from noa_lib.config import Target
from noa_lib.errors import NoaError, ParameterError, PreconditionFailed, StepFailed
from noa_lib.journal import emit_event
from noa_lib.ops.deploy import params
from noa_lib.ops.deploy.analysis import (
    AnalysisResult,
    AnalysisSpec,
    analysis_spec,
    run_analysis,
)
from noa_lib.ops.deploy.bluegreen_slots import (
    DECOMMISSION_AFTER,
    Slots,
    current_slots,
    decommission_plan,
    green_object,
    green_slot,
)
from noa_lib.ops.deploy.context import KubeContext, kube_context
from noa_lib.ops.deploy.rollout import rollout_status
from noa_lib.ops.deploy.smoke import smoke_test
from noa_lib.ops.deploy.waits import wait_settled
from noa_lib.ops.deploy.workload import TRACK, Obj, meta, pick_container, ref, replicas
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.names import validate_name
from noa_lib.ops.safety import Applied, Change, Plan, apply_plan, check_confirmation

Progress = Callable[[str], None]


def job_name(deployment: str, tag: str) -> str:
    """``api-migrate-2-15-0``: a DNS-1123 name for the migration Job of ``tag``."""
    safe = "".join(ch if ch.isalnum() else "-" for ch in tag.lower()).strip("-")
    return f"{deployment}-migrate-{safe}"[:63].rstrip("-")


@dataclass(frozen=True)
class BlueGreenPlan:
    """Everything a blue-green run will do, decided before anything changes."""

    target: Target
    namespace: str
    deployment: str
    service: str
    container: str
    slots: Slots
    blue_image: str
    green_image: str
    replicas: int
    selector: dict[str, str]
    migration_command: tuple[str, ...]
    monitor_s: float
    keep_blue_hours: float
    spec: AnalysisSpec
    ready_timeout_s: float
    force_switch_back: bool
    plans: dict[str, Plan] = field(repr=False)
    findings: tuple[Finding, ...] = ()
    mode: str = "deploy"  # or "decommission"

    @property
    def blue_version(self) -> str:
        return params.tag_of(self.blue_image)

    @property
    def green_version(self) -> str:
        return params.tag_of(self.green_image)

    @property
    def ordered(self) -> tuple[Plan, ...]:
        return tuple(self.plans.values())


def selector_plan(kc: KubeContext, service: str,
                  before: dict[str, str], track: str, action: str) -> Plan:
    """Set ``track`` in the Service selector (a merge patch of ``spec.selector``)."""
    after = {**before, TRACK: track}
    changes = () if after == before else (
        Change(ref("service", kc.namespace, service), "spec.selector", dict(before), after),)
    body = {"spec": {"selector": {TRACK: track}}}
    return Plan(action=action, target=kc.target, changes=changes,
                perform=lambda: kube_apps.patch(kc.settings, "services", service, body,
                                                kc.namespace, patch_type="merge"),
                rollback=f"set the selector of service {kc.namespace}/{service} back to "
                         f"{dict(before)}")


def plan_blue_green(
    target: Target,
    *,
    deployment: str,
    image_tag: str,
    namespace: str = "",
    service: str = "",
    container: str = "",
    migration_command: str = "",
    monitor_minutes: float = 0.5,
    keep_blue_hours: float = 24.0,
    error_rate: float = 0.01,
    p95_s: float = 1.0,
    interval_s: float = 5.0,
    window: str = "30s",
    inconclusive_limit: int = 1,
    ready_timeout_s: float = 120.0,
    force_switch_back: bool = False,
    decommission_blue: bool = False,
    force_decommission: bool = False,
) -> BlueGreenPlan:
    """Validate (before any request), read both slots and the Service, plan every change.

    Raises:
        ParameterError: a bad parameter, naming it.
        PreconditionFailed: green would be what already serves, or no slot exists.
    """
    kc = kube_context(target, namespace)
    ns = kc.namespace
    params.workload(ns, deployment, container=container)
    if service:
        validate_name(service, "service")
    params.tag(image_tag)
    params.positive(monitor_minutes, "monitor_minutes")
    params.positive(keep_blue_hours, "keep_blue_hours", allow_zero=True)
    params.positive(ready_timeout_s, "ready_timeout_s")
    params.positive(interval_s, "interval_s")
    spec = analysis_spec(interval_s=interval_s,
                         count=max(1, round(monitor_minutes * 60 / interval_s)),
                         inconclusive_limit=inconclusive_limit, window=window,
                         error_rate=error_rate, p95_s=p95_s, baseline_max_ratio=None)
    try:
        command = tuple(shlex.split(migration_command))
    except ValueError as exc:
        raise ParameterError(f"migration_command cannot be split into arguments: {exc}",
                             name="migration_command",
                             accepted="a command line, e.g. 'noa-server migrate --apply'") from None
    base, other, svc_name, selector, slots = current_slots(kc, deployment, service)
    blue = base if slots.blue == deployment else other
    assert blue is not None
    green_now = other if slots.green == green_slot(deployment) else base
    cname = str(pick_container(blue, container).get("name"))
    blue_image = str(pick_container(blue, cname).get("image"))
    green_image = params.image_with_tag(blue_image, image_tag)
    n = replicas(blue)
    if decommission_blue:
        plan = decommission_plan(target, deployment=deployment, namespace=ns, service=svc_name,
                                 force=force_decommission)
        return BlueGreenPlan(
            target=target, namespace=ns, deployment=deployment, service=svc_name,
            container=cname, slots=slots, blue_image=blue_image, green_image=green_image,
            replicas=n, selector=selector, migration_command=command,
            monitor_s=monitor_minutes * 60, keep_blue_hours=keep_blue_hours, spec=spec,
            ready_timeout_s=ready_timeout_s, force_switch_back=False,
            plans={"decommission": plan}, mode="decommission")
    if green_image == blue_image:
        raise PreconditionFailed(f"{slots.blue} already serves {blue_image}: nothing to deploy")
    plans: dict[str, Plan] = {}
    plans["narrow"] = selector_plan(
        kc, svc_name, selector, slots.blue_track,
        f"keep service {ns}/{svc_name} on blue ({slots.blue}, track={slots.blue_track})")
    plans["green"] = _green_plan(kc, slots, blue, green_now, cname,
                                 green_image, n)
    plans["migrate"] = _migration_plan(kc, deployment, image_tag,
                                       green_image, command)
    narrowed = {**selector, TRACK: slots.blue_track}
    plans["switch"] = selector_plan(
        kc, svc_name, narrowed, slots.green_track,
        f"switch service {ns}/{svc_name} to green ({slots.green}, track={slots.green_track})")
    plans["switch_back"] = selector_plan(
        kc, svc_name, {**selector, TRACK: slots.green_track}, slots.blue_track,
        f"switch service {ns}/{svc_name} back to blue ({slots.blue})")
    plans["keep_blue"] = _keep_plan(kc, slots.blue, blue, keep_blue_hours)
    findings = []
    if not command:
        findings.append(Finding("migrations", Status.OK,
                                "no migration_command: no migration Job will run"))
    return BlueGreenPlan(
        target=target, namespace=ns, deployment=deployment, service=svc_name, container=cname,
        slots=slots, blue_image=blue_image, green_image=green_image, replicas=n,
        selector=selector, migration_command=command, monitor_s=monitor_minutes * 60,
        keep_blue_hours=keep_blue_hours, spec=spec, ready_timeout_s=ready_timeout_s,
        force_switch_back=force_switch_back, plans=plans, findings=tuple(findings),
    )


def _green_plan(kc: KubeContext, slots: Slots, blue: Obj,
                green_now: Obj | None, container: str, image: str, n: int) -> Plan:
    resource = ref("deployment", kc.namespace, slots.green)
    if green_now is None:
        body = green_object(blue, slots.green, slots.green_track, image, container)
        return Plan(
            action=f"create green {resource} ({image}, {n} replicas, track={slots.green_track})",
            target=kc.target,
            changes=(Change(resource, "(object)", None,
                            f"{image}, {n} replicas, selector {body['spec']['selector']}"),),
            perform=lambda: kube_apps.create(kc.settings, "deployments", body, kc.namespace),
            rollback=f"delete {resource}")
    old = str(pick_container(green_now, container).get("image"))
    changes = []
    if old != image:
        changes.append(Change(resource, f"spec.template.spec.containers[{container}].image",
                              old, image))
    if replicas(green_now) != n:
        changes.append(Change(resource, "spec.replicas", replicas(green_now), n))
    patch = {"spec": {"replicas": n, "template": {"spec": {"containers": [
        {"name": container, "image": image}]}}}}
    return Plan(action=f"update green {resource} to {image} with {n} replicas", target=kc.target,
                changes=tuple(changes),
                perform=lambda: kube_apps.patch(kc.settings, "deployments", slots.green, patch,
                                                kc.namespace),
                rollback=f"scale {resource} back to {replicas(green_now)}")


def _migration_plan(kc: KubeContext, deployment: str, tag: str,
                    image: str, command: tuple[str, ...]) -> Plan:
    name = job_name(deployment, tag)
    resource = ref("job", kc.namespace, name)
    if not command:
        return Plan(action="no migrations", target=kc.target, changes=(), perform=lambda: None)
    body = {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": {"app": deployment, "noa.io/migration": "true"}},
            "spec": {"backoffLimit": 0, "template": {
                "metadata": {"labels": {"noa.io/migration": name}},
                "spec": {"restartPolicy": "Never", "containers": [
                    {"name": "migrate", "image": image, "command": list(command)}]}}}}
    return Plan(action=f"run the DB migrations of {tag}: job {resource}", target=kc.target,
                changes=(Change(resource, "(object)", None,
                                f"{image} running {shlex.join(command)}"),),
                perform=lambda: _run_job(kc, name, body),
                rollback="migrations must be backward compatible: blue keeps running on them; "
                         "a schema rollback is rollback what=database")


def _run_job(kc: KubeContext, name: str, body: Obj, timeout_s: float = 120.0,
             sleep: Callable[[float], None] = time.sleep) -> Obj:
    existing = kube_apps.find(kc.settings, "jobs", name, kc.namespace)
    if existing is None:
        kube_apps.create(kc.settings, "jobs", body, kc.namespace)
    deadline = time.monotonic() + timeout_s
    while True:
        job = kube_apps.get(kc.settings, "jobs", name, kc.namespace)
        conditions = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or []
                      if c.get("status") == "True"}
        if "Complete" in conditions:
            return job
        if "Failed" in conditions:
            reason = conditions["Failed"].get("reason") or "Failed"
            raise StepFailed(f"migration job {kc.namespace}/{name} failed ({reason}); green is "
                             "NOT "
                             "switched to — blue keeps serving")
        if time.monotonic() >= deadline:
            raise StepFailed(f"migration job {kc.namespace}/{name} did not finish within "
                             f"{timeout_s:g} s")
        sleep(0.5)


def _keep_plan(kc: KubeContext, name: str, blue: Obj,
               hours: float) -> Plan:
    after = (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = (meta(blue).get("annotations") or {}).get(DECOMMISSION_AFTER)
    body = {"metadata": {"annotations": {DECOMMISSION_AFTER: after}}}
    resource = ref("deployment", kc.namespace, name)
    return Plan(action=f"keep blue {resource} for {hours:g} h (then decommission it)",
                target=kc.target,
                changes=(Change(resource, f"metadata.annotations[{DECOMMISSION_AFTER}]",
                                before, after),),
                perform=lambda: kube_apps.patch(kc.settings, "deployments", name, body,
                                                kc.namespace, patch_type="merge"),
                rollback="switch back: set the service selector to blue's track")


@dataclass(frozen=True)
class Phase:
    """One phase of the run and how it went."""

    name: str
    status: str  # done, skipped, dry run, failed, not run
    message: str


@dataclass(frozen=True)
class BlueGreenRun:
    """How a blue-green run ended: ``switched``, ``switched-back``, ``stopped`` or ``dry-run``."""

    plan: BlueGreenPlan
    verdict: str
    phases: tuple[Phase, ...]
    applied: tuple[Applied, ...]
    smoke: tuple[Finding, ...]
    monitoring: AnalysisResult | None
    findings: tuple[Finding, ...]
    dry_run: bool

    def figures(self) -> dict[str, Any]:
        p = self.plan
        return {
            "deployment": f"{p.namespace}/{p.deployment}",
            "blue": p.slots.blue,
            "green": p.slots.green,
            "from_image": p.blue_image,
            "to_image": p.green_image,
            "verdict": self.verdict,
            "dry_run": self.dry_run,
            "monitoring_phase": self.monitoring.phase if self.monitoring else "not run",
            "changes_applied": sum(len(a.plan.changes) for a in self.applied if a.applied),
        }


def run_blue_green(plan: BlueGreenPlan, *, dry_run: bool = True, confirm: str | None = None,
                   progress: Progress | None = None,
                   sleep: Callable[[float], None] = time.sleep) -> BlueGreenRun:
    """Run ``plan`` (see the module docstring); with ``dry_run`` every plan is shown only.

    Raises:
        UnsafeActionRefused: a protected target without ``confirm`` (before any change).
    Failures never raise after the first change: before the switch they stop the run with blue
    serving; after it they switch back. Either way a critical finding says so.
    """
    say = progress or (lambda _line: None)
    confirm = confirm or None
    p = plan.plans
    if dry_run:
        shown = [apply_plan(x, dry_run=True) for x in plan.ordered]
        for x in plan.ordered:
            say(f"DRY RUN — {x.action}")
        planned = tuple(Phase(k, "dry run", v.action) for k, v in p.items())
        finding = Finding("blue-green", Status.SKIPPED,
                          f"dry run: nothing changed; {plan.slots.blue} ({plan.blue_image}) stays "
                          f"blue; green would be {plan.slots.green} ({plan.green_image})")
        return BlueGreenRun(plan, "dry-run", planned, tuple(shown), (), None,
                            (*plan.findings, finding), dry_run=True)
    check_confirmation(plan.target, confirm)
    if plan.mode == "decommission":
        done = apply_plan(p["decommission"], dry_run=False, confirm=confirm)
        finding = Finding("decommission", Status.OK, done.message)
        return BlueGreenRun(plan, "decommissioned" if done.applied else "nothing to do",
                            (Phase("decommission", "done", done.message),), (done,), (), None,
                            (finding,), dry_run=False)
    kc = kube_context(plan.target, plan.namespace)
    applied: list[Applied] = []
    phases: list[Phase] = []
    findings: list[Finding] = list(plan.findings)
    smoke: tuple[Finding, ...] = ()

    def step(key: str) -> None:
        say(p[key].action)
        applied.append(apply_plan(p[key], dry_run=False, confirm=confirm))
        phases.append(Phase(key, "done" if p[key].changes else "skipped", p[key].action))

    try:
        step("narrow")
        step("green")
        wait_settled(kc, plan.slots.green, timeout_s=plan.ready_timeout_s)
        phases.append(Phase("ready", "done", f"{plan.slots.green} Ready"))
        step("migrate")
        smoke = smoke_test(kc, plan.slots.green,
                           label_selector=_selector_text(plan, plan.slots.green_track))
        findings.extend(smoke)
        bad = [f for f in smoke if f.status in (Status.CRITICAL, Status.UNREACHABLE)]
        phases.append(Phase("smoke", "failed" if bad else "done",
                            "; ".join(f.message for f in bad) or "green answers correctly"))
        if bad:
            raise StepFailed(f"smoke test of green failed: {bad[0].message}")
    except NoaError as exc:
        findings.append(Finding("blue-green", Status.CRITICAL,
                                f"stopped before the switch: {exc}; blue {plan.slots.blue} "
                                f"({plan.blue_image}) keeps serving all traffic"))
        phases.append(Phase("switch", "not run", "stopped before the switch"))
        emit_event("blue-green-stopped", summary=str(exc), target=plan.target.name)
        return BlueGreenRun(plan, "stopped", tuple(phases), tuple(applied), smoke, None,
                            tuple(findings), dry_run=False)
    step("switch")
    monitoring: AnalysisResult | None = None
    try:
        monitoring, reason = _monitor(plan, kc, say, sleep)
        findings.extend(monitoring.findings)
    except NoaError as exc:
        reason = f"monitoring could not run: {exc}"
    if reason:
        emit_event("blue-green-switch-back", summary=reason, target=plan.target.name)
        step("switch_back")
        phases.append(Phase("monitor", "failed", reason))
        findings.append(Finding("blue-green", Status.CRITICAL,
                                f"switched back to blue {plan.slots.blue} ({plan.blue_image}): "
                                f"{reason}; green {plan.slots.green} left for investigation"))
        return BlueGreenRun(plan, "switched-back", tuple(phases), tuple(applied), smoke,
                            monitoring, tuple(findings), dry_run=False)
    phases.append(Phase("monitor", "done", f"green healthy for {plan.monitor_s:g} s"))
    step("keep_blue")
    findings.append(Finding("blue-green", Status.OK,
                            f"{plan.service} now served by green {plan.slots.green} "
                            f"({plan.green_image}); blue {plan.slots.blue} kept "
                            f"{plan.keep_blue_hours:g} h"))
    return BlueGreenRun(plan, "switched", tuple(phases), tuple(applied), smoke, monitoring,
                        tuple(findings), dry_run=False)


def _selector_text(plan: BlueGreenPlan, track: str) -> str:
    labels = {**plan.selector, TRACK: track}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _monitor(plan: BlueGreenPlan, kc: KubeContext, say: Progress,
             sleep: Callable[[float], None]) -> tuple[AnalysisResult, str]:
    """Green's analysis after the switch and why it is unhealthy (``""`` when healthy)."""
    warmup = min(8.0, plan.monitor_s)
    say(f"monitoring green for {plan.monitor_s:g} s")
    sleep(warmup)
    result = run_analysis(plan.target, service=plan.service, canary_version=plan.green_version,
                          stable_version=plan.blue_version, spec=plan.spec,
                          label=f"blue-green monitor ({plan.monitor_s:g} s)", sleep=sleep)
    status = rollout_status(kube_apps.get(kc.settings, "deployments", plan.slots.green,
                                          kc.namespace))
    ready = status.ready >= status.desired > 0
    emit_event("analysis", summary=f"blue-green monitor: {result.phase}; green pods "
               f"{status.ready}/{status.desired} Ready", target=plan.target.name)
    if plan.force_switch_back:
        return result, "forced switch-back (force_switch_back=True)"
    if not result.passed:
        return result, f"monitoring {result.phase}"
    if not ready:
        return result, f"green pods {status.ready}/{status.desired} Ready"
    return result, ""


__all__ = [
    "BlueGreenPlan",
    "BlueGreenRun",
    "Phase",
    "job_name",
    "plan_blue_green",
    "run_blue_green",
    "selector_plan",
]
