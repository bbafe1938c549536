"""Second-pass refinement of a summary where its bins are too coarse for the fit.

The error of a fit on moment-histogram atoms grows with the square of the
atoms' spread relative to the deviation of the components that share them
(docs/algorithms.md, section 3). After a first fit, atoms whose spread exceeds
``TARGET`` times the narrowest deviation among the components responsible for
them are *violators*. Their span is summarized again, finer: from the exact
grid still in memory when the column has one, otherwise by one more pass over
the data with a zoomed moment histogram.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import polars as pl

from modenorm.model.dtypes import to_kernel_array
from modenorm.summarize import _kernels as K
from modenorm.summarize.numeric import Atoms, Histogram, coarsen

__all__ = ["TARGET", "TRIGGER", "Zoom", "local_resolution", "plan_zoom", "refine_grid"]

logger = logging.getLogger(__name__)

TARGET = 1e-3
"""Atom spread / local deviation aimed at: about 1e-6 relative error."""
TRIGGER = 2e-3
"""Refine only where the ratio exceeds this, to skip borderline passes."""
MAX_ZOOM_BINS = 1 << 20
RESPONSIBLE = 1e-3


def local_resolution(atoms: Atoms, weights, means, variances) -> np.ndarray:
    """Spread of each atom over the narrowest deviation responsible for it."""
    var = np.asarray(variances, dtype=np.float64)
    d = atoms.means[:, None] - np.asarray(means)[None, :]
    logp = np.log(np.asarray(weights))[None, :] - 0.5 * np.log(var)[None, :]
    logp = logp - 0.5 * d * d / var[None, :]
    logp -= logp.max(axis=1, keepdims=True)
    resp = np.exp(logp)
    resp /= resp.sum(axis=1, keepdims=True)
    std = np.sqrt(var)
    local = np.where(resp >= RESPONSIBLE, std[None, :], np.inf).min(axis=1)
    return atoms.spreads / local


def _violation_span(atoms: Atoms, ratio: np.ndarray, variances) -> tuple | None:
    bad = ratio > TRIGGER
    if not bad.any():
        return None
    lo = float((atoms.means[bad] - atoms.spreads[bad]).min())
    hi = float((atoms.means[bad] + atoms.spreads[bad]).max())
    sd = float(np.sqrt(np.min(variances)))
    return lo, hi, sd


def refine_grid(hist: Histogram, atoms: Atoms, ratio, variances, max_atoms):
    """Finer atoms from an exact grid (no data pass), or None if not needed."""
    span = _violation_span(atoms, ratio, variances)
    if span is None:
        return None
    fine = hist.atoms(len(hist.counts) + 1)
    inside = (fine.means >= span[0]) & (fine.means <= span[1])
    n_inside = int(inside.sum())
    if n_inside <= 1:
        return None
    keep_inside = coarsen(_subset(fine, inside), max_atoms)
    outside = coarsen(_subset(fine, ~inside), max(max_atoms // 4, 1))
    return _union(keep_inside, outside)


def _subset(atoms: Atoms, mask: np.ndarray) -> Atoms:
    return Atoms(
        atoms.counts[mask], atoms.means[mask], atoms.m2[mask], atoms.spreads[mask]
    )


def _union(a: Atoms, b: Atoms) -> Atoms:
    order = np.argsort(np.concatenate([a.means, b.means]), kind="stable")
    cat = [
        np.concatenate([x, y])[order]
        for x, y in zip(
            (a.counts, a.means, a.m2, a.spreads),
            (b.counts, b.means, b.m2, b.spreads),
            strict=True,
        )
    ]
    return Atoms(*cat)


class Zoom:
    """A moment histogram over part of a column's fitted range (second pass).

    Bins are aligned with the first pass's bins, so every first-pass bin lies
    wholly inside or wholly outside the zoomed range, and values outside it
    are left out.
    """

    def __init__(self, hist: Histogram, first: int, last: int, bins: int) -> None:
        self.hist = hist
        self.first, self.last = first, last
        self.lo = hist.lo + first * hist.width
        self.hi = hist.lo + (last + 1) * hist.width
        self.width = (self.hi - self.lo) / bins
        self.counts = np.zeros(bins, dtype=np.int64)
        self.s1 = np.zeros(bins, dtype=np.int64)
        self.s2 = np.zeros(bins, dtype=np.int64)
        self.bmin = np.full(bins, np.inf)
        self.bmax = np.full(bins, -np.inf)

    def empty_like(self) -> Zoom:
        """A zeroed zoom with the same bins, for another thread."""
        other = object.__new__(Zoom)
        other.__dict__.update(self.__dict__)
        for name in ("counts", "s1", "s2"):
            setattr(other, name, np.zeros_like(getattr(self, name)))
        other.bmin = np.full_like(self.bmin, np.inf)
        other.bmax = np.full_like(self.bmax, -np.inf)
        return other

    def add(self, series: pl.Series) -> None:
        """Accumulate the values of one chunk that fall inside the zoom."""
        t, keep = fitted_values(self.hist, series)
        keep &= (t >= self.lo) & (t < self.hi)
        K.moment_histogram(
            t,
            ~keep,
            False,
            np.empty(0, np.int64),
            0,
            False,
            0.0,
            self.lo,
            self.width,
            self.counts,
            self.s1,
            self.s2,
            self.bmin,
            self.bmax,
        )

    def merge(self, other: Zoom) -> None:
        """Add another zoom of the same bins into this one."""
        self.counts += other.counts
        self.s1 += other.s1
        self.s2 += other.s2
        np.minimum(self.bmin, other.bmin, out=self.bmin)
        np.maximum(self.bmax, other.bmax, out=self.bmax)

    def atoms(self, max_atoms: int) -> Atoms:
        """First-pass atoms outside the zoom plus the zoom's finer atoms."""
        inner = _moment_atoms(
            self.counts, self.s1, self.s2, self.bmin, self.bmax, self.lo, self.width
        )
        h = self.hist
        idx = np.flatnonzero(h.counts)
        outside = (idx < self.first) | (idx > self.last)
        outer = _moment_atoms(
            h.counts, h.s1, h.s2, h.bmin, h.bmax, h.lo, h.width, idx[outside]
        )
        return _union(coarsen(inner, max_atoms), coarsen(outer, max(max_atoms // 4, 1)))


def _moment_atoms(counts, s1, s2, bmin, bmax, lo, width, idx=None) -> Atoms:
    if idx is None:
        idx = np.flatnonzero(counts)
    n = counts[idx].astype(np.float64)
    q1 = s1[idx] / K.HIST_SCALE
    q2 = s2[idx] / K.HIST_SCALE
    exact = bmin[idx] == bmax[idx]
    means = np.where(exact, bmin[idx], lo + idx * width + width * q1 / n)
    m2 = np.where(exact, 0.0, width**2 * np.maximum(q2 - q1 * q1 / n, 0))
    return Atoms(n, means, m2, bmax[idx] - bmin[idx])


def fitted_values(hist: Histogram, series: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values of a chunk in the histogram's domain, and which rows to keep."""
    values, is_null = to_kernel_array(series, hist.spec.name)
    keep = ~is_null
    if len(hist.keys):
        raw = values if hist.physical == "int" else values.view(np.int64)
        keep &= ~np.isin(raw, hist.keys)
    if hist.physical == "int":
        t = (values - hist.offset).astype(np.float64)
    else:
        t = values.astype(np.float64) * hist.scale
    if hist.spec.log:
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.log1p(t - hist.log_lower)
    keep &= np.isfinite(t)
    return np.where(keep, t, 0.0), keep


def plan_zoom(hist: Histogram, atoms: Atoms, ratio, variances) -> Zoom | None:
    """A zoom over the first-pass bins holding violators, or None."""
    if hist.mode != "moments":
        return None
    span = _violation_span(atoms, ratio, variances)
    if span is None:
        return None
    lo, hi, sd = span
    first = max(int(math.floor((lo - hist.lo) / hist.width)), 0)
    last = min(int(math.floor((hi - hist.lo) / hist.width)), len(hist.counts) - 1)
    width_needed = TARGET * sd
    bins = int(
        min(MAX_ZOOM_BINS, math.ceil((last + 1 - first) * hist.width / width_needed))
    )
    if bins <= last + 1 - first:
        return None
    return Zoom(hist, first, last, bins)
