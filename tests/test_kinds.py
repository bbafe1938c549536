"""Every column kind a user brings comes back bit for bit (issue 4).

Each test fits a model, encodes in both layouts and decodes, then compares
every value by its bits (floats) or by equality with nulls (everything else).
The checks of the layout itself (``|alpha| <= 0.99`` for every row, one-hot
blocks summing to 1) run on every encoded table too.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import polars as pl
import pytest

from modenorm import ColumnError, Transformer, UnseenCategoryError
from modenorm.cli.main import main as cli_main
from modenorm.model.schema import Model
from modenorm.transformer import mismatched_rows

DBL_MAX = float(np.finfo(np.float64).max)
DBL_TRUE_MIN = 5e-324
F32_MAX = float(np.finfo(np.float32).max)
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def frame_bytes(frame: pl.DataFrame) -> bytes:
    """A serialized copy of a frame, to prove that nothing wrote into it."""
    return frame.write_ipc(None).getvalue()


def check_layout_rules(t: Transformer, encoded: pl.DataFrame, layout: str) -> None:
    """|alpha| <= 0.99 on every row; every one-hot block sums to exactly 1."""
    for codec in t.codecs:
        alpha = encoded.get_column(f"{codec.name}.alpha", default=None)
        if alpha is not None:
            worst = float(alpha.abs().max() or 0.0)
            assert worst <= 0.99, f"{codec.name}: |alpha| reaches {worst}"
            assert alpha.null_count() == 0
    if layout != "onehot":
        return
    names = [c for c in encoded.columns if not c.endswith(".exact")]
    assert len(names) == sum(w for w, _ in t.output_info)
    start = 0
    for width, activation in t.output_info:
        block = encoded.select(names[start : start + width]).to_numpy()
        start += width
        if activation == "softmax":
            np.testing.assert_array_equal(block.sum(axis=1), np.ones(len(block)))
            assert set(np.unique(block)) <= {0, 1}


def assert_identical(original: pl.DataFrame, decoded: pl.DataFrame) -> None:
    """Same columns, same dtypes, same bits in every row."""
    assert decoded.columns == original.columns
    assert decoded.schema == original.schema
    for name in original.columns:
        bad = mismatched_rows(original[name], decoded[name])
        if len(bad):
            a = original[name].to_physical().gather(bad[:3]).to_list()
            b = decoded[name].to_physical().gather(bad[:3]).to_list()
            pytest.fail(f"{name}: {len(bad)} rows differ, e.g. {a} came back as {b}")


def round_trip(frame: pl.DataFrame, **options) -> Transformer:
    """Fit, encode in both layouts, decode, and check everything is exact."""
    before = frame_bytes(frame)
    t = Transformer(seed=options.pop("seed", 0), **options).fit(frame)
    for layout in ("compact", "onehot"):
        encoded = t.transform(frame, layout=layout)
        assert encoded.height == frame.height
        check_layout_rules(t, encoded, layout)
        encoded_before = frame_bytes(encoded)
        assert_identical(frame, t.inverse_transform(encoded))
        assert frame_bytes(encoded) == encoded_before
    assert frame_bytes(frame) == before
    return t


def exact_rows(t: Transformer, frame: pl.DataFrame, column: str) -> int:
    return t.transform(frame)[f"{column}.exact"].count()


# --------------------------------------------------------------- continuous
def test_continuous_mixture_is_exact_and_ranked_by_use():
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [rng.normal(-20, 1, 6000), rng.normal(5, 2, 3000), rng.normal(90, 5, 1000)]
    )
    frame = pl.DataFrame({"x": rng.permutation(x)})
    t = round_trip(frame)
    col = t.model_.columns[0]
    counts = [m.count for m in col.modes]
    assert counts == sorted(counts, reverse=True)
    # the most used mode sits on the biggest cluster
    assert abs(col.modes[0].mean - -20) < 3
    usage = np.bincount(t.transform(frame)["x.mode"].to_numpy())
    assert usage[0] == usage.max()


@pytest.mark.parametrize(
    "values",
    [
        [0.0, -0.0, 1.0, -0.0, 0.0, 2.5],
        [DBL_TRUE_MIN, -DBL_TRUE_MIN, 2.2250738585072009e-308, 1e-310, 0.0, 1.0],
        [1e308, -1e308, 0.0, 1.0, 2.0, 3.0],
        [DBL_MAX, -DBL_MAX, 0.0, 1.0, -0.0, DBL_TRUE_MIN],
        [DBL_MAX] * 6,
        [-DBL_MAX, 1e-300, 1e300, 7.0, 7.0, 7.0],
    ],
    ids=["signed-zero", "subnormal", "1e308", "dbl-max", "all-dbl-max", "scales"],
)
def test_float_extremes_round_trip(values):
    frame = pl.DataFrame({"x": values * 20})
    round_trip(frame)


def test_huge_magnitudes_are_fitted_in_scaled_units():
    rng = np.random.default_rng(4)
    frame = pl.DataFrame({"x": rng.normal(0, 1, 2000) * 1e200})
    t = round_trip(frame)
    col = t.model_.columns[0]
    assert col.stats["fit_scale"] < 1.0
    stds = [m.std for m in col.modes if m.kind == "gaussian"]
    # the modes are in data units: deviations of the order of 1e200
    assert 1e198 < max(stds) < 1e201
    Model.from_dict(t.model_.to_dict())


def test_offset_values_1e12_plus_noise():
    rng = np.random.default_rng(1)
    frame = pl.DataFrame({"x": 1e12 + rng.normal(0, 1, 5000)})
    t = round_trip(frame)
    means = [m.mean for m in t.model_.columns[0].modes]
    assert all(abs(m - 1e12) < 5 for m in means)


def test_values_far_from_every_mode_use_the_side_channel():
    rng = np.random.default_rng(2)
    x = rng.normal(0, 1, 5000)
    x[[10, 20, 30]] = [1e9, -1e12, 123456.789]
    frame = pl.DataFrame({"x": x})
    t = round_trip(frame)
    encoded = t.transform(frame)
    exact = encoded["x.exact"]
    for row in (10, 20):
        assert exact[row] == x[row]
        assert abs(encoded["x.alpha"][row]) == pytest.approx(0.99, abs=1e-12)


@pytest.mark.parametrize("distinct", [[4.25], [4.25, -1.5], [4.25, -1.5, 1e6]])
def test_columns_with_few_distinct_values(distinct):
    frame = pl.DataFrame({"x": distinct * 30})
    t = round_trip(frame)
    assert exact_rows(t, frame, "x") == 0


def test_constant_and_single_row_columns():
    round_trip(pl.DataFrame({"x": [7.0] * 50, "i": [3] * 50}))
    round_trip(pl.DataFrame({"x": [7.0], "i": [3], "s": ["only"]}))


def test_float32_columns_keep_dtype_and_bits():
    rng = np.random.default_rng(3)
    bulk = rng.normal(10, 3, 3000).astype(np.float32)
    extremes = np.array(
        [F32_MAX, -F32_MAX, 1e-45, -1e-45, -0.0, 0.0, np.inf, -np.inf, np.nan],
        dtype=np.float32,
    )
    # NaN payloads, signalling NaNs included (a hardware widening quiets them)
    nans = np.array(
        [0x7FC00001, 0xFFC00000, 0x7F800001, 0xFFA00000], dtype=np.uint32
    ).view(np.float32)
    values = np.concatenate([bulk, extremes, nans])
    frame = pl.DataFrame({"f": pl.Series(values)})
    assert frame["f"].dtype == pl.Float32
    t = round_trip(frame)
    assert t.model_.columns[0].round_f32
    unseen = Transformer().fit(pl.DataFrame({"f": pl.Series(bulk)}))
    new = pl.DataFrame({"f": pl.Series(nans)})
    assert_identical(new, unseen.inverse_transform(unseen.transform(new)))


def test_nan_and_inf_become_special_modes():
    x = [1.5, 2.0, np.nan, np.inf, -np.inf, 3.25, np.nan, 2.0] * 25
    frame = pl.DataFrame({"x": x})
    t = round_trip(frame)
    specials = [m.value for m in t.model_.columns[0].modes if m.kind == "special"]
    assert sorted(map(repr, specials)) == ["-inf", "inf", "nan"]
    # they survive the JSON model file too
    reloaded = Model.from_dict(t.model_.to_dict())
    again = [m.value for m in reloaded.columns[0].modes if m.kind == "special"]
    assert sorted(map(repr, again)) == ["-inf", "inf", "nan"]


def _nan_with_payload(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def test_nan_payloads_and_unseen_non_finite_values_round_trip():
    rng = np.random.default_rng(5)
    t = Transformer(seed=0).fit(pl.DataFrame({"x": rng.normal(0, 1, 2000)}))
    odd_nans = [
        _nan_with_payload(0x7FF8000000000123),
        _nan_with_payload(0xFFF8000000000000),
        _nan_with_payload(0x7FF0000000000001),
    ]
    new = pl.DataFrame({"x": [np.nan, np.inf, -np.inf, *odd_nans, 0.5]})
    for layout in ("compact", "onehot"):
        encoded = t.transform(new, layout=layout)
        # unseen non-finite values travel through the exact side channel
        assert encoded["x.exact"].count() >= 6
        assert_identical(new, t.inverse_transform(encoded))


# -------------------------------------------------------------- categorical
def test_categories_ranked_by_frequency_with_deterministic_ties():
    values = ["b"] * 5 + ["a"] * 5 + ["c"] * 9 + [None] * 5 + ["d"]
    frame = pl.DataFrame({"s": values})
    t = round_trip(frame)
    col = t.model_.columns[0]
    assert col.categories == ["c", "a", "b", None, "d"]
    assert col.counts == [9, 5, 5, 5, 1]
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    assert Transformer().fit(shuffled).model_.columns[0].categories == col.categories
    ranks = t.transform(frame)["s.category"].to_list()
    assert ranks[:5] == [2] * 5 and ranks[-1] == 4


@pytest.mark.parametrize(
    "dtype", [pl.String, pl.Categorical, pl.Enum(["x", "y", "z"])], ids=str
)
def test_text_category_dtypes_are_kept(dtype):
    frame = pl.DataFrame({"s": pl.Series(["x", "y", None, "x", "z"] * 8, dtype=dtype)})
    round_trip(frame)


def test_booleans_with_and_without_nulls():
    round_trip(pl.DataFrame({"b": [True, False, True, True] * 10}))
    round_trip(pl.DataFrame({"b": [True, None, False, True] * 10}))


def test_integer_column_declared_categorical():
    frame = pl.DataFrame({"code": pl.Series([7, 7, -3, 12, None] * 10, dtype=pl.Int16)})
    t = round_trip(frame, categorical=["code"])
    assert t.model_.columns[0].kind == "categorical"
    assert t.model_.columns[0].categories == [7, -3, 12, None]


def test_unseen_category_raises_naming_column_and_value():
    t = Transformer().fit(pl.DataFrame({"city": ["paris", "rome"] * 10}))
    new = pl.DataFrame({"city": ["rome", "oslo", "paris"]})
    with pytest.raises(UnseenCategoryError, match="'city'.*1 values.*'oslo'"):
        t.transform(new)
    with pytest.raises(UnseenCategoryError, match="'city'.*'oslo'"):
        t.transform(new, layout="onehot")


def test_unseen_policy_most_frequent_never_gives_an_all_zero_row():
    frame = pl.DataFrame({"city": ["paris"] * 12 + ["rome"] * 8})
    t = Transformer(unseen="most_frequent").fit(frame)
    encoded = t.transform(
        pl.DataFrame({"city": ["rome", "oslo", None]}), layout="onehot"
    )
    block = encoded.select("city.category.0", "city.category.1").to_numpy()
    np.testing.assert_array_equal(block, [[0, 1], [1, 0], [1, 0]])


def test_onehot_refuses_high_cardinality_before_reading_anything(tmp_path):
    frame = pl.DataFrame({"id": [f"u{i}" for i in range(6)] * 3, "x": range(18)})
    t = Transformer(max_onehot_categories=5).fit(frame)
    # the source does not exist: the refusal comes before any read or allocation
    with pytest.raises(ColumnError, match="'id' has 6 categories.*limit of 5"):
        t.transform(tmp_path / "missing.parquet", layout="onehot")
    assert t.transform(frame, layout="compact").height == 18


# -------------------------------------------------------------------- mixed
def test_mixed_specials_and_nulls_are_modes_of_their_own():
    rng = np.random.default_rng(6)
    n = 4000
    x = np.round(rng.lognormal(3, 1, n), 2)
    x[rng.random(n) < 0.3] = 0.0
    x[rng.random(n) < 0.05] = -1.0
    frame = pl.DataFrame({"bal": x}).with_columns(
        pl.when(pl.int_range(n) % 9 == 0)
        .then(None)
        .otherwise(pl.col("bal"))
        .alias("bal")
    )
    t = round_trip(frame, mixed={"bal": [0.0, -1.0]})
    col = t.model_.columns[0]
    kinds = [m.kind for m in col.modes]
    assert kinds.count("special") == 2 and kinds.count("null") == 1
    counts = [m.count for m in col.modes]
    assert counts == sorted(counts, reverse=True)
    encoded = t.transform(frame)
    special_rank = {m.value: r for r, m in enumerate(col.modes) if m.kind == "special"}
    zero_rows = (frame["bal"] == 0.0).fill_null(False).to_numpy()
    assert set(encoded["bal.mode"].to_numpy()[zero_rows]) == {special_rank[0.0]}
    assert (encoded["bal.alpha"].to_numpy()[zero_rows] == 0.0).all()
    null_rank = kinds.index("null")
    nulls = frame["bal"].is_null().to_numpy()
    assert set(encoded["bal.mode"].to_numpy()[nulls]) == {null_rank}


def test_mixed_negative_zero_is_not_zero():
    frame = pl.DataFrame({"x": [0.0, -0.0, 0.0, 3.5, 1.25, -2.0] * 10})
    t = round_trip(frame, mixed={"x": [0.0]})
    col = t.model_.columns[0]
    zero_mode = next(m for m in col.modes if m.kind == "special")
    assert zero_mode.count == 20
    assert math.copysign(1.0, zero_mode.value) == 1.0


def test_mixed_integer_column():
    frame = pl.DataFrame({"n": pl.Series([0, 0, 0, 5, 17, None, 0, 40] * 10)})
    t = round_trip(frame, mixed={"n": [0]})
    assert t.model_.columns[0].modes[0].value == 0


# ----------------------------------------------------------------- integers
INT_TYPES = [
    pl.Int8,
    pl.Int16,
    pl.Int32,
    pl.Int64,
    pl.UInt8,
    pl.UInt16,
    pl.UInt32,
    pl.UInt64,
]


@pytest.mark.parametrize("dtype", INT_TYPES, ids=str)
def test_integer_dtypes_round_trip_with_nulls_and_extremes(dtype):
    info = np.iinfo(str(dtype).lower())
    lo, hi = int(info.min), min(int(info.max), INT64_MAX)
    rng = np.random.default_rng(7)
    middle = rng.integers(max(lo, -1000), min(hi, 1000), 300).tolist()
    values = [lo, hi, lo + 1, hi - 1, 0, None, *middle, None]
    frame = pl.DataFrame({"n": pl.Series(values, dtype=dtype)})
    t = round_trip(frame)
    assert t.model_.columns[0].dtype == {"name": str(dtype)}


def test_int64_full_range_and_wrap_around():
    rng = np.random.default_rng(8)
    values = rng.integers(INT64_MIN, INT64_MAX, 500, dtype=np.int64, endpoint=True)
    values[:4] = [INT64_MIN, INT64_MAX, -1, 0]
    t = round_trip(pl.DataFrame({"n": values}))
    # unseen values beyond the fitted range still come back
    new = pl.DataFrame({"n": np.array([INT64_MAX, INT64_MIN, 5], dtype=np.int64)})
    assert_identical(new, t.inverse_transform(t.transform(new)))


def test_uint64_above_int64_is_refused_naming_the_column():
    frame = pl.DataFrame({"big": pl.Series([1, 2**63, 2**64 - 1], dtype=pl.UInt64)})
    with pytest.raises(ColumnError, match=r"'big'.*18446744073709551615.*2\*\*63"):
        Transformer().fit(frame)
    t = Transformer().fit(pl.DataFrame({"big": pl.Series([1, 5], dtype=pl.UInt64)}))
    with pytest.raises(ColumnError, match="'big'"):
        t.transform(frame)


# ----------------------------------------------------------------- decimals
def test_decimals_are_learned_per_column_and_decode_bit_identical():
    rng = np.random.default_rng(9)
    n = 6000
    frame = pl.DataFrame(
        {
            "cents": np.round(rng.lognormal(3, 1.2, n), 2),
            "four": np.round(rng.normal(944343, 5, n), 4),
            "whole": np.round(rng.normal(1000, 50, n)),
            "raw": rng.normal(0, 1, n),
            "sums": np.full(n, 0.1 + 0.2),
        }
    )
    frame = frame.with_columns(
        pl.when(pl.int_range(n) == 0)
        .then(944343.1221)
        .otherwise(pl.col("four"))
        .alias("four")
    )
    t = round_trip(frame)
    decimals = {c.name: c.decimals for c in t.model_.columns}
    assert decimals == {"cents": 2, "four": 4, "whole": 0, "raw": -1, "sums": -1}
    assert t.inverse_transform(t.transform(frame))["four"][0] == 944343.1221
    encoded = t.transform(frame)
    # the rounding rule makes the side channel nearly empty for decimal columns
    for name in ("cents", "four", "whole"):
        assert encoded[f"{name}.exact"].count() <= n * 0.005, name
    assert t.model_.column("cents").alpha_dtype == "float32"


# ------------------------------------------------------------ dates, times
def _temporal(ints: list[int | None], dtype: pl.DataType) -> pl.Series:
    physical = pl.Int32 if dtype == pl.Date else pl.Int64
    return pl.Series("t", ints, dtype=physical).cast(dtype)


@pytest.mark.parametrize("unit", ["ms", "us", "ns"])
@pytest.mark.parametrize("tz", [None, "UTC", "America/New_York"])
def test_datetimes_keep_unit_zone_and_value(unit, tz):
    per_day = {"ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}[unit]
    rng = np.random.default_rng(10)
    days = rng.integers(-40_000, 40_000, 400)  # 1860 .. 2079
    ints = [int(d) * per_day + int(rng.integers(per_day)) for d in days]
    ints += [INT64_MIN + 1, INT64_MAX, -1, 0, None, INT64_MIN // 2]
    frame = pl.DataFrame({"t": _temporal(ints, pl.Datetime(unit, tz))})
    t = round_trip(frame)
    assert t.model_.columns[0].dtype == {"name": "Datetime", "unit": unit, "tz": tz}


def test_dates_and_durations_before_1970_and_far_future():
    rng = np.random.default_rng(11)
    days = rng.integers(-800_000, 2_900_000, 300).tolist()  # years ~ -220 .. 9900
    days += [-(2**31), 2**31 - 1, 0, -1, None]
    durations = rng.integers(-(10**15), 10**15, 305).tolist()
    durations[:3] = [INT64_MIN, INT64_MAX, None]
    frame = pl.DataFrame(
        {
            "d": _temporal(days, pl.Date),
            "dur_ns": _temporal(durations, pl.Duration("ns")),
            "dur_ms": _temporal(durations[::-1], pl.Duration("ms")),
        }
    )
    round_trip(frame)


# --------------------------------------------------------- log and minmax
def test_log_option_for_heavy_tails():
    rng = np.random.default_rng(12)
    n = 5000
    frame = pl.DataFrame(
        {
            "pay": np.round(rng.pareto(1.2, n) * 1000, 2),
            "hits": rng.zipf(1.5, n).astype(np.int64),
        }
    )
    t = round_trip(frame, log=["pay", "hits"])
    for col in t.model_.columns:
        assert col.log
        top = math.log1p(frame[col.name].max() - frame[col.name].min())
        # the mixture lives in the log domain
        assert all(-1 < m.mean < top + 1 for m in col.modes if m.kind == "gaussian")


def test_minmax_option_scales_by_range_with_one_mode():
    rng = np.random.default_rng(13)
    frame = pl.DataFrame(
        {"u": rng.uniform(-5, 20, 3000), "k": rng.integers(0, 99, 3000)}
    )
    t = round_trip(frame, minmax=["u", "k"])
    for col in t.model_.columns:
        assert col.kind == "minmax" and len(col.modes) == 1
    assert t.output_info == [(1, "tanh"), (1, "tanh")]
    alpha = t.transform(frame)["u.alpha"].to_numpy()
    assert alpha.min() == pytest.approx(-0.99, abs=1e-9)
    assert alpha.max() == pytest.approx(0.99, abs=1e-9)


# ---------------------------------------------------- layout, order, input
def test_transform_keeps_column_order_and_leaves_input_alone(small_table):
    shuffled = small_table.select(["flag", "count", "v1", "label", "amount"])
    t = round_trip(shuffled, mixed={"amount": [0.0]})
    assert [c.name for c in t.model_.columns] == shuffled.columns
    encoded = t.transform(shuffled)
    firsts = [c.split(".")[0] for c in encoded.columns if not c.endswith(".exact")]
    assert list(dict.fromkeys(firsts)) == shuffled.columns
    matrix = t.transform(shuffled, layout="onehot").drop(
        [c for c in encoded.columns if c.endswith(".exact")]
    )
    array = matrix.to_numpy()
    copy = array.copy()
    t.inverse_transform(array)
    np.testing.assert_array_equal(array, copy)


def test_kinds_can_be_overridden_on_the_command_line(tmp_path, capsys):
    frame = pl.DataFrame(
        {
            "code": [1, 2, 3, 1, 2] * 10,
            "bal": [0.0, 0.0, 5.5, 8.25, 100.0] * 10,
            "w": [1.0, 2.0, 3.0, 4.0, 5.0] * 10,
            "p": [1.0, 10.0, 100.0, 1000.0, 1e4] * 10,
        }
    )
    data = tmp_path / "t.parquet"
    frame.write_parquet(data)
    model = tmp_path / "m.json"
    argv = ["fit", str(data), "-m", str(model), "--quiet", "--categorical", "code"]
    argv += ["--mixed", "bal=0", "--minmax", "w", "--log", "p"]
    assert cli_main(argv) == 0
    kinds = {c.name: c.kind for c in Model.load(model).columns}
    assert kinds == {
        "code": "categorical",
        "bal": "mixed",
        "w": "minmax",
        "p": "continuous",
    }
    assert Model.load(model).column("p").log
    assert cli_main(["verify", str(data), "-m", str(model), "--quiet"]) == 0
    capsys.readouterr()


def test_every_kind_at_once_through_parquet(tmp_path):
    rng = np.random.default_rng(14)
    n = 3000
    frame = pl.DataFrame(
        {
            "f64": rng.normal(0, 1, n),
            "f32": rng.normal(0, 1, n).astype(np.float32),
            "i8": pl.Series(rng.integers(-128, 127, n), dtype=pl.Int8),
            "u64": pl.Series(rng.integers(0, 2**62, n), dtype=pl.UInt64),
            "s": rng.choice(["a", "b", "c"], n),
            "b": rng.random(n) < 0.5,
            "d": _temporal(rng.integers(-50_000, 50_000, n).tolist(), pl.Date),
            "ts": _temporal(
                rng.integers(-(10**17), 10**17, n).tolist(), pl.Datetime("ns", "UTC")
            ),
        }
    )
    frame = frame.with_columns(
        pl.when(pl.int_range(n) % 7 == 0).then(None).otherwise(pl.col(c)).alias(c)
        for c in frame.columns
    )
    path = tmp_path / "all.parquet"
    frame.write_parquet(path, row_group_size=700)
    t = Transformer(seed=2, chunk_rows=500, threads=2).fit(path)
    for layout in ("compact", "onehot"):
        out = t.transform(path, layout=layout, output=tmp_path / f"{layout}.parquet")
        decoded = t.inverse_transform(out)
        assert_identical(frame, decoded)
    assert t.verify(path).ok
