"""Feeding a synthesizer: batch expansion, generated-output decoding, conditions.

Every kernel of ``modenorm.feed._kernels`` (and the clamp added to
``decode_float``) is checked against a plain NumPy reference.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from modenorm import Transformer
from modenorm.encode import numeric_kernels as nk
from modenorm.errors import (
    ColumnError,
    ModenormError,
    SchemaMismatchError,
    SourceError,
)
from modenorm.feed import BatchReader, ConditionalSampler, batch_blocks
from modenorm.feed._kernels import (
    fill_categorical,
    fill_numeric,
    permutation,
    pick_matching,
)
from modenorm.model.schema import NumericColumn

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- references
def ref_fill_numeric(alpha, mode, idx, out, start, width):
    out[:, start] = alpha[idx].astype(np.float32)
    if width == 0:
        return 0
    ranks = mode[idx].astype(np.int64)
    ok = (ranks >= 0) & (ranks < width)
    out[np.flatnonzero(ok), start + 1 + ranks[ok]] = 1.0
    return int((~ok).sum())


def ref_fill_categorical(rank, idx, out, start, width):
    ranks = rank[idx].astype(np.int64)
    ok = (ranks >= 0) & (ranks < width)
    out[np.flatnonzero(ok), start + ranks[ok]] = 1.0
    return int((~ok).sum())


def ref_uniform(key: int, rows: np.ndarray) -> np.ndarray:
    """splitmix64 of ``key + row * golden``, as ``encode._rng.uniform_at``."""
    with np.errstate(over="ignore"):
        z = np.uint64(key) + rows.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0**53


def ref_permutation(key: int, n: int) -> np.ndarray:
    u = ref_uniform(key, np.arange(n))
    out = np.zeros(n, dtype=np.int64)
    for i in range(n):
        j = int(u[i] * (i + 1))
        out[i] = out[j]
        out[j] = i
    return out


def ref_pick(batch, spans, cond_column, cond_rank, u):
    out = np.full(len(cond_column), -1, dtype=np.int64)
    for i, (c, r) in enumerate(zip(cond_column, cond_rank, strict=True)):
        start, width = spans[c]
        rows = np.flatnonzero(np.argmax(batch[:, start : start + width], 1) == r)
        if len(rows):
            out[i] = rows[min(int(u[i] * len(rows)), len(rows) - 1)]
    return out


# ------------------------------------------------------------------ tables
def every_kind(n: int = 4000, seed: int = 0) -> pl.DataFrame:
    """One column of every kind modenorm encodes, with nulls and specials."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(3, 1.2, n), 2)
    amount[rng.random(n) < 0.1] = 0.0
    weird = rng.normal(0, 1, n)
    weird[rng.random(n) < 0.02] = np.inf
    day0 = dt.date(2020, 1, 1)
    days = [day0 + dt.timedelta(days=int(d)) for d in rng.integers(0, 3000, n)]
    micros = rng.integers(1_500_000_000_000_000, 1_700_000_000_000_000, n)
    every_17th = np.arange(0, n, 17)
    return pl.DataFrame(
        {
            "cont": rng.normal(0, 1, n) + np.where(rng.random(n) < 0.3, 5.0, 0.0),
            "f32": rng.gamma(2.0, 2.0, n).astype(np.float32),
            "amount": amount,
            "count": rng.poisson(30, n).astype(np.int32),
            "small": rng.integers(0, 200, n).astype(np.uint8),
            "big": pl.Series(rng.integers(-(10**12), 10**12, n)).scatter(
                every_17th, None
            ),
            "mm": rng.uniform(-5, 5, n),
            "heavy": rng.pareto(1.5, n) * 100,
            "weird": weird,
            "day": pl.Series(days),
            "ts": pl.Series(micros).cast(pl.Datetime("us", "Europe/Paris")),
            "wait": pl.Series(rng.integers(0, 10**9, n)).cast(pl.Duration("ms")),
            "flag": rng.random(n) < 0.3,
            "label": rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.15, 0.05]),
            "cat": pl.Series(rng.choice(["x", "y", "z"], n)).cast(pl.Categorical),
            "maybe": pl.Series(rng.choice(["p", "q"], n)).scatter(
                np.arange(0, n, 13), None
            ),
        }
    )


