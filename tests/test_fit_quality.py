"""Fit quality on many distributions, against scikit-learn with the same settings.

Each case fits modenorm on a table of one column and scikit-learn's
BayesianGaussianMixture (Dirichlet-process prior, concentration 1e-3, 100
iterations) on the same values, and compares the mean log-likelihood per row
of the plug-in densities. Goal: within 0.005 nats of scikit-learn, or higher.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

from modenorm import Transformer
from modenorm.fit.scoring import fitted_domain, mixture_log_density

TOLERANCE = 0.005
N = 20_000


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _credit_amount(n):
    rng = _rng(1)
    x = np.round(rng.lognormal(3.0, 1.3, n), 2)
    x[rng.random(n) < 0.006] = 0.0
    return np.minimum(x, 25_000.0)


def _credit_v1(n):
    rng = _rng(2)
    return np.maximum(2.5 - rng.gamma(1.2, 1.5, n) - rng.exponential(0.3, n), -56.0)


def _rdataset(package, item, column):
    from modenorm.datasets import load_rdataset

    values = load_rdataset(package, item)[column].drop_nulls().cast(pl.Float64)
    return values.sample(min(N, len(values)), seed=0).to_numpy()


def _flights(column):
    from modenorm.datasets import load_flights

    values = load_flights()[column].drop_nulls().cast(pl.Float64)
    return values.sample(N, seed=0).to_numpy()


CASES = {
    "flights dep_delay": lambda: _flights("dep_delay"),
    "flights air_time": lambda: _flights("air_time"),
    "diamonds price": lambda: _rdataset("ggplot2", "diamonds", "price"),
    "diamonds carat": lambda: _rdataset("ggplot2", "diamonds", "carat"),
    "loans balance": lambda: _rdataset("openintro", "loans_full_schema", "balance"),
    "loans annual_income": lambda: _rdataset(
        "openintro", "loans_full_schema", "annual_income"
    ),
    "credit amount": lambda: _credit_amount(N),
    "credit v1": lambda: _credit_v1(N),
    "well separated": lambda: np.concatenate(
        [_rng(3).normal(m, 1.0, N // 3) for m in (-50, 0, 50)]
    ),
    "overlapping": lambda: np.concatenate(
        [_rng(4).normal(m, 1.0, N // 3) for m in (-1, 0, 1.5)]
    ),
    "heavy tails": lambda: _rng(5).standard_t(1.5, N),
    "spike and normal": lambda: np.where(
        _rng(6).random(N) < 0.3, 5.0, _rng(7).normal(0, 2, N)
    ),
    "one distinct value": lambda: np.full(500, 3.25),
    "two distinct values": lambda: np.where(_rng(8).random(900) < 0.4, -1.0, 7.5),
    "three distinct values": lambda: _rng(9).choice([0.0, 1.0, 10.0], 1200),
    "around 1e12": lambda: 1e12 + _rng(10).normal(0, 1, N),
    "fewer rows than modes": lambda: np.array([1.5, -2.0, 8.25, 3.0, 3.5]),
}


def sklearn_fit(x: np.ndarray, n_components: int) -> BayesianGaussianMixture:
    bgm = BayesianGaussianMixture(
        n_components=n_components,
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=1e-3,
        max_iter=100,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return bgm.fit(x.reshape(-1, 1))


@pytest.mark.parametrize("case", list(CASES))
def test_fit_is_at_least_as_good_as_sklearn(case):
    values = CASES[case]()
    frame = pl.DataFrame({"x": values})
    t = Transformer(seed=0).fit(frame)
    col = t.model_.column("x")
    mix = t.mixture("x")
    x = fitted_domain(col, frame["x"])

    assert np.all(np.isfinite(mix["weights"])) and np.all(np.isfinite(mix["means"]))
    assert np.all(mix["stds"] > 0) and np.all(np.isfinite(mix["stds"]))
    assert len(mix["weights"]) <= 10
    assert mix["valid"].any()

    ours = mixture_log_density(mix["weights"], mix["means"], mix["stds"] ** 2, x)
    bgm = sklearn_fit(x, n_components=min(10, len(x)))
    # Components that no row chose keep the prior's degenerate variance (about
    # 1e-14) at the column mean; on a constant column that alone adds density.
    # Leave such components (no row's most likely one) out of the reference.
    used = np.bincount(bgm.predict(x.reshape(-1, 1)), minlength=len(bgm.weights_)) > 0
    theirs = mixture_log_density(
        bgm.weights_[used] / bgm.weights_[used].sum(),
        bgm.means_.ravel()[used],
        bgm.covariances_.ravel()[used],
        x,
    )
    assert np.isfinite(ours.mean())
    assert ours.mean() >= theirs.mean() - TOLERANCE, (
        f"{case}: modenorm {ours.mean():.5f} vs sklearn {theirs.mean():.5f}"
    )
    back = t.inverse_transform(t.transform(frame))
    assert (
        back["x"].to_numpy().view(np.int64).tolist() == values.view(np.int64).tolist()
    )


def test_coarse_moment_summary_is_refined_by_a_second_pass():
    rng = _rng(11)
    n = 400_000
    x = np.concatenate([rng.normal(0, 0.05, n // 2), rng.uniform(-3000, 3000, n // 2)])
    frame = pl.DataFrame({"x": x})
    t = Transformer(seed=0, bins=1 << 12).fit(frame)
    stats = t.model_.column("x").stats
    assert stats["summary"] == "moments+refined"
    assert stats["resolution"] < 5e-3
    coarse = Transformer(seed=0, bins=1 << 12, n_init=1)
    assert coarse.bins == 1 << 12
