"""Planning for the Spark engine that needs no Spark: partition counts and read tasks.

Kept free of pyspark imports, so that ``modenorm spark-config`` can give the
same advice the engine follows on a machine without Spark.

A Parquet input is split into *read tasks*: task ``k`` holds the rows
``[row0, row0 + rows)`` of the table in the order the local engine reads it
(files sorted by path, rows in file order). Each task becomes one Spark
partition, so every row's global index is known before any data is read and
the written output keeps the input order.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

__all__ = [
    "MIN_PARTITION_ROWS",
    "TARGET_PARTITION_BYTES",
    "ReadSegment",
    "ReadTask",
    "choose_partitions",
    "plan_read_tasks",
    "row_bytes",
]

TARGET_PARTITION_BYTES = 128 << 20
"""Uncompressed bytes one partition should hold at most (Spark's own default)."""

MIN_PARTITION_ROWS = 1 << 17
"""Fewer rows per partition cost more in task start-up than they save."""

TASKS_PER_CORE = 2
"""Partitions per core, so that a slow task does not leave cores idle."""

_SNAP = 0.25  # a cut moves to a row-group boundary within this share of a task


def row_bytes(schema: pl.Schema) -> int:
    """Rough in-memory width of one row: 8 bytes per number, 16 per string."""
    width = 0
    for dtype in schema.dtypes():
        if dtype.is_numeric() or dtype.is_temporal() or dtype == pl.Boolean:
            width += 8
        else:
            width += 16
    return max(width, 1)


def choose_partitions(
    rows: int | None,
    width: int,
    cores: int,
    requested: int | None = None,
) -> int:
    """Number of partitions for a table of ``rows`` rows of ``width`` bytes.

    Parameters
    ----------
    rows : int or None
        Rows of the table (None when unknown: then two tasks per core).
    width : int
        Bytes per row in memory, as :func:`row_bytes` estimates.
    cores : int
        Cores of the cluster (Spark's ``defaultParallelism``).
    requested : int, optional
        A number the user chose; returned as it is when given.

    Returns
    -------
    int
        ``max(2 * cores, bytes / 128 MiB)``, but never so many that a
        partition holds fewer than 131,072 rows, and at least 1.

    Notes
    -----
    Two tasks per core keep every core busy when tasks finish unevenly; the
    128 MiB cap bounds the memory of one task (Spark's ``maxPartitionBytes``
    default); the row floor keeps the per-task start-up cost (a Python worker
    round trip, some milliseconds) below the time the task computes.
    """
    if requested is not None:
        if not (isinstance(requested, int) and requested >= 1):
            raise ValueError(
                f"partitions must be a positive integer, got {requested!r}"
            )
        return requested
    by_cores = TASKS_PER_CORE * max(1, cores)
    if rows is None:
        return by_cores
    by_size = math.ceil(rows * width / TARGET_PARTITION_BYTES)
    by_rows = max(1, rows // MIN_PARTITION_ROWS)
    return max(1, min(max(by_cores, by_size), by_rows))


@dataclass(frozen=True)
class ReadSegment:
    """Rows of one file: row groups ``[first, stop)``, minus ``skip``, ``take`` rows."""

    path: str
    first: int
    stop: int
    skip: int
    take: int


@dataclass(frozen=True)
class ReadTask:
    """The rows one Spark partition reads, starting at global row ``row0``."""

    row0: int
    rows: int
    segments: tuple[ReadSegment, ...]


def _row_group_starts(paths: list[Path]) -> list[tuple[str, list[int]]]:
    """Per file, the global index of the first row of every row group."""
    files = []
    start = 0
    for path in paths:
        meta = pq.ParquetFile(path).metadata
        starts = []
        for i in range(meta.num_row_groups):
            starts.append(start)
            start += meta.row_group(i).num_rows
        starts.append(start)
        files.append((str(path), starts))
    return files


def _snap_cuts(total: int, n_tasks: int, boundaries: list[int]) -> list[int]:
    """Cut points near ``k * total / n_tasks``, moved onto nearby boundaries."""
    size = total / n_tasks
    cuts = [0]
    for k in range(1, n_tasks):
        ideal = round(k * size)
        i = bisect.bisect_left(boundaries, ideal)
        near = min(boundaries[max(i - 1, 0) : i + 1], key=lambda b: abs(b - ideal))
        cut = near if abs(near - ideal) <= _SNAP * size else ideal
        if cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(total)
    return cuts


def _segments(files, lo: int, hi: int) -> tuple[ReadSegment, ...]:
    out = []
    for path, starts in files:
        f_lo, f_hi = starts[0], starts[-1]
        if f_hi <= lo or f_lo >= hi or f_hi == f_lo:
            continue
        a, b = max(lo, f_lo), min(hi, f_hi)
        first = max(i for i in range(len(starts) - 1) if starts[i] <= a)
        stop = min(i for i in range(1, len(starts)) if starts[i] >= b)
        out.append(ReadSegment(path, first, stop, a - starts[first], b - a))
    return tuple(out)


def plan_read_tasks(paths: list[Path], n_tasks: int) -> list[ReadTask]:
    """Split Parquet files into ``n_tasks`` contiguous runs of rows.

    Cuts fall on row-group boundaries where one lies within a quarter of a
    task's size of the even cut; otherwise inside a row group, which two tasks
    then both decode (each keeps only its own rows).

    Parameters
    ----------
    paths : list of Path
        The files, in the order that defines the row index.
    n_tasks : int
        Tasks wanted; fewer are returned when the table has fewer rows.

    Returns
    -------
    list of ReadTask
        Non-empty tasks in row order; their ``row0`` are increasing.
    """
    files = _row_group_starts(paths)
    total = files[-1][1][-1] if files else 0
    if total == 0:
        return []
    boundaries = sorted({s for _, starts in files for s in starts})
    cuts = _snap_cuts(total, max(1, min(n_tasks, total)), boundaries)
    return [
        ReadTask(lo, hi - lo, _segments(files, lo, hi))
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)
    ]
