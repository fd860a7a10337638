"""The rollback mitigation of the release incidents (``incident/high_error_rate``,
``incident/complete_outage``): the ``deployment/rollback`` undo plan of a Deployment, verified on
the restored revision, rolled forward again when the verify fails.

The plan is :func:`noa_lib.ops.deploy.revisions.undo_plan` (``kubectl rollout undo``: the chosen
ReplicaSet's pod template copied back; the controller renumbers it). The revert is the same undo
to the revision that ran before — the one the rollback left, which keeps its number. The verify
reads what the diagnosis read: the Deployment's rollout (pods Ready on the restored image) and
Prometheus (the error rate, the traffic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from noa_lib.clients import kube_apps
from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, ParameterError
from noa_lib.ops import metrics
from noa_lib.ops.deploy.context import kube_context
from noa_lib.ops.deploy.revisions import undo_plan
from noa_lib.ops.deploy.rollout import rollout_status
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.mitigation import Mitigation, Verdict
from noa_lib.ops.promql import get_query, parse_duration
from noa_lib.ops.safety import Plan

Check = Callable[[], Verdict]
Action = Literal["rollback", "hand over", "none"]


@dataclass(frozen=True)
class RollbackChoice:
    """Where a release rollback goes: ``deployment`` from its current revision back to
    ``to_revision``, and why."""

    deployment: str
    namespace: str
    from_revision: int
    from_image: str
    to_revision: int
    to_image: str
    reason: str


@dataclass(frozen=True)
class Decision:
    """What a release incident's diagnosis decided: ``rollback`` (``choice`` says where to),
    ``hand over`` (to ``next_runbook``, with the ``command`` to run it when there is one) or
    ``none``; ``message`` says why."""

    action: Action
    message: str
    next_runbook: str = ""
    choice: RollbackChoice | None = None
    command: str = ""

    def finding(self) -> Finding:
        """The decision as a finding (``warning`` unless nothing is to be done)."""
        status = Status.WARNING if self.action != "none" else Status.OK
        evidence = {k: v for k, v in (("next_runbook", self.next_runbook),
                                      ("command", self.command)) if v}
        return Finding("decision", status, self.message, value=self.action, evidence=evidence)


def nothing_planned(target: Target, why: str) -> Plan:
    """The empty plan of a diagnosis that mitigates nothing here (``why`` says what is next)."""
    return Plan(action=why, target=target, changes=(), perform=lambda: None)


def rollback_mitigation(target: Target, choice: RollbackChoice, verify: Check, *,
                        verify_timeout_s: float = 180.0, verify_interval_s: float = 5.0
                        ) -> Mitigation:
    """The :class:`Mitigation` rolling ``choice.deployment`` back to ``choice.to_revision``;
    its revert rolls forward to ``choice.from_revision``.

    Raises:
        ParameterError / PreconditionFailed: the revision is not in the history; bad names.
        ClientError: the Deployment cannot be read.
    """
    plan = undo_plan(target, choice.deployment, to_revision=choice.to_revision,
                     namespace=choice.namespace)

    def roll_forward() -> Plan:
        return undo_plan(target, choice.deployment, to_revision=choice.from_revision,
                         namespace=choice.namespace)

    return Mitigation(plan, verify, roll_forward, verify_timeout_s=verify_timeout_s,
                      verify_interval_s=verify_interval_s)


def check_verify_parameters(verify_window: str, verify_timeout_s: float) -> None:
    """Raises ParameterError for a bad verify window or timeout (before anything is read)."""
    try:
        parse_duration(verify_window)
    except (ParameterError, ValueError):
        raise ParameterError(f"verify_window={verify_window!r} is not a duration",
                             name="verify_window", accepted="a duration like 30s, 1m") from None
    if isinstance(verify_timeout_s, bool) or not isinstance(verify_timeout_s, int | float) \
            or not 0 <= verify_timeout_s <= 3600:
        raise ParameterError(f"verify_timeout_s={verify_timeout_s!r} is not in 0..3600",
                             name="verify_timeout_s", accepted="seconds, 0 to 3600")


def pods_ready_on(target: Target, choice: RollbackChoice) -> Check:
    """Verify: every pod of the Deployment updated, Ready and available on ``to_image``."""
    def check() -> Verdict:
        kc = kube_context(target, choice.namespace)
        status = rollout_status(kube_apps.get(kc.settings, "deployments", choice.deployment,
                                              kc.namespace))
        ok = status.complete and status.image == choice.to_image
        state = ("" if ok else " — rollout in progress" if status.image == choice.to_image
                 else f" — the Deployment runs {status.image or '?'}, not {choice.to_image}")
        return Verdict(ok, f"{status.updated}/{status.desired} pods updated, {status.available} "
                           f"available on {choice.to_image}{state}",
                       {"ready": status.ready, "desired": status.desired,
                        "image": status.image})
    return check


def error_rate_below(target: Target, service: str, window: str, limit_pct: float) -> Check:
    """Verify: ``service``'s 5xx share over ``window`` (Prometheus) under ``limit_pct``."""
    def check() -> Verdict:
        value, evidence = _service_value(target, "error_rate", service, window)
        if value is None:
            return Verdict(False, f"no {service} traffic in Prometheus over {window}", evidence)
        ok = value < limit_pct
        return Verdict(ok, f"{service} error rate {value:.3g} % over {window} "
                           f"({'<' if ok else '≥'} {limit_pct:g} %)", {**evidence, "pct": value})
    return check


