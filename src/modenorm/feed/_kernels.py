"""Kernels that expand compact-layout rows into onehot-layout batches.

Each kernel writes one column's block of a preallocated, zero-filled float32
``(rows, width)`` matrix, reading the compact arrays at the row positions
``idx`` (a permutation for shuffled batches, a range otherwise). Writing only
the scalar and the single 1 of each block keeps the cost near one store per
block and row; the zero fill is one ``memset`` of the whole matrix.

Ranks outside the block are not written; the kernels count them so that the
caller can name the damaged column.
"""

from __future__ import annotations

import numpy as np

from modenorm._numba import strict
from modenorm.encode._rng import uniform_at

__all__ = ["fill_numeric", "fill_categorical", "permutation", "pick_matching"]


@strict
def permutation(key, out):
    """Fill ``out`` with a random permutation of ``0 .. len(out) - 1``.

    The "inside-out" Fisher-Yates shuffle (Knuth, TAOCP vol. 2, section
    3.4.2, Algorithm P, written forwards), drawing ``j`` for step ``i`` from
    the counter-based stream ``key`` (``uniform_at(key, i)``), so the result
    depends only on ``key`` and the length. ``floor(u * (i + 1))`` is biased
    by at most ``i * 2**-53``, far below any effect on training.

    Parameters
    ----------
    key : uint64
        Stream key.
    out : ndarray of int64, shape (n,)
    """
    for i in range(out.shape[0]):
        j = np.int64(uniform_at(key, i) * (i + 1))
        out[i] = out[j]
        out[j] = i


@strict
def fill_numeric(alpha, mode, idx, out, start, width):
    """Write ``alpha`` and the one-hot mode of rows ``idx`` into ``out``.

    Parameters
    ----------
    alpha : ndarray of float32 or float64, shape (n,)
    mode : ndarray of int8 or int16, shape (n,)
        Mode ranks.
    idx : ndarray of int64, shape (rows,)
        Positions in ``alpha`` and ``mode`` of the output rows.
    out : ndarray of float32, shape (rows, total width)
        Zero-filled; column ``start`` receives alpha, columns
        ``start + 1 .. start + width`` the one-hot mode.
    start, width : int
        First output column of the block, and its number of modes (0 when the
        onehot layout has no mode block for the column).

    Returns
    -------
    int
        Rows whose mode rank is outside ``0 .. width - 1`` (not written).
    """
    bad = 0
    for j in range(idx.shape[0]):
        i = idx[j]
        out[j, start] = alpha[i]
        if width == 0:
            continue
        r = np.int64(mode[i])
        if r >= 0 and r < width:
            out[j, start + 1 + r] = 1.0
        else:
            bad += 1
    return bad


@strict
def fill_categorical(rank, idx, out, start, width):
    """Write the one-hot category of rows ``idx`` into ``out``.

    Parameters
    ----------
    rank : ndarray of int8, int16 or int32, shape (n,)
        Category ranks.
    idx : ndarray of int64, shape (rows,)
    out : ndarray of float32, shape (rows, total width)
        Zero-filled; columns ``start .. start + width - 1`` receive the block.
    start, width : int

    Returns
    -------
    int
        Rows whose rank is outside ``0 .. width - 1`` (not written).
    """
    bad = 0
    for j in range(idx.shape[0]):
        r = np.int64(rank[idx[j]])
        if r >= 0 and r < width:
            out[j, start + r] = 1.0
        else:
            bad += 1
    return bad


@strict
def pick_matching(batch, starts, widths, offsets, cond_column, cond_rank, u, out):
    """Pick, for each condition, a random row of ``batch`` that satisfies it.

    A row satisfies ``(column c, rank r)`` when the arg-max of its block ``c``
    (lowest rank on ties) is ``r``. Rows are bucketed by category with a
    counting sort, so the cost is one pass over the categorical blocks plus
    one step per condition.

    Parameters
    ----------
    batch : ndarray of float32 or float64, shape (rows, total width)
    starts, widths : ndarray of int64, shape (n_columns,)
        Position and width of each categorical block in ``batch``.
    offsets : ndarray of int64, shape (n_columns + 1,)
        Cumulative widths: category ``r`` of column ``c`` is bucket
        ``offsets[c] + r``.
    cond_column, cond_rank : ndarray of int64, shape (n,)
        The conditions.
    u : ndarray of float64, shape (n,)
        Uniform numbers in [0, 1), one per condition.
    out : ndarray of int64, shape (n,)
        Receives a row index, or -1 when no row satisfies the condition.
    """
    rows = batch.shape[0]
    n_columns = starts.shape[0]
    n_buckets = offsets[n_columns]
    first = np.zeros(n_buckets + 1, dtype=np.int64)
    keys = np.empty((rows, n_columns), dtype=np.int64)
    for j in range(rows):
        for c in range(n_columns):
            best = 0
            s = starts[c]
            for r in range(1, widths[c]):
                if batch[j, s + r] > batch[j, s + best]:
                    best = r
            keys[j, c] = offsets[c] + best
            first[keys[j, c] + 1] += 1
    for b in range(n_buckets):
        first[b + 1] += first[b]
    order = np.empty(rows * n_columns, dtype=np.int64)
    fill = first[:n_buckets].copy()
    for j in range(rows):
        for c in range(n_columns):
            b = keys[j, c]
            order[fill[b]] = j
            fill[b] += 1
    for i in range(cond_column.shape[0]):
        b = offsets[cond_column[i]] + cond_rank[i]
        lo = first[b]
        count = first[b + 1] - lo
        if count == 0:
            out[i] = -1
        else:
            k = np.int64(u[i] * count)
            out[i] = order[lo + min(k, count - 1)]