@pytest.fixture(scope="module")
def kinds():
    table = every_kind()
    t = Transformer(seed=0, mixed={"amount": [0.0]}, minmax=["mm"], log=["heavy"])
    return table, t.fit(table)


@pytest.fixture(scope="module")
def four():
    """Two continuous and two categorical columns, fitted and encoded."""
    rng = np.random.default_rng(3)
    n = 30_000
    table = pl.DataFrame(
        {
            "amount": np.round(rng.lognormal(3.0, 1.2, n), 2),
            "v1": rng.normal(0.5, 1.0, n) - rng.exponential(1.5, n),
            "channel": rng.choice(["pos", "online", "atm"], n, p=[0.7, 0.25, 0.05]),
            "merchant": rng.choice([f"m{i:02d}" for i in range(12)], n),
        }
    )
    t = Transformer(seed=1).fit(table)
    return table, t, t.transform(table)


# ------------------------------------------------------------------ kernels
@pytest.mark.parametrize("alpha_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode_dtype", [np.int8, np.int16])
@pytest.mark.parametrize("width", [0, 1, 7])
def test_fill_numeric_matches_reference(alpha_dtype, mode_dtype, width):
    rng = np.random.default_rng(0)
    n, rows, total = 1000, 300, 12
    alpha = rng.uniform(-1, 1, n).astype(alpha_dtype)
    mode = rng.integers(-1, width + 2, n).astype(mode_dtype)
    idx = rng.permutation(n)[:rows]
    out = np.zeros((rows, total), np.float32)
    expected = np.zeros_like(out)
    bad = fill_numeric(alpha, mode, idx, out, 3, width)
    assert bad == ref_fill_numeric(alpha, mode, idx, expected, 3, width)
    assert np.array_equal(out, expected)
    if width:
        assert bad > 0


@pytest.mark.parametrize("rank_dtype", [np.int8, np.int16, np.int32])
def test_fill_categorical_matches_reference(rank_dtype):
    rng = np.random.default_rng(1)
    n, rows, width = 2000, 500, 300 if rank_dtype != np.int8 else 100
    rank = rng.integers(0, width, n).astype(rank_dtype)
    rank[::97] = -1  # 5 of the rows read
    rank[::101] = width  # 5 more, none shared
    idx = np.arange(100, 100 + rows)
    out = np.zeros((rows, width + 5), np.float32)
    expected = np.zeros_like(out)
    bad = fill_categorical(rank, idx, out, 5, width)
    assert bad == ref_fill_categorical(rank, idx, expected, 5, width) == 10
    assert np.array_equal(out, expected)


@pytest.mark.parametrize("n", [0, 1, 2, 1000])
def test_permutation_matches_reference(n):
    key = 0x1234_5678_9ABC_DEF0
    out = np.empty(n, np.int64)
    permutation(np.uint64(key), out)
    assert np.array_equal(out, ref_permutation(key, n))
    assert np.array_equal(np.sort(out), np.arange(n))


def test_permutation_is_uniform_on_three_elements():
    counts: dict[tuple, int] = {}
    out = np.empty(3, np.int64)
    for key in range(6000):
        permutation(np.uint64(key * 0x9E3779B97F4A7C15 % 2**64), out)
        counts[tuple(out)] = counts.get(tuple(out), 0) + 1
    assert len(counts) == 6
    # 1000 expected each; binomial sd about 29, so 5 sd is 145
    assert all(abs(c - 1000) < 145 for c in counts.values()), counts


