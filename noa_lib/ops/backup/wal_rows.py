"""The WAL archive as rows a notebook lists: base backups with their state, WAL per timeline.

Typed rows only (:mod:`noa_lib.show.pitr` builds the tables); read from a
:class:`~noa_lib.ops.backup.wal_catalog.WalCatalog`, nothing is fetched.
"""

from __future__ import annotations

from dataclasses import dataclass

from noa_lib.ops.backup import wal_catalog as cat
from noa_lib.ops.backup.catalog import iso


@dataclass(frozen=True)
class BaseBackupRow:
    """A base backup as a notebook lists it: stamp (the prefix, for an incomplete one), end (ISO
    8601, empty when incomplete), compressed size in MiB, WAL range and state."""

    base_backup: str
    ended_at: str
    size_mib: float | None
    start_segment: str
    stop_segment: str
    state: str


@dataclass(frozen=True)
class TimelineRow:
    """The archived WAL of one timeline: first and newest segment, count, gaps, newest archive
    time (ISO 8601)."""

    timeline: int
    first_segment: str
    newest_segment: str
    segments: int
    gaps: int
    newest_at: str


def base_backup_rows(catalog: cat.WalCatalog | None) -> tuple[BaseBackupRow, ...]:
    """Base backups, newest first, then the incomplete ones (``state`` says why); ``()``
    without a catalogue."""
    if catalog is None:
        return ()
    rows: list[BaseBackupRow] = []
    for b in reversed(catalog.base_backups):
        chain = catalog.chain(b)
        state = "complete"
        if chain.missing_start:
            state = "complete, start segment not archived"
        elif chain.gap is not None:
            state = f"complete, WAL gap after {chain.gap.after}"
        rows.append(
            BaseBackupRow(
                base_backup=b.stamp,
                ended_at=iso(b.ended_at),
                size_mib=round(b.size_bytes / (1 << 20), 1),
                start_segment=b.start_wal_segment,
                stop_segment=b.stop_wal_segment,
                state=state,
            )
        )
    for i in catalog.incomplete:
        rows.append(BaseBackupRow(i.prefix, "", None, "", "", f"incomplete: {i.reason}"))
    return tuple(rows)


def timeline_rows(catalog: cat.WalCatalog | None) -> tuple[TimelineRow, ...]:
    """Archived WAL per timeline, lowest timeline first; ``()`` without a catalogue."""
    if catalog is None:
        return ()
    by_tli: dict[int, list[cat.WalSegment]] = {}
    for seg in catalog.segments:
        by_tli.setdefault(seg.timeline, []).append(seg)
    gaps = catalog.gaps()
    return tuple(
        TimelineRow(
            timeline=tli,
            first_segment=segs[0].name,
            newest_segment=segs[-1].name,
            segments=len(segs),
            gaps=sum(1 for g in gaps if g.timeline == tli),
            newest_at=iso(max(s.archived_at for s in segs)),
        )
        for tli, segs in sorted(by_tli.items())
    )


__all__ = ["BaseBackupRow", "TimelineRow", "base_backup_rows", "timeline_rows"]
