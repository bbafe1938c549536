"""Code that runs inside Spark's Python workers, one call per partition.

Every function here is handed to ``DataFrame.mapInArrow`` through
:func:`run_partition`: it receives the partition's Arrow batches and yields
Arrow batches of a schema fixed in advance. The work itself is the local
engine's: :class:`NumericScan`, :class:`Histogram` and :class:`CategoryCounts`
for the fit, ``Transformer.encode_chunk`` and ``decode_chunk`` for the rest.
Nothing here imports pyspark at module level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from modenorm.engines._spark_plan import ReadTask
from modenorm.model.dtypes import is_integer_name, to_kernel_array
from modenorm.summarize.categorical import CategoryCounts
from modenorm.summarize.numeric import ColumnSpec, Histogram, NumericScan

__all__ = [
    "HIST_DDL",
    "PartitionInput",
    "SCAN_DDL",
    "count_rows",
    "decode_job",
    "encode_job",
    "histogram_job",
    "run_partition",
    "scan_job",
    "values_job",
    "zoom_job",
]

SCAN_SCHEMA = pa.schema(
    [
        ("column", pa.string()),
        ("part", pa.string()),
        ("key", pa.int64()),
        ("s", pa.string()),
        ("i", pa.int64()),
        ("b", pa.bool_()),
        ("is_null", pa.bool_()),
        *[(f"c{k}", pa.int64()) for k in range(6)],
        ("fmin", pa.float64()),
        ("fmax", pa.float64()),
        ("imin", pa.int64()),
        ("imax", pa.int64()),
        ("dec", pa.int32()),
    ]
)
"""Rows of the first pass: ``part`` is "scan", "special" or "cat"."""

SCAN_DDL = (
    "column string, part string, key long, s string, i long, b boolean, "
    "is_null boolean, c0 long, c1 long, c2 long, c3 long, c4 long, c5 long, "
    "fmin double, fmax double, imin long, imax long, dec int"
)

HIST_SCHEMA = pa.schema(
    [
        ("column", pa.string()),
        ("bin", pa.int64()),
        ("count", pa.int64()),
        ("s1", pa.int64()),
        ("s2", pa.int64()),
        ("bmin", pa.float64()),
        ("bmax", pa.float64()),
    ]
)
"""Rows of the second pass: one per occupied bin (grid cell or moment bin)."""

HIST_DDL = (
    "column string, bin long, count long, s1 long, s2 long, bmin double, bmax double"
)

_BATCH_ROWS = 1 << 16  # rows per summary batch sent back to the JVM


@dataclass(frozen=True)
class PartitionInput:
    """Where a partition's rows come from, and the global index of its first row.

    With ``tasks``, partition ``k`` reads ``tasks[k]`` from Parquet itself (its
    input is a one-row ``range`` partition holding ``k``). Otherwise the rows
    are the Arrow batches Spark passes in (``columns`` in order, under any
    names), and ``offsets[partition id]`` (when given) is the index of the
    partition's first row.
    """

    columns: tuple[str, ...]
    chunk_rows: int
    tasks: tuple[ReadTask, ...] | None = None
    offsets: tuple[int, ...] | None = None


def read_task(
    task: ReadTask, columns: list[str], chunk_rows: int
) -> Iterator[tuple[int, pl.DataFrame]]:
    """Yield ``(row0, chunk)`` for the rows of one read task, in file order."""
    row0 = task.row0
    for seg in task.segments:
        skip, left = seg.skip, seg.take
        with pq.ParquetFile(seg.path) as f:
            batches = f.iter_batches(
                batch_size=chunk_rows,
                row_groups=list(range(seg.first, seg.stop)),
                columns=columns,
            )
            for batch in batches:
                if skip >= batch.num_rows:
                    skip -= batch.num_rows
                    continue
                batch = batch.slice(skip, left)
                skip = 0
                left -= batch.num_rows
                if batch.num_rows:
                    yield row0, pl.from_arrow(batch, rechunk=False)
                    row0 += batch.num_rows
                if left == 0:
                    break


def partition_chunks(
    batches: Iterable[pa.RecordBatch], source: PartitionInput
) -> Iterator[tuple[int, pl.DataFrame]]:
    """The partition's rows as ``(row0, chunk)`` pairs, in row order."""
    columns = list(source.columns)
    if source.tasks is not None:
        for batch in batches:
            for k in batch.column(0).to_pylist():
                yield from read_task(source.tasks[k], columns, source.chunk_rows)
        return
    row0 = 0
    if source.offsets is not None:
        from pyspark import TaskContext

        row0 = source.offsets[TaskContext.get().partitionId()]
    for batch in batches:
        if batch.num_rows:
            chunk = pl.from_arrow(batch, rechunk=False)
            chunk.columns = columns  # Spark passes them by position
            yield row0, chunk
            row0 += batch.num_rows


