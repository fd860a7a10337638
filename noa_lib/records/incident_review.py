"""The post-incident review from the records: the incident, its linked runs and their timeline.

:func:`post_incident_review` reads the incident (:class:`~noa_lib.records.incidents.IncidentStore`),
the ``metadata.noa`` of every linked record and the merged timeline
(:func:`~noa_lib.records.incident_timeline.incident_timeline`) and hands them to
:func:`noa_lib.ops.postmortem.build_review`. :func:`write_review_draft` writes the Markdown draft
beside the run's record — the runner tells the kernel where that record goes (``NOA_RECORD``) —
or, outside the runner, beside the incident's own file (``incidents/<id>.md``), always through the
records' redactor.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from noa_lib.config import load_config
from noa_lib.errors import ParameterError
from noa_lib.files import atomic_write_text
from noa_lib.ops.postmortem import Review, build_review, empty_review, parse_action_item
from noa_lib.records.incident_timeline import incident_timeline, linked_records
from noa_lib.records.incidents import IncidentStore

RECORD_ENV = "NOA_RECORD"  # set by the runner for the kernel: the record notebook's path


def post_incident_review(
    incident: str,
    *,
    action_items: Iterable[str] = (),
    reports_dir: Path | None = None,
) -> Review:
    """The review of incident ``incident`` with ``action_items`` (``"what | owner | due"`` each,
    see :func:`~noa_lib.ops.postmortem.parse_action_item`).

    ``reports_dir`` defaults to the configured records root. ``incident`` left as ``...`` (the
    notebook's "required" default, when stepping through it by hand) means the newest incident;
    when there is none, the review is empty with a ``skipped`` finding saying so (``noa run``
    never gets here: it refuses a run without ``incident``).

    Raises:
        UnknownIncident: no incident ``incident``.
        ParameterError: a malformed action item.
    """
    store = IncidentStore(reports_dir if reports_dir is not None else load_config().reports_dir)
    items = [parse_action_item(text) for text in action_items]
    incident_id = _incident_id(store, incident)
    if incident_id is None:
        return empty_review("no incident given and none recorded (`noa incident list`)")
    data = store.get(incident_id).as_dict()
    runs, _missing = linked_records(store, data)  # missing ones show in the timeline
    events = [e.as_dict() for e in incident_timeline(store, incident_id)]
    return build_review(data, runs, events, items)


def write_review_draft(
    review: Review, markdown: str, *, reports_dir: Path | None = None
) -> Path | None:
    """Write ``markdown`` (the draft of ``review``), redacted, beside the record; return its path
    (``None``, nothing written, for a review of no incident).

    The place: ``<record stem>.md`` when the runner runs this notebook, else
    ``<reports>/incidents/<incident id>.md``.
    """
    incident_id = str(review.incident.get("id") or "")
    if not incident_id:
        return None
    root = reports_dir if reports_dir is not None else load_config().reports_dir
    store = IncidentStore(root)
    record = os.environ.get(RECORD_ENV)
    if record:
        path = Path(record).with_suffix(".md")
    else:
        path = store.path(incident_id).with_suffix(".md")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, store.redactor.text(markdown))
    return path


def _incident_id(store: IncidentStore, incident: object) -> str | None:
    if incident is Ellipsis or incident in (None, ""):
        newest = store.list(status="all", limit=1)
        return newest[0].id if newest else None
    if not isinstance(incident, str):
        raise ParameterError(f"incident must be an id, not {incident!r}", name="incident")
    return incident.strip()


__all__ = ["RECORD_ENV", "post_incident_review", "write_review_draft"]
