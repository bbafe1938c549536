"""Fit time and fit quality of one column: modenorm beside scikit-learn and Spark ML.

For each row count the column is generated to Parquet (see ``datagen.py``) and
fitted, in a fresh process per tool, by

- modenorm (the default variational Bayesian mixture, and ``mixture="em"``),
  reading the Parquet file;
- scikit-learn's ``BayesianGaussianMixture`` (10 components, Dirichlet-process
  prior 0.001, 100 iterations, as RDT and CTAB-GAN set it up) and
  ``GaussianMixture`` (10 components), on the column read into memory;
- Spark ML's ``GaussianMixture`` (k = 10) on ``local[2]``, bound to
  127.0.0.1 with the UI off, reading the same file.

Fit times include reading the data; Spark's start-up is left out. Each fit is
then scored the same way: the mean log-likelihood per row of its plug-in
density (fitted weights, means and variances) over every row of the column,
computed by streaming the file (modenorm's own is ``Transformer.score``).

A peer is run at a size only if its time at the previous size, scaled by the
row count (with a 25 % margin), stays under ``--limit`` (15 minutes by
default), and the scikit-learn fits only if their responsibility arrays fit in
memory; skipped sizes are listed with the estimate that ruled them out, and a
fit still running after ``--limit`` is stopped and listed as such.

Examples::

    python benchmarks/bench_fit.py                      # 1M, 10M, 100M rows
    python benchmarks/bench_fit.py --rows 1M --tools modenorm,sklearn-gm
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import psutil
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402
import datagen  # noqa: E402

TOOLS = ("modenorm", "modenorm-em", "sklearn-bgm", "sklearn-gm", "spark-gm")
TOOL_NAMES = {
    "modenorm": "modenorm (variational, default)",
    "modenorm-em": "modenorm (`mixture='em'`)",
    "sklearn-bgm": "scikit-learn BayesianGaussianMixture",
    "sklearn-gm": "scikit-learn GaussianMixture",
    "spark-gm": "Spark ML GaussianMixture, local[2]",
}
RECIPE_OF = {"amount": "credit", "v1": "credit", "dep_delay": "flights"}
K = 10
# Scaling a fit time linearly underestimates: at 10x the rows, the N x K
# arrays leave the caches (scikit-learn's BGM took 1.7x its estimate here).
ESTIMATE_MARGIN = 1.25


def plugin_log_likelihood(path, column, weights, means, variances) -> float:
    """Mean log-likelihood per row of a 1-D mixture over a Parquet column."""
    from modenorm.fit.scoring import mixture_log_density

    total, count = 0.0, 0
    for batch in pq.ParquetFile(path).iter_batches(1 << 20, columns=[column]):
        x = batch.column(0).drop_null().to_numpy()
        x = x[np.isfinite(x)]
        total += float(mixture_log_density(weights, means, variances, x).sum())
        count += len(x)
    return total / count


def read_column(path, column) -> np.ndarray:
    x = pq.read_table(path, columns=[column]).column(0).drop_null().to_numpy()
    return x[np.isfinite(x)].reshape(-1, 1)


# ----------------------------------------------------------------- workers
def work_modenorm(args, method: str) -> dict:
    from modenorm import Transformer

    stages = C.Stages()
    t = stages.run(
        "fit",
        lambda: Transformer(
            continuous=[args.column], columns=[args.column], mixture=method, seed=0
        ).fit(args.input),
    )
    mix = t.mixture(args.column)
    stages.result["modes"] = int(mix["valid"].sum())
    stages.result["n_iter"] = int(mix["n_iter"])
    stages.result["loglik"] = t.score(args.input)[args.column]
    return stages.result


def work_sklearn(args, bayesian: bool) -> dict:
    from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

    stages = C.Stages()

    def fit():
        x = read_column(args.input, args.column)
        if bayesian:
            model = BayesianGaussianMixture(
                n_components=K,
                weight_concentration_prior_type="dirichlet_process",
                weight_concentration_prior=0.001,
                max_iter=100,
                n_init=1,
                random_state=0,
            )
        else:
            model = GaussianMixture(n_components=K, max_iter=100, random_state=0)
        return model.fit(x)

    model = stages.run("fit", fit)
    stages.result["n_iter"] = int(model.n_iter_)
    stages.result["modes"] = int((model.weights_ > 0.005).sum())
    stages.result["loglik"] = plugin_log_likelihood(
        args.input,
        args.column,
        model.weights_,
        model.means_.reshape(-1),
        model.covariances_.reshape(-1),
    )
    return stages.result


def work_spark(args) -> dict:
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    from pyspark.ml.clustering import GaussianMixture
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("modenorm-bench-fit")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", args.spark_memory)
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    stages = C.Stages()

    def fit():
        frame = spark.read.parquet(str(args.input)).select(args.column).na.drop()
        vectors = VectorAssembler(inputCols=[args.column], outputCol="features")
        gm = GaussianMixture(k=K, maxIter=100, seed=0, featuresCol="features")
        return gm.fit(vectors.transform(frame))

    try:
        model = stages.run("fit", fit)
        gauss = model.gaussiansDF.collect()
        means = np.array([row["mean"][0] for row in gauss])
        variances = np.array([row["cov"].toArray()[0, 0] for row in gauss])
        weights = np.array(model.weights)
        stages.result["n_iter"] = int(model.summary.numIter)
    finally:
        spark.stop()
    stages.result["modes"] = int((weights > 0.005).sum())
    stages.result["loglik"] = plugin_log_likelihood(
        args.input, args.column, weights, means, np.maximum(variances, 1e-300)
    )
    return stages.result


WORKERS = {
    "modenorm": lambda a: work_modenorm(a, "bayesian"),
    "modenorm-em": lambda a: work_modenorm(a, "em"),
    "sklearn-bgm": lambda a: work_sklearn(a, True),
    "sklearn-gm": lambda a: work_sklearn(a, False),
    "spark-gm": work_spark,
}


# ------------------------------------------------------------------ driver
def sklearn_bytes(rows: int) -> int:
    """Rough peak memory of a scikit-learn mixture fit (float64 N x K arrays)."""
    return rows * K * 8 * 4


def plan(tool, rows, history, limit) -> str | None:
    """Why ``tool`` should skip ``rows`` (None to run it)."""
    if tool.startswith("sklearn") and sklearn_bytes(rows) > 0.6 * (
        psutil.virtual_memory().available
    ):
        return f"skipped: needs about {sklearn_bytes(rows) / 2**30:.0f} GiB of memory"
    done = [(n, r["fit_s"]) for n, r in history.get(tool, []) if "fit_s" in r]
    if done:
        n, seconds = done[-1]
        estimate = seconds * rows / n * ESTIMATE_MARGIN
        if estimate > limit:
            return f"skipped: estimated {estimate / 60:.0f} min"
    failed = [n for n, r in history.get(tool, []) if "error" in r or "skipped" in r]
    if failed:
        return "skipped: failed or skipped at a smaller size"
    return None


def table(results) -> str:
    base = {
        rows: r["fit_s"]
        for rows, tool, r in results
        if tool == "modenorm" and "fit_s" in r
    }
    ref = {
        rows: r["loglik"]
        for rows, tool, r in results
        if tool == "sklearn-bgm" and "loglik" in r
    }
    header = [
        "rows",
        "tool",
        "fit (s)",
        "time / modenorm time",
        "iterations",
        "modes > 0.005",
        "mean log-likelihood per row",
        "vs scikit-learn BGM",
    ]
    lines = []
    for rows, tool, r in results:
        if "fit_s" not in r:
            reason = r.get("skipped") or r.get("error", "failed")
            lines.append([C.human_rows(rows), TOOL_NAMES[tool], reason] + [""] * 5)
            continue
        ratio = "1" if tool == "modenorm" else "–"
        if tool != "modenorm" and rows in base:
            ratio = C.fmt_ratio(r["fit_s"] / base[rows])
        delta = "–"
        if rows in ref and tool != "sklearn-bgm":
            delta = f"{r['loglik'] - ref[rows]:+.4f}"
        lines.append(
            [
                C.human_rows(rows),
                TOOL_NAMES[tool],
                C.fmt_seconds(r["fit_s"]),
                ratio,
                str(r.get("n_iter", "")),
                str(r.get("modes", "")),
                f"{r['loglik']:.4f}",
                delta,
            ]
        )
    return C.markdown_table(header, lines)


def main_driver(args) -> None:
    info = C.machine()
    sizes = [datagen.parse_rows(t) for t in args.rows.split(",") if t.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    recipe = RECIPE_OF.get(args.column, "credit")
    workdir = Path(tempfile.mkdtemp(prefix="modenorm-bench-fit-", dir=args.workdir))
    print(C.machine_line(info), flush=True)
    results, history = [], {}
    try:
        for rows in sizes:
            data = workdir / f"{recipe}-{C.human_rows(rows)}.parquet"
            datagen.write_dataset(recipe, data, rows, seed=args.seed)
            print(f"{C.human_rows(rows)} rows of {args.column!r} generated", flush=True)
            for tool in tools:
                reason = plan(tool, rows, history, args.limit)
                if reason:
                    result = {"skipped": reason}
                else:
                    print(f"  {TOOL_NAMES[tool]} ...", flush=True)
                    cmd = [
                        "--tool",
                        tool,
                        "--input",
                        str(data),
                        "--column",
                        args.column,
                    ]
                    cmd += ["--spark-memory", args.spark_memory]
                    result = C.run_worker(__file__, cmd, timeout=args.limit)
                if "fit_s" in result:
                    print(
                        f"    fit {result['fit_s']:.2f} s, log-likelihood "
                        f"{result['loglik']:.5f}, load average "
                        f"{result['fit_load']:.2f}",
                        flush=True,
                    )
                else:
                    print(f"    {result.get('skipped') or result}", flush=True)
                history.setdefault(tool, []).append((rows, result))
                results.append((rows, tool, result))
            data.unlink()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(
        f"Fit of one column (`{args.column}`, recipe `{recipe}`), {K} components; "
        "the log-likelihood is that of each fit's plug-in density over all rows."
    )
    print()
    print(table(results))
    print()
    print(C.machine_line(info))
    print(C.versions("modenorm", "scikit-learn", "pyspark", "numba", "pyarrow"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--rows", default="1M,10M,100M")
    parser.add_argument("--column", default="v1", choices=sorted(RECIPE_OF))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument(
        "--limit", type=float, default=900.0, help="seconds a peer may take"
    )
    parser.add_argument("--spark-memory", default="6g")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tool", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.worker:
        C.emit(WORKERS[args.tool](args))
        return
    main_driver(args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