def test_pick_matching_matches_reference():
    rng = np.random.default_rng(2)
    rows = 400
    spans = [(1, 3), (6, 5)]
    batch = rng.normal(size=(rows, 11)).astype(np.float32)
    batch[:, 6:11] = 0.0
    batch[:, 6 + 4] = 1.0  # rank 4 in column 1 for every row
    batch[:50, 6:11] = 0.0  # all-tied block: the lowest rank, 0
    batch[50:60, 6:11] = 0.0
    batch[50:60, 6 + 2] = 1.0
    starts = np.array([1, 6], np.int64)
    widths = np.array([3, 5], np.int64)
    offsets = np.array([0, 3, 8], np.int64)
    cond_column = rng.integers(0, 2, 1000).astype(np.int64)
    cond_rank = np.where(cond_column == 0, rng.integers(0, 3, 1000), 0)
    cond_rank[cond_column == 1] = rng.integers(0, 5, int((cond_column == 1).sum()))
    u = rng.random(1000)
    out = np.empty(1000, np.int64)
    pick_matching(batch, starts, widths, offsets, cond_column, cond_rank, u, out)
    expected = ref_pick(batch, spans, cond_column, cond_rank, u)
    assert np.array_equal(out, expected)
    absent = (cond_column == 1) & np.isin(cond_rank, [1, 3])
    assert absent.any() and np.all(out[absent] == -1)
    assert np.all(out[~absent] >= 0)


def ref_decode_float(alpha, mode, exact, flag, kind, mean, sd4, bits, p_dec, lo, hi):
    """NumPy reference of ``decode_float`` with ``clip`` set (no log, no f32)."""
    n = len(alpha)
    values = np.zeros(n)
    nulls = np.zeros(n, bool)
    a = np.clip(alpha.astype(np.float64), -1.0, 1.0)
    y = mean[mode] + sd4[mode] * a
    if p_dec:
        y = np.rint(y * p_dec) / p_dec
    y = np.minimum(np.maximum(y, lo), hi)
    gauss = kind[mode] == nk.KIND_GAUSSIAN
    values[gauss] = y[gauss]
    special = kind[mode] == nk.KIND_SPECIAL
    values[special] = bits[mode[special]].view(np.float64)
    nulls[kind[mode] == nk.KIND_NULL] = True
    values[flag] = exact[flag]
    nulls[flag] = False
    return values, nulls


@pytest.mark.parametrize("p_dec", [0.0, 100.0])
def test_decode_float_clamps_generated_values_like_reference(p_dec):
    rng = np.random.default_rng(4)
    n = 5000
    kind = np.array([0, 0, 1, 2, 1], np.int64)
    mean = np.array([10.0, 50.0, 0.0, 0.0, 0.0])
    sd4 = np.array([40.0, 8.0, 0.0, 0.0, 0.0])
    bits = np.array([0, 0, 0, 0, 0], np.int64)
    bits[2] = np.array([np.inf]).view(np.int64)[0]
    bits[4] = np.array([-1e300]).view(np.int64)[0]
    alpha = rng.uniform(-4, 4, n)
    mode = rng.integers(0, 5, n).astype(np.int8)
    flag = rng.random(n) < 0.05
    exact = rng.normal(0, 1e6, n)
    lo, hi = 0.5, 55.25
    out = np.empty(n)
    nulls = np.empty(n, bool)
    args = (alpha, mode, exact, flag, kind, mean, sd4, bits, False, 0.0, p_dec)
    assert nk.decode_float(*args, False, lo, hi, True, out, nulls) == 0
    ref, ref_nulls = ref_decode_float(
        alpha, mode, exact, flag, kind, mean, sd4, bits, p_dec, lo, hi
    )
    assert np.array_equal(nulls, ref_nulls)
    assert np.array_equal(out[~nulls], ref[~nulls])
    gauss = (kind[mode] == 0) & ~flag
    assert out[gauss].min() == lo and out[gauss].max() == hi
    assert np.all(out[(mode == 2) & ~flag] == np.inf)
    assert np.all(out[(mode == 4) & ~flag] == -1e300)
    assert np.array_equal(out[flag], exact[flag])
    # without clip, nothing is clipped or clamped
    nk.decode_float(*args, False, lo, hi, False, out, nulls)
    y = mean[mode] + sd4[mode] * alpha
    if p_dec:
        y = np.rint(y * p_dec) / p_dec
    assert np.array_equal(out[gauss], y[gauss])


# ------------------------------------------------------------------ batches
def test_blocks_follow_output_info(kinds):
    _, t = kinds
    blocks = batch_blocks(t.codecs)
    spans = []
    for b in blocks:
        if b.kind == "numeric":
            spans.append((1, "tanh"))
            if b.width:
                spans.append((b.width, "softmax"))
        else:
            spans.append((b.width, "softmax"))
    assert spans == t.output_info
    assert blocks[-1].stop == sum(w for w, _ in t.output_info)
    mm = next(b for b in blocks if b.name == "mm")
    assert mm.width == 0 and mm.stop == mm.start + 1


