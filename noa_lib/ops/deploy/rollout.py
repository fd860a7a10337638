"""Rolling updates: set a Deployment's image (as a Plan) and watch the rollout to its end.

:func:`rollout_status` reads a Deployment's status the way ``kubectl rollout status`` does
(observedGeneration, updated / ready / available replicas, old replicas pending termination,
``Progressing`` = ``ProgressDeadlineExceeded`` -> failed). :func:`image_change` validates the
parameters, reads the Deployment and builds the Plan (a strategic-merge patch of one container's
image, keyed by container name) after the API server accepted it in a server-side dry run
(``dryRun=All``: validated, nothing stored). :func:`watch_rollout` polls the Deployment until the
rollout completes, fails or ``timeout_s`` passes, keeping one progress row per change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from noa_lib.clients import kube_apps
from noa_lib.config import Target
from noa_lib.errors import ClientError, ParameterError
from noa_lib.ops.deploy import params
from noa_lib.ops.deploy.context import KubeContext, kube_context
from noa_lib.ops.deploy.workload import (
    Obj,
    field_changes,
    image_of,
    meta,
    pick_container,
    ref,
    replicas,
    revision,
)
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.safety import Change, Plan

CHANGE_CAUSE = "kubernetes.io/change-cause"


@dataclass(frozen=True)
class RolloutStatus:
    """A Deployment's rollout state at one moment (``kubectl rollout status`` semantics)."""

    deployment: str
    namespace: str
    generation: int
    observed_generation: int
    desired: int
    current: int
    updated: int
    ready: int
    available: int
    revision: int | None
    image: str
    progressing_reason: str = ""
    progressing_message: str = ""
    paused: bool = False

    @property
    def observed(self) -> bool:
        return self.observed_generation >= self.generation

    @property
    def failed(self) -> bool:
        return self.progressing_reason == "ProgressDeadlineExceeded"

    @property
    def complete(self) -> bool:
        return (self.observed and self.updated == self.desired and self.current == self.updated
                and self.available == self.updated and not self.failed)

    @property
    def state(self) -> str:
        if self.complete:
            return "complete"
        return "failed" if self.failed else "progressing"

    def message(self) -> str:
        name = f'deployment "{self.deployment}"'
        if self.failed:
            return f"{name} exceeded its progress deadline: {self.progressing_message}".rstrip(": ")
        if not self.observed:
            return "Waiting for deployment spec update to be observed..."
        if self.updated < self.desired:
            return (f"Waiting for {name} rollout to finish: {self.updated} out of {self.desired}"
                    " new replicas have been updated...")
        if self.current > self.updated:
            return (f"Waiting for {name} rollout to finish: {self.current - self.updated} old "
                    "replicas are pending termination...")
        if self.available < self.updated:
            return (f"Waiting for {name} rollout to finish: {self.available} of {self.updated}"
                    " updated replicas are available...")
        return f"{name} successfully rolled out"


def rollout_status(obj: Obj, container: str = "") -> RolloutStatus:
    """The :class:`RolloutStatus` of a Deployment dict (pure)."""
    m, status = meta(obj), obj.get("status") or {}
    progressing: dict[str, Any] = next((c for c in status.get("conditions") or []
                        if c.get("type") == "Progressing"), {})
    try:
        image = image_of(obj, container)
    except ParameterError:
        image = ""
    return RolloutStatus(
        deployment=str(m.get("name", "")),
        namespace=str(m.get("namespace", "")),
        generation=int(m.get("generation") or 0),
        observed_generation=int(status.get("observedGeneration") or 0),
        desired=replicas(obj),
        current=int(status.get("replicas") or 0),
        updated=int(status.get("updatedReplicas") or 0),
        ready=int(status.get("readyReplicas") or 0),
        available=int(status.get("availableReplicas") or 0),
        revision=revision(obj),
        image=image,
        progressing_reason=str(progressing.get("reason") or ""),
        progressing_message=str(progressing.get("message") or ""),
        paused=bool((obj.get("spec") or {}).get("paused")),
    )


@dataclass(frozen=True)
class ImageChange:
    """A planned image change of one container and whether the API server accepted it."""

    namespace: str
    deployment: str
    container: str
    before: str
    after: str
    status: RolloutStatus
    plan: Plan
    accepted: Finding

    @property
    def findings(self) -> tuple[Finding, ...]:
        return (self.accepted,)


def _image_patch(container: str, image: str, cause: str) -> Obj:
    return {
        "metadata": {"annotations": {CHANGE_CAUSE: cause}},
        "spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}},
    }


def image_change(target: Target, deployment: str, image_tag: str, *, namespace: str = "",
                 container: str = "", cause: str = "") -> ImageChange:
    """Validate, read the Deployment, and plan setting ``container``'s image tag to ``image_tag``.

    The patch is first sent with ``dryRun=All`` (validated by the API server, nothing stored);
    its verdict is the ``accepted`` finding.

    Raises:
        ParameterError: bad names or tag (before any request); unknown container.
        NotFound / ClientError: the Deployment cannot be read.
    """
    kc = kube_context(target, namespace)
    ns = kc.namespace
    params.workload(ns, deployment, container=container)
    params.tag(image_tag)
    current = kube_apps.get(kc.settings, "deployments", deployment, ns)
    picked = pick_container(current, container)
    name = str(picked.get("name"))
    before = str(picked.get("image") or "")
    after = params.image_with_tag(before, image_tag)
    resource = ref("deployment", ns, deployment)
    text = cause or f"noa rolling update: {name}={after}"
    body = _image_patch(name, after, text)
    changes: list[Change] = []
    if before != after:
        changes.append(Change(resource, f"spec.template.spec.containers[{name}].image",
                              before, after))
        old_cause = (meta(current).get("annotations") or {}).get(CHANGE_CAUSE)
        changes.append(Change(resource, f"metadata.annotations[{CHANGE_CAUSE}]", old_cause, text))
    accepted = _server_dry_run(kc, deployment, body, resource) if changes else Finding(
        "image change", Status.OK, f"{resource} already runs {after}; nothing to roll out")

    def perform() -> Obj:
        return kube_apps.patch(kc.settings, "deployments", deployment, body, ns)

    plan = Plan(
        action=f"set image of {resource} container {name} to {image_tag}",
        target=target,
        changes=tuple(changes),
        perform=perform,
        rollback=f"undo to revision {revision(current)} (image {before}): "
                 f"rollback runbook with what=deployment",
    )
    return ImageChange(ns, deployment, name, before, after, rollout_status(current, name), plan,
                       accepted)


