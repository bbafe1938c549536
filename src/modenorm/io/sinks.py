"""Outputs written atomically: under a temporary name, moved into place at the end.

A run killed at any moment leaves either no output or the previous one, never
a partial file that looks complete.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import uuid
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from modenorm.errors import OutputExistsError, SourceError

__all__ = ["ParquetSink", "atomic_write_text", "check_output"]

COMPRESSIONS = ("zstd", "snappy", "lz4", "gzip", "none")


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial-{uuid.uuid4().hex[:8]}")


MODEL_KEY = "modenorm.model"
"""Parquet key-value metadata naming the model that encoded a file."""


def parquet_model_fingerprint(path) -> str | None:
    """The model fingerprint an encoded Parquet file carries, if any."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError):
        return None
    value = meta.get(MODEL_KEY.encode())
    return value.decode() if value else None


def check_output(path: Path, overwrite: bool) -> None:
    """Refuse an existing output unless ``overwrite`` is set."""
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"output {str(path)!r} exists already; pass --overwrite "
            "(overwrite=True) to replace it, or choose another path"
        )
    if not path.parent.exists():
        raise SourceError(f"folder {str(path.parent)!r} of the output does not exist")


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file under a temporary name, then move it into place."""
    tmp = _temp_name(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class ParquetSink:
    """Write chunks to Parquet: one file, or a folder of part files.

    Chunks are written by a background thread, so that compression and I/O
    overlap with the encoding of the next chunks; at most ``queue_chunks``
    chunks wait for it. Errors of that thread are raised by the next
    :meth:`write` or by :meth:`commit`.

    Parameters
    ----------
    path : Path
        Final output path (a file, or a folder when ``part_rows`` is set).
    compression : str
        One of ``zstd``, ``snappy``, ``lz4``, ``gzip`` or ``none``.
    part_rows : int or None
        When set, write a folder of part files of about this many rows each.
    overwrite : bool
        Replace an existing output.
    row_group_rows : int
        Largest row group.
    queue_chunks : int
        Chunks that may wait for the writer thread; 0 writes in the caller's
        thread.

    Notes
    -----
    Dictionary encoding is used for integer, boolean and text columns (mode
    and category ranks compress to a few bits per row) and not for float
    columns, whose dictionaries rarely pay off and triple the writing time.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        compression: str = "zstd",
        part_rows: int | None = None,
        overwrite: bool = False,
        row_group_rows: int = 1 << 20,
        queue_chunks: int = 2,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.metadata = {k.encode(): v.encode() for k, v in (metadata or {}).items()}
        if compression not in COMPRESSIONS:
            raise ValueError(
                f"compression {compression!r} is not one of {', '.join(COMPRESSIONS)}"
            )
        self.path = Path(path)
        check_output(self.path, overwrite)
        self.compression = compression
        self.part_rows = part_rows
        self.row_group_rows = row_group_rows
        self.rows_written = 0
        self._tmp = _temp_name(self.path)
        self._writer: pq.ParquetWriter | None = None
        self._part = 0
        self._part_rows_written = 0
        if part_rows:
            self._tmp.mkdir()
        self._error: BaseException | None = None
        self._aborting = False
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        if queue_chunks > 0:
            self._queue = queue.Queue(maxsize=queue_chunks)
            self._thread = threading.Thread(
                target=self._drain, name="modenorm-parquet-writer", daemon=True
            )
            self._thread.start()

    def _open_writer(self, schema: pa.Schema) -> pq.ParquetWriter:
        target = self._tmp
        if self.part_rows:
            target = self._tmp / f"part-{self._part:05d}.parquet"
        if self.metadata:
            schema = schema.with_metadata({**(schema.metadata or {}), **self.metadata})
        dictionary = [f.name for f in schema if not pa.types.is_floating(f.type)]
        return pq.ParquetWriter(
            target,
            schema,
            compression=self.compression,
            use_dictionary=dictionary or False,
        )

    def write(self, chunk: pl.DataFrame) -> None:
        """Append one chunk (queued for the writer thread)."""
        self._raise_error()
        self.rows_written += chunk.height
        if self._queue is None:
            self._write_now(chunk)
        else:
            self._queue.put(chunk)

    def _write_now(self, chunk: pl.DataFrame) -> None:
        table = chunk.to_arrow()
        if self.metadata:
            table = table.replace_schema_metadata(
                {**(table.schema.metadata or {}), **self.metadata}
            )
        if not self.part_rows:
            self._write_table(table)
            return
        while table.num_rows:
            if self._part_rows_written >= self.part_rows:
                self._writer.close()
                self._writer = None
                self._part += 1
                self._part_rows_written = 0
            room = self.part_rows - self._part_rows_written
            self._write_table(table.slice(0, room))
            table = table.slice(room)

    def _write_table(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = self._open_writer(table.schema)
        self._writer.write_table(table, row_group_size=self.row_group_rows)
        self._part_rows_written += table.num_rows

    def _drain(self) -> None:
        while True:
            chunk = self._queue.get()
            if chunk is None:
                return
            if self._error is not None or self._aborting:
                continue
            try:
                self._write_now(chunk)
            except BaseException as exc:  # re-raised in the caller's thread
                self._error = exc

    def _stop_thread(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def commit(self, empty_schema: pa.Schema | None = None) -> Path:
        """Finish writing and move the output into place."""
        self._stop_thread()
        self._raise_error()
        if self._writer is None:
            if empty_schema is None:
                empty_schema = pa.schema([])
            self._writer = self._open_writer(empty_schema)
        self._writer.close()
        self._writer = None
        if self.path.is_dir() and not self.path.is_symlink():
            shutil.rmtree(self.path)
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop everything written so far."""
        self._aborting = True
        self._stop_thread()
        self._error = None
        if self._writer is not None:
            try:
                self._writer.close()
            except (OSError, pa.ArrowException):
                pass
            self._writer = None
        if self._tmp.is_dir():
            shutil.rmtree(self._tmp, ignore_errors=True)
        elif self._tmp.exists():
            self._tmp.unlink()

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self._stop_thread()
