"""From Alertmanager webhook payloads to runbook runs: parsing, runbook choice, de-duplication and
a bounded worker pool.

:func:`parse_webhook` validates Alertmanager's webhook JSON (version 4) and turns each alert into
an :class:`AlertJob`; :class:`Dispatcher` runs the firing ones through
:func:`noa_lib.records.runner.run` with at most ``max_concurrent`` runs at a time and at most
``max_queue`` waiting. A fingerprint that is queued, running, or was accepted less than
``dedup_window`` seconds ago is a duplicate and starts nothing. The HTTP side lives in
:mod:`noa_lib.records.alerts_server`.

An alert names its runbook (``runbook`` label or annotation, or ``runbook_url``); one that names
none is answered by ``incident/triage`` when its severity is P0/P1 and by
``monitoring/alert_response`` otherwise (:func:`noa_lib.ops.alert_rules.runbook_for`).

Every accepted firing alert belongs to an incident (:mod:`noa_lib.records.incidents`): the open
incident of its Alertmanager group (``groupKey``), or a new one opened for that group with the
severity of the alert's ``severity`` label; the run carries the incident's id, and the answer
names it. Resolved alerts change no incident: resolving one is the commander's call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from noa_lib.errors import NoaError
from noa_lib.records.catalog import Catalog
from noa_lib.records.runner import RunRequest, RunResult, Trigger

if TYPE_CHECKING:
    from noa_lib.records.warm_kernels import WarmKernels

log = logging.getLogger(__name__)

DEFAULT_RUNBOOK = "monitoring/alert_response"
MAX_ALERTS = 200
"""Alerts accepted in one webhook call (Alertmanager's ``max_alerts`` is usually far lower)."""
MAX_LABELS_BYTES = 16_384
_FINGERPRINT_RE = re.compile(r"^[0-9A-Za-z]{1,64}$")
_RUNBOOK_RE = re.compile(r"^[a-z][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*$")
_URL_RUNBOOK_RE = re.compile(r"notebooks/([a-z][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*)\.ipynb")


class PayloadError(NoaError):
    """The webhook body is not Alertmanager's webhook JSON; the message says what is wrong."""


class QueueFull(NoaError):
    """More alerts need a run than the queue has room for; nothing of this call was queued."""


@dataclass(frozen=True)
class AlertJob:
    """One alert of a webhook call, with the runbook that answers it."""

    status: str  # firing | resolved
    alert_name: str
    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: str
    runbook: str
    group_key: str = ""  # Alertmanager's groupKey of the webhook call
    incident: str | None = None  # the incident the run belongs to, once assigned

    @property
    def group(self) -> str:
        """The alert's group key (``alert:<alertname>`` when the webhook sent none)."""
        return self.group_key or f"alert:{self.alert_name}"

    def parameters(self) -> dict[str, str]:
        """Every parameter an alert can give a runbook (filtered by its declarations later)."""
        return {
            "alert_name": self.alert_name,
            "labels": json.dumps(dict(self.labels), sort_keys=True),
            "annotations": json.dumps(dict(self.annotations), sort_keys=True),
            "fingerprint": self.fingerprint,
            "starts_at": self.starts_at,
            "severity": self.labels.get("severity", ""),
        }


def parse_webhook(body: bytes, default_runbook: str = DEFAULT_RUNBOOK) -> list[AlertJob]:
    """The alerts of one webhook body.

    Raises:
        PayloadError: not JSON, not an object with an ``alerts`` list, an alert without
            ``status``/``labels.alertname``, labels or annotations that are not text, too many
            alerts.
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object (Alertmanager webhook, version 4)")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("body has no 'alerts' list")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError(f"{len(alerts)} alerts in one call; at most {MAX_ALERTS}")
    group_key = payload.get("groupKey")
    if group_key is not None and (not isinstance(group_key, str) or len(group_key) > 4096):
        raise PayloadError("groupKey must be text of at most 4096 characters")
    jobs = [_job(i, alert, default_runbook) for i, alert in enumerate(alerts)]
    return [replace(job, group_key=group_key or "") for job in jobs]


def _job(index: int, alert: Any, default_runbook: str) -> AlertJob:
    where = f"alerts[{index}]"
    if not isinstance(alert, dict):
        raise PayloadError(f"{where} is not an object")
    status = alert.get("status")
    if status not in ("firing", "resolved"):
        raise PayloadError(f"{where}.status must be 'firing' or 'resolved'")
    labels = _text_map(alert.get("labels"), f"{where}.labels")
    annotations = _text_map(alert.get("annotations", {}), f"{where}.annotations")
    name = labels.get("alertname", "")
    if not name or len(name) > 200:
        raise PayloadError(f"{where}.labels.alertname is missing or longer than 200 characters")
    if len(json.dumps(labels)) > MAX_LABELS_BYTES:
        raise PayloadError(f"{where}.labels are larger than {MAX_LABELS_BYTES} bytes")
    fingerprint = alert.get("fingerprint")
    if not isinstance(fingerprint, str) or not _FINGERPRINT_RE.match(fingerprint):
        fingerprint = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
    starts_at = alert.get("startsAt", "")
    return AlertJob(
        status=str(status),
        alert_name=name,
        fingerprint=fingerprint,
        labels=labels,
        annotations=annotations,
        starts_at=starts_at if isinstance(starts_at, str) else "",
        runbook=runbook_of(labels, annotations, _default_for(labels, default_runbook)),
    )


def _default_for(labels: Mapping[str, str], default_runbook: str) -> str:
    """The runbook for an alert that names none: P0/P1 alerts open the incident's triage
    (``incident/triage``), the others the alert's quick actions — unless the receiver was given
    another default."""
    if default_runbook != DEFAULT_RUNBOOK:
        return default_runbook
    from noa_lib.ops.alert_rules import runbook_for
    from noa_lib.records.incidents import severity_of_label

    return runbook_for(severity_of_label(labels.get("severity")))


def _text_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise PayloadError(f"{where} must be an object")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise PayloadError(f"{where} must map text to text")
    return dict(value)


def runbook_of(
    labels: Mapping[str, str], annotations: Mapping[str, str], default: str = DEFAULT_RUNBOOK
) -> str:
    """The runbook an alert names: its ``runbook`` label, else a ``runbook`` annotation, else
    the notebook in ``runbook_url`` (``…notebooks/<area>/<name>.ipynb…``), else ``default``."""
    for candidate in (labels.get("runbook"), annotations.get("runbook")):
        if candidate and _RUNBOOK_RE.match(candidate):
            return candidate
    match = _URL_RUNBOOK_RE.search(annotations.get("runbook_url", ""))
    return match.group(1) if match else default


@dataclass(frozen=True)
class DispatchSettings:
    """How alerts become runs."""

    max_concurrent: int = 2
    max_queue: int = 32
    dedup_window: float = 900.0
    target: str | None = None
    reports_dir: Path | None = None
    cell_timeout: float = 600.0
    default_runbook: str = DEFAULT_RUNBOOK
    incidents: bool = True  # open or join the alert group's incident for every firing alert
    warm_kernels: int = 0  # kernels started ahead for the next runs (records.warm_kernels)


@dataclass
class Admission:
    """What one webhook call led to."""

    accepted: list[dict[str, str]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "resolved": self.resolved}


RunFn = Callable[[RunRequest], RunResult]


class Dispatcher:
    """A bounded pool of worker threads running one runbook per accepted alert."""

    def __init__(
        self,
        settings: DispatchSettings,
        run: RunFn | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        if settings.max_concurrent < 1 or settings.max_queue < 0:
            raise ValueError("max_concurrent must be >= 1 and max_queue >= 0")
        from noa_lib.records import runner

        self.settings = settings
        self._run: RunFn = run or runner.run
        self._catalog = catalog or Catalog()
        self._lock = threading.Condition()
        self._queue: deque[AlertJob] = deque()
        self._active: set[str] = set()  # fingerprints queued or running
        self._accepted_at: dict[str, float] = {}
        self._running = 0
        self._closed = False
        self.completed: deque[RunResult] = deque(maxlen=100)  # the latest finished runs
        self.kernels: WarmKernels | None = None
        if settings.warm_kernels > 0:
            from noa_lib.records.warm_kernels import WarmKernels

            self.kernels = WarmKernels(settings.warm_kernels)
        self._workers = [
            threading.Thread(target=self._work, name=f"noa-alert-run-{i}", daemon=True)
            for i in range(settings.max_concurrent)
        ]
        for worker in self._workers:
            worker.start()

    def submit(self, jobs: Sequence[AlertJob]) -> Admission:
        """Queue a run for every firing, not duplicate alert of ``jobs`` — all or none.

        Raises:
            QueueFull: the queue cannot take every new run (nothing was queued).
        """
        admission = Admission()
        now = time.monotonic()
        with self._lock:
            self._forget(now)
            fresh: list[AlertJob] = []
            for job in jobs:
                if job.status == "resolved":
                    log.info("alert %s (%s) resolved", job.alert_name, job.fingerprint)
                    admission.resolved.append(job.fingerprint)
                elif job.fingerprint in self._active or job.fingerprint in self._accepted_at or (
                    job.fingerprint in {j.fingerprint for j in fresh}
                ):
                    admission.duplicates.append(job.fingerprint)
                else:
                    fresh.append(self._checked(job))
            capacity = self.settings.max_concurrent + self.settings.max_queue
            if self._running + len(self._queue) + len(fresh) > capacity:
                raise QueueFull(
                    f"{len(fresh)} new run(s) do not fit: {len(self._queue)} queued, "
                    f"{self._running} running, queue limit {self.settings.max_queue}"
                )
            for job in fresh:
                job = self._with_incident(job)
                self._queue.append(job)
                self._active.add(job.fingerprint)
                self._accepted_at[job.fingerprint] = now
                entry = {"fingerprint": job.fingerprint, "runbook": job.runbook}
                if job.incident is not None:
                    entry["incident"] = job.incident
                admission.accepted.append(entry)
                log.info("alert %s (%s): queued %s", job.alert_name, job.fingerprint, job.runbook)
            self._lock.notify_all()
        return admission

    def _forget(self, now: float) -> None:
        window = self.settings.dedup_window
        for fp, at in list(self._accepted_at.items()):
            if now - at >= window and fp not in self._active:
                del self._accepted_at[fp]

    def _checked(self, job: AlertJob) -> AlertJob:
        """``job`` with a runbook that exists and is read-only (else the default one)."""
        wanted = job.runbook
        try:
            book = self._catalog.get(wanted)
        except NoaError:
            log.warning("alert %s names runbook %s, which does not exist; running %s",
                        job.alert_name, wanted, self.settings.default_runbook)
            return _with_runbook(job, self.settings.default_runbook)
        if book.risk != "read-only":
            log.warning("alert %s names runbook %s, which is %s; alerts run read-only runbooks "
                        "only, running %s", job.alert_name, wanted, book.risk,
                        self.settings.default_runbook)
            return _with_runbook(job, self.settings.default_runbook)
        return job

    def _with_incident(self, job: AlertJob) -> AlertJob:
        """``job`` with the id of its group's open incident (opened now if there is none).

        Runs under the dispatcher's lock, and the store locks across processes, so two alerts of
        one group never open two incidents. A store that fails leaves the run without incident.
        """
        if not self.settings.incidents:
            return job
        from noa_lib.records.incidents import IncidentStore, severity_of_label

        try:
            store = IncidentStore(self._reports_root())
            summary = job.annotations.get("summary", "")
            title = f"{job.alert_name}: {summary}" if summary else job.alert_name
            incident, opened = store.open_or_join(
                job.group, title=title, severity=severity_of_label(job.labels.get("severity")),
                detected=_alert_start(job.starts_at),
            )
            store.update(incident.id, note=f"alert {job.alert_name} ({job.fingerprint}) "
                         f"{'opened' if opened else 'joined'} the incident; runs {job.runbook}")
        except (OSError, NoaError, ValueError, sqlite3.Error) as exc:
            log.warning("alert %s (%s): no incident (%s)", job.alert_name, job.fingerprint, exc)
            return job
        log.info("alert %s (%s): %s incident %s", job.alert_name, job.fingerprint,
                 "opened" if opened else "joined", incident.id)
        return replace(job, incident=incident.id)

    def _reports_root(self) -> Path:
        if self.settings.reports_dir is not None:
            return self.settings.reports_dir
        from noa_lib.config import load_config

        return load_config().reports_dir

    def stats(self) -> dict[str, int]:
        """Runs queued, running and finished, and fingerprints remembered for de-duplication."""
        with self._lock:
            return {
                "queued": len(self._queue),
                "running": self._running,
                "completed": len(self.completed),
                "remembered": len(self._accepted_at),
            }

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or running (``False`` on timeout)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._queue or self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def close(self, timeout: float = 0.0) -> None:
        """Stop taking work; queued runs are dropped, running ones finish (waits ``timeout``)."""
        with self._lock:
            self._closed = True
            dropped = len(self._queue)
            for job in self._queue:
                self._active.discard(job.fingerprint)
            self._queue.clear()
            self._lock.notify_all()
        if dropped:
            log.warning("dropped %d queued alert run(s) at shutdown", dropped)
        for worker in self._workers:
            worker.join(timeout)
        if self.kernels is not None:
            self.kernels.close()

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                job = self._queue.popleft()
                self._running += 1
            try:
                result = self._execute(job)
            finally:
                with self._lock:
                    self._running -= 1
                    self._active.discard(job.fingerprint)
                    self._lock.notify_all()
            if result is not None:
                with self._lock:
                    self.completed.append(result)

    def _execute(self, job: AlertJob) -> RunResult | None:
        try:
            book = self._catalog.get(job.runbook)
            declared = {p.name for p in book.parameters}
            parameters = {k: v for k, v in job.parameters().items() if k in declared}
            request = RunRequest(
                runbook=job.runbook,
                parameters=parameters,
                target=self.settings.target if "target" in declared else None,
                trigger=Trigger("alert", job.fingerprint),
                reports_dir=self.settings.reports_dir,
                cell_timeout=self.settings.cell_timeout,
                incident=job.incident,
                kernels=self.kernels,
            )
            result = self._run(request)
        except Exception:  # noqa: BLE001 - a failed run is logged; the worker must live on
            log.exception("alert %s (%s): %s could not run", job.alert_name, job.fingerprint,
                          job.runbook)
            return None
        log.info("alert %s (%s): %s", job.alert_name, job.fingerprint, result.message)
        return result


def _with_runbook(job: AlertJob, runbook: str) -> AlertJob:
    return replace(job, runbook=runbook)


def _alert_start(starts_at: str) -> datetime | None:
    """The alert's ``startsAt`` (when it was detected), or ``None`` (now) when unusable."""
    from noa_lib.records.metadata import parse_timestamp

    try:
        moment = parse_timestamp(starts_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.year > 2000 else None


__all__ = [
    "DEFAULT_RUNBOOK",
    "Admission",
    "AlertJob",
    "DispatchSettings",
    "Dispatcher",
    "PayloadError",
    "QueueFull",
    "parse_webhook",
    "runbook_of",
]