def test_batches_equal_the_onehot_layout_for_every_kind(kinds):
    table, t = kinds
    compact = t.transform(table)
    reader = t.batches(compact, batch_size=333)
    batches = list(reader)
    assert len(batches) == len(reader) == 13
    assert [len(b) for b in batches] == [333] * 12 + [4000 - 12 * 333]
    for batch in batches:
        assert batch.dtype == np.float32 and batch.flags.c_contiguous
        assert batch.shape[1] == reader.width == len(reader.columns)
    onehot = t.transform(table, layout="onehot").select(reader.columns)
    expected = onehot.to_numpy().astype(np.float32)
    assert np.array_equal(np.concatenate(batches), expected)
    assert not np.shares_memory(batches[0], batches[1])


def test_batches_from_parquet_parts_stream_in_order(four, tmp_path):
    table, t, compact = four
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, start in enumerate(range(0, compact.height, 7000)):
        part = compact.slice(start, 7000)
        part.write_parquet(folder / f"part-{i:05d}.parquet", row_group_size=3000)
    reader = t.batches(folder, batch_size=1024)
    got = np.concatenate(list(reader))
    again = np.concatenate(list(t.batches(compact, batch_size=1024)))
    assert np.array_equal(got, again)
    assert reader.num_rows == table.height
    reader_small = BatchReader(t.codecs, folder, batch_size=1024, read_rows=500)
    assert np.array_equal(np.concatenate(list(reader_small)), got)


def test_drop_last_and_len(four):
    _, t, compact = four
    reader = t.batches(compact, batch_size=7000, drop_last=True)
    sizes = [len(b) for b in reader]
    assert sizes == [7000] * 4 and len(reader) == 4
    assert len(t.batches(compact, batch_size=7000)) == 5


def sorted_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix[np.lexsort(matrix.T[::-1])]


@pytest.mark.parametrize("prefetch", [True, False])
def test_shuffle_is_a_seeded_permutation_of_the_rows(four, prefetch):
    _, t, compact = four

    def reader(seed):
        return BatchReader(
            t.codecs,
            compact,
            batch_size=512,
            shuffle=True,
            seed=seed,
            buffer_rows=10_000,
            read_rows=4096,
            prefetch=prefetch,
        )

    plain = np.concatenate(list(t.batches(compact, batch_size=512)))
    r = reader(7)
    first = np.concatenate(list(r))
    second = np.concatenate(list(r))
    assert first.shape == plain.shape
    assert np.array_equal(sorted_rows(first), sorted_rows(plain))
    assert not np.array_equal(first, plain)
    assert not np.array_equal(first, second)  # a new epoch, a new order
    again = reader(7)
    assert np.array_equal(np.concatenate(list(again.epoch(0))), first)
    assert np.array_equal(np.concatenate(list(again.epoch(1))), second)
    assert not np.array_equal(np.concatenate(list(reader(8))), first)


def test_shuffle_permutes_row_groups_and_rows_within_a_buffer(tmp_path):
    groups, group_rows = 8, 1000
    table = pl.DataFrame(
        {
            "x": np.random.default_rng(0).normal(size=groups * group_rows),
            "group": np.repeat([f"g{i}" for i in range(groups)], group_rows),
        }
    )
    t = Transformer(seed=0).fit(table)
    path = tmp_path / "grouped.parquet"
    t.transform(table).write_parquet(path, row_group_size=group_rows)
    reader = t.batches(path, batch_size=250, shuffle=True, seed=3, buffer_rows=1000)
    start, width = next((b.start, b.width) for b in reader.blocks if b.name == "group")
    order = []
    for batch in reader:
        ranks = np.unique(np.argmax(batch[:, start : start + width], axis=1))
        assert len(ranks) == 1  # a buffer holds exactly one row group
        order.append(int(ranks[0]))
    visits = [order[i] for i in range(0, len(order), 4)]
    assert sorted(visits) == list(range(groups))
    assert visits != sorted(visits)
    assert all(order[i] == order[i - i % 4] for i in range(len(order)))
    x_block = reader.blocks[0]
    first = next(iter(t.batches(path, batch_size=1000, shuffle=True, seed=3)))
    plain = next(iter(t.batches(path, batch_size=1000)))
    assert not np.array_equal(first[:, x_block.start], plain[:, x_block.start])


