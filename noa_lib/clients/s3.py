"""S3-compatible storage client: boto3 with timeouts and small retries, errors mapped to ours.

The only module that imports ``boto3``/``botocore``. Clients work against AWS and against
S3-compatible servers (SeaweedFS, MinIO…): path-style addressing when an endpoint URL is set and
checksums only when the operation requires them (non-AWS servers reject the newer defaults).

Error mapping (:func:`mapped_errors`)::

    connection refused / DNS / closed / HTTP 5xx, SlowDown  -> Unavailable
    connect or read timeout                                 -> Timeout
    HTTP 404, NoSuchBucket, NoSuchKey                       -> NotFound
    HTTP 409 / 412, BucketNotEmpty, BucketAlreadyOwnedByYou -> Conflict
    HTTP 403, bad credentials and everything else           -> ClientError
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import boto3.session
import botocore.config
import botocore.exceptions as bexc

from noa_lib.clients._errors import failure, safe
from noa_lib.config import S3Settings
from noa_lib.errors import ClientError, Conflict, NoaError, NotFound, Timeout, Unavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BACKEND = "S3"
MAX_ATTEMPTS = 2  # one retry: enough for a blip, short enough for a dead endpoint
BucketState = Literal["present", "missing", "forbidden"]

_NOT_FOUND_CODES = {"404", "NoSuchBucket", "NoSuchKey", "NotFound", "NoSuchUpload", "NoSuchVersion"}
_CONFLICT_CODES = {
    "409",
    "412",
    "BucketNotEmpty",
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "OperationAborted",
    "PreconditionFailed",
}
_UNAVAILABLE_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout"}
_FORBIDDEN_CODES = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
}


@dataclass(frozen=True)
class S3Probe:
    """What :func:`probe` learnt about an S3 endpoint.

    ``buckets`` maps each configured bucket to ``present``, ``missing`` or ``forbidden``;
    ``server`` is the HTTP ``Server`` header (e.g. ``SeaweedFS 8000GB 4.48``), empty on AWS.
    """

    endpoint: str
    server: str
    latency_ms: float
    buckets: dict[str, BucketState] = field(default_factory=dict)


def endpoint(settings: S3Settings) -> str:
    """The endpoint URL, or AWS's regional endpoint when none is configured."""
    return settings.endpoint_url or f"https://s3.{settings.region}.amazonaws.com"


def client(settings: S3Settings) -> S3Client:
    """A boto3 S3 client for ``settings``: connect/read timeouts, at most one retry.

    Access keys are resolved from their references here; without them boto3's default chain
    (environment, instance role) applies.

    Raises:
        ConfigError: a key reference cannot be resolved.
    """
    config = botocore.config.Config(
        connect_timeout=settings.timeout,
        read_timeout=settings.timeout,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
    )
    key_id = settings.access_key_id.resolve() if settings.access_key_id is not None else None
    secret = (
        settings.secret_access_key.resolve() if settings.secret_access_key is not None else None
    )
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=config,
    )


def probe(settings: S3Settings) -> S3Probe:
    """Check that the endpoint answers and which configured buckets exist (``HeadBucket``).

    Returns:
        An :class:`S3Probe`; ``latency_ms`` is the fastest ``HeadBucket`` round trip.

    Raises:
        ConfigError: a key reference cannot be resolved.
        Unavailable / Timeout: the endpoint cannot be reached or does not answer.
        ClientError: every bucket answered 403 (credentials rejected) or another failure.
    """
    s3 = client(settings)
    buckets: dict[str, BucketState] = {}
    server = ""
    timings: list[float] = []
    forbidden: ClientError | None = None
    try:
        for bucket in dict.fromkeys((settings.backup_bucket, settings.records_bucket)):
            started = time.perf_counter()
            try:
                response = s3.head_bucket(Bucket=bucket)
            except bexc.ClientError as exc:
                state = _bucket_state(exc)
                if state is None:
                    raise _failure(exc, settings) from None
                buckets[bucket] = state
                if state == "forbidden":
                    forbidden = _failure(exc, settings)
            except bexc.BotoCoreError as exc:
                raise _failure(exc, settings) from None
            else:
                buckets[bucket] = "present"
                server = response["ResponseMetadata"].get("HTTPHeaders", {}).get("server", server)
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        s3.close()
    if forbidden is not None and all(state == "forbidden" for state in buckets.values()):
        raise forbidden
    return S3Probe(
        endpoint=endpoint(settings),
        server=server,
        latency_ms=round(min(timings), 2) if timings else 0.0,
        buckets=buckets,
    )


