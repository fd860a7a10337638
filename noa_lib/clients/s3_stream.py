"""Streaming transfers to and from S3 with bounded memory and SHA-256 of the stored bytes.

**Upload** (:func:`upload_stream`): a multipart upload fed from any readable stream (a pipe from
``pg_dump``…). The stream is cut into fixed-size parts; at most ``queue_depth`` parts wait in a
queue while ``workers`` threads upload others, so memory stays at about
``(queue_depth + workers + 1) × part_size`` whatever the stream's length. The SHA-256 of the
stream (= the stored bytes) is computed as it is read. Server-side encryption (``AES256``) is
requested; a store that rejects it gets the object unencrypted and the result says ``sse=None``.
On **any** failure — the stream's producer, a part, ``before_complete``, completion, even
``KeyboardInterrupt`` — the multipart upload is aborted (retried for a while when the store is
unreachable) so no incomplete upload remains and nothing half-written becomes visible.

**Download** (:func:`download`): the object in ranges fetched by a few threads (each retried once
on a transient failure, all pinned to the version seen at the start), hashed and written in order
to a file — or just hashed — with memory bounded by ``(workers + 1) × range_size``.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import botocore.exceptions as bexc

from noa_lib.clients.s3 import mapped_errors
from noa_lib.clients.s3_objects import SSE, Bucket, sse_rejected
from noa_lib.errors import ClientError, NoaError, Timeout, Unavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1 << 20
DEFAULT_PART_SIZE = 16 * MiB
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000
DOWNLOAD_RANGE = 16 * MiB
DOWNLOAD_WORKERS = 4
_CHUNK = MiB

BeforeComplete = Callable[[int, str], None]


@dataclass(frozen=True)
class UploadResult:
    """A completed upload: its size, SHA-256 (hex) and the encryption the store applied."""

    bucket: str
    key: str
    size_bytes: int
    sha256: str
    parts: int
    part_size: int
    sse: str | None
    seconds: float

    @property
    def mb_per_s(self) -> float:
        return self.size_bytes / MiB / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class DownloadResult:
    """What was read: bytes, SHA-256 (hex), seconds, and the object's size as the store says."""

    key: str
    size_bytes: int
    sha256: str
    seconds: float
    object_size: int