def test_breaking_out_stops_the_reading_thread(four):
    _, t, compact = four
    before = threading.active_count()
    reader = t.batches(compact, batch_size=100, shuffle=True, seed=0)
    for i, _ in enumerate(reader):
        if i == 3:
            break
    for _ in range(100):
        if threading.active_count() <= before:
            break
        threading.Event().wait(0.01)
    assert threading.active_count() <= before


def test_lazy_frame_source_is_read_as_one_stream(four):
    _, t, compact = four
    got = np.concatenate(list(t.batches(compact.lazy(), batch_size=4096)))
    assert np.array_equal(
        got, np.concatenate(list(t.batches(compact, batch_size=4096)))
    )
    with pytest.raises(TypeError, match="row count"):
        len(t.batches(compact.lazy(), batch_size=10))


def test_batches_refuse_onehot_input_and_bad_arguments(four):
    table, t, compact = four
    with pytest.raises(SchemaMismatchError, match="layout='compact'"):
        t.batches(t.transform(table.head(10), layout="onehot"), batch_size=4)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        t.batches(compact, batch_size=0)
    with pytest.raises(SchemaMismatchError, match="'v1.alpha'.*float"):
        t.batches(compact.with_columns(pl.col("v1.alpha").cast(pl.Int32)), batch_size=4)


def test_batches_name_the_column_with_a_bad_rank(four):
    _, t, compact = four
    damaged = compact.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(99)
        .otherwise(pl.col("channel.category"))
        .cast(pl.Int8)
        .alias("channel.category")
    )
    with pytest.raises(SchemaMismatchError, match="'channel': 1 rows have a rank"):
        list(t.batches(damaged, batch_size=64))
    nulls = compact.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(None)
        .otherwise(pl.col("v1.mode"))
        .alias("v1.mode")
    )
    with pytest.raises(SchemaMismatchError, match="'v1.mode'.*1 nulls"):
        list(BatchReader(t.codecs, nulls, batch_size=64, prefetch=False))


def test_read_errors_reach_the_training_loop(four, tmp_path):
    table, t, _ = four
    path = tmp_path / "enc.parquet"
    t.transform(table, output=path)
    reader = t.batches(path, batch_size=64)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(SourceError, match="cannot read"):
        list(reader)


def test_batches_refuse_too_many_categories():
    table = pl.DataFrame({"id": [f"k{i}" for i in range(300)], "x": np.arange(300.0)})
    t = Transformer(seed=0, max_onehot_categories=100).fit(table)
    with pytest.raises(ColumnError, match="'id' has 300 categories"):
        t.batches(t.transform(table), batch_size=10)


# ------------------------------------------------------- generated decoding
def random_generator_output(info, rows, rng) -> np.ndarray:
    parts = []
    for width, activation in info:
        raw = rng.normal(0.0, 3.0, (rows, width))
        if activation == "tanh":
            parts.append(raw * 1.5)  # scalars well outside [-1, 1]
        else:
            e = np.exp(raw - raw.max(axis=1, keepdims=True))
            parts.append(e / e.sum(axis=1, keepdims=True))
    return np.concatenate(parts, axis=1).astype(np.float32)


