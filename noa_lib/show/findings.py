"""Findings as a table for a notebook: worst first, status in colour.

Pure rendering: no I/O, no backend calls. pandas is imported when a table is built, not when
this module is imported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from noa_lib.ops.findings import Finding, Status

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

COLUMNS = ["status", "check", "value", "threshold", "message"]

STATUS_STYLE: dict[str, str] = {
    Status.CRITICAL: "background-color: #c62828; color: white; font-weight: bold",
    Status.UNREACHABLE: "background-color: #6a1b9a; color: white; font-weight: bold",
    Status.WARNING: "background-color: #ffb300; color: black; font-weight: bold",
    Status.OK: "background-color: #2e7d32; color: white",
    Status.SKIPPED: "background-color: #9e9e9e; color: white",
}
"""CSS of the status cell: critical red, unreachable purple, warning amber, ok green, skipped
grey."""


def format_value(finding: Finding) -> str:
    """``value`` with its unit (``"42.5 ms"``, ``"12 %"``), or ``""`` when there is none."""
    value = finding.value
    if value is None:
        return ""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    if not finding.unit:
        return text
    return f"{text}{finding.unit}" if finding.unit == "%" else f"{text} {finding.unit}"


def findings_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    """One row per finding (columns :data:`COLUMNS`): worst first, ``skipped`` after ``ok``.

    Ties keep their input order.

    Returns:
        A DataFrame of strings; empty (with the columns) when there are no findings.
    """
    import pandas as pd

    ordered = sorted(findings, key=lambda f: (-f.status.severity, f.status is Status.SKIPPED))
    rows = [
        {
            "status": str(f.status),
            "check": f.check,
            "value": format_value(f),
            "threshold": "" if f.threshold is None else str(f.threshold),
            "message": f.message,
        }
        for f in ordered
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def findings_table(findings: Iterable[Finding]) -> Styler:
    """The findings as a styled table for a notebook: worst first, the status cell coloured.

    Returns:
        A pandas ``Styler`` (renders as HTML in Jupyter; ``.data`` is the plain DataFrame).
    """
    frame = findings_frame(findings)

    def colour(status: object) -> str:
        return STATUS_STYLE.get(str(status), "")

    return (
        frame.style.map(colour, subset=["status"])
        .hide(axis="index")
        .set_properties(subset=["message"], **{"text-align": "left"})
    )


__all__ = ["COLUMNS", "STATUS_STYLE", "findings_frame", "findings_table", "format_value"]
