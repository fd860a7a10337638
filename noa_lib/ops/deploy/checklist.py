"""The pre-deployment checklist: every automated item checked against the target, GO / NO-GO.

Read-only. :func:`pre_deployment_checklist` checks, for deploying ``image_tag`` to
``deployment``:

- artifacts: the tag is a semantic version (not ``latest``); the image exists in the registry (its
  digest is shown); the tag is newer than what runs; the API server accepts the changed pod
  template (a server-side dry run of the image patch, ``dryRun=All``: validated, nothing stored);
- infrastructure: the migrations the release brings (parameter) against those already applied
  (``GET /api/v1/migrations`` through the service proxy); the last backup and the last validated
  backup are recent enough (from the records: :class:`~.evidence.DeployEvidence`, gathered by
  :func:`noa_lib.records.deploy_evidence.deploy_evidence`); the service's error rate and p95
  now; the 30-day error budget of the 99 % availability SLO; no P0/P1 alert firing and no
  open P0/P1 incident record; every current pod healthy;
- communication: an on-call engineer named, now inside the deployment window;
- the human items (:data:`~noa_lib.ops.deploy.checklist_items.HUMAN_ITEMS`) as sign-offs.

Each item is a :class:`~noa_lib.ops.findings.Finding` tagged with its section; the verdict is
:func:`~noa_lib.ops.deploy.checklist_items.verdict`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from noa_lib.config import Target
from noa_lib.errors import ClientError, NoaError, ParameterError, StepFailed
from noa_lib.ops.deploy import checklist_checks as checks
from noa_lib.ops.deploy import checklist_items as ci
from noa_lib.ops.deploy.evidence import DeployEvidence
from noa_lib.ops.findings import Finding, Status
from noa_lib.ops.names import validate_image_tag, validate_name


@dataclass(frozen=True)
class ChecklistResult:
    """Every checklist item (a finding per item, in section order) and the verdict."""

    deployment: str
    image_tag: str
    items: tuple[tuple[str, Finding], ...]
    verdict: ci.Verdict
    checked_at: datetime
    digest: str | None = None
    notes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for _, f in self.items)

    @property
    def outcome_status(self) -> Status:
        """The record's status: ``ok`` for a clean GO, ``warning`` for a GO with caveats and for
        NO-GO — the checklist ran fine and its answer is the ``verdict`` figure; the blocking
        items stay ``critical`` in the findings (``fail_on_no_go`` fails the run instead)."""
        return Status.OK if self.verdict.go and not self.verdict.caveats else Status.WARNING

    def figures(self) -> dict[str, float | int | str]:
        """Outcome figures: verdict, counts by status, blocking items."""
        counts = {s.value: 0 for s in Status}
        for f in self.findings:
            counts[f.status.value] += 1
        return {
            "verdict": self.verdict.label,
            "items": len(self.items),
            "blocking": len(self.verdict.reasons),
            "caveats": len(self.verdict.caveats),
            **{f"items_{k}": v for k, v in counts.items()},
            "image_tag": self.image_tag,
            "deployment": self.deployment,
        }


def _guard(check: str, fn: Callable[[], Finding]) -> Finding:
    """Run one automated check; a backend failure is an ``unreachable`` item, not a crash."""
    try:
        return fn()
    except ClientError as exc:
        return Finding(check, Status.UNREACHABLE, str(exc))
    except NoaError as exc:  # e.g. a section not configured for this target
        return Finding(check, Status.WARNING, f"not checked: {exc}")


def pre_deployment_checklist(
    target: Target,
    *,
    deployment: str,
    image_tag: str,
    namespace: str = "",
    service: str = "",
    migrations: Sequence[str] = (),
    max_backup_age_hours: float = 26.0,
    on_call: str = "",
    deployment_window: str = "",
    deployment_days: str = "",
    signoffs: Mapping[str, bool] | None = None,
    signed_off_by: str = "",
    evidence: DeployEvidence | None = None,
    now: datetime | None = None,
) -> ChecklistResult:
    """Check every item for deploying ``image_tag`` to ``deployment`` and decide GO / NO-GO.

    Raises:
        ParameterError: bad names, tag syntax, window, sign-off values (before any call).
    Backend failures never raise: they make their item ``unreachable`` (so NO-GO).
    """
    validate_name(deployment, "deployment", kind="subdomain")
    if namespace:
        validate_name(namespace, "namespace")
    svc = service or deployment
    validate_name(svc, "service")
    if image_tag:
        validate_image_tag(image_tag, "image_tag")
    for m in migrations:
        if not isinstance(m, str) or not m.strip():
            raise ParameterError(f"migrations contains {m!r}", name="migrations",
                                 accepted="a list of migration names like '0042_add_usage_index'")
    if isinstance(max_backup_age_hours, bool) or not max_backup_age_hours > 0:
        raise ParameterError(f"max_backup_age_hours={max_backup_age_hours!r} must be > 0",
                             name="max_backup_age_hours", accepted="a number of hours > 0")
    if deployment_window.strip():
        ci.parse_window(deployment_window, deployment_days)
    moment = now or datetime.now(UTC)
    human = ci.human_items(signoffs or {}, signed_off_by, moment)
    ns = namespace or (target.kubernetes.namespace if target.kubernetes else "noa")


    current = checks.current_deployment(target, deployment, ns)
    digest_holder: dict[str, str | None] = {}
    out: list[tuple[str, Finding]] = [
        ("artifacts", ci.tag_format(image_tag)),
        ("artifacts", _guard("image in registry",
                             lambda: checks.image_in_registry(target, image_tag, digest_holder))),
        ("artifacts", _guard("tag newer than running",
                             lambda: ci.tag_newer(image_tag, checks.running_versions(current)))),
        ("artifacts", _guard("pod template accepted",
                             lambda: checks.dry_run_image(target, current, image_tag, ns))),
        ("infrastructure", _guard("migrations",
                                  lambda: checks.migrations(target, svc, ns, migrations))),
        ("infrastructure", checks.backups(evidence, max_backup_age_hours, moment)),
        *[("infrastructure", f) for f in checks.service_health(target, svc)],
        ("infrastructure", _guard("error budget", lambda: checks.error_budget(target, svc))),
        ("infrastructure", _guard("P0/P1 alerts", lambda: checks.urgent_alerts(target))),
        ("infrastructure", checks.incidents(evidence)),
        ("infrastructure", _guard("current pods healthy",
                                  lambda: checks.pods_healthy(target, deployment, current, ns))),
        ("communication", ci.on_call(on_call)),
        ("communication", ci.in_window(moment, deployment_window, deployment_days)),
    ]
    for finding in human:
        section, _, _ = finding.check.partition(":")
        out.append((section, finding))
    order = {s: i for i, s in enumerate(ci.SECTIONS)}
    out.sort(key=lambda pair: order.get(pair[0], len(order)))
    tagged = tuple(out)
    return ChecklistResult(
        deployment=deployment,
        image_tag=image_tag,
        items=tagged,
        verdict=ci.verdict(f for _, f in tagged),
        checked_at=moment,
        digest=digest_holder.get("digest"),
    )


def require_go(result: ChecklistResult, fail_on_no_go: bool = False) -> str:
    """The verdict line; with ``fail_on_no_go`` a NO-GO fails the run (for CI pipelines).

    Raises:
        StepFailed: NO-GO and ``fail_on_no_go``, naming the blocking items.
    """
    line = result.verdict.line()
    if fail_on_no_go and not result.verdict.go:
        raise StepFailed(line)
    return line


__all__ = ["ChecklistResult",
           "pre_deployment_checklist", "require_go"]
