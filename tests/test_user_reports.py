"""Problems a new user ran into, kept fixed."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from modenorm import ColumnError, SchemaMismatchError, Transformer


@pytest.fixture
def table() -> pl.DataFrame:
    rng = np.random.default_rng(3)
    n = 20_000
    return pl.DataFrame(
        {"amount": np.round(rng.lognormal(2, 1, n), 2), "n": rng.integers(0, 50, n)}
    )


@pytest.mark.parametrize("threads", [0, -3, 1.5])
def test_threads_below_one_are_refused_not_hung(table, threads):
    with pytest.raises(ValueError, match="threads"):
        Transformer(threads=threads).fit(table)


def test_a_string_is_not_a_list_of_columns(table):
    with pytest.raises(ColumnError, match=r"columns=\['amount'\]"):
        Transformer(columns="amount").fit(table)


def test_a_scalar_is_not_a_list_of_special_values(table):
    with pytest.raises(ColumnError, match="mixed column 'amount'"):
        Transformer(mixed={"amount": 0}).fit(table)


def test_encoded_parquet_of_another_model_is_refused(table, tmp_path):
    first = Transformer(seed=0).fit(table)
    other = Transformer(seed=0).fit(table.with_columns(pl.col("amount") * 1.5 + 3))
    encoded = first.transform(table, output=tmp_path / "enc.parquet")
    with pytest.raises(SchemaMismatchError, match="encoded with another model"):
        other.inverse_transform(encoded)
    assert first.inverse_transform(encoded).equals(table)


def test_part_files_split_inside_a_chunk(table, tmp_path):
    t = Transformer(seed=0, chunk_rows=1 << 20).fit(table)
    out = t.transform(table, output=tmp_path / "parts", part_rows=6_000)
    sizes = [pl.read_parquet(p).height for p in sorted(out.glob("*.parquet"))]
    assert sizes == [6_000, 6_000, 6_000, 2_000]
    assert t.inverse_transform(out).equals(table)
