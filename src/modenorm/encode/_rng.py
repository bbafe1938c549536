"""Counter-based random numbers: the draw for row ``i`` of column ``c``.

A mode draw depends only on ``(seed, column name, row index)``, never on a
shared generator, so results are identical whatever the chunking, the thread
count or the engine. The mixer is splitmix64 (Steele, Lea and Flood, 2014).
"""

from __future__ import annotations

import numpy as np

from modenorm._numba import strict

__all__ = ["column_key", "uniform_at"]

_MASK = (1 << 64) - 1


def _splitmix64_py(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def column_key(seed: int, column: str) -> np.uint64:
    """Return the 64-bit stream key of one column for one seed."""
    h = 0xCBF29CE484222325
    for byte in column.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & _MASK
    return np.uint64(_splitmix64_py((_splitmix64_py(seed & _MASK) ^ h) & _MASK))


@strict
def uniform_at(key, row):
    """Uniform float in [0, 1) for ``row`` (int64) of the stream ``key``."""
    z = key + np.uint64(row) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)
