"""Objects of one S3 bucket: list, read, write small objects, pending multipart uploads.

A :class:`Bucket` wraps one boto3 client (from :func:`noa_lib.clients.s3.client`: timeouts, one
retry) for one bucket; every call maps botocore errors to ours (see :mod:`noa_lib.clients.s3`).
Use it as a context manager so the client's connections are closed::

    with open_bucket(target.s3) as bucket:
        for obj in bucket.list("dumps/noa/"):
            ...

Writes ask for server-side encryption (``AES256``); a store that rejects the header gets the
object unencrypted and the call reports ``None`` as the encryption in effect.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import botocore.exceptions as bexc

from noa_lib.clients.s3 import client, endpoint, mapped_errors
from noa_lib.config import S3Settings
from noa_lib.errors import ClientError, NotFound

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SSE: Literal["AES256"] = "AES256"
MAX_SMALL_OBJECT = 16 << 20
# what S3-compatible stores answer when they do not implement SSE-S3
_SSE_REJECTED = {
    "NotImplemented",
    "InvalidArgument",
    "InvalidRequest",
    "InvalidEncryptionAlgorithmError",
    "UnsupportedOperation",
}


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: key, size in bytes, last modification (UTC), ETag."""

    key: str
    size: int
    last_modified: datetime
    etag: str = ""


@dataclass(frozen=True)
class PendingUpload:
    """A multipart upload that was started and neither completed nor aborted."""

    key: str
    upload_id: str
    initiated: datetime | None


class Bucket:
    """One bucket of an S3-compatible store, through one client."""

    def __init__(self, settings: S3Settings, name: str, s3: S3Client) -> None:
        self.settings = settings
        self.name = name
        self.s3 = s3

    @property
    def where(self) -> str:
        """``s3://bucket`` at the endpoint, for messages."""
        return f"s3://{self.name} at {endpoint(self.settings)}"

    def list(self, prefix: str) -> builtins.list[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (all pages), in key order.

        Raises:
            NotFound: the bucket does not exist.
            Unavailable / Timeout / ClientError: see :mod:`noa_lib.clients.s3`.
        """
        found: builtins.list[ObjectInfo] = []
        with mapped_errors(self.settings):
            pages = self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(
                        ObjectInfo(
                            key=item["Key"],
                            size=int(item.get("Size", 0)),
                            last_modified=_utc(item.get("LastModified")),
                            etag=str(item.get("ETag", "")).strip('"'),
                        )
                    )
        return sorted(found, key=lambda o: o.key)

    def head(self, key: str) -> ObjectInfo | None:
        """The object's size and date, or ``None`` when it does not exist."""
        try:
            with mapped_errors(self.settings):
                meta = self.s3.head_object(Bucket=self.name, Key=key)
        except NotFound:
            return None
        return ObjectInfo(
            key=key,
            size=int(meta.get("ContentLength", 0)),
            last_modified=_utc(meta.get("LastModified")),
            etag=str(meta.get("ETag", "")).strip('"'),
        )

    def encryption(self, key: str) -> str | None:
        """The server-side encryption the store reports for ``key`` (``None``: none)."""
        with mapped_errors(self.settings):
            meta = self.s3.head_object(Bucket=self.name, Key=key)
        value = meta.get("ServerSideEncryption")
        return str(value) if value else None

    def get_bytes(self, key: str, *, max_bytes: int = MAX_SMALL_OBJECT) -> bytes:
        """The content of a small object (manifests…).

        Raises:
            NotFound: no such object.
            ClientError: the object is larger than ``max_bytes``.
        """
        with mapped_errors(self.settings):
            response = self.s3.get_object(Bucket=self.name, Key=key)
            size = int(response.get("ContentLength", 0))
            if size > max_bytes:
                response["Body"].close()
                raise ClientError(
                    f"{self.where}: {key} is {size} bytes, more than the {max_bytes} expected",
                    backend="S3",
                )
            return response["Body"].read()

    def put_bytes(
        self, key: str, data: bytes, *, content_type: str, encrypt: bool = True
    ) -> str | None:
        """Store ``data`` under ``key`` (one PUT); returns the encryption in effect.

        Raises:
            Unavailable / Timeout / ClientError: see :mod:`noa_lib.clients.s3`.
        """
        kwargs: dict[str, Any] = {
            "Bucket": self.name,
            "Key": key,
            "Body": data,
            "ContentType": content_type,
        }
        with mapped_errors(self.settings):
            if encrypt:
                try:
                    response = self.s3.put_object(**kwargs, ServerSideEncryption=SSE)
                    value = response.get("ServerSideEncryption")
                    return str(value) if value else None
                except bexc.ClientError as exc:
                    if not sse_rejected(exc):
                        raise
            self.s3.put_object(**kwargs)
        return None

    def delete(self, key: str) -> None:
        """Delete ``key`` (in a versioned bucket: a delete marker)."""
        with mapped_errors(self.settings):
            self.s3.delete_object(Bucket=self.name, Key=key)

    def pending_uploads(self, prefix: str) -> builtins.list[PendingUpload]:
        """Multipart uploads under ``prefix`` that were neither completed nor aborted."""
        found: builtins.list[PendingUpload] = []
        with mapped_errors(self.settings):
            pages = self.s3.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.name, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Uploads", []):
                    initiated = item.get("Initiated")
                    found.append(
                        PendingUpload(
                            key=str(item.get("Key", "")),
                            upload_id=str(item.get("UploadId", "")),
                            initiated=_utc(initiated) if initiated else None,
                        )
                    )
        return found

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort a multipart upload (its parts are discarded); a gone upload is fine."""
        try:
            with mapped_errors(self.settings):
                self.s3.abort_multipart_upload(Bucket=self.name, Key=key, UploadId=upload_id)
        except NotFound:
            return

    def exists(self) -> bool:
        """True when the bucket exists and answers (``HeadBucket``)."""
        try:
            with mapped_errors(self.settings):
                self.s3.head_bucket(Bucket=self.name)
        except NotFound:
            return False
        return True


@contextmanager
def open_bucket(settings: S3Settings, name: str | None = None) -> Iterator[Bucket]:
    """A :class:`Bucket` for ``name`` (default: the backup bucket); the client closes after.

    Raises:
        ConfigError: a key reference cannot be resolved.
    """
    s3 = client(settings)
    try:
        yield Bucket(settings, name or settings.backup_bucket, s3)
    finally:
        s3.close()


def sse_rejected(exc: bexc.ClientError) -> bool:
    """True when the store refused the request because it does not do SSE-S3."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code in _SSE_REJECTED or status == 501


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(0, UTC)


__all__ = ["SSE", "Bucket", "ObjectInfo", "PendingUpload", "open_bucket", "sse_rejected"]
