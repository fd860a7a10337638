"""The PITR side of a target's backup bucket: base backups and archived WAL of one cluster.

Layout (shared by every backup runbook)::

    basebackups/<system id>/<YYYYMMDDTHHMMSSZ>/base.tar.gz     pg_basebackup -Ft -X fetch, gzip
    basebackups/<system id>/<YYYYMMDDTHHMMSSZ>/manifest.json   written last, after the upload
    wal/<system id>/<timeline><log><seg>                      WAL segments (archive_command)
    wal/<system id>/<timeline>.history, …/<segment>.<offset>.backup

A base backup counts only when its manifest is complete and parseable and every object it names
is stored with the recorded size; anything else under ``basebackups/`` is listed as incomplete
and never restored. Gaps are computed per timeline between consecutive segment numbers (segment
size taken from the manifests, else from the stored segments, else 16 MiB).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from noa_lib.clients.s3_objects import Bucket, ObjectInfo, open_bucket
from noa_lib.config import Target
from noa_lib.errors import ClientError, ConfigError, NotFound, PreconditionFailed
from noa_lib.ops.backup.catalog import MANIFEST_NAME, STAMP_FORMAT, require_s3
from noa_lib.ops.backup.manifest_fields import check_sha256, require_fields, time_span

BASE_PREFIX = "basebackups/"
WAL_PREFIX = "wal/"
BASE_NAME = "base.tar.gz"
MANIFEST_SCHEMA = 1
MANIFEST_KIND = "basebackup"
DEFAULT_SEGMENT_SIZE = 16 << 20
SEGMENT_RE = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")
HISTORY_RE = re.compile(r"^([0-9A-F]{8})\.history$")
LSN_RE = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
SYSTEM_ID_RE = re.compile(r"^\d{1,20}$")
_STAMP_RE = re.compile(r"^\d{8}T\d{6}Z$")
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema": int,
    "kind": str,
    "system_identifier": str,
    "object_key": str,
    "objects": dict,
    "start_lsn": str,
    "stop_lsn": str,
    "start_wal_segment": str,
    "stop_wal_segment": str,
    "timeline": int,
    "wal_segment_size": int,
    "started_at": str,
    "ended_at": str,
    "size_bytes": int,
    "sha256": str,
    "server_version": str,
}


# --------------------------------------------------------------------------- LSNs and names


def parse_lsn(text: str) -> int:
    """``"0/E000028"`` as an integer.

    Raises:
        ValueError: not an LSN (``X/Y``, hexadecimal).
    """
    match = LSN_RE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an LSN (two hexadecimal numbers: X/Y, e.g. 0/3000060)")
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(value: int) -> str:
    """An integer LSN in PostgreSQL's ``X/Y`` notation."""
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def segments_per_log(segment_size: int) -> int:
    """How many segments one 4 GiB "log id" holds (256 for 16 MiB segments)."""
    return 0x1_0000_0000 // segment_size


def segment_name(timeline: int, segno: int, segment_size: int) -> str:
    """The file name of segment ``segno`` on ``timeline`` (``000000010000000000000003``)."""
    per = segments_per_log(segment_size)
    return f"{timeline:08X}{segno // per:08X}{segno % per:08X}"