def test_generated_matrix_decodes_to_valid_values_of_every_kind(kinds):
    table, t = kinds
    rng = np.random.default_rng(5)
    matrix = random_generator_output(t.output_info, 3000, rng)
    assert np.abs(matrix).max() > 1
    decoded = t.inverse_transform(matrix)
    assert decoded.schema == table.schema
    for col in t.model_.columns:
        got = decoded[col.name]
        if not isinstance(col, NumericColumn):
            assert set(got.unique().to_list()) <= set(col.categories), col.name
            continue
        if not any(m.kind == "null" for m in col.modes):
            assert got.null_count() == 0, col.name
        specials = [m.value for m in col.modes if m.kind == "special"]
        values = got.drop_nulls().to_physical().cast(pl.Float64).to_numpy()
        lo, hi = float(col.stats["min"]), float(col.stats["max"])
        if col.kind != "mixed":
            values = values[~np.isin(values, specials)]
        else:
            values = values[values != 0.0]
        assert values.min() >= lo and values.max() <= hi, col.name
        assert (values == lo).any() and (values == hi).any(), col.name
        if col.decimals >= 0:
            assert np.array_equal(np.round(values, col.decimals), values), col.name
    assert decoded["weird"].is_infinite().sum() > 0  # the special value survives
    assert decoded["amount"].eq(0.0).sum() > 0


def test_generated_values_match_a_numpy_reference(kinds):
    _, t = kinds
    rng = np.random.default_rng(6)
    matrix = random_generator_output(t.output_info, 2000, rng)
    decoded = t.inverse_transform(matrix)
    blocks = {b.name: b for b in batch_blocks(t.codecs)}
    for name in ("cont", "amount", "count", "label"):
        col = t.model_.column(name)
        b = blocks[name]
        if b.kind == "categorical":
            ranks = np.argmax(matrix[:, b.start : b.stop], axis=1)
            assert decoded[name].to_list() == [col.categories[r] for r in ranks]
            continue
        alpha = np.clip(matrix[:, b.start].astype(np.float64), -1, 1)
        ranks = np.argmax(matrix[:, b.start + 1 : b.stop], axis=1)
        mean = np.array([m.mean for m in col.modes])
        sd4 = np.array([4.0 * m.std for m in col.modes])
        y = mean[ranks] + sd4[ranks] * alpha
        if col.decimals >= 0:
            p = 10.0**col.decimals
            y = np.rint(y * p) / p
        lo, hi = col.stats["min"], col.stats["max"]
        gauss = np.array([m.kind == "gaussian" for m in col.modes])[ranks]
        if col.physical == "int":
            y = np.clip(np.rint(y).astype(np.int64) + col.offset, lo, hi)
        else:
            y = np.clip(y, lo, hi)
        got = decoded[name].to_numpy()
        assert np.array_equal(got[gauss], y[gauss].astype(got.dtype)), name
        specials = np.array([m.value or 0 for m in col.modes])[ranks]
        assert np.array_equal(got[~gauss], specials[~gauss].astype(got.dtype)), name


def test_ties_decode_to_the_lowest_rank(kinds):
    table, t = kinds
    width = sum(w for w, _ in t.output_info)
    decoded = t.inverse_transform(np.full((5, width), 0.25, np.float32))
    for col in t.model_.columns:
        if isinstance(col, NumericColumn):
            continue
        assert decoded[col.name].to_list() == [col.categories[0]] * 5
    cont = t.model_.column("cont")
    first = cont.modes[0]
    expected = first.mean + 4.0 * first.std * 0.25
    assert np.allclose(decoded["cont"].to_numpy(), expected, rtol=1e-12)


def test_nan_in_a_generated_matrix_is_refused(kinds):
    _, t = kinds
    width = sum(w for w, _ in t.output_info)
    matrix = np.zeros((4, width), np.float32)
    matrix[2, 1] = np.nan
    with pytest.raises(SchemaMismatchError, match=r"1 NaN values.*'cont\.mode\.0'"):
        t.inverse_transform(matrix)


def test_encoded_batches_decode_back_to_the_table(four):
    table, t, compact = four
    batches = list(t.batches(compact, batch_size=4096))
    decoded = t.inverse_transform(np.concatenate(batches))
    assert decoded.schema == table.schema
    for name in ("channel", "merchant"):
        assert decoded[name].to_list() == table[name].to_list()
    # alpha is rounded to float32 in the batches, and the side channel is
    # not fed; values stay within a float32 rounding of alpha times 4 * std
    col = t.model_.column("v1")
    tol = 4 * max(m.std for m in col.modes) * 2**-22
    kept = compact["v1.exact"].is_null().to_numpy()
    assert kept.mean() > 0.5
    error = np.abs(decoded["v1"].to_numpy() - table["v1"].to_numpy())[kept]
    assert 0 < error.max() < tol


