"""Deployment checklist and verification results for notebooks: item tables and the verdict.

Pure rendering: :func:`checklist_table` (one row per item: section, status, item, result),
:func:`verdict_banner` (GO / NO-GO in colour with the blocking items), :func:`show_deploy_evidence`
(what the records say before the checklist runs), all without I/O.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

from noa_lib.ops.deploy.checklist import ChecklistResult
from noa_lib.ops.deploy.evidence import DeployEvidence
from noa_lib.show.findings import STATUS_STYLE, format_value

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

COLUMNS = ["section", "status", "item", "value", "result"]
EVIDENCE_COLUMNS = ["evidence", "when", "run"]


def show_deploy_evidence(evidence: DeployEvidence) -> pd.DataFrame:
    """What the records say before a deployment (:data:`EVIDENCE_COLUMNS`): the last successful
    backup and validated backup (time and run id, empty when none) and each open P0/P1 incident
    since ``incidents_since``."""
    import pandas as pd

    def stamp(value: object) -> str:
        return value.strftime("%Y-%m-%d %H:%M UTC") if hasattr(value, "strftime") else ""

    rows = [
        {"evidence": label, "when": stamp(found[0]) if found else "none found",
         "run": found[1] if found else ""}
        for label, found in (("last backup", evidence.last_backup),
                             ("last validated backup", evidence.last_validation))
    ]
    rows += [{"evidence": "open P0/P1 incident", "when": f"since {stamp(evidence.incidents_since)}",
              "run": run} for run in evidence.open_incidents]
    frame = pd.DataFrame(rows, columns=EVIDENCE_COLUMNS)
    frame.attrs["title"] = f"deploy evidence ({evidence.source or 'records'})"
    return frame


def checklist_frame(result: ChecklistResult) -> pd.DataFrame:
    """One row per checklist item, in section order (columns :data:`COLUMNS`)."""
    import pandas as pd

    rows = [
        {
            "section": section,
            "status": str(f.status),
            "item": f.check.split(": ", 1)[1] if f.check.startswith(f"{section}: ") else f.check,
            "value": format_value(f),
            "result": f.message,
        }
        for section, f in result.items
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def checklist_table(result: ChecklistResult) -> Styler:
    """The checklist as a styled table (status coloured), captioned with the verdict."""
    frame = checklist_frame(result)

    def colour(status: object) -> str:
        return STATUS_STYLE.get(str(status), "")

    return (
        frame.style.map(colour, subset=["status"])
        .hide(axis="index")
        .set_caption(f"{result.deployment} → {result.image_tag or '(no tag)'}: "
                     f"{result.verdict.label}")
        .set_properties(subset=["result"], **{"text-align": "left"})
    )


@dataclass(frozen=True)
class Banner:
    """A one-line verdict that renders in colour in notebooks and as text elsewhere."""

    label: str
    text: str
    good: bool
    details: tuple[str, ...] = ()

    def _repr_html_(self) -> str:
        colour = "#2e7d32" if self.good else "#c62828"
        items = "".join(f"<li>{html.escape(d)}</li>" for d in self.details)
        listing = f"<ul>{items}</ul>" if items else ""
        return (f'<div style="border-left: 6px solid {colour}; padding: 4px 10px">'
                f'<b style="color: {colour}; font-size: 1.3em">{html.escape(self.label)}</b> '
                f"{html.escape(self.text)}{listing}</div>")

    def __repr__(self) -> str:
        lines = [f"{self.label} {self.text}".rstrip(), *(f"  - {d}" for d in self.details)]
        return "\n".join(lines)


def verdict_banner(result: ChecklistResult) -> Banner:
    """GO (green, caveats listed) or NO-GO (red, blocking items listed)."""
    verdict = result.verdict
    if verdict.go:
        text = f"— deploy {result.image_tag} to {result.deployment}"
        return Banner("GO", text, True, verdict.caveats)
    return Banner("NO-GO", f"— {len(verdict.reasons)} blocking item(s)", False, verdict.reasons)


__all__ = ["COLUMNS", "EVIDENCE_COLUMNS", "Banner", "checklist_frame", "checklist_table",
           "show_deploy_evidence", "verdict_banner"]
