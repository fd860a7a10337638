"""What retention sees in a target's backup bucket: :class:`RetentionItem` values from the catalogs.

A thin adapter: the dump catalogue (:func:`noa_lib.ops.backup.catalog.scan_dumps`) and the PITR
catalogue (:func:`noa_lib.ops.backup.wal_catalog.load_catalog`, one per cluster in the bucket)
decide what is a valid backup; this module only turns their results, plus a listing of each
cluster's prefixes for the objects the catalogues do not describe (incomplete base backups,
``.backup``/``.partial`` WAL files, stray names), into items with every object key in safe
deletion order (manifest first). Nothing is deleted here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from noa_lib.clients.s3_objects import ObjectInfo, open_bucket
from noa_lib.config import Target
from noa_lib.ops.backup.catalog import MANIFEST_NAME, DumpInventory, require_s3, scan_dumps
from noa_lib.ops.backup.retention import RetentionItem
from noa_lib.ops.backup.wal_catalog import (
    BASE_PREFIX,
    HISTORY_RE,
    SEGMENT_RE,
    WAL_PREFIX,
    WalCatalog,
    list_systems,
    load_catalog,
)


def retention_items(target: Target) -> list[RetentionItem]:
    """Every dump, base backup and WAL object in ``target``'s backup bucket, as retention items.

    Raises:
        ConfigError: the target has no S3 section.
        NotFound: the backup bucket does not exist.
        Unavailable / Timeout / ClientError: the store failed.
    """
    settings = require_s3(target)
    items = dump_items(scan_dumps(target))
    with open_bucket(settings) as bucket:
        systems = list_systems(bucket)
    for system in systems:
        catalog = load_catalog(target, system)
        with open_bucket(settings) as bucket:
            base_listing = bucket.list(f"{BASE_PREFIX}{system}/")
            wal_listing = bucket.list(f"{WAL_PREFIX}{system}/")
        items += pitr_items(catalog, base_listing, wal_listing)
    return items


def dump_items(inventory: DumpInventory) -> list[RetentionItem]:
    """Items for the complete dumps (valid) and the orphans (invalid, with the reason)."""
    items = [
        RetentionItem(
            key=b.prefix,
            kind="dump",
            created_at=b.started_at,
            size_bytes=b.size_bytes,
            valid=True,
            series=f"{b.database}/{b.kind}",
            objects=b.keys,
            ended_at=b.ended_at,
        )
        for b in inventory.backups
    ]
    for orphan in inventory.orphans:
        parts = orphan.prefix.rstrip("/").split("/")
        series = "unknown"
        if len(parts) == 3 and "-" in parts[2]:
            series = f"{parts[1]}/{parts[2].split('-', 1)[1]}"
        items.append(RetentionItem(
            key=orphan.prefix,
            kind="dump",
            created_at=orphan.last_modified,
            size_bytes=orphan.size_bytes,
            valid=False,
            series=series,
            objects=manifest_first(orphan.keys),
            note=orphan.reason,
        ))
    return items


def pitr_items(
    catalog: WalCatalog, base_listing: Sequence[ObjectInfo], wal_listing: Sequence[ObjectInfo]
) -> list[RetentionItem]:
    """Items for one cluster: base backups (valid or incomplete) and every WAL object."""
    system = catalog.system_identifier
    groups: dict[str, list[ObjectInfo]] = {}
    for obj in base_listing:
        groups.setdefault(obj.key.rpartition("/")[0] + "/", []).append(obj)
    items: list[RetentionItem] = []
    for backup in catalog.base_backups:
        stored = groups.get(backup.prefix, [])
        keys = [backup.prefix + MANIFEST_NAME, *(backup.prefix + n for n in backup.objects)]
        keys += [o.key for o in stored]
        items.append(RetentionItem(
            key=backup.prefix,
            kind="basebackup",
            created_at=backup.started_at,
            size_bytes=sum(o.size for o in stored) or backup.size_bytes,
            valid=True,
            series=system,
            objects=manifest_first(keys),
            ended_at=backup.ended_at,
            start_segment=backup.start_wal_segment,
            stop_segment=backup.stop_wal_segment,
        ))
    for incomplete in catalog.incomplete:
        stored = groups.get(incomplete.prefix, [])
        if not stored:  # appeared or vanished between the catalogue and the listing
            continue
        items.append(RetentionItem(
            key=incomplete.prefix,
            kind="basebackup",
            created_at=max(o.last_modified for o in stored),
            size_bytes=sum(o.size for o in stored),
            valid=False,
            series=system,
            objects=manifest_first(o.key for o in stored),
            note=incomplete.reason,
        ))
    seen = {s.key for s in catalog.segments}
    items += [
        RetentionItem(key=s.key, kind="wal", created_at=s.archived_at, size_bytes=s.size,
                      valid=True, series=system, segment=s.name)
        for s in catalog.segments
    ]
    for obj in wal_listing:
        if obj.key in seen:
            continue
        name = obj.key.rsplit("/", 1)[-1]
        if HISTORY_RE.match(name):
            items.append(RetentionItem(key=obj.key, kind="wal", created_at=obj.last_modified,
                                       size_bytes=obj.size, valid=True, series=system,
                                       history=True))
        elif SEGMENT_RE.match(name[:24]) and name[24:25] == ".":  # .backup label, .partial
            items.append(RetentionItem(key=obj.key, kind="wal", created_at=obj.last_modified,
                                       size_bytes=obj.size, valid=True, series=system,
                                       segment=name[:24]))
        elif not SEGMENT_RE.match(name):
            items.append(RetentionItem(key=obj.key, kind="wal", created_at=obj.last_modified,
                                       size_bytes=obj.size, valid=False, series=system,
                                       note="not a WAL file name"))
    return items


def manifest_first(keys: Iterable[str]) -> tuple[str, ...]:
    """``keys`` without duplicates, manifests first (deleting them first unmakes the backup)."""
    unique = list(dict.fromkeys(keys))
    return tuple(sorted(unique, key=lambda k: (not k.endswith("/" + MANIFEST_NAME), k)))


__all__ = ["dump_items", "manifest_first", "pitr_items", "retention_items"]
