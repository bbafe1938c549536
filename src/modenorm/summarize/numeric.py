"""One-pass, mergeable summaries of numeric columns.

The fit never reads rows: it reads a summary. A first light pass
(:class:`NumericScan`) counts nulls and special values and finds the range and
the number of decimals; the second (:class:`Histogram`) fills either an exact
grid of distinct values or a fine moment histogram (count, sum and sum of
squares of in-bin offsets per bin), from which the mixture is fitted on
weighted atoms (docs/algorithms.md, section 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from modenorm.model.dtypes import to_kernel_array
from modenorm.summarize import _kernels as K

__all__ = [
    "ColumnSpec",
    "NumericScan",
    "Histogram",
    "Atoms",
    "special_keys",
    "fit_scale",
]

POWERS = np.array([10.0**d for d in range(K.MAX_DECIMALS + 1)])
FIT_MAGNITUDE_EXP = 448  # moments of values within 2**448 cannot overflow float64


def fit_scale(lo: float, hi: float) -> float:
    """Power of two that brings ``[lo, hi]`` within ``+-2**448`` (1.0 if it is).

    Squares and sums of squares of larger values overflow float64, so such a
    column is summarized and fitted in units of ``1 / scale``; scaling by a
    power of two is exact.
    """
    top = max(abs(lo), abs(hi))
    if not top > 2.0**FIT_MAGNITUDE_EXP:
        return 1.0
    _, exp = math.frexp(top)
    return math.ldexp(1.0, FIT_MAGNITUDE_EXP - exp)


def _log_span(lo: float, hi: float) -> float:
    """``log1p(hi - lo)`` without overflow in ``hi - lo``."""
    span = hi - lo
    if math.isfinite(span):
        return float(np.log1p(span))
    return math.log(hi / 2 - lo / 2) + math.log(2.0)


@dataclass
class ColumnSpec:
    """What the user asked for one column, before anything is fitted."""

    name: str
    kind: str
    dtype: pl.DataType
    specials: list[float | int] = field(default_factory=list)
    log: bool = False

    @property
    def physical(self) -> str:
        """``"int"`` or ``"float"`` for numeric kinds."""
        from modenorm.model.dtypes import physical_kind

        return physical_kind(self.dtype)


def special_keys(physical: str, specials: list[float | int]) -> np.ndarray:
    """Kernel keys of special values: float bit patterns or int64 values."""
    if physical == "int":
        return np.array([int(v) for v in specials], dtype=np.int64)
    return np.array(specials, dtype=np.float64).view(np.int64).copy()


@dataclass
class NumericScan:
    """Counts, range and decimals of one numeric column (mergeable)."""

    n_rows: int = 0
    n_null: int = 0
    n_values: int = 0
    n_nan: int = 0
    n_posinf: int = 0
    n_neginf: int = 0
    special_counts: np.ndarray | None = None
    vmin: float | int | None = None
    vmax: float | int | None = None
    decimals: int = -2  # -2: no value seen yet, -1: no finite decimals

    @classmethod
    def of_chunk(cls, spec: ColumnSpec, series: pl.Series) -> NumericScan:
        """Scan one chunk of the column."""
        values, is_null = to_kernel_array(series, spec.name)
        keys = special_keys(spec.physical, spec.specials)
        counts = np.zeros(len(keys), dtype=np.int64)
        out = cls(n_rows=len(values), n_null=int(is_null.sum()), special_counts=counts)
        if spec.physical == "int":
            n, vmin, vmax = K.scan_int(values, is_null, keys, counts)
            out.n_values, out.decimals = int(n), 0
        else:
            n, nan, pinf, ninf, vmin, vmax, dec = K.scan_float(
                values, is_null, keys, counts, POWERS, -2
            )
            out.n_values, out.n_nan, out.n_posinf, out.n_neginf = n, nan, pinf, ninf
            out.decimals = int(dec) if n else -2
        if out.n_values:
            cast = int if spec.physical == "int" else float
            out.vmin, out.vmax = cast(vmin), cast(vmax)
        return out

    def merge(self, other: NumericScan) -> NumericScan:
        """Combine with the scan of other rows (order does not matter)."""
        if self.special_counts is None:
            return other
        merged = NumericScan(
            n_rows=self.n_rows + other.n_rows,
            n_null=self.n_null + other.n_null,
            n_values=self.n_values + other.n_values,
            n_nan=self.n_nan + other.n_nan,
            n_posinf=self.n_posinf + other.n_posinf,
            n_neginf=self.n_neginf + other.n_neginf,
            special_counts=self.special_counts + other.special_counts,
        )
        ranges = [(s.vmin, s.vmax) for s in (self, other) if s.vmin is not None]
        if ranges:
            merged.vmin = min(r[0] for r in ranges)
            merged.vmax = max(r[1] for r in ranges)
        decs = [s.decimals for s in (self, other) if s.decimals != -2]
        merged.decimals = -2 if not decs else (-1 if -1 in decs else max(decs))
        return merged


@dataclass
class Atoms:
    """Weighted atoms for the mixture fit: count, mean and M2 of each bin."""

    counts: np.ndarray
    means: np.ndarray
    m2: np.ndarray
    spreads: np.ndarray

    @property
    def n_rows(self) -> float:
        """Total number of rows the atoms stand for."""
        return float(self.counts.sum())


class Histogram:
    """Grid or moment histogram of one numeric column over a known range.

    Parameters
    ----------
    spec : ColumnSpec
    scan : NumericScan
        The merged first-pass scan; gives the range and decimals.
    bins : int
        Number of moment bins when the values are not on a small grid.
    grid_cells : int
        Largest exact grid (distinct values on the decimal grid) to use.
    """

    def __init__(
        self, spec: ColumnSpec, scan: NumericScan, *, bins: int, grid_cells: int
    ):
        self.spec = spec
        self.physical = spec.physical
        self.keys = special_keys(self.physical, spec.specials)
        has_values = scan.vmin is not None
        self.offset = int(scan.vmin) if self.physical == "int" and has_values else 0
        self.log_lower = 0.0
        self.scale = 1.0
        self.mode = "grid"
        lo, hi = self._value_range(scan)
        decimals = scan.decimals
        cells = math.inf
        if decimals >= 0 and not spec.log:
            self.p_dec = 10.0**decimals
            cells = round((hi - lo) * self.p_dec) + 1
        if cells <= grid_cells:
            self.origin = lo
            self.counts = np.zeros(int(cells), dtype=np.int64)
            return
        self.mode = "moments"
        if spec.log:
            self.log_lower = lo
            lo, hi = 0.0, _log_span(lo, hi)
        else:
            self.scale = fit_scale(lo, hi)
            lo, hi = lo * self.scale, hi * self.scale
        width = (hi - lo) / bins if hi > lo else 1.0
        self.lo, self.width = lo, width
        self.counts = np.zeros(bins, dtype=np.int64)
        self.s1 = np.zeros(bins, dtype=np.int64)
        self.s2 = np.zeros(bins, dtype=np.int64)
        self.bmin = np.full(bins, np.inf)
        self.bmax = np.full(bins, -np.inf)

    def _value_range(self, scan: NumericScan) -> tuple[float, float]:
        if scan.vmin is None:
            return 0.0, 0.0
        if self.physical == "int":
            return 0.0, float(int(scan.vmax) - int(scan.vmin))
        return float(scan.vmin), float(scan.vmax)

    def empty_like(self) -> Histogram:
        """A zeroed histogram with the same bins, for another thread."""
        other = object.__new__(Histogram)
        other.__dict__.update(self.__dict__)
        other.counts = np.zeros_like(self.counts)
        if self.mode == "moments":
            other.s1 = np.zeros_like(self.s1)
            other.s2 = np.zeros_like(self.s2)
            other.bmin = np.full_like(self.bmin, np.inf)
            other.bmax = np.full_like(self.bmax, -np.inf)
        return other

    def add(self, series: pl.Series) -> None:
        """Accumulate one chunk of the column."""
        values, is_null = to_kernel_array(series, self.spec.name)
        is_int = self.physical == "int"
        keys = self.keys
        if self.scale != 1.0:
            is_null = is_null | np.isin(values.view(np.int64), keys)
            values, keys = values * self.scale, keys[:0]
        if self.mode == "grid":
            K.grid_counts(
                values,
                is_null,
                is_int,
                self.keys,
                self.offset,
                self.origin,
                self.p_dec,
                self.counts,
            )
            return
        K.moment_histogram(
            values,
            is_null,
            is_int,
            keys,
            self.offset,
            self.spec.log,
            self.log_lower,
            self.lo,
            self.width,
            self.counts,
            self.s1,
            self.s2,
            self.bmin,
            self.bmax,
        )

    def merge(self, other: Histogram) -> None:
        """Add another histogram of the same bins into this one."""
        self.counts += other.counts
        if self.mode == "moments":
            self.s1 += other.s1
            self.s2 += other.s2
            np.minimum(self.bmin, other.bmin, out=self.bmin)
            np.maximum(self.bmax, other.bmax, out=self.bmax)

    def atoms(self, max_atoms: int) -> Atoms:
        """Occupied bins as weighted atoms, coarsened to at most ``max_atoms``."""
        if self.mode == "grid":
            idx = np.flatnonzero(self.counts)
            counts = self.counts[idx].astype(np.float64)
            base = np.rint(self.origin * self.p_dec)
            means = (base + idx) / self.p_dec
            atoms = Atoms(counts, means, np.zeros_like(means), np.zeros_like(means))
        else:
            idx = np.flatnonzero(self.counts)
            n = self.counts[idx].astype(np.float64)
            s1 = self.s1[idx] / K.HIST_SCALE
            s2 = self.s2[idx] / K.HIST_SCALE
            left = self.lo + idx * self.width
            exact = self.bmin[idx] == self.bmax[idx]
            means = np.where(exact, self.bmin[idx], left + self.width * s1 / n)
            m2 = np.where(exact, 0.0, self.width**2 * np.maximum(s2 - s1 * s1 / n, 0))
            spreads = self.bmax[idx] - self.bmin[idx]
            atoms = Atoms(n, means, m2, spreads)
        return coarsen(atoms, max_atoms)


def coarsen(atoms: Atoms, max_atoms: int) -> Atoms:
    """Merge runs of adjacent atoms (exact moments, Chan's rule) to fit a budget."""
    n_atoms = len(atoms.counts)
    if n_atoms <= max_atoms:
        return atoms
    group = -(-n_atoms // max_atoms)
    starts = np.arange(0, n_atoms, group)
    counts = np.add.reduceat(atoms.counts, starts)
    sums = np.add.reduceat(atoms.counts * atoms.means, starts)
    means = sums / counts
    pivot = np.repeat(means, np.diff(np.append(starts, n_atoms)))
    dev = atoms.means - pivot
    m2 = np.add.reduceat(atoms.m2 + atoms.counts * dev * dev, starts)
    ends = np.append(starts[1:], n_atoms) - 1
    spreads = atoms.means[ends] - atoms.means[starts]
    spreads += np.maximum.reduceat(atoms.spreads, starts)
    return Atoms(counts, means, m2, spreads)
