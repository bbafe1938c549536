"""One streaming pass that gathers what the report draws, in bounded memory.

For every continuous, mixed or min-max column the pass fills a fixed-bin
histogram of the values in the fitted domain (the domain the mixture was
fitted in), counts the rows each mode receives when the chunk is encoded
exactly as :meth:`Transformer.transform` would encode it, and histograms the
resulting ``alpha``. For every categorical column it counts the rows of each
fitted category and the values not seen at fit time. Memory is one chunk per
thread plus a few hundred numbers per column, whatever the number of rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from modenorm.encode.columns import CategoricalCodec, NumericCodec
from modenorm.encode.numeric_kernels import KIND_GAUSSIAN
from modenorm.engines.local import LocalEngine
from modenorm.engines.progress import Progress
from modenorm.fit.scoring import fitted_domain
from modenorm.io.sources import open_source
from modenorm.model.schema import CategoricalColumn, NumericColumn

__all__ = [
    "NumericSummary",
    "CategoricalSummary",
    "collect_report_data",
    "histogram_edges",
    "fitted_range",
    "to_fitted",
]

ALPHA_EDGES = np.linspace(-1.0, 1.0, 41)


@dataclass
class NumericSummary:
    """What the report shows for one continuous, mixed or min-max column.

    Attributes
    ----------
    column : NumericColumn
        The fitted column.
    edges : ndarray of float64, shape (bins + 1,)
        Histogram edges in the fitted domain.
    counts : ndarray of int64, shape (bins,)
        Rows per bin (finite values that are neither null nor special).
    below, above : int
        Such values left or right of the edges.
    mode_rows : ndarray of int64, shape (n_modes,)
        Rows that chose each mode (in rank order) when the data was encoded.
    alpha_counts : ndarray of int64, shape (40,)
        Histogram of ``alpha`` over :data:`ALPHA_EDGES` for rows encoded with a
        Gaussian mode.
    exact_rows : int
        Rows whose value went through the exact side channel.
    rows : int
        Rows read.
    """

    column: NumericColumn
    edges: np.ndarray
    counts: np.ndarray
    below: int = 0
    above: int = 0
    mode_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    alpha_counts: np.ndarray = field(
        default_factory=lambda: np.zeros(len(ALPHA_EDGES) - 1, np.int64)
    )
    exact_rows: int = 0
    rows: int = 0

    @property
    def n_fitted(self) -> int:
        """Rows whose value is in the fitted domain (inside the edges or not)."""
        return int(self.counts.sum()) + self.below + self.above


@dataclass
class CategoricalSummary:
    """Rows per fitted category (rank order) and rows with unseen values."""

    column: CategoricalColumn
    counts: np.ndarray
    unseen: int = 0
    rows: int = 0


def to_fitted(col: NumericColumn, value: float | int) -> float:
    """One value of the column (data units) in the fitted domain."""
    v = float(int(value) - col.offset) if col.physical == "int" else float(value)
    if col.log:
        v = math.log1p(v - col.log_lower)
    return v


def fitted_range(col: NumericColumn) -> tuple[float, float] | None:
    """The stretch of the fitted domain worth drawing, or None without values.

    The Gaussian modes' ``mean +- 4 std`` (where the encoding keeps
    ``|alpha| <= 1``), cut to the data's range. Values outside are counted, not
    drawn, so one far outlier does not squeeze the picture.
    """
    lo_data, hi_data = col.stats.get("min"), col.stats.get("max")
    if lo_data is None or hi_data is None:
        return None
    lo_data, hi_data = to_fitted(col, lo_data), to_fitted(col, hi_data)
    if not (math.isfinite(lo_data) and math.isfinite(hi_data)):
        return None
    gauss = [m for m in col.modes if m.kind == "gaussian"]
    if not gauss:
        return lo_data, hi_data
    lo = min(m.mean - 4 * m.std for m in gauss)
    hi = max(m.mean + 4 * m.std for m in gauss)
    return max(lo, lo_data), min(hi, hi_data)


def _grid_step(col: NumericColumn) -> float | None:
    """Spacing of the values in the fitted domain, when they lie on a grid."""
    if col.log:
        return None
    if col.physical == "int":
        return 1.0
    return 10.0**-col.decimals if col.decimals >= 0 else None


def histogram_edges(col: NumericColumn, target_bins: int = 100) -> np.ndarray | None:
    """Histogram edges in the fitted domain, aligned to the data's grid.

    Integers and decimals lie on a grid; bins then hold a whole number of grid
    points each (one point per bin when there are few), so no bin is emptier
    than its neighbours by accident of alignment.
    """
    span = fitted_range(col)
    if span is None:
        return None
    lo, hi = span
    step = _grid_step(col)
    if step is not None:
        first = math.floor(lo / step + 1e-9)
        last = math.ceil(hi / step - 1e-9)
        cells = last - first + 1
        per_bin = max(1, math.ceil(cells / target_bins))
        n_bins = math.ceil(cells / per_bin)
        start = (first - 0.5) * step
        return start + np.arange(n_bins + 1) * per_bin * step
    if hi <= lo:
        half = max(abs(lo) * 1e-6, 1e-9)
        return np.array([lo - half, lo + half])
    return np.linspace(lo, hi, target_bins + 1)


def _numeric_chunk(summary: NumericSummary, codec: NumericCodec, series, row0):
    col = summary.column
    edges = summary.edges
    x = fitted_domain(col, series)
    counts, _ = np.histogram(x, bins=edges)
    below = int(np.count_nonzero(x < edges[0]))
    above = int(np.count_nonzero(x > edges[-1]))
    enc = codec.encode(series, row0)
    mode = enc["mode"].astype(np.int64)
    mode_rows = np.bincount(mode, minlength=codec.n_modes)
    gaussian = (codec.rank_kind[mode] == KIND_GAUSSIAN) & ~enc["exact_flag"]
    alpha = enc["alpha"][gaussian].astype(np.float64)
    alpha_counts, _ = np.histogram(np.clip(alpha, -1.0, 1.0), bins=ALPHA_EDGES)
    exact = int(np.count_nonzero(enc["exact_flag"]))
    return counts, below, above, mode_rows, alpha_counts, exact


def _categorical_chunk(codec: CategoricalCodec, series: pl.Series) -> np.ndarray:
    if series.dtype == pl.Categorical:
        series = series.cast(pl.String)
    ranks = series.replace_strict(
        codec.values, codec.ranks, default=-1, return_dtype=pl.Int64
    ).to_numpy()
    return np.bincount(ranks + 1, minlength=codec.n_categories + 1)


def collect_report_data(
    transformer: Any,
    source: Any,
    *,
    hist_bins: int = 100,
    threads: int | None = None,
    chunk_rows: int = 1 << 20,
    progress: Progress | None = None,
) -> list[NumericSummary | CategoricalSummary]:
    """Read ``source`` once and summarize every fitted column for the report.

    Parameters
    ----------
    transformer : Transformer
        A fitted transformer; its codecs encode the chunks.
    source : path, glob, DataFrame, LazyFrame, pandas DataFrame or Arrow table
        The data to describe, usually the table the model was fitted on.
    hist_bins : int, default 100
        Largest number of histogram bars per numeric column.
    threads : int, optional
        Worker threads (default: all cores).
    chunk_rows : int, default 1_048_576
        Rows per chunk; memory grows with ``chunk_rows * threads``.
    progress : Progress, optional
        Receives the rows done of the ``report pass`` stage.

    Returns
    -------
    list of NumericSummary or CategoricalSummary
        One entry per column of the model, in model order.

    Raises
    ------
    SchemaMismatchError
        A column of the model is missing from the data or has another type.
    """
    src = open_source(source)
    transformer._check_source_columns(src)
    codecs = transformer.codecs
    summaries: list[NumericSummary | CategoricalSummary] = []
    for codec in codecs:
        if isinstance(codec, NumericCodec):
            edges = histogram_edges(codec.col, hist_bins)
            if edges is None:
                edges = np.array([0.0, 1.0])
            summaries.append(
                NumericSummary(
                    codec.col,
                    edges,
                    np.zeros(len(edges) - 1, np.int64),
                    mode_rows=np.zeros(codec.n_modes, np.int64),
                )
            )
        else:
            summaries.append(
                CategoricalSummary(codec.col, np.zeros(codec.n_categories, np.int64))
            )

    def chunk_parts(item):
        row0, chunk = item
        parts = []
        for summary, codec in zip(summaries, codecs, strict=True):
            series = chunk[codec.name]
            if isinstance(codec, NumericCodec):
                parts.append(_numeric_chunk(summary, codec, series, row0))
            else:
                parts.append(_categorical_chunk(codec, series))
        return chunk.height, parts

    engine = LocalEngine(threads=threads, chunk_rows=chunk_rows, progress=progress)
    names = [c.name for c in codecs]
    for height, parts in engine.map_chunks("report pass", src, names, chunk_parts):
        for summary, part in zip(summaries, parts, strict=True):
            summary.rows += height
            if isinstance(summary, NumericSummary):
                counts, below, above, mode_rows, alpha_counts, exact = part
                summary.counts += counts
                summary.below += below
                summary.above += above
                summary.mode_rows += mode_rows
                summary.alpha_counts += alpha_counts
                summary.exact_rows += exact
            else:
                summary.unseen += int(part[0])
                summary.counts += part[1:]
    return summaries