def traffic_back(target: Target, service: str, window: str) -> Check:
    """Verify: ``service`` answers requests again (request rate over ``window`` above 0)."""
    def check() -> Verdict:
        value, evidence = _service_value(target, "request_rate", service, window)
        ok = value is not None and value > 0
        return Verdict(ok, f"{service} serves {value or 0:.3g} req/s over {window}",
                       {**evidence, "rps": value})
    return check


def all_of(*checks: Check) -> Check:
    """Verify: every check passes (all are read; the message joins theirs)."""
    def check() -> Verdict:
        verdicts = [c() for c in checks]
        evidence = {}
        for v in verdicts:
            evidence.update(v.evidence)
        return Verdict(all(v.ok for v in verdicts), "; ".join(v.message for v in verdicts),
                       evidence)
    return check


def _service_value(target: Target, query: str, service: str, window: str
                   ) -> tuple[float | None, dict[str, object]]:
    try:
        prom = metrics.connect(target)
    except ConfigError as exc:
        return None, {"error": str(exc)}
    try:
        reading = metrics.read(prom, get_query(query), window=window, by=(),
                               where={"service": service})
    except ClientError as exc:
        return None, {"error": str(exc)}
    finally:
        prom.close()
    values = [v for _, v in reading.values]
    return (values[0] if values else None), reading.evidence()




def decided_mitigation(target: Target, decision: Decision, verify: Callable[[RollbackChoice],
                       Check], *, verify_timeout_s: float = 180.0,
                       verify_interval_s: float = 5.0) -> Mitigation:
    """The mitigation ``decision`` calls for: its rollback (verified by ``verify(choice)``), or
    an empty plan saying what is next (``run_mitigation`` then reports "nothing to do")."""
    if decision.choice is None:
        return Mitigation(nothing_planned(target, decision.message),
                          verify=lambda: Verdict(True, "nothing was changed"))
    return rollback_mitigation(target, decision.choice, verify(decision.choice),
                               verify_timeout_s=verify_timeout_s,
                               verify_interval_s=verify_interval_s)


__all__ = ["Action", "Decision", "RollbackChoice", "all_of", "check_verify_parameters",
           "decided_mitigation", "error_rate_below",
           "nothing_planned", "pods_ready_on", "rollback_mitigation", "traffic_back"]