def choose_part_size(part_size: int = DEFAULT_PART_SIZE, expected_bytes: int | None = None) -> int:
    """A valid part size: at least ``part_size`` (≥ 5 MiB), large enough for ``expected_bytes``
    (with 50 % headroom) to fit in 10,000 parts, rounded up to whole MiB."""
    size = max(MIN_PART_SIZE, int(part_size))
    if expected_bytes:
        needed = -(-int(expected_bytes * 1.5) // MAX_PARTS)
        size = max(size, needed)
    return min(MAX_PART_SIZE, -(-size // MiB) * MiB)


class _Workers:
    """Threads uploading queued parts; the first error stops everything."""

    def __init__(self, s3: S3Client, bucket: str, key: str, upload_id: str, n: int, depth: int):
        self.s3, self.bucket, self.key, self.upload_id = s3, bucket, key, upload_id
        self.queue: queue.Queue[tuple[int, bytes] | None] = queue.Queue(maxsize=max(1, depth))
        self.etags: dict[int, str] = {}
        self.error: Exception | None = None
        self.failed = threading.Event()
        self._lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._run, name=f"s3-part-{i}", daemon=True)
            for i in range(max(1, n))
        ]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.failed.is_set():
                continue  # drain without uploading
            number, data = item
            try:
                response = self.s3.upload_part(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=self.upload_id,
                    PartNumber=number,
                    Body=data,
                )
                with self._lock:
                    self.etags[number] = str(response["ETag"])
            # Any error must cross to the reading thread, which aborts the upload and raises it.
            except Exception as exc:  # noqa: BLE001
                with self._lock:
                    if self.error is None:
                        self.error = exc
                self.failed.set()
            del data, item

    def put(self, number: int, data: bytes) -> None:
        """Queue a part; blocks while the queue is full; raises the first worker error."""
        while True:
            if self.error is not None:
                raise self.error
            try:
                self.queue.put((number, data), timeout=0.2)
                return
            except queue.Full:
                if not any(t.is_alive() for t in self.threads):
                    raise ClientError(
                        "S3 upload workers stopped unexpectedly", backend="S3"
                    ) from None

    def finish(self) -> None:
        """Wait for every queued part; raises the first worker error."""
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()
        if self.error is not None:
            raise self.error

    def stop(self, timeout: float) -> None:
        """Discard queued parts and let the threads end (each finishes its current part)."""
        self.failed.set()
        deadline = time.monotonic() + timeout
        while any(t.is_alive() for t in self.threads) and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                while True:
                    self.queue.get_nowait()
            for _ in self.threads:
                with contextlib.suppress(queue.Full):
                    self.queue.put_nowait(None)
            for thread in self.threads:
                thread.join(timeout=0.1)


def upload_stream(
    bucket: Bucket,
    key: str,
    source: IO[bytes],
    *,
    part_size: int = DEFAULT_PART_SIZE,
    expected_bytes: int | None = None,
    workers: int = 2,
    queue_depth: int = 2,
    encrypt: bool = True,
    content_type: str = "application/octet-stream",
    before_complete: BeforeComplete | None = None,
    abort_retry_seconds: float = 20.0,
) -> UploadResult:
    """Upload everything ``source`` yields, until EOF, as one object ``key`` (multipart).

    ``before_complete(size_bytes, sha256)`` runs after EOF and before the upload is completed;
    raising there (e.g. the producer of the stream failed) aborts the upload instead.

    Returns:
        An :class:`UploadResult`; ``sse`` is what the store reports for the stored object.

    Raises:
        Unavailable / Timeout / ClientError: the store failed (mapped, scrubbed); the upload was
            aborted — if even the abort could not reach the store, the message says so and names
            the upload id.
        Exception: whatever ``source.read`` or ``before_complete`` raised, after the abort.
    """
    size = choose_part_size(part_size, expected_bytes)
    s3 = bucket.s3
    started = time.monotonic()
    with mapped_errors(bucket.settings):
        upload_id = _create(bucket, key, content_type, encrypt)
    pool = _Workers(s3, bucket.name, key, upload_id, workers, queue_depth)
    digest = hashlib.sha256()
    total = 0
    number = 0
    try:
        while True:
            data = _read_part(source, size)
            if not data and number > 0:
                break
            number += 1
            if number > MAX_PARTS:
                raise ClientError(
                    f"{key}: the stream exceeds {MAX_PARTS} parts of {size // MiB} MiB; "
                    "give expected_bytes or a larger part_size",
                    backend="S3",
                )
            digest.update(data)
            total += len(data)
            last = len(data) < size
            pool.put(number, data)
            del data
            if last:
                break
        pool.finish()
        sha = digest.hexdigest()
        if before_complete is not None:
            before_complete(total, sha)
        parts = [{"PartNumber": n, "ETag": pool.etags[n]} for n in sorted(pool.etags)]
        with mapped_errors(bucket.settings):
            s3.complete_multipart_upload(
                Bucket=bucket.name,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            )
    # Abort on anything, KeyboardInterrupt included: an incomplete upload must not remain.
    except BaseException as exc:  # noqa: BLE001 - re-raised below
        pool.stop(timeout=bucket.settings.timeout * 3)
        aborted = _abort(bucket, key, upload_id, abort_retry_seconds)
        raise _upload_error(exc, bucket, key, upload_id, aborted) from None
    stored = bucket.head(key)
    if stored is None or stored.size != total:
        raise ClientError(
            f"{bucket.where}: {key} holds {stored.size if stored else 'no'} bytes after the "
            f"upload of {total}; the object is not usable",
            backend="S3",
        )
    return UploadResult(
        bucket=bucket.name,
        key=key,
        size_bytes=total,
        sha256=sha,
        parts=number,
        part_size=size,
        sse=bucket.encryption(key) if encrypt else None,
        seconds=time.monotonic() - started,
    )


def _create(bucket: Bucket, key: str, content_type: str, encrypt: bool) -> str:
    kwargs: dict[str, Any] = {"Bucket": bucket.name, "Key": key, "ContentType": content_type}
    if encrypt:
        try:
            return str(
                bucket.s3.create_multipart_upload(**kwargs, ServerSideEncryption=SSE)["UploadId"]
            )
        except bexc.ClientError as exc:
            if not sse_rejected(exc):
                raise
    return str(bucket.s3.create_multipart_upload(**kwargs)["UploadId"])


def _read_part(source: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes; fewer only at EOF (raw pipes return short reads)."""
    first = source.read(size)
    if not first or len(first) == size:
        return first or b""
    chunks = [first]
    have = len(first)
    while have < size:
        more = source.read(size - have)
        if not more:
            break
        chunks.append(more)
        have += len(more)
    return b"".join(chunks)


def _abort(bucket: Bucket, key: str, upload_id: str, retry_seconds: float) -> bool:
    """Abort the upload; retry while the store is unreachable. True when it is gone."""
    deadline = time.monotonic() + max(0.0, retry_seconds)
    delay = 0.5
    while True:
        try:
            bucket.abort_upload(key, upload_id)
            return True
        except (Unavailable, Timeout):
            pass
        except ClientError:
            return False
        if time.monotonic() + delay > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 4.0)


def _upload_error(
    exc: BaseException, bucket: Bucket, key: str, upload_id: str, aborted: bool
) -> BaseException:
    """The error to raise for a failed upload, saying what happened to the upload."""
    if isinstance(exc, bexc.BotoCoreError | bexc.ClientError):
        exc = _mapped(exc, bucket)
    if aborted:
        note = "the multipart upload was aborted; nothing was stored"
    else:
        note = (
            f"the multipart upload {upload_id} of {key} could NOT be aborted (store unreachable): "
            "it stays invisible as an object, and the next backup run or the bucket's "
            "AbortIncompleteMultipartUpload lifecycle rule removes it"
        )
    if isinstance(exc, ClientError):
        return type(exc)(f"{exc}; {note}", backend=exc.backend)
    if isinstance(exc, NoaError):
        exc.add_note(note)
        return exc
    if isinstance(exc, OSError):
        return ClientError(f"reading the stream for {key} failed: {exc}; {note}", backend="S3")
    exc.add_note(note)
    return exc


def _mapped(exc: bexc.BotoCoreError | bexc.ClientError, bucket: Bucket) -> ClientError:
    try:
        with mapped_errors(bucket.settings):
            raise exc
    except ClientError as mapped:
        return mapped
    return ClientError(str(exc), backend="S3")  # pragma: no cover - mapped_errors always raises


def download(
    bucket: Bucket,
    key: str,
    dest: IO[bytes] | None = None,
    *,
    range_size: int = DOWNLOAD_RANGE,
    workers: int = DOWNLOAD_WORKERS,
) -> DownloadResult:
    """Read ``key`` in ranges, hashing it and writing it to ``dest`` (or only hashing it).

    ``workers`` threads fetch consecutive ranges concurrently (each pinned to the version seen at
    the start, each retried once on a transient failure); this thread hashes and writes them in
    order, so memory stays at about ``(workers + 1) × range_size``.

    Returns:
        A :class:`DownloadResult`: bytes read, their SHA-256, seconds, the object's size.

    Raises:
        NotFound: no such object.
        Unavailable / Timeout / ClientError: the store failed twice on a range.
        OSError: writing ``dest`` failed (e.g. ``ENOSPC``: the disk is full).
    """
    started = time.monotonic()
    with mapped_errors(bucket.settings):
        head = bucket.s3.head_object(Bucket=bucket.name, Key=key)
    object_size = int(head.get("ContentLength", 0))
    version = head.get("VersionId")
    pin: dict[str, Any] = {"VersionId": version} if version and version != "null" else {}
    digest = hashlib.sha256()
    written = 0
    step = max(MiB, int(range_size))
    ranges = iter([(start, min(object_size, start + step) - 1)
                   for start in range(0, object_size, step)])
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="s3-range") as pool:
        window: deque[Future[bytes]] = deque()

        def submit() -> None:
            span = next(ranges, None)
            if span is not None:
                window.append(pool.submit(_fetch_range, bucket, key, span[0], span[1], pin))

        for _ in range(max(1, workers) + 1):
            submit()
        try:
            while window:
                data = window.popleft().result()
                submit()
                digest.update(data)
                if dest is not None:
                    dest.write(data)
                written += len(data)
                del data
        finally:
            for future in window:
                future.cancel()
    return DownloadResult(
        key=key,
        size_bytes=written,
        sha256=digest.hexdigest(),
        seconds=time.monotonic() - started,
        object_size=object_size,
    )


def _fetch_range(bucket: Bucket, key: str, start: int, end: int, pin: dict[str, Any]) -> bytes:
    """Bytes ``start``–``end`` of ``key``; one retry on a transient failure."""
    for attempt in (1, 2):
        try:
            return _read_range(bucket, key, start, end, pin)
        except (Unavailable, Timeout):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _read_range(bucket: Bucket, key: str, start: int, end: int, pin: dict[str, Any]) -> bytes:
    chunks: list[bytes] = []
    got = 0
    with mapped_errors(bucket.settings):
        response = bucket.s3.get_object(
            Bucket=bucket.name, Key=key, Range=f"bytes={start}-{end}", **pin
        )
        body = response["Body"]
        try:
            while True:
                chunk = body.read(_CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
        finally:
            body.close()
    if got != end - start + 1:
        raise Unavailable(
            f"{bucket.where}: range {start}-{end} of {key} returned {got} bytes", backend="S3"
        )
    return b"".join(chunks)


__all__ = [
    "DEFAULT_PART_SIZE",
    "MAX_PARTS",
    "MIN_PART_SIZE",
    "DownloadResult",
    "UploadResult",
    "choose_part_size",
    "download",
    "upload_stream",
]
