"""Recent changes an incident may have started with, from the Kubernetes API.

- **rollouts**: every Deployment's newest ReplicaSet (revision, when, images); one created within
  the lookback with a previous revision is a rollback candidate;
- **ConfigMap changes**: the newest write time of each ConfigMap of the namespace (its
  ``managedFields`` times, which the API server keeps for every apply/update, else its creation)
  and the versions NOA's config runbooks saved (``noa.io/config-history``), within the lookback.

The records of applied changes (deployments, config changes, mitigations) are added by the
records layer (:mod:`noa_lib.records.incident_triage`). Failures are recorded in
:attr:`Changes.errors`, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError
from noa_lib.ops.alert_triage import RecentRollout
from noa_lib.ops.deploy.configmaps import HISTORY_LABEL, SAVED_AT_ANNOTATION

LOOKBACK = timedelta(hours=2)


@dataclass(frozen=True)
class ConfigChange:
    """A ConfigMap written at ``changed`` (``how``: the field manager or "saved version N")."""

    name: str
    changed: datetime
    minutes_ago: float
    how: str


@dataclass(frozen=True)
class ChangeRecord:
    """A runbook run that applied changes (a deployment, a config change, a mitigation)."""

    run_id: str
    runbook: str
    started_at: datetime
    minutes_ago: float
    changes: tuple[str, ...]  # "resource field: before -> after"


@dataclass(frozen=True)
class Changes:
    """What changed in the namespace lately (newest first); ``records`` are the runs that
    applied changes (filled in by the records layer)."""

    namespace: str
    rollouts: tuple[RecentRollout, ...]
    configmaps: tuple[ConfigChange, ...]
    errors: tuple[str, ...] = ()
    records: tuple[ChangeRecord, ...] = ()


def _parse(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _config_changes(items: list[dict[str, object]], now: datetime,
                    lookback: timedelta) -> list[ConfigChange]:
    out = []
    for obj in items:
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            continue
        labels = meta.get("labels") or {}
        history = isinstance(labels, dict) and HISTORY_LABEL in labels
        stamps: list[tuple[datetime, str]] = []
        if history:
            saved = _parse((meta.get("annotations") or {}).get(SAVED_AT_ANNOTATION))
            if saved is not None:
                stamps.append((saved, f"version saved for {labels[HISTORY_LABEL]}"))
        for entry in meta.get("managedFields") or []:
            if isinstance(entry, dict) and (when := _parse(entry.get("time"))) is not None:
                stamps.append((when, f"{entry.get('operation', 'write')} by "
                                     f"{entry.get('manager', 'unknown')}"))
        if not stamps and (created := _parse(meta.get("creationTimestamp"))) is not None:
            stamps.append((created, "created"))
        if not stamps:
            continue
        when, how = max(stamps, key=lambda s: s[0])
        if now - when <= lookback:
            out.append(ConfigChange(str(meta.get("name")), when,
                                    round((now - when).total_seconds() / 60, 1), how))
    return sorted(out, key=lambda c: c.changed, reverse=True)


def recent_changes(target: Target, *, now: datetime, lookback: timedelta = LOOKBACK) -> Changes:
    """Rollouts and ConfigMap writes of the target's namespace (``errors`` says what could not
    be read; no Kubernetes configured is one such error)."""
    settings = target.kubernetes
    if settings is None:
        return Changes("", (), (), (f"no kubernetes configured for target {target.name}",))
    from noa_lib.clients import kube_apps, kubernetes

    errors: list[str] = []
    rollouts: tuple[RecentRollout, ...] = ()
    try:
        rollouts = tuple(RecentRollout(
            deployment=r.deployment, revision=r.revision, previous_revision=r.previous_revision,
            rolled_out=r.created,
            minutes_ago=None if r.created is None
            else round((now - r.created).total_seconds() / 60, 1),
            images=", ".join(r.images),
        ) for r in kubernetes.rollouts(settings))
    except (ClientError, ConfigError) as exc:
        errors.append(f"rollouts: {exc}")
    configmaps: list[ConfigChange] = []
    try:
        items = kube_apps.list_objects(settings, "configmaps", settings.namespace)
        configmaps = _config_changes(items, now, lookback)
    except (ClientError, ConfigError) as exc:
        errors.append(f"configmaps: {exc}")
    return Changes(settings.namespace, rollouts, tuple(configmaps), tuple(errors))


__all__ = ["LOOKBACK", "ChangeRecord", "Changes", "ConfigChange", "recent_changes"]
