"""Incidents as first-class records: ``<reports>/incidents/<id>.json``, one file per incident.

An incident has an id ``INC-<UTC yyyymmdd>-<hhmm>`` of its detection time (``-2``, ``-3``… when
taken), a severity P0–P3 with its response deadline (:mod:`noa_lib.ops.severity`), a title, a
commander, a status that only moves forward — detected → investigating → mitigated → resolved, each
with its UTC time — unless an explicit :meth:`IncidentStore.reopen` (recorded) takes it back to
investigating, the alert group keys that opened or joined it, and the records of the runs made for
it. Every change is appended to ``history`` with who made it (the operator, as the runner records
it), when, and why (a severity override needs a reason).

Writes are read-modify-write under an exclusive lock per incident (``.<id>.lock``), then atomic
(temporary file + rename), so two processes updating one incident never lose a change and a reader
never sees half a file. Every text is scrubbed by the records' :class:`Redactor` before it is
written. The listing is answered by :class:`~noa_lib.records.incident_index.IncidentIndex`.

Example::

    store = IncidentStore(config.reports_dir)
    inc = store.open(title="API 5xx", severity="P1", commander="ana")
    store.update(inc.id, status="investigating", note="rollback of v2.3 under way")
    store.update(inc.id, severity="P0", reason="payments down for every org")
    store.resolve(inc.id, note="v2.2 restored")
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from noa_lib.errors import ConfigError, NoaError, ParameterError
from noa_lib.files import atomic_write_text, exclusive_flock
from noa_lib.ops.severity import RESPONSE_TIME, SEVERITIES
from noa_lib.records.metadata import current_operator, format_timestamp, parse_timestamp
from noa_lib.records.redaction import Redactor, known_secrets

log = logging.getLogger(__name__)

SCHEMA = 1
STATUSES = ("detected", "investigating", "mitigated", "resolved")
OPEN_STATUSES = STATUSES[:-1]
INCIDENTS_DIR = "incidents"
LOCK_TIMEOUT_S = 30.0
_ID_RE = re.compile(r"^INC-\d{8}-\d{4}(?:-\d{1,4})?$")
_SEVERITY_ALIASES = {"critical": "P1", "page": "P1", "warning": "P2", "info": "P3", "none": "P3"}


class UnknownIncident(ParameterError):
    """No incident has this id (a usage error: exit code 2)."""


class IncidentBusy(NoaError):
    """Another process held the incident's lock for too long."""


