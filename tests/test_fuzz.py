"""Fuzzing: random bytes, JSON, models, encodings and tables never crash (issue 7).

Whatever hypothesis feeds in, modenorm either works or raises one of its own
errors (:class:`~modenorm.errors.ModenormError`, which also subclasses the
matching built-in). An ``IndexError`` from a codec, a numba typing error or a
polars exception escaping to the user is a failure.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modenorm import ModelFileError, ModenormError, Transformer
from modenorm.model.schema import Model

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["nan", "inf", "-inf", "", "float64", "Int64", "gaussian"]),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
    ),
    max_leaves=12,
)


def _table() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    return pl.DataFrame(
        {
            "x": np.round(rng.normal(0, 3, n), 1),
            "d": pl.Series(rng.integers(-1000, 1000, n)).cast(pl.Datetime("us")),
            "s": rng.choice(["a", "b"], n),
            "m": np.where(rng.random(n) < 0.3, 0.0, rng.normal(5, 1, n)),
        }
    ).with_columns(
        pl.when(pl.int_range(n) % 10 == 0).then(None).otherwise(pl.col("m")).alias("m")
    )


TABLE = _table()
FITTED = Transformer(seed=0, mixed={"m": [0.0]}).fit(TABLE)
DOC = FITTED.model_.to_dict()
COMPACT = FITTED.transform(TABLE)
ONEHOT = FITTED.transform(TABLE, layout="onehot")


def _paths(node, prefix=()):
    """Every (container, key) inside a JSON document."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        yield prefix + (key,)
        if isinstance(value, dict | list):
            yield from _paths(value, prefix + (key,))


PATHS = list(_paths(DOC))


def _use_model(model: Model) -> None:
    """Encode and decode with a model that passed validation."""
    t = Transformer.from_model(model)
    for layout in ("compact", "onehot"):
        t.inverse_transform(t.transform(TABLE, layout=layout))


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_as_model_file(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.json"
        path.write_bytes(data)
        with pytest.raises(ModelFileError):
            Model.load(path)


@FUZZ
@given(json_values)
def test_random_json_as_model(doc):
    with pytest.raises(ModelFileError):
        Model.from_dict(doc)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), json_values), min_size=1, max_size=3))
def test_mutated_models_load_and_run_or_fail_cleanly(edits):
    doc = copy.deepcopy(DOC)
    for path, value in edits:
        node = doc
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced this branch
    try:
        model = Model.from_dict(json.loads(json.dumps(doc)))
    except ModelFileError:
        return
    try:
        _use_model(model)
    except ModenormError:
        pass


@FUZZ
@given(st.sampled_from(PATHS))
def test_models_missing_any_field_fail_cleanly(path):
    doc = copy.deepcopy(DOC)
    node = doc
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    try:
        model = Model.from_dict(doc)
    except ModelFileError:
        return
    try:
        _use_model(model)
    except ModenormError:
        pass


def _random_series(draw, name: str, n: int) -> pl.Series:
    kind = draw(st.sampled_from(["float", "int", "text", "bool", "null", "f32"]))
    if kind == "float":
        values = st.one_of(st.none(), st.floats())
        return pl.Series(name, draw(st.lists(values, min_size=n, max_size=n)))
    if kind == "f32":
        values = st.floats(width=32)
        series = pl.Series(name, draw(st.lists(values, min_size=n, max_size=n)))
        return series.cast(pl.Float32)
    if kind == "int":
        dtype = draw(st.sampled_from([pl.Int8, pl.Int32, pl.Int64, pl.UInt8]))
        lo, hi = (0, 255) if dtype == pl.UInt8 else (-128, 127)
        values = st.one_of(st.none(), st.integers(lo, hi))
        items = draw(st.lists(values, min_size=n, max_size=n))
        return pl.Series(name, items, dtype=dtype)
    if kind == "text":
        items = draw(st.lists(st.text(max_size=3), min_size=n, max_size=n))
        return pl.Series(name, items, dtype=pl.String)
    if kind == "bool":
        items = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        return pl.Series(name, items, dtype=pl.Boolean)
    return pl.Series(name, [None] * n)


@st.composite
def damaged_encodings(draw) -> pl.DataFrame:
    base = draw(st.sampled_from([COMPACT, ONEHOT]))
    rows = draw(st.integers(0, 20))
    frame = base.head(rows)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "drop" and frame.width > 1:
            frame = frame.drop(draw(st.sampled_from(frame.columns)))
        elif action == "replace":
            name = draw(st.sampled_from(frame.columns))
            frame = frame.with_columns(_random_series(draw, name, frame.height))
        else:
            name = draw(st.sampled_from([*frame.columns, "x.mode.99", "s.category.7"]))
            frame = frame.with_columns(_random_series(draw, name + "_", frame.height))
    return frame


@FUZZ
@given(damaged_encodings())
def test_random_encoded_tables_decode_or_fail_cleanly(frame):
    try:
        FITTED.inverse_transform(frame)
    except ModenormError:
        pass


@FUZZ
@given(
    st.integers(0, 6),
    st.integers(0, 30),
    st.sampled_from([np.float64, np.float32, np.int64, np.uint8]),
    st.floats(allow_nan=True, allow_infinity=True),
)
def test_random_generator_matrices_decode_or_fail_cleanly(rows, width, dtype, fill):
    rng = np.random.default_rng(rows * 31 + width)
    matrix = rng.normal(0, 2, (rows, width))
    if rows and width:
        matrix[0, rng.integers(width)] = fill
    with np.errstate(invalid="ignore", over="ignore"):
        matrix = matrix.astype(dtype)
    try:
        decoded = FITTED.inverse_transform(matrix)
    except ModenormError:
        return
    assert decoded.height == rows
    assert decoded.columns == TABLE.columns


@st.composite
def random_tables(draw) -> pl.DataFrame:
    n = draw(st.integers(0, 12))
    columns = [_random_series(draw, f"c{j}", n) for j in range(draw(st.integers(1, 3)))]
    return pl.DataFrame(columns)


@FUZZ
@given(random_tables(), st.sampled_from(["compact", "onehot"]))
def test_random_tables_fit_and_round_trip_or_fail_cleanly(frame, layout):
    try:
        t = Transformer(seed=0).fit(frame)
    except ModenormError:
        return
    decoded = t.inverse_transform(t.transform(frame, layout=layout))
    assert decoded.schema == frame.schema
