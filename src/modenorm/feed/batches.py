"""Training batches: compact-layout encoded data as onehot float32 matrices.

A :class:`BatchReader` streams an encoded table in the compact layout (one
scalar and one mode rank per numeric column, one rank per categorical column)
and yields C-contiguous float32 matrices in the onehot layout that
``output_info`` describes, expanding the ranks on the fly with the kernels of
:mod:`modenorm.feed._kernels`. Memory stays bounded: Parquet is read row group
by row group in record batches, never as a whole file.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from modenorm.encode.columns import NumericCodec
from modenorm.encode.layout import block_names, output_info
from modenorm.errors import SchemaMismatchError, SourceError
from modenorm.feed._kernels import fill_categorical, fill_numeric, permutation
from modenorm.io.sources import FrameSource, ParquetSource, Source, open_source

__all__ = ["Block", "BatchReader", "batch_blocks"]

logger = logging.getLogger(__name__)

READ_ROWS = 1 << 16
"""Rows per record batch read from a source."""

Arrays = dict[str, np.ndarray]
Unit = Callable[[], Iterator[Arrays]]


@dataclass(frozen=True)
class Block:
    """Where one column lives in the compact input and in the onehot output.

    Attributes
    ----------
    name : str
        The column.
    kind : {"numeric", "categorical"}
    start : int
        First output column of the block: the scalar of a numeric column, the
        first category of a categorical one.
    width : int
        Modes or categories in the one-hot part (0 for a min-max column with a
        single mode, which has no mode block).
    inputs : tuple of str
        Compact columns read: ``(<col>.alpha, <col>.mode)`` or
        ``(<col>.category,)``.
    """

    name: str
    kind: str
    start: int
    width: int
    inputs: tuple[str, ...]

    @property
    def stop(self) -> int:
        """One past the last output column of the block."""
        return self.start + self.width + (self.kind == "numeric")


def batch_blocks(codecs) -> list[Block]:
    """Blocks of every fitted column, in the order of ``output_info``."""
    blocks = []
    start = 0
    for codec in codecs:
        inputs = tuple(block_names(codec, "compact"))
        if isinstance(codec, NumericCodec):
            block = Block(codec.name, "numeric", start, codec.col.onehot_width, inputs)
        else:
            block = Block(codec.name, "categorical", start, codec.n_categories, inputs)
        blocks.append(block)
        start = block.stop
    return blocks


def _check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _column_arrays(columns: list[str], get, description: str) -> Arrays:
    arrays = {}
    for name in columns:
        values, nulls = get(name)
        if nulls:
            raise SchemaMismatchError(
                f"column {name!r} of {description} holds {nulls} nulls; the compact "
                "layout has none there; the data is damaged or was not written by "
                "modenorm's transform"
            )
        arrays[name] = values
    return arrays


def _record_batch_arrays(batch: pa.RecordBatch, columns: list[str], where: str):
    def get(name):
        column = batch.column(name)
        return column.to_numpy(zero_copy_only=False), column.null_count

    return _column_arrays(columns, get, where)


def _frame_arrays(frame: pl.DataFrame, columns: list[str], where: str) -> Arrays:
    def get(name):
        series = frame.get_column(name)
        return series.to_numpy(), series.null_count()

    return _column_arrays(columns, get, where)


def _read_row_group(path, group: int, columns: list[str], read_rows: int):
    where = f"Parquet file {str(path)!r}"
    try:
        with pq.ParquetFile(path) as f:
            for batch in f.iter_batches(
                batch_size=read_rows, row_groups=[group], columns=columns
            ):
                yield _record_batch_arrays(batch, columns, where)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceError(
            f"cannot read row group {group} of {where}: {exc}; the file may be "
            "truncated or damaged"
        ) from exc


def _read_slice(frame: pl.DataFrame, start: int, rows: int, columns: list[str]):
    yield _frame_arrays(frame.slice(start, rows), columns, "the DataFrame")


def _read_stream(src: Source, columns: list[str], read_rows: int):
    for chunk in src.iter_chunks(columns, read_rows):
        yield _frame_arrays(chunk, columns, src.description)


def _units(src: Source, columns: list[str], read_rows: int) -> list[Unit]:
    """Split a source into units whose order a shuffle may permute."""
    if isinstance(src, ParquetSource):
        units = []
        for path in src.paths:
            with pq.ParquetFile(path) as f:
                groups = f.metadata.num_row_groups
            units += [
                partial(_read_row_group, path, g, columns, read_rows)
                for g in range(groups)
            ]
        return units
    if isinstance(src, FrameSource):
        frame = src.frame.select(columns)
        return [
            partial(_read_slice, frame, start, read_rows, columns)
            for start in range(0, frame.height, read_rows)
        ]
    return [partial(_read_stream, src, columns, read_rows)]


_END = object()


def _read_ahead(items: Iterator, depth: int) -> Iterator:
    """Run the iterator ``items`` in a background thread, ``depth`` items ahead.

    Errors raised while reading are raised again in the consumer. Closing the
    returned generator (breaking out of a loop over it) stops the thread after
    the item it is reading.
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((None, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name="modenorm-batches", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()


class BatchReader:
    """Float32 training batches in the onehot layout, read from compact data.

    Iterating over the reader makes one pass (an epoch) over the source and
    yields matrices of shape ``(batch_size, width)``; the last one is shorter
    unless ``drop_last`` is set. Each new iteration is a new epoch. Every
    matrix is a fresh C-contiguous float32 array (``torch.from_numpy`` and
    ``jax.numpy.asarray`` wrap it without copying) that the reader never
    touches again. Columns follow ``output_info``: per numeric column the
    scalar alpha, then one 0/1 column per mode in rank order; per categorical
    column one 0/1 column per category in rank order. The exact side channel
    is not read.

    Parameters
    ----------
    codecs : list of NumericCodec or CategoricalCodec
        The fitted columns (``Transformer.codecs``).
    source : path, glob, folder, list of paths, or polars DataFrame
        Encoded data in the compact layout: Parquet written by
        ``Transformer.transform`` or an in-memory DataFrame it returned. Other
        sources ``open_source`` accepts (a LazyFrame, say) are read as one
        stream.
    batch_size : int
        Rows per batch.
    shuffle : bool, default False
        Shuffle the rows (see Notes); otherwise keep the table's row order.
    seed : int, optional
        Seed of the shuffle. With a seed, epoch ``e`` is the same whenever it
        is read; without one, every epoch draws fresh entropy.
    drop_last : bool, default False
        Skip the last batch when it is shorter than ``batch_size``.
    buffer_rows : int, default 1_048_576
        Rows held and permuted together when shuffling. A shuffled pass holds
        up to four buffers of compact rows at once (two without ``prefetch``):
        a compact row takes 5 to 10 bytes per numeric column and 1 to 4 per
        categorical one, so about 64 MiB for four columns at the default.
    read_rows : int, default 65_536
        Rows per record batch read from the source; also the unit a shuffle
        permutes in a DataFrame.
    prefetch : bool, default True
        Read (and, when shuffling, permute) the next part of the source in a
        background thread while batches are expanded. Reading Parquet and
        expanding cost about the same, so this nearly doubles the rate when a
        second core is free. It holds one more record batch, or one more
        shuffle buffer, in memory.

    Raises
    ------
    SchemaMismatchError
        The source lacks a compact column of the model, or a column has the
        wrong type.
    SourceError
        The source cannot be read.

    Notes
    -----
    The shuffle is a two-level block shuffle, not a uniform permutation of the
    whole table. First the order of the units is permuted: the row groups of
    all Parquet files (or slices of ``read_rows`` rows of a DataFrame; a
    streamed source is one unit). Then rows are read in that order into a
    buffer of at least ``buffer_rows`` rows (whole record batches), the buffer
    is permuted uniformly, and batches are cut from it in that order; a batch
    left incomplete at the end of a buffer is completed from the next buffer.
    Every row appears exactly once per epoch, and two rows can share a batch
    only when their units fall into the same (or an adjacent) buffer, so a
    table sorted by some column keeps some of that order across batches
    unless ``buffer_rows`` spans several row groups. Write the encoded table
    with row groups well below ``buffer_rows`` (``ParquetSink`` writes
    1,048,576-row groups) for a better mix.
    """

    def __init__(
        self,
        codecs,
        source: Any,
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int | None = None,
        drop_last: bool = False,
        buffer_rows: int = 1 << 20,
        read_rows: int = READ_ROWS,
        prefetch: bool = True,
    ) -> None:
        self.batch_size = _check_positive("batch_size", batch_size)
        self.buffer_rows = _check_positive("buffer_rows", buffer_rows)
        self.read_rows = _check_positive("read_rows", read_rows)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.prefetch = bool(prefetch)
        self.blocks = batch_blocks(codecs)
        self.output_info = output_info(codecs)
        self.columns = [n for c in codecs for n in block_names(c, "onehot")]
        self.width = len(self.columns)
        self._inputs = [n for b in self.blocks for n in b.inputs]

        self._source = open_source(source)
        self._check_schema(self._source)
        self.num_rows = self._source.num_rows
        self._units = _units(self._source, self._inputs, self.read_rows)
        self._range = np.arange(self.read_rows, dtype=np.int64)
        if seed is None:
            seed = np.random.SeedSequence().entropy
        self._seed = seed
        self._epoch = 0

    def _check_schema(self, src: Source) -> None:
        missing = [n for n in self._inputs if n not in src.schema]
        if missing:
            hint = (
                "the data looks like the onehot layout; encode with "
                "layout='compact' to read batches"
                if any(n.startswith(f"{missing[0]}.") for n in src.columns)
                else "pass data encoded by this model in the compact layout"
            )
            raise SchemaMismatchError(
                f"compact column(s) {missing[:5]} of the model are missing from "
                f"{src.description}, which has {src.columns[:8]}; {hint}"
            )
        for block in self.blocks:
            for name in block.inputs:
                dtype = src.schema[name]
                want_float = name.endswith(".alpha")
                ok = dtype.is_float() if want_float else dtype.is_integer()
                if not ok:
                    expected = "a float" if want_float else "an integer"
                    raise SchemaMismatchError(
                        f"column {name!r} of {src.description} has type {dtype}; "
                        f"the compact layout stores {expected} there; pass data "
                        "encoded by this model in the compact layout"
                    )

    def __len__(self) -> int:
        """Batches per epoch (only when the source's row count is known)."""
        if self.num_rows is None:
            raise TypeError("the source does not know its row count in advance")
        if self.drop_last:
            return self.num_rows // self.batch_size
        return math.ceil(self.num_rows / self.batch_size)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Start the next epoch."""
        epoch = self._epoch
        self._epoch += 1
        return self.epoch(epoch)

    def epoch(self, number: int) -> Iterator[np.ndarray]:
        """Iterate over epoch ``number`` (its shuffle depends on seed and number).

        Parameters
        ----------
        number : int
            Epoch index, from 0. Iterating over the reader itself runs epochs
            0, 1, 2, ... in turn.
        """
        rng = None
        if self.shuffle:
            rng = np.random.default_rng(np.random.SeedSequence([self._seed, number]))
        logger.debug(
            "epoch %d: %s rows in %d units, shuffle=%s",
            number,
            self.num_rows,
            len(self._units),
            self.shuffle,
        )
        return self._batches(rng)

    def _batches(self, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
        size = self.batch_size
        out = np.zeros((size, self.width), dtype=np.float32)
        pos = 0
        segments = self._segments(rng)
        if self.prefetch:
            segments = _read_ahead(segments, depth=1 if self.shuffle else 2)
        for arrays, idx in segments:
            done = 0
            while done < len(idx):
                take = min(size - pos, len(idx) - done)
                self._fill(arrays, idx[done : done + take], out[pos : pos + take])
                pos += take
                done += take
                if pos == size:
                    yield out
                    out = np.zeros((size, self.width), dtype=np.float32)
                    pos = 0
        if pos and not self.drop_last:
            yield out[:pos]

    def _segments(self, rng) -> Iterator[tuple[Arrays, np.ndarray]]:
        """Yield ``(compact arrays, row positions)`` in output order."""
        units = self._units
        if rng is not None:
            units = [units[i] for i in rng.permutation(len(units))]
        pieces = (piece for unit in units for piece in unit())
        if rng is None:
            for piece in pieces:
                rows = len(piece[self._inputs[0]])
                if rows:
                    yield piece, self._positions(rows)
            return
        buffer, rows = [], 0
        for piece in pieces:
            buffer.append(piece)
            rows += len(piece[self._inputs[0]])
            if rows >= self.buffer_rows:
                yield self._shuffled(buffer, rows, rng)
                buffer, rows = [], 0
        if rows:
            yield self._shuffled(buffer, rows, rng)

    def _positions(self, rows: int) -> np.ndarray:
        # read once: two epochs may run at once, each in its own thread
        positions = self._range
        if rows > len(positions):
            positions = np.arange(rows, dtype=np.int64)
            self._range = positions
        return positions[:rows]

    def _shuffled(self, buffer: list[Arrays], rows: int, rng) -> tuple:
        # Gathering one column at a time keeps each random access pattern
        # within one array, which is faster than gathering every column of a
        # row at once in the kernels; these then read the buffer in order.
        perm = np.empty(rows, dtype=np.int64)
        permutation(rng.integers(0, 1 << 64, dtype=np.uint64), perm)
        arrays = {}
        for name in self._inputs:
            whole = buffer[0][name] if len(buffer) == 1 else None
            if whole is None:
                whole = np.concatenate([piece[name] for piece in buffer])
            arrays[name] = np.take(whole, perm)
        return arrays, self._positions(rows)

    def _fill(self, arrays: Arrays, idx: np.ndarray, out: np.ndarray) -> None:
        for block in self.blocks:
            if block.kind == "numeric":
                alpha, mode = (arrays[n] for n in block.inputs)
                bad = fill_numeric(alpha, mode, idx, out, block.start, block.width)
            else:
                rank = arrays[block.inputs[0]]
                bad = fill_categorical(rank, idx, out, block.start, block.width)
            if bad:
                raise SchemaMismatchError(
                    f"column {block.name!r}: {bad} rows have a rank outside "
                    f"0..{block.width - 1}; the encoded data does not belong to "
                    "this model"
                )

    def __repr__(self) -> str:
        return (
            f"<BatchReader {self._source.description}: {self.num_rows} rows, "
            f"batch_size={self.batch_size}, width={self.width}, "
            f"shuffle={self.shuffle}>"
        )
