"""Blue-green slots: which of ``<name>`` / ``<name>-green`` serves, the idle slot's object, and
decommissioning the idle slot once its keep time has passed.

Blue is the slot the Service's selector picks now (by the pod template's ``track`` label); green
is the other one, where the next version goes. :func:`decommission_plan` deletes the idle slot
after its ``noa.io/decommission-after`` annotation (set by a successful switch), and refuses
before that unless forced, or while the Service still selects it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from noa_lib.clients import kube_apps
from noa_lib.config import Target
from noa_lib.errors import PreconditionFailed
from noa_lib.ops.deploy import params
from noa_lib.ops.deploy.context import KubeContext, kube_context
from noa_lib.ops.deploy.workload import TRACK, Obj, meta, ref, replicas, template, track_copy
from noa_lib.ops.names import validate_name
from noa_lib.ops.safety import Change, Plan

GREEN_TRACK = "green"
DECOMMISSION_AFTER = "noa.io/decommission-after"
BLUE_GREEN_OF = "noa.io/blue-green-of"


def green_slot(name: str) -> str:
    """The second slot's name: ``api`` -> ``api-green``."""
    return f"{name}-green"


def slot_track(obj: Obj) -> str:
    return str((meta(template(obj)).get("labels") or {}).get(TRACK) or "")


def serves(selector: dict[str, str], obj: Obj | None) -> bool:
    if obj is None or replicas(obj) == 0 or not selector:
        return False
    labels = meta(template(obj)).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


@dataclass(frozen=True)
class Slots:
    """Which slot is blue (serving) and which becomes green (pure decision)."""

    blue: str
    green: str
    blue_track: str
    green_track: str
    green_exists: bool


def choose_slots(name: str, selector: dict[str, str], base: Obj | None,
                 other: Obj | None) -> Slots:
    """Blue = the slot the Service selects (``<name>`` when both or neither are selected).

    Raises:
        PreconditionFailed: neither slot exists.
    """
    if base is None and other is None:
        raise PreconditionFailed(f"neither Deployment {name} nor {green_slot(name)} exists")
    base_track = slot_track(base) if base is not None else "stable"
    if base is not None and (serves(selector, base) or not serves(selector, other)):
        return Slots(name, green_slot(name), base_track, GREEN_TRACK, other is not None)
    return Slots(green_slot(name), name, GREEN_TRACK, base_track, base is not None)


def green_object(blue: Obj, name: str, track: str, image: str, container: str) -> Obj:
    """A new slot Deployment: blue's spec with ``image`` and ``track`` in labels and selector."""
    m = meta(blue)
    base = str((m.get("annotations") or {}).get(BLUE_GREEN_OF) or m.get("name"))
    return track_copy(blue, name=name, track=track, image=image, container=container,
                      annotations={BLUE_GREEN_OF: base.removesuffix("-green")})


def current_slots(kc: KubeContext, deployment: str, service: str
                  ) -> tuple[Obj | None, Obj | None, str, dict[str, Any], Slots]:
    """Both slots' Deployments (``None`` when absent), the Service's name and selector, and
    which slot is blue (serving) and which green (idle), as they are now."""
    ns = kc.namespace
    base = kube_apps.find(kc.settings, "deployments", deployment, ns)
    other = kube_apps.find(kc.settings, "deployments", green_slot(deployment), ns)
    probe = base or other or {}
    svc_name = service or str((meta(template(probe)).get("labels") or {}).get("app")
                              or deployment)
    validate_name(svc_name, "service")
    svc = kube_apps.get(kc.settings, "services", svc_name, ns)
    selector = dict((svc.get("spec") or {}).get("selector") or {})
    return base, other, svc_name, selector, choose_slots(deployment, selector, base, other)


def decommission_plan(target: Target, *, deployment: str, namespace: str = "",
                      service: str = "", force: bool = False,
                      now: datetime | None = None) -> Plan:
    """Plan deleting the idle slot (the one the Service does not select) once its
    ``noa.io/decommission-after`` time has passed.

    Raises:
        PreconditionFailed: the idle slot's keep time has not passed (and not ``force``), it has
            no decommission time, or the Service still selects it.
    """
    kc = kube_context(target, namespace)
    ns = kc.namespace
    params.workload(ns, deployment)
    base, other, svc_name, selector, slots = current_slots(kc, deployment, service)
    idle = other if slots.green == green_slot(deployment) else base
    if idle is None:
        return Plan(action=f"decommission: no idle slot beside {slots.blue}", target=target,
                    changes=(), perform=lambda: None)
    if TRACK not in selector or serves(selector, idle):
        raise PreconditionFailed(f"service {ns}/{svc_name} still selects {slots.green} "
                                 f"(selector {selector}): refusing to delete it")
    when = (meta(idle).get("annotations") or {}).get(DECOMMISSION_AFTER)
    moment = now or datetime.now(UTC)
    if not force:
        if not when:
            raise PreconditionFailed(f"{slots.green} has no {DECOMMISSION_AFTER} annotation; "
                                     "set force_decommission=True to delete it anyway")
        due = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
        if moment < due:
            raise PreconditionFailed(f"{slots.green} is kept until {when} (keep_blue_hours); "
                                     "set force_decommission=True to delete it earlier")
    resource = ref("deployment", ns, slots.green)
    return Plan(action=f"decommission the old blue {resource}", target=target,
                changes=(Change(resource, "(object)",
                                f"{replicas(idle)} replicas, keep until {when}", None),),
                perform=lambda: kube_apps.delete(kc.settings, "deployments", slots.green, ns),
                rollback="recreate it with the blue-green runbook (it deploys into the idle slot)")


__all__ = [
    "BLUE_GREEN_OF",
    "DECOMMISSION_AFTER",
    "GREEN_TRACK",
    "Slots",
    "choose_slots",
    "current_slots",
    "decommission_plan",
    "green_object",
    "green_slot",
    "serves",
    "slot_track",
]