# ------------------------------------------------------------- conditions
def test_conditional_probabilities_follow_log_frequency(four):
    _, t, _ = four
    sampler = t.conditional_sampler(seed=0)
    assert sampler.columns == ["channel", "merchant"]
    for name, probs, freqs in zip(
        sampler.columns, sampler.log_probabilities, sampler.frequencies, strict=True
    ):
        counts = np.array(t.model_.column(name).counts, dtype=np.float64)
        assert np.allclose(probs, np.log(counts + 1) / np.log(counts + 1).sum())
        assert np.allclose(freqs, counts / counts.sum())
    draws = 400_000
    cond, column, rank = sampler.sample(draws)
    assert cond.dtype == np.float32 and cond.flags.c_contiguous
    assert cond.shape == (draws, sampler.width) == (draws, 3 + 12)
    assert np.array_equal(cond.sum(axis=1), np.ones(draws))
    assert np.array_equal(np.argmax(cond, axis=1), sampler.offsets[column] + rank)
    share = np.bincount(column) / draws
    assert np.all(np.abs(share - 0.5) < 5 * np.sqrt(0.25 / draws))
    for c, probs in enumerate(sampler.log_probabilities):
        n = int((column == c).sum())
        seen = np.bincount(rank[column == c], minlength=len(probs)) / n
        sd = np.sqrt(probs * (1 - probs) / n)
        assert np.all(np.abs(seen - probs) < 5 * sd), (c, seen, probs)
    # by frequency, as CTGAN draws at generation time
    _, column, rank = sampler.sample(draws, log_frequency=False)
    freqs = sampler.frequencies[0]
    n = int((column == 0).sum())
    seen = np.bincount(rank[column == 0], minlength=3) / n
    assert np.all(np.abs(seen - freqs) < 5 * np.sqrt(freqs * (1 - freqs) / n))


def test_conditional_draws_are_seeded(four):
    _, t, _ = four
    a = t.conditional_sampler(seed=4).sample(100)
    b = t.conditional_sampler(seed=4).sample(100)
    c = t.conditional_sampler(seed=5).sample(100)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[2], c[2])


def test_rows_matching_a_condition(four):
    _, t, compact = four
    sampler = t.conditional_sampler(seed=1)
    batch = next(iter(t.batches(compact, batch_size=2000)))
    names = t.batches(compact, batch_size=1).columns
    for c, (start, width) in enumerate(sampler.spans):
        assert names[start : start + width] == [
            f"{sampler.columns[c]}.category.{r}" for r in range(width)
        ]
    mask = sampler.matching(batch, 1, 3)
    ranks = compact["merchant.category"].to_numpy()[:2000]
    assert np.array_equal(mask, ranks == 3)
    _, column, rank = sampler.sample(500)
    rows = sampler.pick_rows(batch, column, rank)
    assert np.all(rows >= 0)  # 2000 rows hold every category here
    truth = {0: compact["channel.category"].to_numpy()[:2000], 1: ranks}
    for i, row in enumerate(rows):
        assert truth[int(column[i])][row] == rank[i]
    lone = batch[:1]
    rows = sampler.pick_rows(lone, np.array([0, 0, 0]), np.array([0, 1, 2]))
    assert sorted(rows.tolist()) == [-1, -1, 0]


def test_conditional_sampler_without_categorical_columns():
    table = pl.DataFrame({"x": np.random.default_rng(0).normal(size=500)})
    sampler = Transformer(seed=0).fit(table).conditional_sampler()
    assert sampler.width == 0
    with pytest.raises(ModenormError, match="no categorical column"):
        sampler.sample(4)


def test_sampler_from_codecs_matches_the_transformer(four):
    _, t, _ = four
    direct = ConditionalSampler(t.codecs, seed=9).sample(50)
    via = t.conditional_sampler(seed=9).sample(50)
    assert all(np.array_equal(x, y) for x, y in zip(direct, via, strict=True))


# ------------------------------------------------------------------- docs
def test_readme_feeding_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Feeding a synthesizer", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "README.md's feeding section has no python code block"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__feeding__"}
    for code in blocks:
        exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["synthetic"].height == 8
