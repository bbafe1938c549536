"""Property tests: random tables of every kind come back bit for bit (issue 4).

Hypothesis draws tables mixing floats (extremes, subnormals, -0.0, NaN, inf),
float32, every integer dtype, booleans, strings, dates, datetimes and
durations, with nulls, and kinds chosen per column (continuous, mixed with
specials drawn from the data, log, min-max, categorical). Each table is fitted
once in one chunk and once in small chunks on two threads: the two models must
be equal, the encodings equal bit for bit, and the decoding exact in both
layouts.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modenorm import Transformer
from modenorm.model.schema import Model
from modenorm.transformer import mismatched_rows

DBL_MAX = float(np.finfo(np.float64).max)
F32_MAX = float(np.finfo(np.float32).max)
INT64_MAX = 2**63 - 1

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

INT_TYPES = {
    pl.Int8: (-(2**7), 2**7 - 1),
    pl.Int16: (-(2**15), 2**15 - 1),
    pl.Int32: (-(2**31), 2**31 - 1),
    pl.Int64: (-(2**63), INT64_MAX),
    pl.UInt8: (0, 2**8 - 1),
    pl.UInt16: (0, 2**16 - 1),
    pl.UInt32: (0, 2**32 - 1),
    pl.UInt64: (0, INT64_MAX),  # above 2**63 is refused (see test_kinds)
}
TEMPORAL = [
    pl.Date,
    pl.Datetime("ms"),
    pl.Datetime("us", "UTC"),
    pl.Datetime("ns", "Asia/Kolkata"),
    pl.Duration("us"),
    pl.Duration("ns"),
]

float_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.floats(-50, 50),
    st.integers(-5, 5).map(float),
    st.floats(-1, 1).map(lambda v: 1e12 + v),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1e308, -1e308, DBL_MAX, -DBL_MAX]),
)
float32_values = st.one_of(
    st.floats(width=32, allow_nan=True, allow_infinity=True),
    st.sampled_from([F32_MAX, -F32_MAX, 1e-45, -0.0, 0.25]),
)


def _with_nulls(values: st.SearchStrategy, n: int) -> st.SearchStrategy:
    return st.lists(
        st.one_of(st.none(), values, values, values), min_size=n, max_size=n
    )


def _ensure_value(items: list, fallback) -> list:
    """Numeric columns need one non-null value (all-null columns are refused)."""
    if all(v is None for v in items):
        items = [fallback, *items[1:]]
    return items


@st.composite
def numeric_float(draw, name: str, n: int, options: dict) -> pl.Series:
    wide = draw(st.booleans())
    values = draw(_with_nulls(float_values if wide else st.floats(-1e3, 1e3), n))
    values = _ensure_value(values, 1.5)
    kind = draw(st.sampled_from(["continuous", "mixed", "log", "minmax"]))
    if kind == "mixed":
        present = sorted(
            {repr(v): v for v in values if v is not None and v == v}.items()
        )
        if present:
            picked = draw(st.lists(st.sampled_from(present), max_size=3, unique=True))
            options["mixed"][name] = [v for _, v in picked]
    elif kind in ("log", "minmax"):
        options[kind].append(name)
    return pl.Series(name, values, dtype=pl.Float64)


@st.composite
def numeric_float32(draw, name: str, n: int, options: dict) -> pl.Series:
    values = _ensure_value(draw(_with_nulls(float32_values, n)), 0.5)
    return pl.Series(name, values, dtype=pl.Float32)


@st.composite
def integer(draw, name: str, n: int, options: dict) -> pl.Series:
    dtype = draw(st.sampled_from(list(INT_TYPES)))
    lo, hi = INT_TYPES[dtype]
    narrow = draw(st.booleans())
    values = st.integers(lo, hi) if not narrow else st.integers(max(lo, -20), 20)
    items = _ensure_value(draw(_with_nulls(values, n)), max(lo, 0))
    kind = draw(st.sampled_from(["continuous", "categorical", "mixed", "log"]))
    if kind == "categorical":
        options["categorical"].append(name)
    elif kind == "mixed":
        present = sorted({v for v in items if v is not None})
        options["mixed"][name] = draw(
            st.lists(st.sampled_from(present), max_size=2, unique=True)
        )
    elif kind == "log":
        options["log"].append(name)
    return pl.Series(name, items, dtype=dtype)


@st.composite
def temporal(draw, name: str, n: int, options: dict) -> pl.Series:
    dtype = draw(st.sampled_from(TEMPORAL))
    lo, hi = INT_TYPES[pl.Int32 if dtype == pl.Date else pl.Int64]
    values = st.one_of(st.integers(lo, hi), st.integers(-(10**6), 10**6))
    items = _ensure_value(draw(_with_nulls(values, n)), 0)
    physical = pl.Int32 if dtype == pl.Date else pl.Int64
    return pl.Series(name, items, dtype=physical).cast(dtype)


@st.composite
def categorical(draw, name: str, n: int, options: dict) -> pl.Series:
    if draw(st.booleans()):
        return pl.Series(name, draw(_with_nulls(st.booleans(), n)), dtype=pl.Boolean)
    text = st.sampled_from(["a", "b", "", "é", "a b", "0"])
    series = pl.Series(name, draw(_with_nulls(text, n)), dtype=pl.String)
    return series.cast(pl.Categorical) if draw(st.booleans()) else series


COLUMN_KINDS = [numeric_float, numeric_float32, integer, temporal, categorical]


@st.composite
def tables(draw) -> tuple[pl.DataFrame, dict]:
    n = draw(st.integers(1, 40))
    options = {"mixed": {}, "log": [], "minmax": [], "categorical": []}
    columns = []
    for j in range(draw(st.integers(1, 4))):
        make = draw(st.sampled_from(COLUMN_KINDS))
        columns.append(draw(make(f"c{j}", n, options)))
    return pl.DataFrame(columns), options


def assert_identical(original: pl.DataFrame, decoded: pl.DataFrame) -> None:
    assert decoded.columns == original.columns
    assert decoded.schema == original.schema
    for name in original.columns:
        bad = mismatched_rows(original[name], decoded[name])
        assert len(bad) == 0, (
            f"{name}: rows {bad[:5].tolist()} differ: "
            f"{original[name].to_physical().gather(bad[:3]).to_list()} came back as "
            f"{decoded[name].to_physical().gather(bad[:3]).to_list()}"
        )


def assert_layout_rules(t: Transformer, encoded: pl.DataFrame, layout: str) -> None:
    for codec in t.codecs:
        alpha = encoded.get_column(f"{codec.name}.alpha", default=None)
        if alpha is not None:
            assert float(alpha.abs().max() or 0.0) <= 0.99
    if layout == "onehot":
        names = [c for c in encoded.columns if not c.endswith(".exact")]
        start = 0
        for width, activation in t.output_info:
            block = encoded.select(names[start : start + width]).to_numpy()
            start += width
            if activation == "softmax":
                assert (block.sum(axis=1) == 1).all()


@SETTINGS
@given(tables(), st.integers(1, 9), st.integers(0, 2**32))
def test_random_tables_round_trip_exactly_chunked_or_not(table, chunk_rows, seed):
    frame, options = table
    whole = Transformer(seed=seed, **options).fit(frame)
    chunked = Transformer(seed=seed, chunk_rows=chunk_rows, threads=2, **options)
    chunked.fit(frame)
    assert chunked.model_.to_dict() == whole.model_.to_dict()
    text = json.dumps(whole.model_.to_dict(), allow_nan=False)
    reloaded = Transformer.from_model(Model.from_dict(json.loads(text)))
    for layout in ("compact", "onehot"):
        encoded = whole.transform(frame, layout=layout)
        assert_layout_rules(whole, encoded, layout)
        for other in (chunked, reloaded):
            assert_identical(encoded, other.transform(frame, layout=layout))
        assert_identical(frame, whole.inverse_transform(encoded))
        assert_identical(frame, chunked.inverse_transform(encoded))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), float_values), min_size=1, max_size=30),
    st.lists(st.one_of(st.none(), float_values), min_size=1, max_size=30),
)
def test_values_unseen_at_fit_time_come_back(train, new):
    """A model fitted on one sample decodes any other float column exactly."""
    train = _ensure_value(train, 0.0)
    fit_frame = pl.DataFrame({"x": pl.Series(train, dtype=pl.Float64)})
    t = Transformer(seed=1).fit(fit_frame)
    has_nulls = any(m.kind == "null" for m in t.model_.columns[0].modes)
    if not has_nulls:
        new = [0.0 if v is None else v for v in new]
    frame = pl.DataFrame({"x": pl.Series(new, dtype=pl.Float64)})
    for layout in ("compact", "onehot"):
        encoded = t.transform(frame, layout=layout)
        assert_layout_rules(t, encoded, layout)
        assert_identical(frame, t.inverse_transform(encoded))
