"""The pre-deployment checklist's pure parts: its items, tag rules, the window, the verdict.

NOA's checklist ("Pre-Deployment Checklist" of the deployment runbook) has four sections. Items a
machine can verify are checked by :mod:`noa_lib.ops.deploy.checklist`; the others are explicit
human sign-offs (:data:`HUMAN_ITEMS`: runbook parameters, all ``False`` by default) recorded with
who signed them off and when. An item not signed off is ``critical``: the verdict is NO-GO.

Verdict: **GO** when no item is ``critical`` or ``unreachable`` (warnings are listed as caveats),
else **NO-GO** with one reason per failing item.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time

from noa_lib.errors import ParameterError
from noa_lib.ops.findings import Finding, Status

SECTIONS = ("code quality", "infrastructure", "communication", "artifacts")

HUMAN_ITEMS: Mapping[str, tuple[str, str]] = {
    "tests_passed": ("code quality", "all tests passing (unit, integration, E2E)"),
    "code_reviewed": ("code quality", "code reviewed and approved"),
    "type_check_passed": ("code quality", "type checking passed"),
    "lint_clean": ("code quality", "linting and formatting clean"),
    "migrations_tested": ("infrastructure", "database migrations prepared and tested"),
    "config_verified": ("infrastructure", "configuration verified"),
    "keys_rotated": ("infrastructure", "credentials rotated (or no rotation required)"),
    "stakeholders_notified": ("communication", "stakeholders notified"),
    "status_page_scheduled": ("communication", "status page maintenance scheduled"),
    "manifests_updated": ("artifacts", "Kubernetes manifests updated"),
    "rollback_plan_documented": ("artifacts", "rollback plan documented"),
}
"""Sign-off parameter -> (section, what the person confirms)."""

_SEMVER_RE = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_WINDOW_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

SemVer = tuple[int, int, int, tuple[tuple[int, int | str], ...] | None]


@dataclass(frozen=True)
class Verdict:
    """GO / NO-GO and why."""

    go: bool
    reasons: tuple[str, ...]
    caveats: tuple[str, ...]

    @property
    def label(self) -> str:
        return "GO" if self.go else "NO-GO"

    def line(self) -> str:
        """``GO`` / ``NO-GO — 3 blocking items: …`` for a notebook's verdict line."""
        if self.go:
            extra = f" (with {len(self.caveats)} caveat(s))" if self.caveats else ""
            return f"GO{extra}"
        return f"NO-GO — {len(self.reasons)} blocking item(s): " + "; ".join(self.reasons)


def parse_semver(tag: str) -> SemVer | None:
    """``(major, minor, patch, pre-release)`` of ``X.Y.Z[-pre]`` (``v`` prefix allowed), or None."""
    match = _SEMVER_RE.match(tag or "")
    if not match:
        return None
    pre = match.group(4)
    parts = None
    if pre is not None:
        parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
    return int(match.group(1)), int(match.group(2)), int(match.group(3)), parts


def semver_key(version: SemVer) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
    """A sort key with SemVer precedence (a pre-release sorts before its release)."""
    major, minor, patch, pre = version
    return major, minor, patch, (1 if pre is None else 0), pre or ()


def tag_format(tag: str) -> Finding:
    """``ok`` for a semantic version tag ``X.Y.Z[-pre]``; ``critical`` for ``latest``, an empty
    tag or anything else (a tag must name one immutable build)."""
    check = "image tag format"
    if not tag:
        return Finding(check, Status.CRITICAL, "no image_tag given: which build is deployed?")
    if tag == "latest":
        return Finding(check, Status.CRITICAL, "'latest' is not a release: it moves; use X.Y.Z",
                       value=tag)
    version = parse_semver(tag)
    if version is None:
        return Finding(check, Status.CRITICAL,
                       f"{tag!r} is not a semantic version X.Y.Z[-pre]", value=tag)
    note = " (a pre-release)" if version[3] is not None else ""
    return Finding(check, Status.OK, f"{tag} is a semantic version{note}", value=tag)


def tag_newer(tag: str, running: Iterable[str]) -> Finding:
    """``ok`` when ``tag`` is newer than every running version (SemVer precedence); ``warning``
    when it is the same (a redeploy); ``critical`` when older (that is a rollback: use the
    rollback runbook); ``warning`` when a running version is not a semantic version."""
    check = "tag newer than running"
    new = parse_semver(tag)
    versions = sorted(set(running))
    if new is None:
        return Finding(check, Status.CRITICAL, f"{tag!r} cannot be compared (not X.Y.Z)",
                       value=tag)
    if not versions:
        return Finding(check, Status.WARNING, "nothing runs yet: no version to compare with",
                       value=tag)
    parsed = {v: parse_semver(v) for v in versions}
    odd = [v for v, p in parsed.items() if p is None]
    known = {v: p for v, p in parsed.items() if p is not None}
    if not known:
        return Finding(check, Status.WARNING, f"running versions {odd} are not X.Y.Z",
                       value=tag, evidence={"running": versions})
    newest = max(known, key=lambda v: semver_key(known[v]))
    key, top = semver_key(new), semver_key(known[newest])
    evidence = {"running": versions}
    if key > top:
        return Finding(check, Status.OK, f"{tag} is newer than running {', '.join(versions)}",
                       value=tag, threshold=newest, evidence=evidence)
    if key == top:
        return Finding(check, Status.WARNING, f"{tag} is already running (a redeploy)",
                       value=tag, threshold=newest, evidence=evidence)
    return Finding(check, Status.CRITICAL,
                   f"{tag} is older than running {newest}: that is a rollback — use "
                   "deployment/rollback", value=tag, threshold=newest, evidence=evidence)


