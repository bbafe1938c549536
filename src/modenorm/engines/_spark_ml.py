"""``mixture="spark-ml"``: mixtures fitted by Spark ML's own ``GaussianMixture``.

For users who want exactly Spark's estimator: each continuous or mixed
column's values (not null, not special, finite, in the fitted domain) go to
``pyspark.ml.clustering.GaussianMixture`` with ``k = max_modes``, Spark's
default ``maxIter=100`` and ``tol=0.01`` and the transformer's seed. Valid
modes, their ranking and everything else are then decided as for the other
mixtures, on the same summary.

Notes
-----
Spark's estimator runs one pass over the data per iteration
(docs/algorithms.md, section 2), so this costs up to 100 passes where the
default needs two. Its components start from a random sample, have no variance
floor (a component on a single value gets variance 0; it is raised to 1e-6
here, with a warning) and are reported as they are: weights, means and
variances, with the plug-in responsibilities used for the mode draw.
"""

from __future__ import annotations

import logging

import numpy as np

from modenorm.errors import ColumnError
from modenorm.fit.columns import (
    FitOptions,
    fit_categorical_column,
    fit_numeric_column,
)
from modenorm.fit.mixture import MixtureFit
from modenorm.model.schema import NumericColumn
from modenorm.summarize.numeric import ColumnSpec, Histogram, NumericScan

__all__ = ["fit_columns"]

logger = logging.getLogger(__name__)

MAX_ITER = 100
TOL = 0.01
MIN_VARIANCE = 1e-6


def _spark_fit(engine, src, spec: ColumnSpec, scan: NumericScan, opts) -> MixtureFit:
    """Run Spark ML's GaussianMixture on one column's values."""
    from pyspark.ml.clustering import GaussianMixture
    from pyspark.ml.feature import VectorAssembler
    from pyspark.storagelevel import StorageLevel

    if opts.max_modes < 2:
        raise ValueError(
            f"mixture='spark-ml' needs max_modes >= 2 (Spark ML's GaussianMixture "
            f"requires k > 1), got {opts.max_modes}; raise max_modes or use the "
            "bayesian mixture"
        )
    values = engine.column_values(src, spec, scan)
    features = VectorAssembler(inputCols=["x"], outputCol="features").transform(values)
    features = features.select("features").persist(StorageLevel.MEMORY_AND_DISK)
    try:
        estimator = GaussianMixture(
            k=opts.max_modes, maxIter=MAX_ITER, tol=TOL, seed=opts.seed
        )
        model = estimator.fit(features)
        weights = np.array(model.weights, dtype=np.float64)
        gaussians = model.gaussians
        means = np.array([g.mean[0] for g in gaussians], dtype=np.float64)
        variances = np.array([g.cov.toArray()[0, 0] for g in gaussians])
        n_iter = int(model.summary.numIter)
        log_likelihood = float(model.summary.logLikelihood)
    finally:
        features.unpersist()
    return _as_mixture_fit(spec.name, weights, means, variances, n_iter, log_likelihood)


def _as_mixture_fit(name, weights, means, variances, n_iter, log_likelihood):
    if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(means))):
        raise ColumnError(
            f"column {name!r}: Spark ML's GaussianMixture returned non-finite "
            f"parameters (weights {weights.tolist()}, means {means.tolist()}); "
            "use the bayesian mixture (the default) for this column"
        )
    low = ~(variances >= MIN_VARIANCE)
    if low.any():
        logger.warning(
            "column %r: Spark ML gave %d components a variance below %g "
            "(it has no variance floor); raised to %g",
            name,
            int(low.sum()),
            MIN_VARIANCE,
            MIN_VARIANCE,
        )
        variances = np.where(low, MIN_VARIANCE, variances)
    zeros = np.zeros_like(weights)
    return MixtureFit(
        method="spark-ml",
        weights=weights / weights.sum(),
        means=means,
        variances=variances,
        weight_concentration_a=zeros,
        weight_concentration_b=zeros,
        mean_precision=zeros,
        degrees_of_freedom=zeros,
        converged=n_iter < MAX_ITER,
        n_iter=n_iter,
        lower_bound=log_likelihood,
    )


def fit_spark_ml_column(
    engine, src, spec: ColumnSpec, scan: NumericScan, hist: Histogram, opts
) -> NumericColumn:
    """Fit one continuous or mixed column with Spark ML's GaussianMixture."""
    if hist.scale != 1.0:
        raise ColumnError(
            f"column {spec.name!r} holds values beyond 2**448 (up to "
            f"{max(abs(scan.vmin), abs(scan.vmax))!r}), whose squares overflow "
            "in Spark ML; use the bayesian mixture (the default) for it"
        )
    fit = _spark_fit(engine, src, spec, scan, opts)
    column = fit_numeric_column(spec, scan, hist, opts, prefit=fit)
    column._refine_state = None  # fitted on the rows by Spark: nothing to refine
    return column


def fit_columns(engine, src, specs, scans, hists, cats, opts: FitOptions) -> list:
    """Fit every column; continuous and mixed mixtures with Spark ML.

    Categorical and min-max columns, and columns without a finite value, are
    fitted as by the other mixtures (they have no mixture).
    """
    columns = []
    task = engine.progress.stage("fit mixtures (Spark ML)", len(specs))
    try:
        for spec in specs:
            if spec.kind == "categorical":
                columns.append(fit_categorical_column(cats[spec.name]))
            elif spec.kind == "minmax" or not scans[spec.name].n_values:
                columns.append(
                    fit_numeric_column(spec, scans[spec.name], hists[spec.name], opts)
                )
            else:
                columns.append(
                    fit_spark_ml_column(
                        engine, src, spec, scans[spec.name], hists[spec.name], opts
                    )
                )
            task.advance(1)
    finally:
        task.close()
    return columns
