"""A canary analysis as a table for a notebook: one row per measurement, the phase in colour.

Pure rendering of :class:`noa_lib.ops.deploy.analysis.AnalysisResult`: metric, measurement
number, canary value, stable baseline, the canary's requests in the window (the sample size),
phase, the message and the exact PromQL that ran (so an SRE can paste it into Prometheus).
A skipped analysis (emergency mode) shows one loud row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from noa_lib.ops.deploy.analysis import AnalysisResult

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

COLUMNS = ["metric", "#", "value", "baseline", "requests", "phase", "message", "PromQL"]

PHASE_STYLE: dict[str, str] = {
    "Failed": "background-color: #c62828; color: white; font-weight: bold",
    "Error": "background-color: #6a1b9a; color: white; font-weight: bold",
    "Inconclusive": "background-color: #ffb300; color: black; font-weight: bold",
    "Successful": "background-color: #2e7d32; color: white",
    "Skipped": "background-color: #c62828; color: white; font-weight: bold",
}
"""CSS of the phase cell (Argo's colours, roughly): Failed red, Error purple, Inconclusive amber,
Successful green; Skipped red as well — nothing was verified."""


def _number(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"


def analysis_frame(result: AnalysisResult) -> pd.DataFrame:
    """One row per measurement (columns :data:`COLUMNS`), in the order they were taken; a
    skipped analysis gives one ``Skipped`` row carrying the reason."""
    import pandas as pd

    if result.skipped:
        rows = [{"metric": "(all)", "#": "", "value": "", "baseline": "", "requests": "",
                 "phase": "Skipped",
                 "message": f.message, "PromQL": ""} for f in result.findings]
        return pd.DataFrame(rows, columns=COLUMNS)
    rows = [
        {
            "metric": m.metric,
            "#": str(m.index + 1),
            "value": _number(m.value),
            "baseline": _number(m.baseline),
            "requests": "" if m.requests is None else f"{m.requests:.0f}",
            "phase": str(m.phase),
            "message": m.message,
            "PromQL": m.query,
        }
        for m in result.measurements
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def analysis_table(result: AnalysisResult) -> Styler:
    """The measurements as a styled table (phase coloured, caption with the verdict).

    Returns:
        A pandas ``Styler``; ``.data`` is the plain DataFrame of :func:`analysis_frame`.
    """
    frame = analysis_frame(result)
    label = f"{result.label}: " if result.label else ""
    caption = f"{label}analysis {result.phase}"
    if result.aborted_early:
        caption += f" (stopped after {len(result.measurements)} of {result.planned} measurements)"

    def colour(phase: object) -> str:
        return PHASE_STYLE.get(str(phase), "")

    return (
        frame.style.map(colour, subset=["phase"])
        .hide(axis="index")
        .set_caption(caption)
        .set_properties(subset=["message", "PromQL"], **{"text-align": "left"})
    )


__all__ = ["COLUMNS", "PHASE_STYLE", "analysis_frame", "analysis_table"]
