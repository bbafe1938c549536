"""Data sources: every input a user may pass, read as a stream of chunks.

A source knows its schema and, where cheap, its row count, and yields polars
DataFrames of at most ``chunk_rows`` rows in the input's row order. Parquet is
read row group by row group, so memory stays bounded whatever the file size.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from modenorm.errors import ColumnError, SourceError

__all__ = ["ChunkTask", "Source", "open_source"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChunkTask:
    """One chunk of a source, to be read by whoever calls :meth:`load`.

    Engines call ``load`` in a worker thread, so that reading and decoding
    the input overlaps with the kernels and the writer.

    Attributes
    ----------
    row0 : int
        Index of the chunk's first row in the whole source.
    rows : int
        Number of rows ``load`` returns.
    load : callable
        Returns the chunk as a polars DataFrame.
    """

    row0: int
    rows: int
    load: Callable[[], pl.DataFrame]


class Source:
    """A table read in chunks. Subclasses implement :meth:`_chunks`."""

    description = "table"

    def __init__(self, schema: pl.Schema, num_rows: int | None) -> None:
        self.schema = schema
        self.num_rows = num_rows

    @property
    def columns(self) -> list[str]:
        """Column names in order."""
        return list(self.schema.names())

    def check_columns(self, columns: Sequence[str]) -> None:
        """Raise :class:`ColumnError` naming any column the source lacks."""
        missing = [c for c in columns if c not in self.schema]
        if missing:
            raise ColumnError(
                f"column(s) {missing} not found in {self.description}; it has "
                f"{self.columns}; check the spelling or the source"
            )

    def iter_chunks(
        self, columns: Sequence[str] | None = None, chunk_rows: int = 1 << 20
    ) -> Iterator[pl.DataFrame]:
        """Yield the selected columns in chunks of at most ``chunk_rows`` rows."""
        cols = list(columns) if columns is not None else self.columns
        self.check_columns(cols)
        for chunk in self._chunks(cols, chunk_rows):
            if chunk.height > chunk_rows:
                for start in range(0, chunk.height, chunk_rows):
                    yield chunk.slice(start, chunk_rows)
            elif chunk.height:
                yield chunk

    def _chunks(self, columns: list[str], chunk_rows: int) -> Iterator[pl.DataFrame]:
        raise NotImplementedError

    def iter_tasks(
        self, columns: Sequence[str] | None = None, chunk_rows: int = 1 << 20
    ) -> Iterator[ChunkTask]:
        """Yield :class:`ChunkTask` objects covering the source in row order.

        The default reads each chunk here, in the caller's thread; sources
        that can read a chunk independently (Parquet row groups) defer the
        reading to ``load``.
        """
        row0 = 0
        for chunk in self.iter_chunks(columns, chunk_rows):
            yield ChunkTask(row0, chunk.height, partial(_identity, chunk))
            row0 += chunk.height

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


def _identity(chunk: pl.DataFrame) -> pl.DataFrame:
    return chunk


class FrameSource(Source):
    """An in-memory polars DataFrame."""

    def __init__(self, frame: pl.DataFrame, description: str = "the DataFrame"):
        super().__init__(frame.schema, frame.height)
        self.frame = frame
        self.description = description

    def _chunks(self, columns, chunk_rows):
        frame = self.frame.select(columns)
        for start in range(0, frame.height, chunk_rows):
            yield frame.slice(start, chunk_rows)


class LazySource(Source):
    """A polars LazyFrame (also used for CSV files), collected in batches."""

    def __init__(self, lazy: pl.LazyFrame, description: str = "the LazyFrame"):
        try:
            schema = lazy.collect_schema()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise SourceError(f"cannot read {description}: {exc}") from exc
        super().__init__(schema, None)
        self.lazy = lazy
        self.description = description

    def _chunks(self, columns, chunk_rows):
        try:
            batches = self.lazy.select(columns).collect_batches(chunk_size=chunk_rows)
            yield from batches
        except pl.exceptions.PolarsError as exc:
            raise SourceError(f"cannot read {self.description}: {exc}") from exc


class ParquetSource(Source):
    """One or more Parquet files, read row group by row group."""

    def __init__(self, paths: list[Path], description: str):
        self.paths = paths
        self.description = description
        try:
            files = [pq.ParquetFile(p) for p in paths]
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(
                f"cannot read {description} as Parquet: {exc}; check that the "
                "file is complete and really Parquet"
            ) from exc
        schema = pl.Schema(pl.from_arrow(files[0].schema_arrow.empty_table()).schema)
        for path, f in zip(paths[1:], files[1:], strict=True):
            other = pl.from_arrow(f.schema_arrow.empty_table()).schema
            if other != schema:
                raise SourceError(
                    f"Parquet file {str(path)!r} has schema {dict(other)}, unlike "
                    f"{str(paths[0])!r} with {dict(schema)}; all parts of a "
                    "dataset must share one schema"
                )
        self.metadata = [f.metadata for f in files]
        super().__init__(schema, sum(m.num_rows for m in self.metadata))
        for f in files:
            f.close()

    def _chunks(self, columns, chunk_rows):
        for path in self.paths:
            try:
                with pq.ParquetFile(path) as f:
                    for batch in f.iter_batches(batch_size=chunk_rows, columns=columns):
                        yield pl.from_arrow(batch, rechunk=False)
            except (pa.ArrowInvalid, OSError) as exc:
                raise _damaged(path, exc) from exc

    def iter_tasks(self, columns=None, chunk_rows=1 << 20):
        """Yield one task per run of row groups of about ``chunk_rows`` rows.

        Row groups of at most ``2 * chunk_rows`` rows are read inside the task
        (in a worker thread), several small ones together; larger row groups
        are streamed here in batches of ``chunk_rows`` rows.
        """
        cols = list(columns) if columns is not None else self.columns
        self.check_columns(cols)
        row0 = 0
        for path, meta in zip(self.paths, self.metadata, strict=True):
            for groups, rows in _group_runs(meta, chunk_rows):
                if rows > 2 * chunk_rows:
                    for chunk in self._stream_group(path, groups[0], cols, chunk_rows):
                        yield ChunkTask(row0, chunk.height, partial(_identity, chunk))
                        row0 += chunk.height
                elif rows:
                    load = partial(_read_groups, path, meta, groups, cols, rows)
                    yield ChunkTask(row0, rows, load)
                    row0 += rows

    def _stream_group(self, path, group, columns, chunk_rows):
        try:
            with pq.ParquetFile(path) as f:
                batches = f.iter_batches(
                    batch_size=chunk_rows, row_groups=[group], columns=columns
                )
                for batch in batches:
                    yield pl.from_arrow(batch, rechunk=False)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _damaged(path, exc) from exc


def _damaged(path: Path, exc: Exception) -> SourceError:
    return SourceError(
        f"cannot read Parquet file {str(path)!r}: {exc}; the file may "
        "be truncated or damaged"
    )


def _group_runs(meta, chunk_rows: int) -> Iterator[tuple[list[int], int]]:
    """Runs of consecutive row groups holding up to ``chunk_rows`` rows each.

    A row group larger than ``chunk_rows`` forms a run of its own.
    """
    run: list[int] = []
    rows = 0
    for i in range(meta.num_row_groups):
        n = meta.row_group(i).num_rows
        if run and rows + n > chunk_rows:
            yield run, rows
            run, rows = [], 0
        run.append(i)
        rows += n
    if run:
        yield run, rows


def _read_groups(path, meta, groups, columns, rows) -> pl.DataFrame:
    """Read whole row groups of one file (called in a worker thread)."""
    try:
        with pq.ParquetFile(path, metadata=meta) as f:
            table = f.read_row_groups(groups, columns=columns, use_threads=False)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _damaged(path, exc) from exc
    if table.num_rows != rows:
        raise SourceError(
            f"Parquet file {str(path)!r}: row groups {groups} hold "
            f"{table.num_rows} rows, but its footer says {rows}; the file is "
            "damaged"
        )
    return pl.from_arrow(table, rechunk=False)


def _expand_paths(spec: str | os.PathLike) -> list[Path]:
    text = os.fspath(spec)
    if any(ch in text for ch in "*?["):
        paths = sorted(Path(p) for p in glob.glob(text, recursive=True))
    else:
        path = Path(text)
        if not path.exists():
            raise SourceError(f"source {text!r} does not exist")
        if path.is_dir():
            paths = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix == ".parquet"
            )
            if not paths:
                raise SourceError(f"folder {text!r} holds no .parquet files")
        else:
            paths = [path]
    if not paths:
        raise SourceError(f"no files match {text!r}")
    return paths


def _open_paths(paths: list[Path], description: str) -> Source:
    suffixes = {p.suffix.lower() for p in paths}
    if suffixes <= {".csv", ".tsv"}:
        if len(paths) != 1:
            return LazySource(pl.scan_csv([str(p) for p in paths]), description)
        separator = "\t" if paths[0].suffix.lower() == ".tsv" else ","
        if paths[0].stat().st_size == 0:
            raise SourceError(f"CSV file {str(paths[0])!r} is empty")
        lazy = pl.scan_csv(paths[0], separator=separator, infer_schema_length=100_000)
        return LazySource(lazy, description)
    return ParquetSource(paths, description)


def open_source(source: Any) -> Source:
    """Open anything modenorm accepts as a table.

    Parameters
    ----------
    source : path, glob, list of paths, polars DataFrame or LazyFrame, pandas
        DataFrame, pyarrow Table, or a :class:`Source`
        Parquet files (a file, a folder of part files or a glob), a CSV file,
        or an in-memory table.

    Returns
    -------
    Source

    Raises
    ------
    SourceError
        When a path does not exist or cannot be read.
    """
    if isinstance(source, Source):
        return source
    if isinstance(source, pl.DataFrame):
        return FrameSource(source)
    if isinstance(source, pl.LazyFrame):
        return LazySource(source)
    if isinstance(source, pa.Table):
        return FrameSource(pl.from_arrow(source), "the Arrow table")
    if type(source).__module__.startswith("pandas"):
        return FrameSource(pl.from_pandas(source), "the pandas DataFrame")
    if isinstance(source, str | os.PathLike):
        return _open_paths(_expand_paths(source), repr(os.fspath(source)))
    if isinstance(source, list | tuple) and source:
        paths = [p for item in source for p in _expand_paths(item)]
        return _open_paths(paths, f"{len(paths)} files")
    raise SourceError(
        f"cannot read a table from {type(source).__name__}; pass a Parquet or CSV "
        "path, a folder or glob of Parquet files, or a polars, pandas or Arrow "
        "table"
    )