def run_partition(
    batches: Iterable[pa.RecordBatch],
    *,
    source: PartitionInput,
    job: Callable[[Iterator[tuple[int, pl.DataFrame]]], Iterator[pa.RecordBatch]],
) -> Iterator[pa.RecordBatch]:
    """The function ``mapInArrow`` calls: feed the partition's chunks to ``job``."""
    yield from job(partition_chunks(batches, source))


def count_rows(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Yield ``(partition id, rows)`` of one partition, for row offsets."""
    from pyspark import TaskContext

    rows = sum(b.num_rows for b in batches)
    pid = TaskContext.get().partitionId()
    yield pa.RecordBatch.from_pydict(
        {"pid": [pid], "rows": [rows]},
        schema=pa.schema([("pid", pa.int64()), ("rows", pa.int64())]),
    )


# ---------------------------------------------------------------- summaries
def _category_slot(dtype: pl.DataType) -> str:
    name = type(dtype).__name__ if not isinstance(dtype, type) else dtype.__name__
    if name == "Boolean":
        return "b"
    if is_integer_name(name):
        return "i"
    return "s"


def _batch(rows: dict[str, list], schema: pa.Schema) -> pa.RecordBatch:
    n = max((len(v) for v in rows.values()), default=0)
    data = {f.name: rows.get(f.name, [None] * n) for f in schema}
    return pa.RecordBatch.from_pydict(data, schema=schema)


def _scan_rows(name: str, scan: NumericScan, is_int: bool) -> dict[str, list]:
    counts = [scan.n_rows, scan.n_null, scan.n_values, scan.n_nan]
    counts += [scan.n_posinf, scan.n_neginf]
    row: dict[str, list] = {"column": [name], "part": ["scan"]}
    row.update({f"c{k}": [v] for k, v in enumerate(counts)})
    slots = ("imin", "imax") if is_int else ("fmin", "fmax")
    row[slots[0]] = [scan.vmin]
    row[slots[1]] = [scan.vmax]
    row["dec"] = [scan.decimals]
    return row


def _special_rows(name: str, scan: NumericScan) -> dict[str, list]:
    counts = [] if scan.special_counts is None else scan.special_counts.tolist()
    return {
        "column": [name] * len(counts),
        "part": ["special"] * len(counts),
        "key": list(range(len(counts))),
        "c0": counts,
    }


def _category_rows(name: str, counts: CategoryCounts) -> dict[str, list]:
    values, freq = counts.ranked()
    slot = _category_slot(counts.dtype)
    return {
        "column": [name] * len(values),
        "part": ["cat"] * len(values),
        slot: values,
        "is_null": [v is None for v in values],
        "c0": freq,
    }


def scan_job(
    chunks: Iterator[tuple[int, pl.DataFrame]], *, specs: list[ColumnSpec]
) -> Iterator[pa.RecordBatch]:
    """First pass over a partition: numeric scans and category counts."""
    scans = {s.name: NumericScan() for s in specs if s.kind != "categorical"}
    cats = {
        s.name: CategoryCounts(s.name, s.dtype)
        for s in specs
        if s.kind == "categorical"
    }
    seen = False
    for _, chunk in chunks:
        seen = True
        for spec in specs:
            series = chunk[spec.name]
            if spec.name in cats:
                cats[spec.name].add_counts(CategoryCounts.of_chunk(series))
            else:
                part = NumericScan.of_chunk(spec, series)
                scans[spec.name] = scans[spec.name].merge(part)
    if not seen:
        return
    for spec in specs:
        if spec.name in cats:
            yield _batch(_category_rows(spec.name, cats[spec.name]), SCAN_SCHEMA)
            continue
        scan = scans[spec.name]
        is_int = spec.physical == "int"
        yield _batch(_scan_rows(spec.name, scan, is_int), SCAN_SCHEMA)
        yield _batch(_special_rows(spec.name, scan), SCAN_SCHEMA)


def _histogram_batches(
    name: str, hist, moments: bool = True
) -> Iterator[pa.RecordBatch]:
    """Occupied bins of a histogram (or zoom) as rows of :data:`HIST_SCHEMA`."""
    occupied = np.flatnonzero(hist.counts)
    for start in range(0, len(occupied), _BATCH_ROWS):
        idx = occupied[start : start + _BATCH_ROWS]
        n = len(idx)
        nulls_i = pa.nulls(n, pa.int64())
        nulls_f = pa.nulls(n, pa.float64())
        cols = [
            pa.array([name] * n, pa.string()),
            pa.array(idx, pa.int64()),
            pa.array(hist.counts[idx], pa.int64()),
            pa.array(hist.s1[idx], pa.int64()) if moments else nulls_i,
            pa.array(hist.s2[idx], pa.int64()) if moments else nulls_i,
            pa.array(hist.bmin[idx], pa.float64()) if moments else nulls_f,
            pa.array(hist.bmax[idx], pa.float64()) if moments else nulls_f,
        ]
        yield pa.RecordBatch.from_arrays(cols, schema=HIST_SCHEMA)


def histogram_job(
    chunks: Iterator[tuple[int, pl.DataFrame]],
    *,
    specs: list[ColumnSpec],
    scans: dict[str, NumericScan],
    bins: int,
    grid_cells: int,
) -> Iterator[pa.RecordBatch]:
    """Second pass over a partition: the occupied bins of every histogram."""
    hists = {
        s.name: Histogram(s, scans[s.name], bins=bins, grid_cells=grid_cells)
        for s in specs
    }
    for _, chunk in chunks:
        for name, hist in hists.items():
            hist.add(chunk[name])
    for name, hist in hists.items():
        yield from _histogram_batches(name, hist, hist.mode == "moments")


def zoom_job(
    chunks: Iterator[tuple[int, pl.DataFrame]], *, zooms: dict
) -> Iterator[pa.RecordBatch]:
    """Refinement pass over a partition: the occupied bins of every zoom."""
    mine = {name: zoom.empty_like() for name, zoom in zooms.items()}
    for _, chunk in chunks:
        for name, zoom in mine.items():
            zoom.add(chunk[name])
    for name, zoom in mine.items():
        yield from _histogram_batches(name, zoom)


def values_job(
    chunks: Iterator[tuple[int, pl.DataFrame]],
    *,
    spec: ColumnSpec,
    scan: NumericScan,
) -> Iterator[pa.RecordBatch]:
    """The values a mixture is fitted on: finite, not null, not special.

    Values are in the fitted domain, as the histogram sees them: relative to
    the minimum for integer-like columns, ``log1p(x - min)`` for log columns.
    """
    ref = Histogram(spec, scan, bins=16, grid_cells=0)
    is_int = spec.physical == "int"
    schema = pa.schema([("x", pa.float64())])
    for _, chunk in chunks:
        values, is_null = to_kernel_array(chunk[spec.name], spec.name)
        keys = values if is_int else values.view(np.int64)
        keep = ~is_null & ~np.isin(keys, ref.keys)
        x = values[keep]
        x = (x - ref.offset).astype(np.float64) if is_int else x.astype(np.float64)
        if spec.log:
            x = np.log1p(x - ref.log_lower)
        x = x[np.isfinite(x)]
        if len(x):
            yield pa.RecordBatch.from_arrays([pa.array(x)], schema=schema)


# --------------------------------------------------------- encode / decode
@dataclass(frozen=True)
class CodecJob:
    """What a worker needs to rebuild the transformer: the model and options."""

    key: str
    model: dict
    unseen: str
    layout: str
    schema: pa.Schema


_TRANSFORMERS: dict[str, object] = {}


def _transformer(job: CodecJob):
    """The job's transformer, built once per worker process."""
    t = _TRANSFORMERS.get(job.key)
    if t is None:
        from modenorm.model.schema import Model
        from modenorm.transformer import Transformer

        model = Model.from_dict(job.model)
        t = Transformer.from_model(model, unseen=job.unseen)
        _TRANSFORMERS.clear()
        _TRANSFORMERS[job.key] = t
    return t


def to_spark_batches(frame: pl.DataFrame, schema: pa.Schema) -> list[pa.RecordBatch]:
    """Cast a chunk to the exact Arrow types Spark expects for its schema."""
    table = frame.to_arrow().cast(schema)
    return table.to_batches()


def encode_job(
    chunks: Iterator[tuple[int, pl.DataFrame]], *, job: CodecJob
) -> Iterator[pa.RecordBatch]:
    """Encode a partition chunk by chunk; row indices from the partition input."""
    t = _transformer(job)
    for row0, chunk in chunks:
        yield from to_spark_batches(t.encode_chunk(chunk, row0, job.layout), job.schema)


def decode_job(
    chunks: Iterator[tuple[int, pl.DataFrame]], *, job: CodecJob, clip: bool
) -> Iterator[pa.RecordBatch]:
    """Decode a partition chunk by chunk."""
    t = _transformer(job)
    for _, chunk in chunks:
        yield from to_spark_batches(
            t.decode_chunk(chunk, job.layout, clip=clip), job.schema
        )
