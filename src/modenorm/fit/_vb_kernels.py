"""Compiled kernels for the mixture fit: one pass of E-step plus weighted sums.

The pass is the only part of the fit whose cost grows with the number of atoms,
so it is one fused kernel: responsibilities are formed block by block and never
stored for the whole input.

``exp`` and ``log`` are written out here because the llvmlite wheels do not ship
SVML: ``math.exp`` compiles to a scalar libm call (about 7 ns) that blocks
vectorisation, while the polynomial below vectorises to about 1 ns.
"""

from __future__ import annotations

import math

import numpy as np
from numba.core import types
from numba.extending import intrinsic

from modenorm._numba import fast

__all__ = ["BLOCK", "e_step_sums", "exp_nonpositive", "log_positive"]

BLOCK = 256
"""Atoms per block: small enough that a block's K rows stay in L1/L2 cache."""

_LOG2E = 1.4426950408889634
# ln 2 split so that k * _LN2_HI is exact for |k| < 2**11 (fdlibm's constants).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_EXP_MIN = -708.0

# Remez coefficients of fdlibm's e_log.c for log(1 + f) on [sqrt(2)/2 - 1, sqrt(2) - 1].
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01


@intrinsic
def _float_bits(typingctx, x):
    """Reinterpret a float64 as the int64 with the same bit pattern."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.int64))

    return sig, codegen


@intrinsic
def _bits_float(typingctx, x):
    """Reinterpret an int64 bit pattern as a float64."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


@fast
def exp_nonpositive(x):
    """Return ``exp(x)`` for finite ``x <= 0``; 0 below -708.

    Cody-Waite reduction ``x = k ln2 + r`` with ``|r| <= ln2 / 2`` and the Taylor
    polynomial of degree 13 (truncation below 4e-18). Relative error is within
    3 ulp for ``x >= -10`` and grows like ``|x|`` ulp further out, because
    fastmath may merge the two-part reduction; such terms are below 1e-4 of the
    largest one and do not reach a sum at that level.
    """
    y = max(x, _EXP_MIN)
    k = math.floor(y * _LOG2E + 0.5)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    scale = _bits_float((np.int64(k) + 1023) << 52)
    return p * scale if x >= _EXP_MIN else 0.0


@fast
def log_positive(x):
    """Return ``log(x)`` for a finite, positive, normal ``x`` (within 1 ulp).

    fdlibm's method: split ``x = 2**k * m`` with ``m`` in [sqrt(2)/2, sqrt(2)),
    then ``log(m) = f - f**2/2 + s (f**2/2 + R(s**2))`` with ``s = f / (2 + f)``.
    """
    bits = _float_bits(x)
    high = ((bits >> 32) & 0xFFFFFFFF) + (0x3FF00000 - 0x3FE6A09E)
    k = (high >> 20) - 0x3FF
    high = (high & 0x000FFFFF) + 0x3FE6A09E
    m = _bits_float((high << 32) | (bits & 0xFFFFFFFF))
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    dk = float(k)
    return s * (hfsq + t1 + t2) + dk * _LN2_LO - hfsq + f + dk * _LN2_HI


@fast
def e_step_sums(counts, means, m2, const, center, prec, sums):
    """One EM pass over weighted atoms: E-step and pivoted sufficient statistics.

    With ``log rho_bk = const[k] - 0.5 * prec[k] * (means[b] - center[k])**2``
    and ``r_bk`` its softmax over ``k``, fills ``sums`` (3, K) with

    - ``sums[0, k] = sum_b r_bk n_b``
    - ``sums[1, k] = sum_b r_bk n_b d_bk``
    - ``sums[2, k] = sum_b r_bk (m2_b + n_b d_bk**2)``

    where ``d_bk = means[b] - center[k]``: the sums are pivoted at ``center``.

    Parameters
    ----------
    counts, means, m2 : ndarray of float64, shape (B,)
        Rows per atom (all positive), atom means, within-atom sums of squared
        deviations.
    const, center, prec : ndarray of float64, shape (K,)
        The log-density terms; ``center`` is also the pivot of the sums.
    sums : ndarray of float64, shape (3, K)
        Output, overwritten.

    Returns
    -------
    entropy : float
        ``-sum_b n_b sum_k r_bk log r_bk``.
    loglik : float
        ``sum_b n_b logsumexp_k log rho_bk``.

    Notes
    -----
    One kernel for the whole pass, in blocks of :data:`BLOCK` atoms: the
    (K, BLOCK) scratch holds log rho, then exp(log rho - max), so each stage
    is a loop over contiguous atoms that the compiler vectorises. Summation
    order is fixed, so the result is bit-reproducible on a given machine.
    """
    n_comp = const.size
    n_atoms = counts.size
    work = np.empty((n_comp, BLOCK))
    top = np.empty(BLOCK)
    norm = np.empty(BLOCK)
    lse = np.empty(BLOCK)
    acc = np.zeros((3, n_comp))
    entropy = 0.0
    loglik = 0.0
    for start in range(0, n_atoms, BLOCK):
        size = min(BLOCK, n_atoms - start)
        x = means[start : start + size]
        n = counts[start : start + size]
        q = m2[start : start + size]

        for k in range(n_comp):
            ck = const[k]
            mk = center[k]
            hp = 0.5 * prec[k]
            row = work[k]
            for j in range(size):
                d = x[j] - mk
                row[j] = ck - hp * d * d
        for j in range(size):
            top[j] = work[0, j]
        for k in range(1, n_comp):
            row = work[k]
            for j in range(size):
                top[j] = max(top[j], row[j])

        for j in range(size):
            norm[j] = 0.0
        for k in range(n_comp):
            row = work[k]
            for j in range(size):
                e = exp_nonpositive(row[j] - top[j])
                row[j] = e
                norm[j] += e
        part = 0.0
        for j in range(size):
            lse[j] = top[j] + log_positive(norm[j])
            norm[j] = 1.0 / norm[j]
            part += n[j] * lse[j]
        loglik += part

        for k in range(n_comp):
            ck = const[k]
            mk = center[k]
            hp = 0.5 * prec[k]
            row = work[k]
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            h = 0.0
            for j in range(size):
                r = row[j] * norm[j]
                d = x[j] - mk
                w = n[j] * r
                a0 += w
                a1 += w * d
                a2 += r * q[j] + w * d * d
                h += w * (ck - hp * d * d - lse[j])
            acc[0, k] += a0
            acc[1, k] += a1
            acc[2, k] += a2
            entropy -= h
    sums[:, :] = acc
    return entropy, loglik
