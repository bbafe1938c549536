"""Compiler options for every numba kernel, kept in one place.

Encode and decode kernels must not use ``fastmath``: the lossless check relies
on IEEE rounding of ``mu + (4 * sd) * alpha`` without contraction into FMA.
"""

from __future__ import annotations

import numba

STRICT = {"nogil": True, "cache": True, "fastmath": False}
"""Kernels whose results must be bit-reproducible (encode, decode, summaries)."""

FAST = {"nogil": True, "cache": True, "fastmath": True}
"""Kernels that only feed the mixture fit, where reassociation is harmless."""


def strict(func):
    """Compile ``func`` with :data:`STRICT` options."""
    return numba.njit(**STRICT)(func)


def fast(func):
    """Compile ``func`` with :data:`FAST` options."""
    return numba.njit(**FAST)(func)