def _server_dry_run(kc: KubeContext, deployment: str, body: Obj, resource: str) -> Finding:
    try:
        kube_apps.patch(kc.settings, "deployments", deployment, body, kc.namespace, dry_run=True)
    except ClientError as exc:
        return Finding("server-side dry run", Status.CRITICAL,
                       f"the API server rejects the change of {resource}: {exc}",
                       evidence={"dryRun": "All"})
    return Finding("server-side dry run", Status.OK,
                   f"the API server accepts the change of {resource} (dryRun=All, nothing stored)",
                   evidence={"dryRun": "All"})


@dataclass(frozen=True)
class ProgressRow:
    """One observed change of a rollout's state."""

    elapsed_s: float
    desired: int
    current: int
    updated: int
    ready: int
    available: int
    revision: int | None
    state: str
    message: str


@dataclass(frozen=True)
class RolloutWatch:
    """How a watched rollout ended: ``complete``, ``failed``, ``timeout`` or ``not-started``."""

    deployment: str
    namespace: str
    outcome: str
    rows: tuple[ProgressRow, ...]
    final: RolloutStatus | None
    elapsed_s: float
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.outcome in ("complete", "not-started")

    @property
    def failed(self) -> bool:
        return self.outcome in ("failed", "timeout")


def _row(status: RolloutStatus, elapsed: float) -> ProgressRow:
    return ProgressRow(round(elapsed, 1), status.desired, status.current, status.updated,
                       status.ready, status.available, status.revision, status.state,
                       status.message())


def watch_rollout(target: Target, deployment: str, *, namespace: str = "",
                  timeout_s: float = 300.0, applied: bool = True, poll_s: float = 0.5,
                  sleep: Callable[[float], None] = time.sleep) -> RolloutWatch:
    """Follow ``deployment``'s rollout to completion, failure or ``timeout_s``.

    With ``applied=False`` (a dry run: nothing was changed) it reads the state once and returns
    ``not-started``. A progress row is kept whenever the replica counts or message change.

    Raises:
        ParameterError: bad names or timeout (before any request).
    """
    kc = kube_context(target, namespace)
    ns = kc.namespace
    params.workload(ns, deployment)
    params.positive(timeout_s, "timeout_s")
    resource = ref("deployment", ns, deployment)
    started = time.monotonic()
    status = rollout_status(kube_apps.get(kc.settings, "deployments", deployment, ns))
    rows = [_row(status, 0.0)]
    if not applied:
        finding = Finding("rollout", Status.SKIPPED,
                          f"dry run: nothing was rolled out; {resource} is {status.state} "
                          f"({status.message()})", evidence={"deployment": resource})
        return RolloutWatch(deployment, ns, "not-started", tuple(rows), status, 0.0, (finding,))
    while not status.complete and not status.failed:
        elapsed = time.monotonic() - started
        if elapsed >= timeout_s:
            break
        sleep(min(poll_s, max(timeout_s - elapsed, 0.05)))
        status = rollout_status(kube_apps.get(kc.settings, "deployments", deployment, ns))
        row = _row(status, time.monotonic() - started)
        last = rows[-1]
        if (row.message, row.ready, row.available, row.current) != (
                last.message, last.ready, last.available, last.current):
            rows.append(row)
    elapsed = round(time.monotonic() - started, 1)
    evidence = {"deployment": resource, "revision": status.revision, "image": status.image}
    if status.complete:
        outcome = "complete"
        finding = Finding("rollout", Status.OK,
                          f"{resource} rolled out revision {status.revision} ({status.image}) in "
                          f"{elapsed:g} s", value=elapsed, unit="s", evidence=evidence)
    elif status.failed:
        outcome = "failed"
        finding = Finding("rollout", Status.CRITICAL,
                          f"{resource} failed: ProgressDeadlineExceeded — {status.message()}",
                          evidence=evidence)
    else:
        outcome = "timeout"
        finding = Finding("rollout", Status.CRITICAL,
                          f"{resource} did not finish within {timeout_s:g} s: {status.message()}",
                          value=elapsed, threshold=timeout_s, unit="s", evidence=evidence)
    return RolloutWatch(deployment, ns, outcome, tuple(rows), status, elapsed, (finding,))


def template_changes(resource: str, before: Obj, after: Obj) -> list[Change]:
    """Before -> after of every pod-template field that differs."""
    return field_changes(resource, before, after, "spec.template")


def started_at() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = [
    "CHANGE_CAUSE",
    "ImageChange",
    "ProgressRow",
    "RolloutStatus",
    "RolloutWatch",
    "image_change",
    "rollout_status",
    "template_changes",
    "watch_rollout",
]
