"""The local engine: chunks streamed through a thread pool with bounded memory.

Kernels release the GIL, so a pool of threads runs them on several chunks at
once while the main thread reads the next chunk and writes finished ones in
input order. At most ``2 * threads`` chunks are in flight.
"""

from __future__ import annotations

import logging
import os
import queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import polars as pl

from modenorm.engines.progress import Progress

__all__ = ["LocalEngine", "ordered_map"]

logger = logging.getLogger(__name__)


def default_threads() -> int:
    """Threads to use by default: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def ordered_map(
    func: Callable[[Any], Any], items: Iterable[Any], threads: int
) -> Iterator[Any]:
    """Apply ``func`` on a thread pool, yielding results in input order.

    At most ``2 * threads`` items are read ahead, which bounds memory.
    """
    if threads <= 1:
        for item in items:
            yield func(item)
        return
    pending: deque[Future] = deque()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        try:
            for item in items:
                pending.append(pool.submit(func, item))
                while len(pending) >= 2 * threads:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()


class AccumulatorPool:
    """Hands one accumulator to each running task; merges them at the end."""

    def __init__(self, make: Callable[[], Any], size: int) -> None:
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self.all = [make() for _ in range(size)]
        for acc in self.all:
            self._free.put(acc)

    def run(self, func: Callable[[Any, Any], None], item: Any) -> None:
        """Call ``func(accumulator, item)`` with a free accumulator."""
        acc = self._free.get()
        try:
            func(acc, item)
        finally:
            self._free.put(acc)


class LocalEngine:
    """Run summaries, encoding and decoding over a source's chunks.

    Parameters
    ----------
    threads : int or None
        Worker threads (default: the available cores).
    chunk_rows : int
        Rows per chunk; memory grows with ``chunk_rows * threads``.
    progress : Progress or None
        Receives rows done per stage.
    """

    name = "local"

    def __init__(
        self,
        *,
        threads: int | None = None,
        chunk_rows: int = 1 << 20,
        progress: Progress | None = None,
    ) -> None:
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise ValueError(
                f"threads (--threads) must be a positive integer, got {threads!r}; "
                "leave it out to use every core"
            )
        if isinstance(chunk_rows, bool) or not (
            isinstance(chunk_rows, int) and chunk_rows >= 1
        ):
            raise ValueError(
                f"chunk_rows (--chunk-rows) must be a positive integer, got "
                f"{chunk_rows!r}"
            )
        self.threads = threads or default_threads()
        self.chunk_rows = chunk_rows
        self.progress = progress or Progress(enabled=False)

    def chunks(self, source, columns) -> Iterator[tuple[int, pl.DataFrame]]:
        """Yield ``(first row index, chunk)`` in input order."""
        row0 = 0
        for chunk in source.iter_chunks(columns, self.chunk_rows):
            yield row0, chunk
            row0 += chunk.height

    def map_chunks(
        self, stage: str, source, columns, func: Callable, total: int | None = None
    ) -> Iterator[Any]:
        """Apply ``func((row0, chunk))`` to every chunk; results in order.

        Each worker reads its own chunk (a Parquet row group is decoded in the
        worker), so reading, the kernels and the caller's writing overlap.
        """
        task = self.progress.stage(stage, total or source.num_rows)

        def run(chunk_task):
            chunk = chunk_task.load()
            return chunk.height, func((chunk_task.row0, chunk))

        try:
            for rows, result in ordered_map(
                run, source.iter_tasks(columns, self.chunk_rows), self.threads
            ):
                task.advance(rows)
                yield result
        finally:
            task.close()

    def accumulate(self, stage: str, source, columns, make, func) -> list[Any]:
        """Run ``func(acc, (row0, chunk))`` over all chunks; return accumulators."""
        pool = AccumulatorPool(make, self.threads)
        for _ in self.map_chunks(
            stage, source, columns, lambda item: pool.run(func, item)
        ):
            pass
        return pool.all


def _scan_chunk(specs, item):
    from modenorm.summarize.categorical import CategoryCounts
    from modenorm.summarize.numeric import NumericScan

    _, chunk = item
    out = {}
    for spec in specs:
        series = chunk[spec.name]
        if spec.kind == "categorical":
            out[spec.name] = CategoryCounts.of_chunk(series)
        else:
            out[spec.name] = NumericScan.of_chunk(spec, series)
    return out


def summarize_local(engine: LocalEngine, source, specs, *, bins, grid_cells):
    """Both summary passes over a source: scans, histograms and category counts.

    Returns ``(scans, histograms, categories)``, dicts keyed by column name.
    """
    from modenorm.summarize.categorical import CategoryCounts
    from modenorm.summarize.numeric import Histogram, NumericScan

    names = [s.name for s in specs]
    scans = {s.name: NumericScan() for s in specs if s.kind != "categorical"}
    cats = {
        s.name: CategoryCounts(s.name, s.dtype)
        for s in specs
        if s.kind == "categorical"
    }
    for part in engine.map_chunks(
        "summary pass", source, names, lambda item: _scan_chunk(specs, item)
    ):
        for name, value in part.items():
            if name in cats:
                cats[name].add_counts(value)
            else:
                scans[name] = scans[name].merge(value)
    numeric = [s for s in specs if s.kind != "categorical"]
    hists = {
        s.name: Histogram(s, scans[s.name], bins=bins, grid_cells=grid_cells)
        for s in numeric
    }
    if numeric and any(scans[s.name].n_values for s in numeric):

        def add(acc, item):
            for spec in numeric:
                acc[spec.name].add(item[1][spec.name])

        accs = engine.accumulate(
            "histogram pass",
            source,
            [s.name for s in numeric],
            lambda: {n: h.empty_like() for n, h in hists.items()},
            add,
        )
        for acc in accs:
            for name, hist in acc.items():
                hists[name].merge(hist)
    return scans, hists, cats