def parse_window(text: str, days: str = "") -> tuple[time, time, frozenset[int]]:
    """``'HH:MM-HH:MM'`` (UTC; may wrap midnight) and optional days ``'mon,tue'`` / ``'mon-thu'``.

    Raises:
        ParameterError: naming ``deployment_window`` or ``deployment_days``.
    """
    match = _WINDOW_RE.match(text or "")
    accepted = "'HH:MM-HH:MM' in UTC, e.g. '09:00-17:00'"
    if not match:
        raise ParameterError(f"deployment_window={text!r} is not {accepted}",
                             name="deployment_window", accepted=accepted)
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ParameterError(f"deployment_window={text!r} has an invalid time",
                             name="deployment_window", accepted=accepted)
    return time(h1, m1), time(h2, m2), _days(days)


def _days(text: str) -> frozenset[int]:
    accepted = "day names like 'mon,tue,wed' or a range 'mon-thu' (empty: every day)"
    if not text.strip():
        return frozenset(range(7))
    out: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(e[:3] not in DAYS or not e for e in ends):
            raise ParameterError(f"deployment_days={text!r} is not valid", name="deployment_days",
                                 accepted=accepted)
        first, last = DAYS.index(ends[0][:3]), DAYS.index(ends[-1][:3])
        day = first
        while True:
            out.add(day)
            if day == last:
                break
            day = (day + 1) % 7
    return frozenset(out)


def in_window(now: datetime, window: str, days: str = "") -> Finding:
    """Whether ``now`` (UTC) falls in the deployment window (``critical`` when not, or when no
    window was confirmed)."""
    check = "deployment window"
    if not window.strip():
        return Finding(check, Status.CRITICAL, "no deployment window confirmed "
                       "(parameter deployment_window, e.g. '09:00-17:00' UTC)")
    start, end, allowed = parse_window(window, days)
    current = now.timetz().replace(tzinfo=None)
    inside = start <= current < end if start <= end else (current >= start or current < end)
    on_day = now.weekday() in allowed
    shown = f"{window} UTC" + (f" on {days}" if days.strip() else "")
    if inside and on_day:
        return Finding(check, Status.OK, f"now ({now:%a %H:%M} UTC) is inside {shown}",
                       value=f"{now:%a %H:%M}", threshold=shown)
    return Finding(check, Status.CRITICAL, f"now ({now:%a %H:%M} UTC) is outside {shown}",
                   value=f"{now:%a %H:%M}", threshold=shown)


def on_call(name: str) -> Finding:
    """``ok`` when an on-call engineer is named, else ``critical``."""
    if name.strip():
        return Finding("on-call engineer", Status.OK, f"{name.strip()} is on call",
                       value=name.strip())
    return Finding("on-call engineer", Status.CRITICAL,
                   "no on-call engineer named (parameter on_call)")


def human_items(signed: Mapping[str, bool], signed_off_by: str, at: datetime) -> list[Finding]:
    """One finding per :data:`HUMAN_ITEMS` entry: ``ok`` with who and when when signed off,
    ``critical`` otherwise (also when nobody put their name to the sign-offs).

    Raises:
        ParameterError: an unknown sign-off name or a non-bool value.
    """
    unknown = set(signed) - set(HUMAN_ITEMS)
    if unknown:
        raise ParameterError(f"unknown sign-off(s): {', '.join(sorted(unknown))}",
                             name=sorted(unknown)[0], accepted=", ".join(HUMAN_ITEMS))
    who = signed_off_by.strip()
    out = []
    for name, (section, text) in HUMAN_ITEMS.items():
        value = signed.get(name, False)
        if not isinstance(value, bool):
            raise ParameterError(f"{name}={value!r} must be True or False", name=name,
                                 accepted="True or False")
        check = f"{section}: {text}"
        if value and who:
            out.append(Finding(check, Status.OK, f"signed off by {who} at {at:%Y-%m-%d %H:%M} UTC",
                               value="yes", evidence={"parameter": name, "signed_off_by": who,
                                                      "at": at.isoformat()}))
        elif value:
            out.append(Finding(check, Status.CRITICAL,
                               f"{name}=True but signed_off_by is empty: who confirms it?",
                               value="unsigned", evidence={"parameter": name}))
        else:
            out.append(Finding(check, Status.CRITICAL, f"not signed off (parameter {name})",
                               value="no", evidence={"parameter": name}))
    return out


def verdict(findings: Iterable[Finding]) -> Verdict:
    """NO-GO when any item is critical or unreachable; warnings are caveats of a GO."""
    blocking, caveats = [], []
    for f in findings:
        if f.status in (Status.CRITICAL, Status.UNREACHABLE):
            blocking.append(f"{f.check} ({f.status})")
        elif f.status == Status.WARNING:
            caveats.append(f"{f.check}: {f.message}")
    return Verdict(go=not blocking, reasons=tuple(blocking), caveats=tuple(caveats))


__all__ = [
    "DAYS",
    "HUMAN_ITEMS",
    "SECTIONS",
    "Verdict",
    "human_items",
    "in_window",
    "on_call",
    "parse_semver",
    "parse_window",
    "semver_key",
    "tag_format",
    "tag_newer",
    "verdict",
]
