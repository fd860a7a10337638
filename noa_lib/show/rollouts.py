"""Deployments for a notebook: rollout progress, revision history, traffic split, plan sequences.

Pure rendering (pandas imported lazily); the ops results come in, tables and views go out.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from noa_lib.ops.deploy.analysis import AnalysisResult
from noa_lib.ops.deploy.bluegreen import BlueGreenPlan, BlueGreenRun
from noa_lib.ops.deploy.canary import CanaryPlan, CanaryRun
from noa_lib.ops.deploy.configmaps import ConfigVersion
from noa_lib.ops.deploy.revisions import Revision
from noa_lib.ops.deploy.rollback import RollbackPlan
from noa_lib.ops.deploy.rollout import ImageChange, RolloutStatus, RolloutWatch
from noa_lib.ops.safety import Plan
from noa_lib.show.plans import PlanView

if TYPE_CHECKING:
    import pandas as pd

PROGRESS_COLUMNS = ["elapsed_s", "desired", "current", "updated", "ready", "available",
                    "revision", "state", "message"]
REVISION_COLUMNS = ["revision", "current", "image", "replicaset", "replicas", "ready", "created",
                    "change_cause"]
TRAFFIC_COLUMNS = ["step", "requested_%", "effective_%", "canary_replicas", "stable_replicas",
                   "analysis", "note"]


def _frame(rows: Sequence[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(list(rows), columns=columns)


def rollout_table(watch: RolloutWatch) -> pd.DataFrame:
    """One row per observed change of the rollout (``kubectl rollout status`` messages)."""
    return _frame([asdict(r) for r in watch.rows], PROGRESS_COLUMNS)


def status_table(status: RolloutStatus | ImageChange) -> pd.DataFrame:
    """A Deployment's current state as one row."""
    s = status.status if isinstance(status, ImageChange) else status
    row = {"deployment": f"{s.namespace}/{s.deployment}", "image": s.image,
           "revision": s.revision, "desired": s.desired, "ready": s.ready,
           "available": s.available, "state": s.state, "message": s.message()}
    return _frame([row], list(row))


def revisions_table(history: Iterable[Revision]) -> pd.DataFrame:
    """Revisions, newest first; ``current`` marks the one running."""
    rows = [{"revision": r.number, "current": r.current, "image": r.image,
             "replicaset": r.replicaset, "replicas": r.replicas, "ready": r.ready,
             "created": r.created, "change_cause": r.change_cause}
            for r in sorted(history, key=lambda r: r.number, reverse=True)]
    return _frame(rows, REVISION_COLUMNS)


def config_versions_table(versions: Iterable[ConfigVersion]) -> pd.DataFrame:
    """Saved ConfigMap versions, newest first."""
    rows = [{"version": v.number, "configmap": v.name, "saved_at": v.saved_at, "keys": v.keys}
            for v in sorted(versions, key=lambda v: v.number, reverse=True)]
    return _frame(rows, ["version", "configmap", "saved_at", "keys"])


def traffic_table(canary: CanaryPlan | CanaryRun) -> pd.DataFrame:
    """The canary steps: requested vs effective weight, replicas, and (after a run) the
    analysis phase of each step."""
    plan = canary.plan if isinstance(canary, CanaryRun) else canary
    phases = {s.index: s.phase for s in canary.steps} if isinstance(canary, CanaryRun) else {}
    rows = []
    previous = None
    for s in plan.steps:
        rows.append({"step": s.index, "requested_%": s.weight, "effective_%": s.effective,
                     "canary_replicas": s.canary, "stable_replicas": s.stable,
                     "analysis": phases.get(s.index, "planned"), "note": s.note(previous)})
        previous = s
    return _frame(rows, TRAFFIC_COLUMNS)


def analyses_table(results: Iterable[AnalysisResult]) -> pd.DataFrame:
    """Every measurement of several analyses (one per canary step) with the step's label first;
    empty (with the columns) when no analysis ran, e.g. in a dry run."""
    import pandas as pd

    from noa_lib.show.analysis import COLUMNS, analysis_frame

    frames = []
    for result in results:
        frame = analysis_frame(result)
        frame.insert(0, "step", result.label)
        frame.insert(1, "verdict", str(result.phase))
        frames.append(frame)
    if not frames:
        return pd.DataFrame([], columns=["step", "verdict", *COLUMNS])
    return pd.concat(frames, ignore_index=True)


def phases_table(run: BlueGreenRun) -> pd.DataFrame:
    """The blue-green phases and how each went."""
    return _frame([asdict(p) for p in run.phases], ["name", "status", "message"])


def slots_table(plan: BlueGreenPlan) -> pd.DataFrame:
    """Blue and green: which Deployment, track, image."""
    rows = [
        {"color": "blue (serving)", "deployment": plan.slots.blue, "track": plan.slots.blue_track,
         "image": plan.blue_image, "replicas": plan.replicas},
        {"color": "green (new)", "deployment": plan.slots.green,
         "track": plan.slots.green_track, "image": plan.green_image, "replicas": plan.replicas},
    ]
    return _frame(rows, ["color", "deployment", "track", "image", "replicas"])


def handoff_table(rollback: RollbackPlan) -> pd.DataFrame:
    """The database hand-off: the target time, the exact command, and what pitr_restore checks
    (empty for deployment and configuration rollbacks)."""
    db = rollback.database
    if db is None:
        return _frame([], ["item", "value"])
    rows = [{"item": "target_time", "value": db.target_time.strftime("%Y-%m-%dT%H:%M:%SZ")},
            {"item": "deploy record", "value": f"{db.deploy.runbook} run {db.deploy.run_id} "
             f"started {db.deploy.started_at:%Y-%m-%dT%H:%M:%SZ}"},
            {"item": "margin", "value": f"{db.margin_minutes:g} min"},
            {"item": "command (run it yourself)", "value": db.command_line}]
    rows += [{"item": f"check {i}", "value": c} for i, c in enumerate(db.checks, start=1)]
    return _frame(rows, ["item", "value"])


@dataclass(frozen=True)
class PlansView:
    """Several plans in order, each as :class:`~noa_lib.show.plans.PlanView`."""

    plans: tuple[Plan, ...]
    dry_run: bool = True

    def __repr__(self) -> str:
        return "\n\n".join(f"{i}. {PlanView(p, self.dry_run)!r}"
                           for i, p in enumerate(self.plans, start=1))

    def _repr_html_(self) -> str:
        parts = [f"<h4>{i}. {html.escape(p.action)}</h4>{PlanView(p, self.dry_run)._repr_html_()}"
                 for i, p in enumerate(self.plans, start=1)]
        return "".join(parts)


def show_plans(plans: CanaryPlan | BlueGreenPlan | Iterable[Plan], *, dry_run: bool = True
               ) -> PlansView:
    """Every plan of a canary / blue-green run (or any plans) in the order they apply."""
    if isinstance(plans, CanaryPlan):
        ordered: tuple[Plan, ...] = (*plans.plans, plans.abort)
    elif isinstance(plans, BlueGreenPlan):
        ordered = plans.ordered
    else:
        ordered = tuple(plans)
    return PlansView(ordered, dry_run)


__all__ = [
    "PlansView",
    "analyses_table",
    "config_versions_table",
    "handoff_table",
    "phases_table",
    "revisions_table",
    "rollout_table",
    "show_plans",
    "slots_table",
    "status_table",
    "traffic_table",
]
