"""Range-query plumbing: chunking under the point limit, concurrent fetching, merging into frames.

Prometheus evaluates a range query at ``start + k·step`` for ``k = 0, 1, …`` and refuses more than
11,000 points per series. :func:`range_chunks` cuts a range into consecutive pieces of that same
grid (integer milliseconds, so no float drift), which is why the merged result equals what one
request would return. :func:`fetch_all` fetches the pieces with a bounded thread pool, and
:func:`merge` turns the answers into one DataFrame: a float column per label set, a UTC
``DatetimeIndex``, duplicate timestamps dropped.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from noa_lib.errors import ParameterError

Chunk = tuple[int, int]
"""First and last evaluation time of a chunk, in milliseconds since the epoch."""
Series = dict[str, Any]
"""One item of a ``matrix`` result: ``{"metric": {labels}, "values": [[ts, "v"], …]}``."""

T = TypeVar("T")


def range_chunks(start_ms: int, end_ms: int, step_ms: int, max_points: int) -> list[Chunk]:
    """Consecutive chunks covering the evaluation grid of ``[start_ms, end_ms]``.

    The grid is ``start_ms + k·step_ms`` while ``≤ end_ms``; every chunk holds at most
    ``max_points`` of its points and the chunks neither overlap nor leave gaps.

    Raises:
        ParameterError: ``step_ms`` or ``max_points`` is not positive, or ``end_ms < start_ms``.
    """
    if step_ms <= 0:
        raise ParameterError(f"step must be positive, got {step_ms / 1000:g} s", name="step")
    if max_points < 1:
        raise ParameterError(f"max_points must be at least 1, got {max_points}")
    if end_ms < start_ms:
        raise ParameterError("the range ends before it starts", name="end")
    total = (end_ms - start_ms) // step_ms + 1
    chunks: list[Chunk] = []
    first = 0
    while first < total:
        last = min(first + max_points, total) - 1
        chunks.append((start_ms + first * step_ms, start_ms + last * step_ms))
        first = last + 1
    return chunks


def points(chunk: Chunk, step_ms: int) -> int:
    """How many evaluation points ``chunk`` holds."""
    return (chunk[1] - chunk[0]) // step_ms + 1


def fetch_all(fetch: Callable[[Chunk], T], chunks: Sequence[Chunk], max_workers: int) -> list[T]:
    """``fetch`` every chunk, at most ``max_workers`` at a time; results in chunk order.

    The first failure is raised once every started request has ended; chunks not started yet
    are cancelled.
    """
    if max_workers <= 1 or len(chunks) <= 1:
        return [fetch(chunk) for chunk in chunks]
    workers = min(max_workers, len(chunks))
    with cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="noa-prom") as pool:
        futures = [pool.submit(fetch, chunk) for chunk in chunks]
        done, _ = cf.wait(futures, return_when=cf.FIRST_EXCEPTION)
        for future in futures:
            if future.done() and future.exception() is not None:
                for other in futures:
                    other.cancel()
                raise future.exception()  # type: ignore[misc]
        return [future.result() for future in futures]


def label_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """A hashable, order-independent key of a label set."""
    return tuple(sorted(labels.items()))


def column_names(label_sets: Sequence[Mapping[str, str]]) -> list[str]:
    """Readable, unique column names for ``label_sets``.

    No labels: ``value``. When every set has exactly the same single label (``sum by
    (service)``): its value (``api``). Otherwise ``k=v, k=v`` sorted by label name.
    """
    if not label_sets:
        return []
    keys = {tuple(sorted(labels)) for labels in label_sets}
    if len(keys) == 1:
        (only,) = keys
        if len(only) == 0:
            return ["value"] * len(label_sets)
        if len(only) == 1:
            return [str(labels[only[0]]) for labels in label_sets]
    return [", ".join(f"{k}={v}" for k, v in sorted(labels.items())) for labels in label_sets]


def empty_frame() -> pd.DataFrame:
    """An empty frame with the shape of :func:`merge`'s result."""
    index = pd.DatetimeIndex([], tz="UTC", name="time")
    frame = pd.DataFrame(index=index)
    frame.attrs["labels"] = {}
    return frame


def merge(parts: Iterable[Iterable[Series]]) -> pd.DataFrame:
    """One DataFrame from the ``result`` lists of several range-query answers.

    Values of the same label set are concatenated and ordered by time; a timestamp present in
    two answers keeps its first value. ``NaN``/``±Inf`` sample texts become floats.
    """
    stamps: dict[tuple[tuple[str, str], ...], list[np.ndarray[Any, Any]]] = {}
    values: dict[tuple[tuple[str, str], ...], list[np.ndarray[Any, Any]]] = {}
    labels: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for part in parts:
        for series in part:
            metric = {str(k): str(v) for k, v in series.get("metric", {}).items()}
            samples = series.get("values") or []
            if not samples:
                continue
            key = label_key(metric)
            labels.setdefault(key, metric)
            pairs = np.asarray(samples, dtype=object)
            stamps.setdefault(key, []).append(pairs[:, 0].astype(np.float64))
            values.setdefault(key, []).append(pairs[:, 1].astype(np.float64))
    if not labels:
        return empty_frame()
    keys = sorted(labels)
    names = column_names([labels[k] for k in keys])
    columns: dict[str, pd.Series[float]] = {}
    for key, name in zip(keys, names, strict=True):
        ts = np.concatenate(stamps[key])
        vs = np.concatenate(values[key])
        index = pd.to_datetime(np.round(ts * 1000).astype(np.int64), unit="ms", utc=True)
        column = pd.Series(vs, index=index, dtype="float64")
        column = column[~column.index.duplicated(keep="first")].sort_index()
        columns[name] = column
    frame = pd.DataFrame(columns)
    frame.index.name = "time"
    frame.attrs["labels"] = {name: labels[key] for key, name in zip(keys, names, strict=True)}
    return frame


__all__ = [
    "Chunk",
    "column_names",
    "empty_frame",
    "fetch_all",
    "label_key",
    "merge",
    "points",
    "range_chunks",
]
