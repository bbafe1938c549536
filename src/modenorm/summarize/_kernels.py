"""Streaming summary kernels: one pass over a chunk, results merge by addition."""

from __future__ import annotations

import numpy as np

from modenorm._numba import strict

MAX_DECIMALS = 15
NO_DECIMALS = -1
TWO_52 = 4503599627370496.0
HIST_SCALE = 1073741824.0  # 2**30: fixed-point scale of in-bin offsets


@strict
def _decimals_ok(x, d, powers):
    p = powers[d]
    if abs(x) * p >= TWO_52:
        return False
    return np.rint(x * p) / p == x


@strict
def scan_float(x, is_null, sp_bits, sp_counts, powers, decimals_in):
    """Scan float64 values for counts, range and the number of decimals.

    Returns ``(n_values, n_nan, n_posinf, n_neginf, vmin, vmax, decimals)``;
    ``sp_counts`` is incremented in place. Special values and non-finite values
    are left out of the range. ``decimals`` is the smallest count of decimals
    that reproduces every value, or -1 when none up to 15 does.
    """
    bits = x.view(np.int64)
    n_values = 0
    n_nan = 0
    n_posinf = 0
    n_neginf = 0
    vmin = np.inf
    vmax = -np.inf
    dec = decimals_in
    for i in range(x.shape[0]):
        if is_null[i]:
            continue
        special = False
        for s in range(sp_bits.shape[0]):
            if bits[i] == sp_bits[s]:
                sp_counts[s] += 1
                special = True
                break
        if special:
            continue
        v = x[i]
        if np.isnan(v):
            n_nan += 1
            continue
        if np.isinf(v):
            if v > 0:
                n_posinf += 1
            else:
                n_neginf += 1
            continue
        n_values += 1
        vmin = min(vmin, v)
        vmax = max(vmax, v)
        if dec == NO_DECIMALS:
            continue
        if dec >= 0 and _decimals_ok(v, dec, powers):
            continue
        found = NO_DECIMALS
        for d in range(max(dec, 0), MAX_DECIMALS + 1):
            if _decimals_ok(v, d, powers):
                found = d
                break
        dec = found
    return n_values, n_nan, n_posinf, n_neginf, vmin, vmax, dec


@strict
def scan_int(x, is_null, sp_vals, sp_counts):
    """Scan int64 values: ``(n_values, vmin, vmax)``; specials counted in place."""
    n_values = 0
    vmin = np.iinfo(np.int64).max
    vmax = np.iinfo(np.int64).min
    for i in range(x.shape[0]):
        if is_null[i]:
            continue
        special = False
        for s in range(sp_vals.shape[0]):
            if x[i] == sp_vals[s]:
                sp_counts[s] += 1
                special = True
                break
        if special:
            continue
        n_values += 1
        vmin = min(vmin, x[i])
        vmax = max(vmax, x[i])
    return n_values, vmin, vmax


@strict
def _value_at(x, i, is_int, offset, log_flag, log_lower):
    if is_int:
        v = np.float64(x[i] - offset)
    else:
        v = np.float64(x[i])
    if log_flag:
        v = np.log1p(v - log_lower)
    return v


@strict
def _skip(x, i, is_null, is_int, sp_keys):
    if is_null[i]:
        return True
    if is_int:
        key = np.int64(x[i])
    else:
        key = np.float64(x[i]).view(np.int64)
    for s in range(sp_keys.shape[0]):
        if key == sp_keys[s]:
            return True
    return False


@strict
def grid_counts(x, is_null, is_int, sp_keys, offset, origin, p_dec, counts):
    """Count values on the grid ``origin + j / p_dec`` (exact distinct values)."""
    n_cells = counts.shape[0]
    for i in range(x.shape[0]):
        if _skip(x, i, is_null, is_int, sp_keys):
            continue
        v = _value_at(x, i, is_int, offset, False, 0.0)
        if not np.isfinite(v):
            continue
        j = np.int64(np.rint((v - origin) * p_dec))
        if j >= 0 and j < n_cells:
            counts[j] += 1


@strict
def moment_histogram(
    x,
    is_null,
    is_int,
    sp_keys,
    offset,
    log_flag,
    log_lower,
    lo,
    width,
    counts,
    s1,
    s2,
    bmin,
    bmax,
):
    """Accumulate per-bin count, fixed-point sums of offsets, minimum and maximum.

    Offsets ``d = t - left_edge`` are stored as integers scaled by 2**30 of the
    bin width, so partial histograms merge exactly in any order.
    """
    n_bins = counts.shape[0]
    for i in range(x.shape[0]):
        if _skip(x, i, is_null, is_int, sp_keys):
            continue
        t = _value_at(x, i, is_int, offset, log_flag, log_lower)
        if not np.isfinite(t):
            continue
        pos = (t - lo) / width
        b = np.int64(pos)
        if b < 0:
            b = 0
        elif b >= n_bins:
            b = n_bins - 1
        frac = min(max(pos - b, 0.0), 1.0)
        q = np.int64(frac * HIST_SCALE)
        counts[b] += 1
        s1[b] += q
        s2[b] += (q * q) >> 30
        if t < bmin[b]:
            bmin[b] = t
        if t > bmax[b]:
            bmax[b] = t
