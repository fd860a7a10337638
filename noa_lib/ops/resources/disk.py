"""Diagnose a filling PersistentVolumeClaim and plan its expansion (``incident/disk_space``).

Read-only diagnosis: the PVC (requested size, ``status.capacity``, StorageClass and whether it
allows expansion) from the Kubernetes API; used bytes, usage and their trend over the window from
the kubelet's volume stats in Prometheus (catalogue ``volume_used_bytes``,
``volume_capacity_bytes``, ``disk_usage``); time to full (:func:`~.disk_rules.time_to_full`);
cleanup candidates — what is known about the volume: the workloads mounting it (and where),
backups when it is a backup volume — listed, never deleted here.

The mitigation patches ``spec.resources.requests.storage`` (the CSI resizer then grows
``status.capacity``); verified when ``status.capacity`` reached the new size and Prometheus
shows usage under :data:`~.disk_rules.WARNING_PCT`. A PVC cannot shrink: no revert.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from noa_lib.clients import kube_apps
from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, NotFound
from noa_lib.ops import metrics
from noa_lib.ops.deploy.context import KubeContext, kube_context
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.mitigation import Mitigation, Verdict
from noa_lib.ops.promql import get_query
from noa_lib.ops.resources.disk_rules import (
    CRITICAL_PCT,
    WARNING_PCT,
    DiskParameters,
    TimeToFull,
    check_expansion,
    last_steady,
    propose_size,
    time_to_full,
)
from noa_lib.ops.resources.quantity import format_bytes, human, quantity_bytes
from noa_lib.ops.resources.series import Points, window_points
from noa_lib.ops.safety import Change, Plan

Obj = dict[str, Any]
FINE_STEP_S = 5.0
RECENT_S = 600.0
"""The last stretch looked at closely (a step change there restarts the fit)."""


@dataclass(frozen=True)
class DiskDiagnosis:
    """Everything ``incident/disk_space`` found (``findings`` for the record)."""

    params: DiskParameters
    namespace: str
    pvc: str
    storage_class: str
    allows_expansion: bool | None
    requested: float | None
    capacity: float | None
    used_bytes: float | None
    usage_pct: float | None
    trend: tuple[Points, ...]
    ttf: TimeToFull
    mounted_by: tuple[str, ...]
    candidates: tuple[str, ...]
    findings: tuple[Finding, ...]


def _storage(pvc: Obj) -> tuple[float | None, float | None]:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    return (quantity_bytes(((spec.get("resources") or {}).get("requests") or {}).get("storage")),
            quantity_bytes((status.get("capacity") or {}).get("storage")))


def _mounted_by(kc: KubeContext, pvc: str) -> tuple[str, ...]:
    out = []
    for plural in ("deployments", "jobs"):
        for obj in kube_apps.list_objects(kc.settings, plural, kc.namespace):
            spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
            names = {v.get("name") for v in spec.get("volumes") or []
                     if (v.get("persistentVolumeClaim") or {}).get("claimName") == pvc}
            mounts = sorted({f"{c.get('name')}:{m.get('mountPath')}"
                             for c in spec.get("containers") or []
                             for m in c.get("volumeMounts") or [] if m.get("name") in names})
            if names:
                out.append(f"{plural[:-1]}/{(obj.get('metadata') or {}).get('name')} "
                           f"({', '.join(mounts) or 'not mounted by a container'})")
    return tuple(out)


def _candidates(pvc: str, mounted_by: tuple[str, ...]) -> tuple[str, ...]:
    out = [f"files written through {m}: list the largest and the oldest there "
           "(e.g. `du -xh --max-depth=2 <mount> | sort -h | tail`) before deleting anything"
           for m in mounted_by]
    if "backup" in pvc:
        out.append("old dumps: `noa run backup/backup_retention` prunes them by the retention "
                   "policy (dry run first)")
    if not out:
        out.append("no workload mounts this PVC: it may be orphaned — check before deleting it")
    return tuple(out)


def diagnose_disk(target: Target, params: DiskParameters, *, namespace: str = ""
                  ) -> DiskDiagnosis:
    """Read everything about ``params.pvc`` (nothing is changed).

    Raises:
        ConfigError: the target has no Kubernetes API.
        NotFound: no such PVC.
        ClientError: the Kubernetes API failed (Prometheus failures become findings).
    """
    kc = kube_context(target, namespace)
    pvc = kube_apps.get(kc.settings, "persistentvolumeclaims", params.pvc, kc.namespace)
    requested, capacity = _storage(pvc)
    sc_name = str((pvc.get("spec") or {}).get("storageClassName") or "")
    allows: bool | None = None
    if sc_name:
        try:
            allows = bool(kube_apps.storage_class(kc.settings, sc_name).get(
                "allowVolumeExpansion"))
        except NotFound:
            allows = None
    mounted = _mounted_by(kc, params.pvc)
    used, usage, trend, ttf, found = _prometheus(target, params, capacity)
    expand = Finding(
        "expansion allowed", Status.OK if allows else Status.WARNING,
        f"StorageClass {sc_name or '(none)'}: allowVolumeExpansion="
        f"{'unknown (class not found)' if allows is None else str(allows).lower()}",
        value=str(allows), evidence={"storage_class": sc_name})
    findings = (*found, expand, Finding(
        "mounted by", Status.OK, "; ".join(mounted) or "no workload mounts it",
        evidence={"workloads": list(mounted)}))
    return DiskDiagnosis(params, kc.namespace, params.pvc, sc_name, allows, requested, capacity,
                         used, usage, trend, ttf, mounted, _candidates(params.pvc, mounted),
                         findings)


def _prometheus(target: Target, params: DiskParameters, capacity: float | None) -> tuple[
        float | None, float | None, tuple[Points, ...], TimeToFull, list[Finding]]:
    where = {"persistentvolumeclaim": params.pvc}
    none = TimeToFull(None, None, None, None, 0)
    try:
        prom = metrics.connect(target)
    except ConfigError:
        return None, None, (), none, [metrics.not_configured(target, "volume usage")]
    try:
        usage_r = metrics.read(prom, get_query("disk_usage"), where=where)
        used_r = metrics.read(prom, get_query("volume_used_bytes"), where=where)
        cap_r = metrics.read(prom, get_query("volume_capacity_bytes"), where=where)
        step = max(15.0, params.window_s / 240)
        promql, trend = window_points(prom, get_query("volume_used_bytes"), window=params.window,
                                      step_s=step, where=where)
        size = max((v for _, v in cap_r.values), default=capacity or 0.0)
        points = trend[0].points if trend else ()
        now = time.time()
        ttf = time_to_full(points, size, now)
        recent = min(params.window_s, RECENT_S)
        _, fine = window_points(prom, get_query("volume_used_bytes"), window=f"{int(recent)}s",
                                step_s=FINE_STEP_S, where=where)
        fine_points = fine[0].points if fine else ()
        steady = last_steady(fine_points, size)
        if ttf.points < 6 or (fine_points and steady and steady[0] != fine_points[0]):
            ttf = time_to_full(steady, size, now)  # a step change lately: fit what followed
    except ClientError as exc:
        return None, None, (), none, [metrics.failure_finding("volume usage", exc, {})]
    finally:
        prom.close()
    usage = max((v for _, v in usage_r.values), default=None)
    used = max((v for _, v in used_r.values), default=None)
    if usage is None:
        status, message = Status.WARNING, "no kubelet volume stats (is a pod mounting it?)"
    else:
        status = (Status.CRITICAL if usage >= CRITICAL_PCT else
                  Status.WARNING if usage >= WARNING_PCT else Status.OK)
        message = (f"{usage:.1f} % used ({human(used)} of {human(size)}); "
                   f"{ttf.describe()}")
    return used, usage, trend, ttf, [
        Finding("volume usage", status, message,
                value=None if usage is None else round(usage, 1),
                threshold=f"warning >= {WARNING_PCT:g}%, critical >= {CRITICAL_PCT:g}%",
                unit="%", evidence={**usage_r.evidence(), "trend_promql": promql}),
        Finding("time to full", Status.CRITICAL if ttf.seconds is not None and
                ttf.seconds < 24 * 3600 else Status.OK, ttf.describe(),
                value=None if ttf.seconds is None else round(ttf.seconds),
                unit="s", evidence={"fit_points": ttf.points,
                                    "full_at": ttf.full_at.isoformat() if ttf.full_at else None}),
    ]


def plan_disk_mitigation(target: Target, d: DiskDiagnosis, *, verify_timeout_s: float = 120.0
                         ) -> Mitigation:
    """The expansion of the PVC (an empty plan when usage is under the warning threshold and no
    ``grow_to`` was asked for).

    Raises:
        UnsafeActionRefused: the StorageClass does not allow expansion, or the size would not
            grow (nothing was changed).
    """
    kc = kube_context(target, d.namespace)
    current = d.requested or d.capacity or 0.0
    needed = d.params.grow_to is not None or (d.usage_pct or 0.0) >= WARNING_PCT
    verify = _verify(target, kc, d, 0.0)
    if not needed:
        return Mitigation(Plan(action=f"disk_space on {d.namespace}/{d.pvc}: no change (usage "
                                      f"{d.usage_pct or 0:.0f} % < {WARNING_PCT:g} %)",
                               target=target, changes=(), perform=lambda: None), verify=verify)
    new = propose_size(used=d.used_bytes or 0.0, capacity=current, grow_to=d.params.grow_to)
    check_expansion(pvc=d.pvc, storage_class=d.storage_class, allows=d.allows_expansion,
                    current=current, new=new)
    size = format_bytes(new)
    body = {"spec": {"resources": {"requests": {"storage": size}}}}

    def perform() -> Obj:
        return kube_apps.patch(kc.settings, "persistentvolumeclaims", d.pvc, body, d.namespace,
                               patch_type="merge")

    plan = Plan(action=f"expand PVC {d.namespace}/{d.pvc} from {format_bytes(current)} to {size}",
                target=target, changes=(Change(f"persistentvolumeclaim/{d.namespace}/{d.pvc}",
                                               "spec.resources.requests.storage",
                                               format_bytes(current), size),),
                perform=perform, rollback="none: a PersistentVolumeClaim cannot shrink")
    return Mitigation(plan, verify=_verify(target, kc, d, new), revert=None,
                      verify_timeout_s=verify_timeout_s, verify_interval_s=3.0)


def _verify(target: Target, kc: KubeContext, d: DiskDiagnosis, new: float) -> Any:
    def verify() -> Verdict:
        pvc = kube_apps.get(kc.settings, "persistentvolumeclaims", d.pvc, d.namespace)
        capacity = _storage(pvc)[1] or 0.0
        if capacity < new:
            return Verdict(False, f"status.capacity is {human(capacity)}, waiting for "
                                  f"{format_bytes(new)} (the resizer)")
        prom = metrics.connect(target)
        try:
            where = {"persistentvolumeclaim": d.pvc}
            usage_r = metrics.read(prom, get_query("disk_usage"), where=where)
            cap_r = metrics.read(prom, get_query("volume_capacity_bytes"), where=where)
        finally:
            prom.close()
        seen = max((v for _, v in cap_r.values), default=0.0)
        usage = max((v for _, v in usage_r.values), default=None)
        evidence = {**usage_r.evidence(), "capacity": human(capacity), "kubelet": human(seen)}
        if seen < new or usage is None:
            return Verdict(False, f"the kubelet still reports {human(seen)}", evidence)
        if usage >= WARNING_PCT:
            return Verdict(False, f"usage {usage:.1f} % (needs < {WARNING_PCT:g} %)", evidence)
        return Verdict(True, f"capacity {human(capacity)} (status.capacity and the kubelet); "
                             f"usage {usage:.1f} % < {WARNING_PCT:g} % in Prometheus", evidence)

    return verify


__all__ = ["DiskDiagnosis", "diagnose_disk", "plan_disk_mitigation"]
