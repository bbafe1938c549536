"""Rows per second of batch expansion: compact layout to onehot float32 batches.

Builds a table of two continuous columns (credit-card-like ``amount`` and
``v1``) and two categorical ones (3 and 16 categories), fits and encodes it
once, then times one epoch of :meth:`modenorm.Transformer.batches` from an
in-memory compact DataFrame and from Parquet, unshuffled and shuffled, against
the naive NumPy way (``np.eye(width)[ranks]`` per block) and the naive polars
way (one ``rank == r`` expression per one-hot column). Rates are rows per
second of wall time and per CPU second (the per-core figure).

Run: ``python benchmarks/bench_batches.py --rows 4000000 --batch-size 500``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402

from modenorm import Transformer  # noqa: E402


def make_table(rows: int, seed: int = 0) -> pl.DataFrame:
    """Two continuous and two categorical columns, with skewed frequencies."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(3.0, 1.5, rows), 2)
    amount[rng.random(rows) < 0.006] = 0.0
    v1 = rng.normal(1.0, 0.8, rows) - rng.exponential(1.5, rows) ** 1.5
    merchants = [f"m{i:02d}" for i in range(16)]
    weights = 1.0 / np.arange(1, 17)
    return pl.DataFrame(
        {
            "amount": np.minimum(amount, 25_000.0),
            "v1": v1,
            "kind": rng.choice(["pos", "online", "atm"], rows, p=[0.7, 0.25, 0.05]),
            "merchant": rng.choice(merchants, rows, p=weights / weights.sum()),
        }
    )


def timed(run) -> tuple[float, float, int]:
    """Run ``run()`` (which returns a row count); wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    rows = run()
    return time.perf_counter() - wall, time.process_time() - cpu, rows


def epoch(reader) -> int:
    return sum(len(batch) for batch in reader)


def naive_numpy(t: Transformer, frame: pl.DataFrame, batch_size: int) -> int:
    """Per batch: slice, ``np.eye`` per block, concatenate, cast."""
    rows = 0
    blocks = []
    for codec in t.codecs:
        if codec.col.kind != "categorical":
            alpha = frame[f"{codec.name}.alpha"].to_numpy()
            mode = frame[f"{codec.name}.mode"].to_numpy()
            blocks.append((alpha, mode, codec.col.onehot_width))
        else:
            rank = frame[f"{codec.name}.category"].to_numpy()
            blocks.append((None, rank, codec.n_categories))
    for start in range(0, frame.height, batch_size):
        stop = start + batch_size
        parts = []
        for alpha, ranks, width in blocks:
            if alpha is not None:
                parts.append(alpha[start:stop, None])
            parts.append(np.eye(width, dtype=np.float32)[ranks[start:stop]])
        batch = np.concatenate(parts, axis=1).astype(np.float32)
        rows += len(batch)
    return rows


def naive_polars(t: Transformer, frame: pl.DataFrame, batch_size: int) -> int:
    """Per batch: one ``rank == r`` expression per one-hot column, to NumPy."""
    exprs = []
    for codec in t.codecs:
        if codec.col.kind != "categorical":
            exprs.append(pl.col(f"{codec.name}.alpha").cast(pl.Float32))
            mode = pl.col(f"{codec.name}.mode")
            exprs += [
                (mode == r).cast(pl.Float32).alias(f"{codec.name}.mode.{r}")
                for r in range(codec.col.onehot_width)
            ]
        else:
            rank = pl.col(f"{codec.name}.category")
            exprs += [
                (rank == r).cast(pl.Float32).alias(f"{codec.name}.category.{r}")
                for r in range(codec.n_categories)
            ]
    rows = 0
    for start in range(0, frame.height, batch_size):
        batch = frame.slice(start, batch_size).select(exprs).to_numpy()
        rows += len(batch)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--buffer-rows", type=int, default=1 << 20)
    parser.add_argument("--row-group-rows", type=int, default=1 << 18)
    parser.add_argument(
        "--naive-rows",
        type=int,
        default=500_000,
        help="rows timed for the naive ways (they are slow)",
    )
    args = parser.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)

    table = make_table(args.rows)
    t = Transformer(seed=0, threads=1).fit(table)
    compact = t.transform(table)
    print(f"table: {args.rows:,} rows, output_info {t.output_info}")
    print(
        f"onehot width {sum(w for w, _ in t.output_info)}, batch_size {args.batch_size}"
    )
    bs = args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "encoded.parquet"
        compact.write_parquet(path, row_group_size=args.row_group_rows)
        # warm up the kernels (compilation is cached on disk after the first run)
        epoch(t.batches(compact.head(10_000), batch_size=bs, shuffle=True, seed=0))
        cases = {
            "DataFrame, in order": lambda: epoch(t.batches(compact, batch_size=bs)),
            "DataFrame, shuffled": lambda: epoch(
                t.batches(
                    compact,
                    batch_size=bs,
                    shuffle=True,
                    seed=0,
                    buffer_rows=args.buffer_rows,
                )
            ),
            "Parquet, in order": lambda: epoch(t.batches(path, batch_size=bs)),
            "Parquet, shuffled": lambda: epoch(
                t.batches(
                    path,
                    batch_size=bs,
                    shuffle=True,
                    seed=0,
                    buffer_rows=args.buffer_rows,
                )
            ),
        }
        naive_frame = compact.head(args.naive_rows)
        naive = {
            "naive numpy (np.eye)": lambda: naive_numpy(t, naive_frame, bs),
            "naive polars (exprs)": lambda: naive_polars(t, naive_frame, bs),
        }
        results = {}
        print(f"{'case':<24}{'rows/s wall':>16}{'rows/s per CPU s':>20}")
        for name, run in {**cases, **naive}.items():
            wall, cpu, rows = timed(run)
            results[name] = rows / cpu
            print(f"{name:<24}{rows / wall:>16,.0f}{rows / cpu:>20,.0f}")
    base = results["DataFrame, in order"]
    for name in naive:
        print(f"speed-up over {name}: {base / results[name]:.1f}x (per CPU s)")


if __name__ == "__main__":
    main()