@contextmanager
def mapped_errors(settings: S3Settings) -> Iterator[None]:
    """Map botocore errors raised in the block to our error tree (scrubbed, short)."""
    try:
        yield
    except (bexc.BotoCoreError, bexc.ClientError) as exc:
        raise _failure(exc, settings) from None


def _secrets(settings: S3Settings) -> list[str]:
    values: list[str] = []
    if settings.secret_access_key is not None:
        try:
            values.append(settings.secret_access_key.resolve())
        except NoaError:  # an unresolvable secret cannot leak; keep mapping
            pass
    return values


def _bucket_state(exc: bexc.ClientError) -> BucketState | None:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in _NOT_FOUND_CODES or status == 404:
        return "missing"
    if code in _FORBIDDEN_CODES or status in (401, 403):
        return "forbidden"
    return None


def _failure(exc: bexc.BotoCoreError | bexc.ClientError, settings: S3Settings) -> ClientError:
    where = endpoint(settings)
    secrets = _secrets(settings)
    if isinstance(exc, bexc.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        operation = exc.operation_name
        detail = safe(str(error.get("Message") or code or exc), secrets)
        if code in _NOT_FOUND_CODES or status == 404:
            return failure(NotFound, BACKEND, where, f"{operation}: not found ({detail})", secrets)
        if code in _CONFLICT_CODES or status in (409, 412):
            return failure(Conflict, BACKEND, where, f"{operation}: conflict ({detail})", secrets)
        if code in _FORBIDDEN_CODES or status in (401, 403):
            reason = f"refused {operation}: {code or status} (access denied)"
            return failure(ClientError, BACKEND, where, reason, secrets)
        if code in _UNAVAILABLE_CODES or status >= 500:
            reason = f"unavailable: {operation} answered HTTP {status} {code}"
            return failure(Unavailable, BACKEND, where, reason, secrets)
        return failure(ClientError, BACKEND, where, f"{operation} failed: {detail}", secrets)
    text = str(exc)
    if isinstance(exc, bexc.ConnectTimeoutError | bexc.ReadTimeoutError):
        return failure(
            Timeout, BACKEND, where, f"did not answer within {settings.timeout:g} s", secrets
        )
    if isinstance(exc, bexc.EndpointConnectionError | bexc.ConnectionClosedError):
        cause = str(getattr(exc, "kwargs", {}).get("error", text)).lower()
        if "refused" in cause:
            reason = "connection refused"
        elif "name or service not known" in cause or "nodename nor servname" in cause:
            reason = "unknown host"
        elif isinstance(exc, bexc.ConnectionClosedError):
            reason = "connection closed by the server"
        else:
            reason = "cannot connect"
        return failure(Unavailable, BACKEND, where, f"unreachable: {reason}", secrets)
    if isinstance(exc, bexc.HTTPClientError | bexc.SSLError):
        return failure(Unavailable, BACKEND, where, f"unreachable: {text}", secrets)
    if isinstance(exc, bexc.NoCredentialsError | bexc.PartialCredentialsError):
        return failure(ClientError, BACKEND, where, "has no usable credentials configured", secrets)
    return failure(ClientError, BACKEND, where, f"request failed: {text}", secrets)


__all__ = ["BACKEND", "BucketState", "S3Probe", "client", "endpoint", "mapped_errors", "probe"]