def segment_of_lsn(timeline: int, lsn: int, segment_size: int) -> str:
    """The name of the segment holding the byte at ``lsn``."""
    return segment_name(timeline, lsn // segment_size, segment_size)


def parse_segment(name: str, segment_size: int) -> tuple[int, int]:
    """``(timeline, segment number)`` of a segment file name.

    Raises:
        ValueError: not a segment name.
    """
    match = SEGMENT_RE.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a WAL segment name (24 hexadecimal digits)")
    per = segments_per_log(segment_size)
    return int(match.group(1), 16), int(match.group(2), 16) * per + int(match.group(3), 16)


# --------------------------------------------------------------------------- catalogue types


@dataclass(frozen=True)
class WalSegment:
    """One archived segment: name, timeline, number, size, when the store received it."""

    name: str
    timeline: int
    segno: int
    size: int
    archived_at: datetime
    key: str


@dataclass(frozen=True)
class BaseBackup:
    """A complete base backup (its manifest parsed and its objects present)."""

    system_identifier: str
    stamp: str
    prefix: str
    start_lsn: str
    stop_lsn: str
    start_wal_segment: str
    stop_wal_segment: str
    timeline: int
    wal_segment_size: int
    started_at: datetime
    ended_at: datetime
    size_bytes: int
    sha256: str
    server_version: str
    objects: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    manifest: Mapping[str, Any] = field(default_factory=dict)

    @property
    def object_key(self) -> str:
        return self.prefix + BASE_NAME

    def age_hours(self, now: datetime) -> float:
        """Hours between the backup's end and ``now``."""
        return (now - self.ended_at).total_seconds() / 3600.0


@dataclass(frozen=True)
class Incomplete:
    """Something under ``basebackups/`` that is not a usable base backup, and why."""

    prefix: str
    reason: str


@dataclass(frozen=True)
class Gap:
    """Missing segments on one timeline: between ``after`` and ``before`` (both present)."""

    timeline: int
    after: str
    before: str
    first_missing: str
    last_missing: str
    missing: int

    def describe(self) -> str:
        if self.missing == 1:
            return (
                f"segment {self.first_missing} is missing "
                f"(between {self.after} and {self.before})"
            )
        return (
            f"{self.missing} segments {self.first_missing}…{self.last_missing} are missing "
            f"(between {self.after} and {self.before})"
        )


@dataclass(frozen=True)
class Chain:
    """The WAL reachable from a base backup without a gap: ``segments`` from its start segment.

    ``gap`` is the first gap after the chain (``None`` when the chain reaches the newest segment
    of its timeline); ``missing_start`` is True when not even the start segment is archived.
    """

    base_backup: BaseBackup
    segments: tuple[WalSegment, ...]
    gap: Gap | None
    missing_start: bool

    @property
    def last(self) -> WalSegment | None:
        return self.segments[-1] if self.segments else None


@dataclass(frozen=True)
class WalCatalog:
    """Base backups and WAL of one cluster in a target's backup bucket."""

    bucket: str
    system_identifier: str
    segment_size: int
    segments: tuple[WalSegment, ...]
    histories: tuple[str, ...]
    base_backups: tuple[BaseBackup, ...]  # oldest first (by end time)
    incomplete: tuple[Incomplete, ...]

    @property
    def wal_prefix(self) -> str:
        return f"{WAL_PREFIX}{self.system_identifier}/"

    @property
    def newest_segment(self) -> WalSegment | None:
        """The segment with the highest number (latest timeline on ties)."""
        if not self.segments:
            return None
        return max(self.segments, key=lambda s: (s.segno, s.timeline))

    @property
    def newest_base_backup(self) -> BaseBackup | None:
        return self.base_backups[-1] if self.base_backups else None

    def gaps(self, *, since: str | None = None) -> list[Gap]:
        """Gaps between consecutive archived segments of each timeline.

        ``since`` (a segment name) keeps only gaps after that segment on its timeline (and every
        gap on later timelines).
        """
        start_tli, start_segno = (
            parse_segment(since, self.segment_size) if since is not None else (0, -1)
        )
        found: list[Gap] = []
        by_timeline: dict[int, list[WalSegment]] = {}
        for seg in self.segments:
            by_timeline.setdefault(seg.timeline, []).append(seg)
        for tli in sorted(by_timeline):
            if tli < start_tli:
                continue
            segs = sorted(by_timeline[tli], key=lambda s: s.segno)
            for prev, nxt in zip(segs, segs[1:], strict=False):
                if nxt.segno - prev.segno <= 1:
                    continue
                if tli == start_tli and nxt.segno <= start_segno:
                    continue
                found.append(
                    Gap(
                        timeline=tli,
                        after=prev.name,
                        before=nxt.name,
                        first_missing=segment_name(tli, prev.segno + 1, self.segment_size),
                        last_missing=segment_name(tli, nxt.segno - 1, self.segment_size),
                        missing=nxt.segno - prev.segno - 1,
                    )
                )
        return found

    def chain(self, backup: BaseBackup) -> Chain:
        """The contiguous WAL of ``backup``'s timeline from its start segment on."""
        tli, start = parse_segment(backup.start_wal_segment, self.segment_size)
        on_timeline = {s.segno: s for s in self.segments if s.timeline == tli}
        if start not in on_timeline:
            later = sorted(n for n in on_timeline if n > start)
            gap = None
            if later:
                gap = Gap(
                    timeline=tli,
                    after=f"(base backup {backup.stamp})",
                    before=on_timeline[later[0]].name,
                    first_missing=backup.start_wal_segment,
                    last_missing=segment_name(tli, later[0] - 1, self.segment_size),
                    missing=later[0] - start,
                )
            return Chain(backup, (), gap, missing_start=True)
        segments = []
        segno = start
        while segno in on_timeline:
            segments.append(on_timeline[segno])
            segno += 1
        later = sorted(n for n in on_timeline if n > segno)
        gap = None
        if later:
            gap = Gap(
                timeline=tli,
                after=segments[-1].name,
                before=on_timeline[later[0]].name,
                first_missing=segment_name(tli, segno, self.segment_size),
                last_missing=segment_name(tli, later[0] - 1, self.segment_size),
                missing=later[0] - segno,
            )
        return Chain(backup, tuple(segments), gap, missing_start=False)


# --------------------------------------------------------------------------- manifests


def base_backup_prefix(system_identifier: str, started: datetime) -> str:
    """``basebackups/<system id>/<YYYYMMDDTHHMMSSZ>/`` for a backup started at ``started``."""
    return f"{BASE_PREFIX}{system_identifier}/{started.astimezone(UTC).strftime(STAMP_FORMAT)}/"


def parse_manifest(data: Any, *, prefix: str) -> BaseBackup:
    """A :class:`BaseBackup` from a manifest's JSON, checked field by field.

    Raises:
        ValueError: a field is missing, of the wrong type or inconsistent (the message names it).
    """
    data = require_fields(data, _REQUIRED)
    if data["schema"] != MANIFEST_SCHEMA or data["kind"] != MANIFEST_KIND:
        raise ValueError(
            f"manifest schema/kind {data['schema']!r}/{data['kind']!r} is not "
            f"{MANIFEST_SCHEMA}/{MANIFEST_KIND!r}"
        )
    parts = prefix.rstrip("/").split("/")
    if len(parts) != 3 or not _STAMP_RE.match(parts[2]):
        raise ValueError(f"{prefix} is not basebackups/<system id>/<YYYYMMDDTHHMMSSZ>/")
    if data["system_identifier"] != parts[1]:
        raise ValueError(
            f"manifest system_identifier {data['system_identifier']} does not match {prefix}"
        )
    if data["object_key"] != prefix + BASE_NAME:
        raise ValueError(f"manifest object_key {data['object_key']!r} is not {prefix}{BASE_NAME}")
    check_sha256(data["sha256"])
    size = int(data["wal_segment_size"])
    if size <= 0 or size & (size - 1) or segments_per_log(size) < 1:
        raise ValueError(f"manifest wal_segment_size {size} is not a power of two")
    for name in ("start_lsn", "stop_lsn"):
        parse_lsn(data[name])
    for name in ("start_wal_segment", "stop_wal_segment"):
        parse_segment(data[name], size)
    objects = data["objects"]
    if BASE_NAME not in objects:
        raise ValueError(f"manifest objects do not list {BASE_NAME}")
    for name, info in objects.items():
        if not isinstance(info, dict) or not isinstance(info.get("size_bytes"), int):
            raise ValueError(f"manifest object {name!r} has no size_bytes")
    started, ended = time_span(data)
    return BaseBackup(
        system_identifier=parts[1],
        stamp=parts[2],
        prefix=prefix,
        start_lsn=data["start_lsn"],
        stop_lsn=data["stop_lsn"],
        start_wal_segment=data["start_wal_segment"],
        stop_wal_segment=data["stop_wal_segment"],
        timeline=int(data["timeline"]),
        wal_segment_size=size,
        started_at=started,
        ended_at=ended,
        size_bytes=int(data["size_bytes"]),
        sha256=data["sha256"],
        server_version=data["server_version"],
        objects={k: dict(v) for k, v in objects.items()},
        manifest=dict(data),
    )


# --------------------------------------------------------------------------- loading


def system_identifier_of(target: Target) -> str | None:
    """The source cluster's system identifier, or ``None`` when it cannot be asked.

    Raises:
        nothing: an unreachable or unconfigured server gives ``None``.
    """
    if target.postgres is None:
        return None
    from noa_lib.clients import postgres

    try:
        with postgres.connect(target.postgres, read_only=True) as conn:
            rows = postgres.query(
                conn, "SELECT system_identifier::text AS id FROM pg_control_system()"
            )
    except (ClientError, ConfigError):
        return None
    return str(rows[0]["id"]) if rows else None


def list_systems(bucket: Bucket) -> list[str]:
    """System identifiers with base backups or WAL in the bucket (one listing level deep).

    Raises:
        NotFound / Unavailable / Timeout / ClientError: S3 failed.
    """
    from noa_lib.clients.s3 import mapped_errors

    found: set[str] = set()
    with mapped_errors(bucket.settings):
        for prefix in (BASE_PREFIX, WAL_PREFIX):
            pages = bucket.s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket.name, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    part = str(common.get("Prefix", ""))[len(prefix) :].rstrip("/")
                    if SYSTEM_ID_RE.match(part):
                        found.add(part)
    return sorted(found)


def load_catalog(target: Target, system_identifier: str | None = None) -> WalCatalog:
    """Read the base backups and WAL of one cluster from ``target``'s backup bucket.

    The cluster is ``system_identifier`` when given, else the one the target's PostgreSQL reports
    (``pg_control_system()``), else the only cluster found in the bucket.

    Raises:
        ConfigError: the target has no S3 section.
        PreconditionFailed: the cluster cannot be determined (several in the bucket, server down).
        NotFound / Unavailable / Timeout / ClientError: S3 failed.
    """
    settings = require_s3(target)
    with open_bucket(settings) as bucket:
        wanted = system_identifier or system_identifier_of(target)
        if wanted is None:
            systems = list_systems(bucket)
            if len(systems) != 1:
                raise PreconditionFailed(
                    f"cannot tell which cluster to use: the PostgreSQL of {target.name!r} does not "
                    f"answer and s3://{settings.backup_bucket} holds "
                    f"{', '.join(systems) or 'no'} cluster(s)"
                )
            wanted = systems[0]
        if not SYSTEM_ID_RE.match(wanted):
            raise PreconditionFailed(f"{wanted!r} is not a PostgreSQL system identifier")
        backups, incomplete = _base_backups(bucket, wanted)
        wal_objects = bucket.list(f"{WAL_PREFIX}{wanted}/")
    segment_size = _segment_size(backups, wal_objects)
    segments: list[WalSegment] = []
    histories: list[str] = []
    for obj in wal_objects:
        name = obj.key.rsplit("/", 1)[-1]
        if SEGMENT_RE.match(name):
            tli, segno = parse_segment(name, segment_size)
            segments.append(WalSegment(name, tli, segno, obj.size, obj.last_modified, obj.key))
        elif HISTORY_RE.match(name):
            histories.append(name)
    return WalCatalog(
        bucket=settings.backup_bucket,
        system_identifier=wanted,
        segment_size=segment_size,
        segments=tuple(sorted(segments, key=lambda s: (s.timeline, s.segno))),
        histories=tuple(sorted(histories)),
        base_backups=tuple(sorted(backups, key=lambda b: b.ended_at)),
        incomplete=tuple(incomplete),
    )


def _base_backups(bucket: Bucket, system_id: str) -> tuple[list[BaseBackup], list[Incomplete]]:
    objects = bucket.list(f"{BASE_PREFIX}{system_id}/")
    groups: dict[str, dict[str, ObjectInfo]] = {}
    for obj in objects:
        prefix, _, name = obj.key.rpartition("/")
        groups.setdefault(prefix + "/", {})[name] = obj
    backups: list[BaseBackup] = []
    incomplete: list[Incomplete] = []
    for prefix, members in sorted(groups.items()):
        if MANIFEST_NAME not in members:
            incomplete.append(Incomplete(prefix, "no manifest.json (interrupted or in progress)"))
            continue
        try:
            raw = bucket.get_bytes(prefix + MANIFEST_NAME)
            backup = parse_manifest(json.loads(raw), prefix=prefix)
        except NotFound:
            incomplete.append(Incomplete(prefix, "manifest.json vanished while listing"))
            continue
        except (UnicodeDecodeError, ValueError) as exc:
            incomplete.append(Incomplete(prefix, f"manifest.json is not valid: {exc}"))
            continue
        problem = _missing_objects(backup, members)
        if problem:
            incomplete.append(Incomplete(prefix, problem))
            continue
        backups.append(backup)
    return backups, incomplete


def _missing_objects(backup: BaseBackup, members: Mapping[str, ObjectInfo]) -> str:
    for name, info in backup.objects.items():
        stored = members.get(name)
        if stored is None:
            return f"{name} named by the manifest is not stored"
        if stored.size != int(info["size_bytes"]):
            return f"{name} holds {stored.size} bytes, the manifest says {info['size_bytes']}"
    return ""


def _segment_size(backups: Sequence[BaseBackup], objects: Sequence[ObjectInfo]) -> int:
    for backup in backups:
        return backup.wal_segment_size
    sizes = {o.size for o in objects if SEGMENT_RE.match(o.key.rsplit("/", 1)[-1])}
    if len(sizes) == 1:
        size = sizes.pop()
        if size > 0 and not size & (size - 1):
            return size
    return DEFAULT_SEGMENT_SIZE


def now_utc() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


__all__ = [
    "BASE_NAME",
    "BASE_PREFIX",
    "WAL_PREFIX",
    "BaseBackup",
    "Chain",
    "Gap",
    "Incomplete",
    "WalCatalog",
    "WalSegment",
    "base_backup_prefix",
    "format_lsn",
    "list_systems",
    "load_catalog",
    "parse_lsn",
    "parse_manifest",
    "parse_segment",
    "segment_name",
    "segment_of_lsn",
    "system_identifier_of",
]
