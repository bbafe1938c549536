"""Encode and decode kernels for numeric columns.

Kernels take NumPy arrays and plain numbers only. Each encode kernel is one
fused loop per chunk: responsibilities over the valid modes, the seeded
counter-based draw restricted to modes that can represent the value with
``|alpha| <= 0.99``, alpha itself, and the strict check that decoding gives the
value back bit for bit. Rows that fail the check are copied to the exact side
channel (docs/algorithms.md, section 4).

Mode ranks index per-rank parameter arrays (``rank_kind``: 0 Gaussian mode,
1 special value, 2 null).
"""

from __future__ import annotations

import numpy as np

from modenorm._numba import strict
from modenorm.encode._rng import uniform_at

__all__ = ["encode_float", "encode_int", "decode_float", "decode_int"]

ALPHA_LIMIT = 0.99
# largest float32 below 0.99: float32(0.99) itself is 0.9900000095...
ALPHA_LIMIT_F32 = float(np.nextafter(np.float32(0.99), np.float32(0.0)))
RESP_FLOOR = 1e-6
KIND_GAUSSIAN = 0
KIND_SPECIAL = 1
KIND_NULL = 2


@strict
def _forward(v, log_flag, log_lower):
    if log_flag:
        return np.log1p(v - log_lower)
    return v


@strict
def _backward(y, log_flag, log_lower, p_dec, f32):
    if log_flag:
        y = np.expm1(y) + log_lower
    if p_dec > 0.0:
        y = np.rint(y * p_dec) / p_dec
    if f32:
        y = np.float64(np.float32(y))
    return y


@strict
def _pick_mode(t, g_const, g_mean, g_prec, g_sd4, argmax_flag, u, lp, feas):
    """Return (mode index among the valid Gaussians, alpha in float64)."""
    k_valid = g_mean.shape[0]
    if not np.isfinite(t):
        return 0, 0.0
    best = -np.inf
    n_feasible = 0
    for k in range(k_valid):
        d = t - g_mean[k]
        lp[k] = g_const[k] - 0.5 * g_prec[k] * d * d
        if lp[k] > best:
            best = lp[k]
        a = d / g_sd4[k]
        feas[k] = a <= ALPHA_LIMIT and a >= -ALPHA_LIMIT
        if feas[k]:
            n_feasible += 1
    if n_feasible == 0:
        nearest = 0
        nearest_z = np.inf
        for k in range(k_valid):
            z = abs(t - g_mean[k]) / g_sd4[k]
            if z < nearest_z:
                nearest_z = z
                nearest = k
        a = (t - g_mean[nearest]) / g_sd4[nearest]
        return nearest, min(max(a, -ALPHA_LIMIT), ALPHA_LIMIT)
    total = 0.0
    for k in range(k_valid):
        lp[k] = np.exp(lp[k] - best)
        total += lp[k]
    chosen = -1
    if argmax_flag:
        top = -1.0
        for k in range(k_valid):
            if feas[k] and lp[k] > top:
                top = lp[k]
                chosen = k
    else:
        mass = 0.0
        for k in range(k_valid):
            if feas[k]:
                lp[k] = lp[k] / total + RESP_FLOOR
                mass += lp[k]
        target = u * mass
        acc = 0.0
        for k in range(k_valid):
            if feas[k]:
                acc += lp[k]
                chosen = k
                if target < acc:
                    break
    return chosen, (t - g_mean[chosen]) / g_sd4[chosen]


@strict
def _fixed_rank(is_null, key, sp_keys, sp_rank, null_rank):
    """``(True, rank)`` for a null or special value, ``(False, 0)`` otherwise."""
    if is_null:
        return True, null_rank
    for s in range(sp_keys.shape[0]):
        if key == sp_keys[s]:
            return True, sp_rank[s]
    return False, 0


@strict
def encode_float(
    x,
    is_null,
    g_const,
    g_mean,
    g_prec,
    g_sd4,
    g_rank,
    sp_bits,
    sp_rank,
    null_rank,
    log_flag,
    log_lower,
    p_dec,
    f32,
    argmax_flag,
    key,
    row0,
    alpha_out,
    mode_out,
    exact_out,
    exact_flag,
):
    """Encode float64 values; return the number of rows sent to the side channel.

    Nulls take ``null_rank`` (callers check beforehand that it exists), special
    values are matched by their bit pattern, so -0.0 is not 0.0.
    """
    n = x.shape[0]
    k_valid = g_mean.shape[0]
    lp = np.empty(max(k_valid, 1))
    feas = np.empty(max(k_valid, 1), dtype=np.bool_)
    bits = x.view(np.int64)
    n_exact = 0
    for i in range(n):
        exact_flag[i] = False
        exact_out[i] = 0.0
        fixed, rank = _fixed_rank(is_null[i], bits[i], sp_bits, sp_rank, null_rank)
        if fixed:
            alpha_out[i] = 0.0
            mode_out[i] = rank
            continue
        if k_valid == 0:
            alpha_out[i] = 0.0
            mode_out[i] = 0
            exact_out[i] = x[i]
            exact_flag[i] = True
            n_exact += 1
            continue
        t = _forward(x[i], log_flag, log_lower)
        u = 0.0 if argmax_flag else uniform_at(key, row0 + i)
        k, a = _pick_mode(t, g_const, g_mean, g_prec, g_sd4, argmax_flag, u, lp, feas)
        alpha_out[i] = a
        if abs(alpha_out[i]) > ALPHA_LIMIT:
            alpha_out[i] = ALPHA_LIMIT_F32 if a > 0 else -ALPHA_LIMIT_F32
        mode_out[i] = g_rank[k]
        stored = np.float64(alpha_out[i])
        y = _backward(g_mean[k] + g_sd4[k] * stored, log_flag, log_lower, p_dec, f32)
        if np.float64(y).view(np.int64) != bits[i]:
            exact_out[i] = x[i]
            exact_flag[i] = True
            n_exact += 1
    return n_exact


