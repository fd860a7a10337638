"""Batched deletion of S3 objects (DeleteObjects, up to 1000 keys a request), per-key errors.

:func:`delete_keys` deletes in the order given, batch after batch, and reports which keys the store
refused and why instead of stopping at the first refusal; a whole batch that fails (endpoint down)
raises the mapped error after the keys already deleted are reported through ``on_batch``. In a
versioned bucket a delete adds a delete marker: the data stays as a noncurrent version until the
bucket's lifecycle expires it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from noa_lib.clients.s3 import mapped_errors
from noa_lib.clients.s3_objects import Bucket
from noa_lib.errors import ParameterError

MAX_BATCH = 1000  # the S3 API's limit per DeleteObjects request


@dataclass(frozen=True)
class DeleteError:
    """One key the store did not delete: its error code and message."""

    key: str
    code: str
    message: str


@dataclass(frozen=True)
class DeleteResult:
    """What :func:`delete_keys` did: keys deleted and keys refused."""

    deleted: tuple[str, ...]
    errors: tuple[DeleteError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def delete_keys(
    bucket: Bucket,
    keys: Sequence[str],
    *,
    batch_size: int = MAX_BATCH,
    on_batch: Callable[[DeleteResult], None] | None = None,
) -> DeleteResult:
    """Delete ``keys`` in order, ``batch_size`` at a time; a missing key counts as deleted.

    Raises:
        ParameterError: ``batch_size`` outside 1..1000.
        Unavailable / Timeout / ClientError: a whole request failed (earlier batches stay
            deleted and were passed to ``on_batch``).
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise ParameterError(f"batch_size must be 1..{MAX_BATCH}, not {batch_size}",
                             name="batch_size", accepted=f"1..{MAX_BATCH}")
    deleted: list[str] = []
    errors: list[DeleteError] = []
    for start in range(0, len(keys), batch_size):
        batch = list(keys[start:start + batch_size])
        with mapped_errors(bucket.settings):
            response = bucket.s3.delete_objects(
                Bucket=bucket.name,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
        refused = [
            DeleteError(str(e.get("Key", "")), str(e.get("Code", "")), str(e.get("Message", "")))
            for e in response.get("Errors", [])
        ]
        failed = {e.key for e in refused}
        done = tuple(key for key in batch if key not in failed)
        deleted.extend(done)
        errors.extend(refused)
        if on_batch is not None:
            on_batch(DeleteResult(done, tuple(refused)))
    return DeleteResult(tuple(deleted), tuple(errors))


__all__ = ["MAX_BATCH", "DeleteError", "DeleteResult", "delete_keys"]
