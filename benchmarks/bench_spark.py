"""The Spark engine on local[N] against the local engine, and Spark ML's GMM.

Generates credit-card-like columns (``amount``: two decimals, heavy tail,
repeated prices, 0.6 % exact zeros; ``v1``: long negative tail) chunk by chunk
into Parquet files in a temporary folder, then times, for each engine, the fit,
the transform (Parquet to Parquet) and the inverse (Parquet to Parquet). It
checks that both engines wrote the same model and the same encoded rows, and
times Spark ML's ``GaussianMixture`` (k = 10) on ``v1`` for comparison. The
folder is deleted at the end.

Example::

    python benchmarks/bench_spark.py --rows 10_000_000 --master "local[2]"
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK_ROWS = 1 << 20
ROW_GROUP_ROWS = 1 << 17
POPULAR = np.array([1.00, 0.76, 0.89, 9.99, 15.00, 1.98, 0.77, 99.99, 3.79, 7.58])


def credit_chunk(rng: np.random.Generator, n: int) -> pa.Table:
    """``n`` rows of ``amount`` and ``v1``."""
    amount = np.exp(rng.normal(3.0, 1.5, n))
    popular = rng.random(n) < 0.22
    p = 1.0 / np.arange(1, len(POPULAR) + 1)
    amount[popular] = rng.choice(POPULAR, popular.sum(), p=p / p.sum())
    amount = np.round(np.minimum(amount, 25_691.16), 2)
    amount[rng.random(n) < 0.006] = 0.0
    v1 = np.maximum(2.45 - np.exp(rng.normal(0.35, 0.9, n)), -56.41)
    return pa.table({"amount": amount, "v1": v1})


def write_data(folder: Path, rows: int, seed: int) -> None:
    """One Parquet file per chunk of ``CHUNK_ROWS`` rows."""
    folder.mkdir(parents=True)
    for j, start in enumerate(range(0, rows, CHUNK_ROWS)):
        rng = np.random.default_rng([seed, j])
        table = credit_chunk(rng, min(CHUNK_ROWS, rows - start))
        pq.write_table(
            table, folder / f"part-{j:05d}.parquet", row_group_size=ROW_GROUP_ROWS
        )


def timed(func):
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start


def run_engine(name: str, data: Path, work: Path, **options) -> dict:
    """Fit, transform and inverse with one engine; seconds of each stage."""
    from modenorm import Transformer

    t = Transformer(mixed={"amount": [0.0]}, seed=0, **options)
    _, fit = timed(lambda: t.fit(data))
    enc = work / f"{name}-encoded"
    _, transform = timed(lambda: t.transform(data, output=enc))
    dec = work / f"{name}-decoded"
    _, inverse = timed(lambda: t.inverse_transform(enc, output=dec))
    return {
        "fit": fit,
        "transform": transform,
        "inverse": inverse,
        "model": t.model_.to_dict(),
        "encoded": enc,
        "decoded": dec,
    }


def spark_ml_fit(session, data: Path, k: int, max_iter: int) -> tuple[float, int]:
    """Seconds and iterations of Spark ML's GaussianMixture on ``v1``."""
    from pyspark.ml.clustering import GaussianMixture
    from pyspark.ml.feature import VectorAssembler

    frame = session.read.parquet(str(data)).select("v1")
    features = VectorAssembler(inputCols=["v1"], outputCol="features").transform(frame)
    gmm = GaussianMixture(k=k, maxIter=max_iter, tol=0.01, seed=0)
    model, seconds = timed(lambda: gmm.fit(features))
    return seconds, int(model.summary.numIter)


def same_rows(a: Path, b: Path) -> bool:
    """Whether two Parquet folders hold the same rows in the same order."""
    left, right = (
        pl.read_parquet(p if p.is_file() else sorted(p.glob("*.parquet")))
        for p in (a, b)
    )
    right = right.with_columns([pl.col(c).cast(left.schema[c]) for c in left.columns])
    return left.equals(right)


def report(rows: int, local: dict, spark: dict, startup: float, ml) -> str:
    lines = [
        f"{rows:,} rows x 2 columns (amount, v1), Parquet to Parquet",
        f"Spark session start: {startup:.1f} s (not counted below)",
        "",
        f"{'stage':<10} {'local s':>9} {'spark s':>9} {'local rows/s':>14} "
        f"{'spark rows/s':>14} {'spark/local':>11}",
    ]
    for stage in ("fit", "transform", "inverse"):
        a, b = local[stage], spark[stage]
        lines.append(
            f"{stage:<10} {a:>9.2f} {b:>9.2f} {rows / a:>14,.0f} "
            f"{rows / b:>14,.0f} {b / a:>10.2f}x"
        )
    total_a = sum(local[s] for s in ("fit", "transform", "inverse"))
    total_b = sum(spark[s] for s in ("fit", "transform", "inverse"))
    lines.append(
        f"{'total':<10} {total_a:>9.2f} {total_b:>9.2f} {rows / total_a:>14,.0f} "
        f"{rows / total_b:>14,.0f} {total_b / total_a:>10.2f}x"
    )
    if ml is not None:
        seconds, iters = ml
        lines += [
            "",
            f"Spark ML GaussianMixture (k=10, tol 0.01) on v1: {seconds:.1f} s for "
            f"{iters} iterations ({seconds / max(iters, 1):.2f} s per iteration); "
            f"modenorm's Spark fit of both columns: {spark['fit']:.1f} s",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=lambda s: int(float(s)), default=10_000_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=None)
    parser.add_argument("--spark-ml-iter", type=int, default=100)
    parser.add_argument("--no-spark-ml", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    work = Path(tempfile.mkdtemp(prefix="modenorm-bench-spark-"))
    try:
        data = work / "data"
        _, gen = timed(lambda: write_data(data, args.rows, args.seed))
        print(f"generated {args.rows:,} rows in {gen:.1f} s under {work}", flush=True)
        local = run_engine("local", data, work)
        print("local engine done", flush=True)

        from modenorm.engines.spark import spark_session

        session, startup = timed(lambda: spark_session(args.master))
        session.sparkContext.setLogLevel("ERROR")
        spark = run_engine(
            "spark",
            data,
            work,
            engine="spark",
            spark_master=args.master,
            partitions=args.partitions,
        )
        print("spark engine done", flush=True)
        same_model = json.dumps(local["model"], sort_keys=True) == json.dumps(
            spark["model"], sort_keys=True
        )
        same_encoded = same_rows(local["encoded"], spark["encoded"])
        same_decoded = same_rows(data, spark["decoded"])
        ml = None
        if not args.no_spark_ml:
            ml = spark_ml_fit(session, data, 10, args.spark_ml_iter)
        print()
        print(report(args.rows, local, spark, startup, ml))
        print(
            f"\nsame model: {same_model}; same encoded rows: {same_encoded}; "
            f"Spark's decoded table equals the input: {same_decoded}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
