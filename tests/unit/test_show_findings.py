"""findings_table: worst first, status coloured, value with its unit."""

from __future__ import annotations

from noa_lib.ops.findings import Finding, Status
from noa_lib.show.findings import STATUS_STYLE, findings_frame, findings_table


def _findings() -> list[Finding]:
    return [
        Finding("a", Status.OK, "fine", value=3.25, unit="ms"),
        Finding("b", Status.SKIPPED, "not configured"),
        Finding("c", Status.WARNING, "busy", value=75.0, threshold="warning >= 70%", unit="%"),
        Finding("d", Status.CRITICAL, "down", value=12, unit="failures"),
        Finding("e", Status.UNREACHABLE, "refused"),
    ]


def test_worst_first_and_values_with_units() -> None:
    frame = findings_frame(_findings())
    assert list(frame["check"]) == ["d", "e", "c", "a", "b"]
    assert list(frame["value"]) == ["12 failures", "", "75%", "3.25 ms", ""]
    assert list(frame.columns) == ["status", "check", "value", "threshold", "message"]


def test_status_cells_are_coloured() -> None:
    html = findings_table(_findings()).to_html()
    for status in Status:
        colour = STATUS_STYLE[status].split(";")[0].split(":")[1].strip()
        assert colour in html, status


def test_empty() -> None:
    assert findings_frame([]).empty
    assert "<table" in findings_table([]).to_html()
