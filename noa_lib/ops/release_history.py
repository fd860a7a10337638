"""A service's releases as the release incidents read them: its Deployment's revisions, when the
current one rolled out, and the last good release.

When a revision *rolled out* is the newer of its ReplicaSet's creation and the Deployment's
``Progressing`` condition naming that ReplicaSet (a rollback reuses an old ReplicaSet: its
creation time is that of the first rollout, the condition's update is this one).
The **last good release** (:func:`last_good_revision`) is the newest earlier revision — another
image than the one failing now — whose pods were Ready: Ready now, or at some point of the
look-back in kube-state-metrics' ``kube_replicaset_status_ready_replicas`` (Prometheus).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from noa_lib.clients import kube_apps
from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError
from noa_lib.ops import metrics
from noa_lib.ops.alert_triage import RecentRollout
from noa_lib.ops.deploy import params
from noa_lib.ops.deploy.context import kube_context
from noa_lib.ops.deploy.revisions import Revision, history_from, owned_replicasets
from noa_lib.ops.deploy.workload import Obj, meta
from noa_lib.ops.promql_render import Query

READY_SEEN = Query(
    "replicaset_ready_seen",
    "max by ($by) (max_over_time(kube_replicaset_status_ready_replicas{@kube_state_metrics}"
    "[$window]))",
    "pods",
    "The most pods of each ReplicaSet Ready at once over the window (kube-state-metrics).",
    by=("replicaset",),
)


@dataclass(frozen=True)
class Releases:
    """A Deployment's revisions (oldest first), its current rollout and the Ready history."""

    deployment: str
    namespace: str
    revisions: tuple[Revision, ...]
    rollout: RecentRollout | None
    ready_seen: Mapping[str, float]

    @property
    def current(self) -> Revision | None:
        return next((r for r in self.revisions if r.current), None)


def parse_time(text: object) -> datetime | None:
    """An RFC 3339 time (``None`` when missing or malformed)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def rolled_out_at(deployment: Obj, current: Revision) -> datetime | None:
    """When ``current`` rolled out (pure; see the module docstring)."""
    created = parse_time(current.created)
    status = deployment.get("status") or {}
    progressing: dict[str, Any] = next((c for c in status.get("conditions") or []
                        if c.get("type") == "Progressing"), {})
    updated = None
    if f'"{current.replicaset}"' in str(progressing.get("message") or ""):
        updated = parse_time(progressing.get("lastUpdateTime"))
    times = [t for t in (created, updated) if t is not None]
    return max(times) if times else None


def recent_rollout(deployment: Obj, revisions: tuple[Revision, ...], now: datetime
                   ) -> RecentRollout | None:
    """The current revision as a :class:`RecentRollout` (pure; ``None`` without revisions)."""
    current = next((r for r in revisions if r.current), None)
    if current is None:
        return None
    earlier = [r.number for r in revisions if r.number < current.number]
    at = rolled_out_at(deployment, current)
    return RecentRollout(
        deployment=str(meta(deployment).get("name") or ""), revision=current.number,
        previous_revision=max(earlier) if earlier else None, rolled_out=at,
        minutes_ago=None if at is None else round((now - at).total_seconds() / 60, 1),
        images=current.image)


def last_good_revision(revisions: tuple[Revision, ...], ready_seen: Mapping[str, float]
                       ) -> Revision | None:
    """The newest revision before the current one, on another image, whose pods were Ready
    (now, or in ``ready_seen`` by ReplicaSet name) — ``None`` when there is none (pure)."""
    current = next((r for r in revisions if r.current), None)
    bad_image = current.image if current else ""
    top = current.number if current else max((r.number for r in revisions), default=0) + 1
    for r in sorted(revisions, key=lambda r: r.number, reverse=True):
        if r.number >= top or r.image == bad_image:
            continue
        if r.ready > 0 or ready_seen.get(r.replicaset, 0) > 0:
            return r
    return None


def read_releases(target: Target, deployment: str, *, namespace: str = "",
                  lookback: str = "24h", now: datetime | None = None) -> Releases:
    """The revisions, current rollout and Ready history of ``deployment``.

    The Ready history is empty when Prometheus is not configured or fails (the last good
    release then rests on the pods Ready now).

    Raises:
        ParameterError: bad names (before any request).
        ConfigError: the target has no Kubernetes.
        NotFound / ClientError: the Deployment cannot be read.
    """
    kc = kube_context(target, namespace)
    params.workload(kc.namespace, deployment)
    dep = kube_apps.get(kc.settings, "deployments", deployment, kc.namespace)
    revisions = history_from(dep, owned_replicasets(kc, dep))
    moment = now or datetime.now(UTC)
    return Releases(deployment, kc.namespace, revisions, recent_rollout(dep, revisions, moment),
                    ready_history(target, revisions, lookback))


def ready_history(target: Target, revisions: tuple[Revision, ...], lookback: str
                  ) -> dict[str, float]:
    """ReplicaSet name -> most pods Ready at once over ``lookback`` ({} without Prometheus)."""
    names = {r.replicaset for r in revisions}
    try:
        prom = metrics.connect(target)
    except ConfigError:
        return {}
    try:
        reading = metrics.read(prom, READY_SEEN, window=lookback)
    except ClientError:
        return {}
    finally:
        prom.close()
    return {labels.get("replicaset", ""): value for labels, value in reading.values
            if labels.get("replicaset") in names}


__all__ = ["READY_SEEN", "Releases", "last_good_revision", "read_releases", "ready_history",
           "recent_rollout", "rolled_out_at"]