@dataclass(frozen=True)
class Incident:
    """One incident as stored (``as_dict`` is the file's JSON)."""

    id: str
    title: str
    severity: str
    commander: str | None
    status: str
    detected_at: str
    respond_by: str
    status_times: dict[str, str]
    group_keys: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    updated_at: str = ""

    @property
    def is_open(self) -> bool:
        """Whether the incident is not resolved."""
        return self.status != "resolved"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (what the file holds)."""
        return {
            "schema": SCHEMA,
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "commander": self.commander,
            "status": self.status,
            "detected_at": self.detected_at,
            "respond_by": self.respond_by,
            "status_times": dict(self.status_times),
            "group_keys": list(self.group_keys),
            "records": [dict(r) for r in self.records],
            "history": [dict(h) for h in self.history],
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Incident:
        """The incident stored as ``data``; ``ValueError`` when a required key is missing."""
        try:
            return cls(
                id=str(data["id"]),
                title=str(data["title"]),
                severity=str(data["severity"]),
                commander=data.get("commander"),
                status=str(data["status"]),
                detected_at=str(data["detected_at"]),
                respond_by=str(data.get("respond_by", "")),
                status_times=dict(data.get("status_times") or {}),
                group_keys=list(data.get("group_keys") or []),
                records=list(data.get("records") or []),
                history=list(data.get("history") or []),
                updated_at=str(data.get("updated_at", "")),
            )
        except KeyError as exc:
            raise ValueError(f"incident file lacks {exc.args[0]!r}") from None


def check_severity(value: str, option: str = "--severity") -> str:
    """``value`` as P0–P3 (case-insensitive); ``ParameterError`` naming ``option`` otherwise."""
    upper = value.strip().upper()
    if upper not in SEVERITIES:
        raise ParameterError(
            f"{option} {value!r} is not a severity; accepted: {', '.join(SEVERITIES)}",
            name=option, accepted=", ".join(SEVERITIES),
        )
    return upper


def check_status(value: str, option: str = "--status") -> str:
    """``value`` as one of :data:`STATUSES`; ``ParameterError`` naming ``option`` otherwise."""
    if value not in STATUSES:
        raise ParameterError(
            f"{option} {value!r} is not a status; accepted: {', '.join(STATUSES)}",
            name=option, accepted=", ".join(STATUSES),
        )
    return value


def severity_of_label(label: str | None, default: str = "P2") -> str:
    """The severity an alert's ``severity`` label means: P0–P3 as is; ``critical``/``page`` → P1,
    ``warning`` → P2, ``info``/``none`` → P3; anything else (or none) → ``default``."""
    text = (label or "").strip()
    if text.upper() in SEVERITIES:
        return text.upper()
    return _SEVERITY_ALIASES.get(text.lower(), default)


def _now() -> datetime:
    return datetime.now(UTC)


def _default_redactor() -> Redactor:
    from noa_lib.config import load_config

    try:
        return Redactor(known_secrets(load_config()))
    except ConfigError:  # no configuration: secret-named env vars and patterns still apply
        return Redactor(known_secrets(None))


class IncidentStore:
    """The incidents under a records root (``<root>/incidents/``).

    Every method opens the files it needs; an instance may be shared between threads and several
    processes may use the same root at once.
    """

    def __init__(self, root: Path, *, redactor: Redactor | None = None) -> None:
        self.root = Path(root).absolute()
        self.dir = self.root / INCIDENTS_DIR
        self._redactor = redactor

    @property
    def redactor(self) -> Redactor:
        if self._redactor is None:
            self._redactor = _default_redactor()
        return self._redactor

    # -- reading ---------------------------------------------------------------------------------

    def path(self, incident_id: str) -> Path:
        """Where incident ``incident_id`` is stored; ``UnknownIncident`` for a malformed id."""
        if not _ID_RE.match(incident_id):
            raise UnknownIncident(
                f"{incident_id!r} is not an incident id (INC-yyyymmdd-hhmm)",
                name="incident", accepted="an id like INC-20261204-0231",
            )
        return self.dir / f"{incident_id}.json"

    def get(self, incident_id: str) -> Incident:
        """The incident ``incident_id``.

        Raises:
            UnknownIncident: no such incident (the message says how to list them).
        """
        path = self.path(incident_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UnknownIncident(
                f"no incident {incident_id!r} (see `noa incident list --status all`)",
                name="incident", accepted="an existing incident id",
            ) from None
        return Incident.from_dict(json.loads(text))

    def exists(self, incident_id: str) -> bool:
        """Whether ``incident_id`` names a stored incident."""
        try:
            return self.path(incident_id).is_file()
        except UnknownIncident:
            return False

    def list(self, *, status: str = "open", severity: str | None = None,
             limit: int | None = None) -> list[Incident]:
        """Incidents by ``status`` (``open``, ``resolved``, ``all`` or one status) and severity,
        newest detection first, at most ``limit``; answered by the index alone (no file opened).

        Raises:
            ParameterError: a status, severity or limit that is not accepted.
        """
        from noa_lib.records.incident_index import IncidentIndex

        return IncidentIndex(self).query(status=status, severity=severity, limit=limit)

    def open_for_group(self, group_key: str) -> Incident | None:
        """The open incident an alert group key opened or joined, if any."""
        from noa_lib.records.incident_index import IncidentIndex

        for incident_id in IncidentIndex(self).open_for_group(group_key):
            incident = self.get(incident_id)
            if incident.is_open and group_key in incident.group_keys:
                return incident
        return None

    # -- writing ---------------------------------------------------------------------------------

    def open(
        self,
        *,
        title: str,
        severity: str,
        commander: str | None = None,
        group_key: str | None = None,
        detected: datetime | None = None,
        note: str | None = None,
        by: str | None = None,
    ) -> Incident:
        """Open a new incident (status ``detected``) and return it.

        Raises:
            ParameterError: empty title, severity not P0–P3.
        """
        severity = check_severity(severity)
        if not title.strip():
            raise ParameterError("--title must not be empty", name="--title")
        with self._store_lock():
            return self._create(title, severity, commander, group_key, detected, note, by)

    def open_or_join(
        self,
        group_key: str,
        *,
        title: str,
        severity: str,
        detected: datetime | None = None,
        by: str | None = None,
    ) -> tuple[Incident, bool]:
        """The open incident of ``group_key``, or a new one opened for it; ``(incident, opened)``.

        Atomic across processes: two alerts of one group never open two incidents.
        """
        severity = check_severity(severity)
        with self._store_lock():
            existing = self.open_for_group(group_key)
            if existing is not None:
                return existing, False
            note = f"opened for alert group {group_key}"
            return self._create(title, severity, None, group_key, detected, note, by), True

    def update(
        self,
        incident_id: str,
        *,
        status: str | None = None,
        severity: str | None = None,
        reason: str | None = None,
        commander: str | None = None,
        note: str | None = None,
        by: str | None = None,
        at: datetime | None = None,
    ) -> Incident:
        """Apply the given changes (each recorded with who and when) and return the incident.

        Raises:
            UnknownIncident: no such incident.
            ParameterError: a status that goes back (use :meth:`reopen`) or repeats the current
                one, a severity not P0–P3, a severity change without ``reason``, nothing to change.
        """
        if status is not None:
            check_status(status)
        if severity is not None:
            severity = check_severity(severity)
            if not (reason or "").strip():
                raise ParameterError("a severity override needs --reason (why it changes)",
                                     name="--reason")
        if status is None and severity is None and commander is None and note is None:
            raise ParameterError(
                "nothing to update; give --status, --severity with --reason, --commander or --note"
            )

        def change(data: dict[str, Any], when: str, who: str) -> None:
            if status is not None:
                _transition(data, status, when, who, note)
            if severity is not None and severity != data["severity"]:
                _event(data, when, who, "severity", before=data["severity"], after=severity,
                       reason=reason)
                data["severity"] = severity
                data["respond_by"] = _respond_by(severity, data["detected_at"])
            if commander is not None and commander != data.get("commander"):
                _event(data, when, who, "commander", before=data.get("commander"), after=commander)
                data["commander"] = commander
            if note is not None and status is None:
                _event(data, when, who, "note", text=note)

        return self._mutate(incident_id, change, by=by, at=at)

    def resolve(self, incident_id: str, *, note: str | None = None, by: str | None = None,
                at: datetime | None = None) -> Incident:
        """Move the incident to ``resolved`` (see :meth:`update`)."""
        return self.update(incident_id, status="resolved", note=note, by=by, at=at)

    def reopen(self, incident_id: str, *, reason: str, by: str | None = None,
               at: datetime | None = None) -> Incident:
        """Take a mitigated or resolved incident back to ``investigating``, recording why.

        Raises:
            ParameterError: no reason, or the incident is not mitigated or resolved.
        """
        if not reason.strip():
            raise ParameterError("reopening needs --reason", name="--reason")

        def change(data: dict[str, Any], when: str, who: str) -> None:
            if data["status"] not in ("mitigated", "resolved"):
                raise ParameterError(
                    f"{data['id']} is {data['status']}; only a mitigated or resolved incident "
                    "can be reopened", name="status",
                )
            _event(data, when, who, "reopened", before=data["status"], after="investigating",
                   reason=reason)
            for later in ("mitigated", "resolved"):
                data["status_times"].pop(later, None)
            data["status"] = "investigating"
            data["status_times"]["investigating"] = when

        return self._mutate(incident_id, change, by=by, at=at)

    def join_group(self, incident_id: str, group_key: str, *, by: str | None = None) -> Incident:
        """Add an alert group key to the incident (recorded; no-op when already there)."""

        def change(data: dict[str, Any], when: str, who: str) -> None:
            if group_key not in data["group_keys"]:
                data["group_keys"].append(group_key)
                _event(data, when, who, "group-joined", after=group_key)

        return self._mutate(incident_id, change, by=by)

    def link_record(self, incident_id: str, meta: Mapping[str, Any]) -> Incident:
        """Add a run's record (its ``metadata.noa``) to the incident's records (once per run)."""
        run_id = str(meta["run_id"])
        entry = {
            "run_id": run_id,
            "runbook": meta.get("runbook"),
            "record": (meta.get("record") or {}).get("ipynb"),
            "started_at": meta.get("started_at"),
            "status": meta.get("status"),
        }

        def change(data: dict[str, Any], when: str, who: str) -> None:
            if all(r.get("run_id") != run_id for r in data["records"]):
                data["records"].append({**entry, "linked_at": when})

        return self._mutate(incident_id, change, by=str(meta.get("operator") or "") or None)

    # -- internals -------------------------------------------------------------------------------

    def _create(self, title: str, severity: str, commander: str | None, group_key: str | None,
                detected: datetime | None, note: str | None, by: str | None) -> Incident:
        moment = (detected or _now()).astimezone(UTC)
        when = format_timestamp(moment)
        who = by or current_operator()
        base = f"INC-{moment:%Y%m%d-%H%M}"
        incident_id, n = base, 1
        while (self.dir / f"{incident_id}.json").exists():
            n += 1
            incident_id = f"{base}-{n}"
        data: dict[str, Any] = Incident(
            id=incident_id, title=title, severity=severity, commander=commander,
            status="detected", detected_at=when, respond_by=_respond_by(severity, when),
            status_times={"detected": when},
            group_keys=[group_key] if group_key else [],
        ).as_dict()
        _event(data, format_timestamp(_now()), who, "opened", after=severity,
               text=note, commander=commander)
        with self._incident_lock(incident_id):
            return self._write(data)

    def _mutate(self, incident_id: str, change: Callable[[dict[str, Any], str, str], None], *,
                by: str | None = None, at: datetime | None = None) -> Incident:
        path = self.path(incident_id)
        with self._incident_lock(incident_id):
            if not path.exists():
                self.get(incident_id)  # raises UnknownIncident with its message
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            change(data, format_timestamp(at or _now()), by or current_operator())
            return self._write(data)

    def _write(self, data: dict[str, Any]) -> Incident:
        from noa_lib.records.incident_index import IncidentIndex

        data["updated_at"] = format_timestamp(_now())
        clean: dict[str, Any] = self.redactor.data(data)
        clean["id"] = data["id"]  # ids and times are ours; never masked
        incident = Incident.from_dict(clean)
        atomic_write_text(self.dir / f"{incident.id}.json",
                          json.dumps(clean, indent=1, ensure_ascii=False) + "\n")
        try:
            IncidentIndex(self).add(incident)
        except (OSError, NoaError, sqlite3.Error) as exc:  # the file is the truth
            log.warning("could not update the incidents index: %s", exc)
        return incident

    def _store_lock(self) -> Any:
        return exclusive_flock(self.dir / ".store.lock", timeout=LOCK_TIMEOUT_S,
                               busy=lambda: IncidentBusy("the incidents store is busy"))

    def _incident_lock(self, incident_id: str) -> Any:
        return exclusive_flock(self.dir / f".{incident_id}.lock", timeout=LOCK_TIMEOUT_S,
                               busy=lambda: IncidentBusy(f"incident {incident_id} is busy"))


def _respond_by(severity: str, detected_at: str) -> str:
    return format_timestamp(parse_timestamp(detected_at) + RESPONSE_TIME[severity])


def _event(data: dict[str, Any], when: str, who: str, action: str, **fields: Any) -> None:
    entry = {"at": when, "by": who, "action": action}
    entry.update({k: v for k, v in fields.items() if v is not None})
    data.setdefault("history", []).append(entry)


def _transition(data: dict[str, Any], status: str, when: str, who: str, note: str | None) -> None:
    current = data["status"]
    if status == current:
        raise ParameterError(f"{data['id']} is already {status}", name="--status")
    if STATUSES.index(status) < STATUSES.index(current):
        raise ParameterError(
            f"{data['id']} cannot go back from {current} to {status}; "
            f"`noa incident reopen {data['id']} --reason …` takes it back to investigating",
            name="--status", accepted=", ".join(STATUSES[STATUSES.index(current) + 1:]),
        )
    _event(data, when, who, "status", before=current, after=status, text=note)
    data["status"] = status
    data["status_times"][status] = when


__all__ = [
    "OPEN_STATUSES",
    "STATUSES",
    "Incident",
    "IncidentBusy",
    "IncidentStore",
    "UnknownIncident",
    "check_severity",
    "check_status",
    "severity_of_label",
]
