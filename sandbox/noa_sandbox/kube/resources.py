"""The resource types the sandbox API server serves, and how to look them up.

Plurals are unique across the served set, so the store keys kinds by plural. ``subresources``
lists the subresources a type answers (``status``, ``scale``, ``log``, ``proxy``);
``status`` in it means the main resource ignores ``status`` on update and ``/status`` changes
only the status (as with the real API server).
"""

from __future__ import annotations

from dataclasses import dataclass

from noa_sandbox.kube.errors import ApiError


@dataclass(frozen=True)
class ResourceType:
    """One served resource type (e.g. apps/v1 ``deployments``)."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    subresources: frozenset[str] = frozenset()
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, else ``group/version`` (``apps/v1``)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def label_name_rule(self) -> bool:
        """Names must be DNS-1123 labels (≤63, no dots) rather than subdomains."""
        return self.plural in {"namespaces", "services"}


def _rt(
    group: str,
    version: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    sub: tuple[str, ...] = (),
    short: tuple[str, ...] = (),
) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, frozenset(sub), short)


RESOURCE_TYPES: tuple[ResourceType, ...] = (
    _rt("", "v1", "namespaces", "Namespace", namespaced=False, sub=("status",), short=("ns",)),
    _rt("", "v1", "nodes", "Node", namespaced=False, sub=("status",), short=("no",)),
    _rt("", "v1", "pods", "Pod", sub=("status", "log", "proxy"), short=("po",)),
    _rt("", "v1", "services", "Service", sub=("status", "proxy"), short=("svc",)),
    _rt("", "v1", "configmaps", "ConfigMap", short=("cm",)),
    _rt("", "v1", "secrets", "Secret"),
    _rt("", "v1", "events", "Event", short=("ev",)),
    _rt("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", sub=("status",),
        short=("pvc",)),
    _rt("", "v1", "serviceaccounts", "ServiceAccount", short=("sa",)),
    _rt("", "v1", "limitranges", "LimitRange", short=("limits",)),
    _rt("", "v1", "resourcequotas", "ResourceQuota", sub=("status",), short=("quota",)),
    _rt("apps", "v1", "deployments", "Deployment", sub=("status", "scale"), short=("deploy",)),
    _rt("apps", "v1", "replicasets", "ReplicaSet", sub=("status", "scale"), short=("rs",)),
    _rt("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler",
        sub=("status",), short=("hpa",)),
    _rt("batch", "v1", "cronjobs", "CronJob", sub=("status",), short=("cj",)),
    _rt("batch", "v1", "jobs", "Job", sub=("status",)),
    _rt("networking.k8s.io", "v1", "ingresses", "Ingress", sub=("status",), short=("ing",)),
    _rt("storage.k8s.io", "v1", "storageclasses", "StorageClass", namespaced=False,
        short=("sc",)),
    _rt("snapshot.storage.k8s.io", "v1", "volumesnapshots", "VolumeSnapshot", sub=("status",),
        short=("vs",)),
    _rt("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
        namespaced=False, sub=("status",), short=("crd", "crds")),
    _rt("autoscaling.k8s.io", "v1", "verticalpodautoscalers", "VerticalPodAutoscaler",
        sub=("status",), short=("vpa",)),
)

_BY_PLURAL = {rt.plural: rt for rt in RESOURCE_TYPES}
_BY_KIND = {rt.kind: rt for rt in RESOURCE_TYPES}
_BY_PATH = {(rt.group, rt.version, rt.plural): rt for rt in RESOURCE_TYPES}


def by_plural(plural: str) -> ResourceType:
    """The type served under ``plural``; 404 NotFound when none is."""
    rt = _BY_PLURAL.get(plural)
    if rt is None:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    return rt


def by_path(group: str, version: str, plural: str) -> ResourceType | None:
    """The type at ``/api[s]/{group}/{version}/{plural}``, or ``None``."""
    return _BY_PATH.get((group, version, plural))


def by_kind(kind: str) -> ResourceType | None:
    return _BY_KIND.get(kind)


def group_versions() -> list[tuple[str, str]]:
    """Every served ``(group, version)``, core first, in registry order."""
    seen: list[tuple[str, str]] = []
    for rt in RESOURCE_TYPES:
        if (rt.group, rt.version) not in seen:
            seen.append((rt.group, rt.version))
    return seen


def types_in(group: str, version: str) -> list[ResourceType]:
    return [rt for rt in RESOURCE_TYPES if rt.group == group and rt.version == version]


__all__ = [
    "RESOURCE_TYPES",
    "ResourceType",
    "by_kind",
    "by_path",
    "by_plural",
    "group_versions",
    "types_in",
]
