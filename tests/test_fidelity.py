"""Fit quality against scikit-learn's BayesianGaussianMixture on real columns.

Goal: the mean log-likelihood per row of modenorm's
fitted mixture is within 0.005 nats of scikit-learn's with the same settings,
or higher. Both are scored with the same plug-in density on the same rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

from modenorm import Transformer
from modenorm.fit.scoring import fitted_domain, mixture_log_density

TOLERANCE = 0.005
FLIGHTS_CONTINUOUS = ["dep_delay", "arr_delay", "air_time", "distance", "dep_time"]


def sklearn_mean_log_likelihood(x: np.ndarray, seed: int) -> float:
    bgm = BayesianGaussianMixture(
        n_components=10,
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=1e-3,
        max_iter=100,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm.fit(x.reshape(-1, 1))
    weights, means = bgm.weights_, bgm.means_.ravel()
    return float(
        mixture_log_density(weights, means, bgm.covariances_.ravel(), x).mean()
    )


@pytest.fixture(scope="module")
def fitted_flights(flights):
    return Transformer(columns=FLIGHTS_CONTINUOUS, seed=0).fit(flights)


@pytest.fixture(scope="module")
def flights_scores(flights, fitted_flights):
    return fitted_flights.score(flights)


@pytest.mark.slow
@pytest.mark.parametrize("column", FLIGHTS_CONTINUOUS)
def test_flights_column_fits_as_well_as_sklearn(
    flights, fitted_flights, flights_scores, column
):
    col = fitted_flights.model_.column(column)
    x = fitted_domain(col, flights[column])
    ours = flights_scores[column]
    theirs = sklearn_mean_log_likelihood(x, seed=0)
    assert np.isfinite(ours)
    assert ours >= theirs - TOLERANCE, f"{column}: {ours:.5f} vs sklearn {theirs:.5f}"


def test_score_matches_a_direct_computation(flights, fitted_flights):
    col = fitted_flights.model_.column("air_time")
    x = fitted_domain(col, flights["air_time"])
    mix = fitted_flights.mixture("air_time")
    direct = mixture_log_density(mix["weights"], mix["means"], mix["stds"] ** 2, x)
    assert fitted_flights.score(flights)["air_time"] == pytest.approx(direct.mean())
    assert mix["valid"].sum() == sum(
        m.kind == "gaussian" for m in fitted_flights.model_.column("air_time").modes
    )
