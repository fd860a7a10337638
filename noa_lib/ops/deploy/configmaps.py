"""ConfigMap changes that keep the previous version, and restoring one.

Before a ConfigMap's data changes, its current data is copied into a history ConfigMap
``<name>-rev-<n>`` labelled ``noa.io/config-history: <name>`` (annotations ``noa.io/revision``,
``noa.io/saved-at``). :func:`config_restore_plan` puts the newest (or a named) saved version
back — saving the data it replaces first, so a restore can itself be undone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from noa_lib.clients import kube_apps
from noa_lib.config import Target
from noa_lib.errors import ParameterError, PreconditionFailed
from noa_lib.journal import utcnow_iso
from noa_lib.ops.deploy import params
from noa_lib.ops.deploy.context import KubeContext, kube_context
from noa_lib.ops.deploy.workload import Obj, meta, ref
from noa_lib.ops.names import validate_name
from noa_lib.ops.safety import Change, Plan

HISTORY_LABEL = "noa.io/config-history"
REVISION_ANNOTATION = "noa.io/revision"
SAVED_AT_ANNOTATION = "noa.io/saved-at"


@dataclass(frozen=True)
class ConfigVersion:
    """One saved version of a ConfigMap."""

    number: int
    name: str
    saved_at: str
    keys: int
    data: dict[str, str] = field(repr=False, compare=False, default_factory=dict)


def _number(obj: Obj) -> int:
    raw = (meta(obj).get("annotations") or {}).get(REVISION_ANNOTATION)
    if raw is not None and str(raw).isdigit():
        return int(raw)
    tail = str(meta(obj).get("name", "")).rsplit("-rev-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def versions_from(items: list[Obj]) -> tuple[ConfigVersion, ...]:
    """Saved versions (oldest first) from history ConfigMaps (pure)."""
    out = [ConfigVersion(
        number=_number(o),
        name=str(meta(o).get("name")),
        saved_at=str((meta(o).get("annotations") or {}).get(SAVED_AT_ANNOTATION)
                     or meta(o).get("creationTimestamp") or ""),
        keys=len(o.get("data") or {}),
        data=dict(o.get("data") or {}),
    ) for o in items]
    return tuple(sorted(out, key=lambda v: v.number))


def config_history(target: Target, name: str, *, namespace: str = ""
                   ) -> tuple[ConfigVersion, ...]:
    """Saved versions of ConfigMap ``name``, oldest first."""
    kc = kube_context(target, namespace)
    ns = kc.namespace
    validate_name(ns, "namespace")
    validate_name(name, "config_name", "subdomain")
    items = kube_apps.list_objects(kc.settings, "configmaps", ns,
                                   label_selector=f"{HISTORY_LABEL}={name}")
    return versions_from(items)


def _history_object(name: str, number: int, data: Mapping[str, str]) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{name}-rev-{number}",
            "labels": {HISTORY_LABEL: name},
            "annotations": {REVISION_ANNOTATION: str(number), SAVED_AT_ANNOTATION: utcnow_iso()},
        },
        "data": dict(data),
    }


def _data_changes(resource: str, before: Mapping[str, str], after: Mapping[str, str]
                  ) -> list[Change]:
    return [Change(resource, f"data.{key}", before.get(key), after.get(key))
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]


def _plan(kc: KubeContext, name: str, current: Obj,
          new_data: dict[str, str], history: tuple[ConfigVersion, ...], action: str,
          rollback: str) -> Plan:
    resource = ref("configmap", kc.namespace, name)
    old_data = dict(current.get("data") or {})
    changes = _data_changes(resource, old_data, new_data)
    number = (history[-1].number if history else 0) + 1
    saved = _history_object(name, number, old_data)
    if changes:
        copy = ref("configmap", kc.namespace, saved["metadata"]["name"])
        changes.insert(0, Change(copy, "(object)", None,
                                 f"copy of {name}'s current data ({len(old_data)} keys)"))

    def set_data(obj: Obj) -> None:
        obj["data"] = dict(new_data)

    def perform() -> Obj:
        kube_apps.create(kc.settings, "configmaps", saved, kc.namespace)
        return kube_apps.update(kc.settings, "configmaps", name, set_data, kc.namespace)

    return Plan(action=action, target=kc.target, changes=tuple(changes), perform=perform,
                rollback=rollback.format(saved=saved["metadata"]["name"], number=number))


def config_change_plan(target: Target, name: str, data: Mapping[str, str | None], *,
                       namespace: str = "") -> Plan:
    """Plan changing keys of ConfigMap ``name`` (a ``None`` value removes the key), keeping the
    current data as the next history version."""
    kc = kube_context(target, namespace)
    ns = kc.namespace
    validate_name(ns, "namespace")
    validate_name(name, "config_name", "subdomain")
    if not data:
        raise ParameterError("no keys to change", name="data", accepted="a mapping key -> value")
    current = kube_apps.get(kc.settings, "configmaps", name, ns)
    new_data = dict(current.get("data") or {})
    for key, value in data.items():
        if value is None:
            new_data.pop(key, None)
        else:
            new_data[key] = str(value)
    history = config_history(target, name, namespace=ns)
    return _plan(kc, name, current, new_data, history,
                 f"change {ref('configmap', ns, name)}",
                 "restore the saved version {number} ({saved}): rollback runbook with "
                 "what=configuration")


def config_restore_plan(target: Target, name: str, *, revision: int = 0, namespace: str = ""
                        ) -> Plan:
    """Plan restoring ConfigMap ``name`` from its newest saved version (or ``revision``).

    Raises:
        PreconditionFailed: nothing was ever saved for it.
        ParameterError: ``revision`` is not saved (the message lists the saved ones).
    """
    kc = kube_context(target, namespace)
    ns = kc.namespace
    params.whole(revision, "config_revision")
    history = config_history(target, name, namespace=ns)
    if not history:
        raise PreconditionFailed(
            f"ConfigMap {ns}/{name} has no recorded previous version (no ConfigMap labelled "
            f"{HISTORY_LABEL}={name}); changes made outside noa cannot be restored here")
    numbers = ", ".join(str(v.number) for v in history)
    chosen = history[-1]
    if revision:
        match = [v for v in history if v.number == revision]
        if not match:
            raise ParameterError(f"config_revision={revision} is not saved (saved: {numbers})",
                                 name="config_revision", accepted=numbers)
        chosen = match[0]
    current = kube_apps.get(kc.settings, "configmaps", name, ns)
    return _plan(kc, name, current, dict(chosen.data), history,
                 f"restore {ref('configmap', ns, name)} from saved version {chosen.number} "
                 f"({chosen.name}, saved {chosen.saved_at})",
                 "the data replaced now is saved as version {number} ({saved}): restore it with "
                 "config_revision={number}")


__all__ = ["HISTORY_LABEL", "ConfigVersion", "config_change_plan", "config_history",
           "config_restore_plan", "versions_from"]
