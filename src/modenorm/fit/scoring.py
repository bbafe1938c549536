"""Log-likelihood of the plug-in mixture density, for :meth:`Transformer.score`."""

from __future__ import annotations

import numpy as np
import polars as pl

from modenorm.model.dtypes import to_kernel_array
from modenorm.model.schema import NumericColumn
from modenorm.summarize.numeric import special_keys

__all__ = ["column_log_likelihood", "mixture_log_density"]


def mixture_log_density(weights, means, variances, x: np.ndarray) -> np.ndarray:
    """Log density of a 1-D Gaussian mixture at ``x``."""
    w = np.asarray(weights)
    mu = np.asarray(means)
    var = np.asarray(variances)
    logp = (
        np.log(w)[None, :]
        - 0.5 * np.log(2 * np.pi * var)[None, :]
        - 0.5 * (x[:, None] - mu[None, :]) ** 2 / var[None, :]
    )
    top = logp.max(axis=1)
    return top + np.log(np.exp(logp - top[:, None]).sum(axis=1))


def fitted_domain(col: NumericColumn, series: pl.Series) -> np.ndarray:
    """Values of a chunk in the domain the mixture was fitted in."""
    values, is_null = to_kernel_array(series, col.name)
    keep = ~is_null
    specials = [m.value for m in col.modes if m.kind == "special"]
    if specials:
        keys = special_keys(col.physical, specials)
        raw = values if col.physical == "int" else values.view(np.int64)
        keep &= ~np.isin(raw, keys)
    v = values[keep]
    v = (v - col.offset).astype(np.float64) if col.physical == "int" else v
    if col.log:
        v = np.log1p(v - col.log_lower)
    return v[np.isfinite(v)]


def column_log_likelihood(col: NumericColumn, series: pl.Series) -> tuple[float, int]:
    """Sum of log densities and the row count of one chunk."""
    x = fitted_domain(col, series)
    mix = col.mixture
    if not len(x):
        return 0.0, 0
    ll = mixture_log_density(mix["weights"], mix["means"], mix["variances"], x)
    return float(ll.sum()), len(x)