@strict
def _int_from_float(y, offset):
    """Round a decoded float to int64 and add the offset; flag overflow."""
    y = np.rint(y)
    if not (y > -9.2e18 and y < 9.2e18):
        return np.int64(0), False
    return np.int64(y) + offset, True


@strict
def encode_int(
    x,
    is_null,
    g_const,
    g_mean,
    g_prec,
    g_sd4,
    g_rank,
    sp_vals,
    sp_rank,
    null_rank,
    log_flag,
    log_lower,
    offset,
    argmax_flag,
    key,
    row0,
    alpha_out,
    mode_out,
    exact_out,
    exact_flag,
):
    """Encode int64 values (integers, dates, datetimes, durations).

    The kernels work on ``x - offset`` as float64; decoding rounds to the
    nearest integer and adds ``offset`` back, with int64 wrap-around matching
    the subtraction.
    """
    n = x.shape[0]
    k_valid = g_mean.shape[0]
    lp = np.empty(max(k_valid, 1))
    feas = np.empty(max(k_valid, 1), dtype=np.bool_)
    n_exact = 0
    for i in range(n):
        exact_flag[i] = False
        exact_out[i] = 0
        fixed, rank = _fixed_rank(is_null[i], x[i], sp_vals, sp_rank, null_rank)
        if fixed:
            alpha_out[i] = 0.0
            mode_out[i] = rank
            continue
        if k_valid == 0:
            alpha_out[i] = 0.0
            mode_out[i] = 0
            exact_out[i] = x[i]
            exact_flag[i] = True
            n_exact += 1
            continue
        v = np.float64(x[i] - offset)
        t = _forward(v, log_flag, log_lower)
        u = 0.0 if argmax_flag else uniform_at(key, row0 + i)
        k, a = _pick_mode(t, g_const, g_mean, g_prec, g_sd4, argmax_flag, u, lp, feas)
        alpha_out[i] = a
        if abs(alpha_out[i]) > ALPHA_LIMIT:
            alpha_out[i] = ALPHA_LIMIT_F32 if a > 0 else -ALPHA_LIMIT_F32
        mode_out[i] = g_rank[k]
        stored = np.float64(alpha_out[i])
        y = _backward(g_mean[k] + g_sd4[k] * stored, log_flag, log_lower, 0.0, False)
        back, ok = _int_from_float(y, offset)
        if not ok or back != x[i]:
            exact_out[i] = x[i]
            exact_flag[i] = True
            n_exact += 1
    return n_exact


@strict
def decode_float(
    alpha,
    mode,
    exact,
    exact_flag,
    rank_kind,
    rank_mean,
    rank_sd4,
    rank_bits,
    log_flag,
    log_lower,
    p_dec,
    f32,
    lo,
    hi,
    clip,
    values_out,
    null_out,
):
    """Decode float64 values; return the number of rows whose mode is unknown.

    With ``clip`` (generated input) alpha is clipped to [-1, 1] and the values
    of Gaussian modes are clamped to ``[lo, hi]``; special values (such as
    inf), nulls and side-channel rows are returned as they are.
    """
    n = alpha.shape[0]
    n_modes = rank_kind.shape[0]
    bad = 0
    out_bits = values_out.view(np.int64)
    for i in range(n):
        null_out[i] = False
        if exact_flag[i]:
            values_out[i] = exact[i]
            continue
        r = mode[i]
        if r < 0 or r >= n_modes:
            bad += 1
            values_out[i] = 0.0
            null_out[i] = True
            continue
        kind = rank_kind[r]
        if kind == KIND_NULL:
            values_out[i] = 0.0
            null_out[i] = True
        elif kind == KIND_SPECIAL:
            out_bits[i] = rank_bits[r]
        else:
            a = np.float64(alpha[i])
            if clip:
                a = min(max(a, -1.0), 1.0)
            y = rank_mean[r] + rank_sd4[r] * a
            v = _backward(y, log_flag, log_lower, p_dec, f32)
            if clip:
                v = min(max(v, lo), hi)
            values_out[i] = v
    return bad


@strict
def decode_int(
    alpha,
    mode,
    exact,
    exact_flag,
    rank_kind,
    rank_mean,
    rank_sd4,
    rank_vals,
    log_flag,
    log_lower,
    offset,
    lo,
    hi,
    clip,
    values_out,
    null_out,
):
    """Decode int64 values; with ``clip`` (generated input) clamp to ``[lo, hi]``."""
    n = alpha.shape[0]
    n_modes = rank_kind.shape[0]
    bad = 0
    for i in range(n):
        null_out[i] = False
        if exact_flag[i]:
            values_out[i] = exact[i]
            continue
        r = mode[i]
        if r < 0 or r >= n_modes:
            bad += 1
            values_out[i] = 0
            null_out[i] = True
            continue
        kind = rank_kind[r]
        if kind == KIND_NULL:
            values_out[i] = 0
            null_out[i] = True
        elif kind == KIND_SPECIAL:
            values_out[i] = rank_vals[r]
        else:
            a = np.float64(alpha[i])
            if clip:
                a = min(max(a, -1.0), 1.0)
            y = _backward(
                rank_mean[r] + rank_sd4[r] * a, log_flag, log_lower, 0.0, False
            )
            back, ok = _int_from_float(y, offset)
            if clip:
                if not ok:
                    back = lo if y < 0 else hi
                back = min(max(back, lo), hi)
            values_out[i] = back
    return bad
