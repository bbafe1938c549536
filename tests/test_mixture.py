"""Tests of the 1-D mixture fit on weighted atoms.

References: scikit-learn's ``BayesianGaussianMixture`` on the rows (the fit must
reproduce it), a plain NumPy EM on the rows for ``method="em"``, and NumPy
versions of the compiled kernels.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture
from threadpoolctl import threadpool_limits

from modenorm.fit._vb_kernels import e_step_sums, exp_nonpositive, log_positive
from modenorm.fit.mixture import (
    MixtureFit,
    fit_mixture,
    mean_log_likelihood,
    predict_log_proba,
)

K = 10
SKLEARN_OPTIONS = {
    "n_components": K,
    "weight_concentration_prior_type": "dirichlet_process",
    "weight_concentration_prior": 1e-3,
    "covariance_type": "full",
    "max_iter": 100,
    "tol": 1e-3,
    "reg_covar": 1e-6,
    "init_params": "kmeans",
}
EPS = np.finfo(np.float64).eps


class LabelInitBGM(BayesianGaussianMixture):
    """sklearn's BGM started from given row labels instead of its own k-means."""

    row_labels: np.ndarray

    def _initialize_parameters(self, X, random_state, xp=None):
        resp = np.zeros((X.shape[0], self.n_components))
        resp[np.arange(X.shape[0]), self.row_labels] = 1.0
        self._initialize(X, resp)


def fit_sklearn(x, *, random_state=0, row_labels=None, **options):
    """Fit sklearn's BGM on the rows; it warns when 100 iterations do not converge."""
    settings_ = {**SKLEARN_OPTIONS, **options}
    if row_labels is None:
        bgm = BayesianGaussianMixture(random_state=random_state, **settings_)
    else:
        bgm = LabelInitBGM(random_state=random_state, **settings_)
        bgm.row_labels = row_labels
    # One BLAS/OpenMP thread: spinning threads make sklearn several times slower
    # on a busy 2-core machine, and the reference values do not depend on it.
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return bgm.fit(x.reshape(-1, 1))


def sklearn_init_labels(x, n_components, random_state):
    """The k-means labels sklearn's BGM starts from (``_initialize_parameters``).

    BGM passes ``check_random_state(random_state)`` to ``KMeans``; for an int
    seed that is a fresh ``RandomState(seed)``, the same as passing the seed.
    """
    kmeans = KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
    with threadpool_limits(limits=1):
        return kmeans.fit(x.reshape(-1, 1)).labels_


def distinct_atoms(x, row_labels):
    """Distinct values with counts; row labels must be constant per value."""
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    labels = np.zeros(values.size, dtype=np.int64)
    labels[inverse] = row_labels
    assert np.array_equal(labels[inverse], row_labels)
    return counts, values, np.zeros(values.size), labels


def moment_histogram(x, edges):
    """Per-bin count, mean and M2 of ``x`` for the given equal-width edges."""
    n_bins = edges.size - 1
    index = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins).astype(np.float64)
    sums = np.bincount(index, weights=x, minlength=n_bins)
    means = np.where(counts > 0, sums / np.maximum(counts, 1.0), edges[:-1])
    m2 = np.bincount(index, weights=(x - means[index]) ** 2, minlength=n_bins)
    return counts, means, m2, index


def three_modes(n, seed):
    rng = np.random.default_rng(seed)
    sizes = (n // 2, n // 4, n - n // 2 - n // 4)
    parts = (
        rng.normal(-3.0, 0.7, sizes[0]),
        rng.normal(1.0, 0.5, sizes[1]),
        rng.normal(4.0, 1.2, sizes[2]),
    )
    return rng.permutation(np.concatenate(parts))


def relative(a, b):
    return float(np.max(np.abs(np.asarray(a) - b) / np.abs(b)))


def assert_sane(fit: MixtureFit, n_components: int):
    k = fit.weights.size
    assert 1 <= k <= n_components
    fields = (
        fit.weights,
        fit.means,
        fit.variances,
        fit.weight_concentration_a,
        fit.weight_concentration_b,
        fit.mean_precision,
        fit.degrees_of_freedom,
    )
    for values in fields:
        assert values.shape == (k,)
        assert np.all(np.isfinite(values))
    assert np.all(fit.variances > 0)
    assert np.all(fit.weights >= 0)
    assert math.isclose(fit.weights.sum(), 1.0, rel_tol=1e-12)
    assert math.isfinite(fit.lower_bound)
    for values in fit.log_resp_terms():
        assert np.all(np.isfinite(values))


# --- kernels against NumPy ----------------------------------------------------


def test_exp_nonpositive_matches_numpy():
    x = np.concatenate([-np.geomspace(1e-300, 708.0, 4000), np.linspace(-40, 0, 4001)])
    got = np.array([exp_nonpositive(v) for v in x])
    want = np.exp(x)
    # Cody-Waite reduction: about 1 ulp near 0; fastmath may merge the two-part
    # ln 2, which adds about |x| * 1e-17 relative, still far below any sum's ulp.
    bound = (4.0 + 0.5 * np.abs(x)) * EPS
    assert np.all(np.abs(got - want) <= bound * want)
    assert exp_nonpositive(-708.5) == 0.0
    assert exp_nonpositive(-1e6) == 0.0


def test_log_positive_matches_numpy():
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            np.exp(rng.uniform(-700, 700, 3000)),
            rng.uniform(1.0, 11.0, 3000),
            1.0 + rng.uniform(-1e-6, 1e-6, 500),
            [1.0, 2.0, 0.5, np.sqrt(2.0), 1e-300, 1e300],
        ]
    )
    got = np.array([log_positive(v) for v in x])
    want = np.log(x)
    assert np.all(np.abs(got - want) <= 2.0 * np.spacing(np.abs(want)) + 1e-300)


def reference_e_step_sums(counts, means, m2, const, center, prec):
    d = means[:, None] - center
    log_rho = const - 0.5 * prec * d * d
    lse = logsumexp(log_rho, axis=1)
    log_r = log_rho - lse[:, None]
    r = np.exp(log_r)
    w = counts[:, None] * r
    sums = np.stack([w.sum(0), (w * d).sum(0), (r * m2[:, None] + w * d * d).sum(0)])
    return sums, -np.sum(w * log_r), np.sum(counts * lse)


@pytest.mark.parametrize("n_atoms", [1, 255, 1000])
def test_e_step_sums_matches_numpy(n_atoms):
    rng = np.random.default_rng(n_atoms)
    counts = rng.integers(1, 1000, n_atoms).astype(np.float64)
    means = rng.normal(0.0, 3.0, n_atoms)
    m2 = counts * rng.uniform(0.0, 0.05, n_atoms)
    const = rng.normal(-1.0, 2.0, 7)
    center = rng.normal(0.0, 2.0, 7)
    prec = 1.0 / rng.uniform(0.1, 3.0, 7)
    sums = np.empty((3, 7))

    entropy, loglik = e_step_sums(counts, means, m2, const, center, prec, sums)

    want, want_entropy, want_loglik = reference_e_step_sums(
        counts, means, m2, const, center, prec
    )
    scale = np.abs(want).max(axis=1, keepdims=True)
    assert np.all(np.abs(sums - want) <= 1e-12 * scale)
    assert math.isclose(entropy, want_entropy, rel_tol=1e-11)
    assert math.isclose(loglik, want_loglik, rel_tol=1e-12)


# --- parity with scikit-learn -------------------------------------------------


@pytest.fixture(scope="module")
def rounded_data():
    """20 000 rows of a 3-mode mixture rounded to 2 decimals (about 1 100 values)."""
    return np.round(three_modes(20_000, seed=0), 2)


@pytest.mark.parametrize(
    "n_rows, random_state, max_iter", [(20_000, 3, 100), (1_000, 0, 400), (300, 1, 100)]
)
def test_bayesian_matches_sklearn_on_distinct_values(
    rounded_data, n_rows, random_state, max_iter
):
    # Distinct values with counts give the rows' iterates up to summation order.
    # 20 000 rows run all 100 iterations (the absolute tolerance on the total
    # bound is not met); 1 000 rows converge after 149 and 300 rows after 39,
    # which checks the stopping rule.
    x = rounded_data[:n_rows]
    bgm = fit_sklearn(x, random_state=random_state, max_iter=max_iter)
    labels = sklearn_init_labels(x, K, random_state)
    counts, values, m2, atom_labels = distinct_atoms(x, labels)

    fit = fit_mixture(counts, values, m2, init_labels=atom_labels, max_iter=max_iter)

    assert fit.method == "bayesian"
    assert (fit.n_iter, fit.converged) == (bgm.n_iter_, bgm.converged_)
    assert np.max(np.abs(fit.weights - bgm.weights_)) < 1e-11
    assert relative(fit.means, bgm.means_.ravel()) < 1e-10
    assert relative(fit.variances, bgm.covariances_.ravel()) < 1e-10
    assert math.isclose(fit.lower_bound, bgm.lower_bound_, rel_tol=1e-12)
    assert relative(fit.weight_concentration_a, bgm.weight_concentration_[0]) < 1e-10
    assert relative(fit.weight_concentration_b, bgm.weight_concentration_[1]) < 1e-10
    assert relative(fit.mean_precision, bgm.mean_precision_) < 1e-10
    assert relative(fit.degrees_of_freedom, bgm.degrees_of_freedom_) < 1e-10

    grid = np.linspace(-8.0, 10.0, 181)
    proba = np.exp(predict_log_proba(fit, grid))
    assert np.max(np.abs(proba - bgm.predict_proba(grid.reshape(-1, 1)))) < 1e-10


@pytest.fixture(scope="module")
def histogram_case():
    """Continuous 3-mode rows, nested 2^10 / 2^16-bin histograms, shared labels.

    Labels come from k-means centres at the coarse bin means, so they are
    constant within every coarse bin and hence within every fine bin; sklearn
    is started from the same labels row by row.
    """
    x = three_modes(20_000, seed=5)
    fine_edges = np.linspace(x.min(), x.max(), 2**16 + 1)
    coarse_edges = fine_edges[:: 2**6]
    coarse = moment_histogram(x, coarse_edges)
    kmeans = KMeans(n_clusters=K, n_init=1, random_state=0)
    with threadpool_limits(limits=1):
        kmeans.fit(x.reshape(-1, 1))
    coarse_labels = kmeans.predict(coarse[1].reshape(-1, 1))
    row_labels = coarse_labels[coarse[3]]
    bgm = fit_sklearn(x, row_labels=row_labels)
    return x, fine_edges, coarse_edges, coarse_labels, bgm


@pytest.mark.parametrize("bins_log2", [10, 16])
def test_bayesian_on_moment_histogram_near_sklearn(histogram_case, bins_log2):
    # A moment histogram errs by about (h / sigma)**2 where components overlap
    # (docs/algorithms.md, section 3); measured here: 1.5e-3 at h / sigma_min =
    # 0.028 (2^10) and 1.2e-7 at 4.4e-4 (2^16), in means over sigma, the worst
    # parameter.
    x, fine_edges, coarse_edges, coarse_labels, bgm = histogram_case
    edges = coarse_edges if bins_log2 == 10 else fine_edges
    counts, means, m2, _ = moment_histogram(x, edges)
    labels = np.repeat(coarse_labels, (edges.size - 1) // coarse_labels.size)

    fit = fit_mixture(counts, means, m2, n_components=K, init_labels=labels)

    sigma = np.sqrt(bgm.covariances_.ravel())
    bound = 4.0 * ((edges[1] - edges[0]) / sigma.min()) ** 2
    assert fit.n_iter == bgm.n_iter_
    assert np.max(np.abs(fit.weights - bgm.weights_)) < bound
    assert np.max(np.abs(fit.means - bgm.means_.ravel()) / sigma) < bound
    assert np.max(np.abs(np.sqrt(fit.variances) / sigma - 1.0)) < bound
    assert abs(fit.lower_bound - bgm.lower_bound_) / x.size < bound


def reference_em(x, labels, n_components, *, reg_covar=1e-6, max_iter=100, tol=0.01):
    """Spark-style EM on the rows in NumPy, with sklearn's 10 eps and reg_covar."""
    resp = np.zeros((x.size, n_components))
    resp[np.arange(x.size), labels] = 1.0

    def m_step(resp):
        nk = resp.sum(0) + 10 * EPS
        mu = resp.T @ x / nk
        var = np.sum(resp * (x[:, None] - mu) ** 2, axis=0) / nk + reg_covar
        return nk / nk.sum(), mu, var

    weights, mu, var = m_step(resp)
    previous = -np.inf
    for n_iter in range(1, max_iter + 1):
        log_rho = np.log(weights) - 0.5 * np.log(2 * np.pi * var)
        log_rho = log_rho - (x[:, None] - mu) ** 2 / (2 * var)
        lse = logsumexp(log_rho, axis=1)
        loglik = lse.sum()
        weights, mu, var = m_step(np.exp(log_rho - lse[:, None]))
        if abs(loglik - previous) <= tol:
            return weights, mu, var, loglik, n_iter, True
        previous = loglik
    return weights, mu, var, loglik, max_iter, False


@pytest.mark.parametrize("n_components", [3, 10])
def test_em_matches_numpy_reference(rounded_data, n_components):
    x = rounded_data
    labels = sklearn_init_labels(x, n_components, 1)
    weights, mu, var, loglik, n_iter, converged = reference_em(x, labels, n_components)
    counts, values, m2, atom_labels = distinct_atoms(x, labels)

    fit = fit_mixture(
        counts,
        values,
        m2,
        n_components=n_components,
        method="em",
        init_labels=atom_labels,
    )

    assert (fit.n_iter, fit.converged) == (n_iter, converged)
    assert np.max(np.abs(fit.weights - weights)) < 1e-11
    assert relative(fit.means, mu) < 1e-10
    assert relative(fit.variances, var) < 1e-10
    assert math.isclose(fit.lower_bound, loglik, rel_tol=1e-12)
    assert np.all(fit.weight_concentration_a == 0)
    log_proba = predict_log_proba(fit, x[:500])
    want = np.log(weights) - 0.5 * np.log(2 * np.pi * var)
    want = want - (x[:500, None] - mu) ** 2 / (2 * var)
    want -= logsumexp(want, axis=1, keepdims=True)
    assert np.max(np.abs(log_proba - want)) < 1e-8


def test_mean_log_likelihood_is_the_plug_in_density():
    fit = MixtureFit(
        "em",
        np.array([0.25, 0.75]),
        np.array([-1.0, 2.0]),
        np.array([0.5, 4.0]),
        *np.zeros((4, 2)),
        True,
        3,
        -1.0,
    )
    x = np.array([-3.0, -1.0, 0.0, 2.5, 9.0])
    counts = np.array([1.0, 4.0, 2.0, 2.0, 1.0])
    density = sum(
        w * np.exp(-0.5 * (x - m) ** 2 / v) / np.sqrt(2 * np.pi * v)
        for w, m, v in zip(fit.weights, fit.means, fit.variances, strict=True)
    )

    got = mean_log_likelihood(fit, x, counts)

    assert math.isclose(got, np.average(np.log(density), weights=counts), rel_tol=1e-13)
    assert math.isclose(
        mean_log_likelihood(fit, x), np.log(density).mean(), rel_tol=1e-13
    )


# --- edge cases -----------------------------------------------------------------


EDGE_CASES = {
    "three atoms, ten components": ([5, 1, 7], [0.0, 1.0, 2.5], [0.0, 0.0, 0.0]),
    "single atom": ([1e6], [3.25], [0.0]),
    "single row": ([1], [-2.0], [0.0]),
    "single wide bin": ([1000], [0.5], [83.3]),
    "two values": ([400, 600], [0.0, 1.0], [0.0, 0.0]),
    "three values, one row each": ([1, 1, 1], [-1.0, 0.0, 1e-9], [0.0, 0.0, 0.0]),
    "fractional counts": ([0.25, 0.5], [1.0, 2.0], [0.0, 0.0]),
    "huge counts": ([1e9, 3e9, 2e9, 5e8], [-1.0, 0.0, 0.5, 7.0], [0.0] * 4),
    "zero-count atoms": ([0, 3, 0, 4, 0], [9.0, 1.0, -5.0, 2.0, 1e300], [0.0] * 5),
    "around 1e12": (
        [10, 20, 30, 25, 15],
        [1e12 - 2.0, 1e12 - 1.0, 1e12, 1e12 + 1.0, 1e12 + 2.5],
        [0.0] * 5,
    ),
    "tiny spread": ([50, 50], [1.0, 1.0 + 1e-12], [0.0, 0.0]),
}


@pytest.mark.parametrize("method", ["bayesian", "em"])
@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_give_finite_fits(case, method):
    counts, means, m2 = EDGE_CASES[case]
    positive = np.asarray(counts) > 0
    n_distinct = np.unique(np.asarray(means)[positive]).size

    fit = fit_mixture(counts, means, m2, n_components=K, method=method)

    assert_sane(fit, K)
    assert fit.weights.size == min(K, n_distinct, max(1, int(np.sum(counts))))


@pytest.mark.parametrize("method", ["bayesian", "em"])
def test_constant_column_has_positive_variance(method):
    fit = fit_mixture([1e9], [42.0], [0.0], method=method)

    assert fit.weights.size == 1
    assert fit.means[0] == 42.0
    assert 0 < fit.variances[0] < 2e-6


@pytest.mark.parametrize("method", ["bayesian", "em"])
def test_empty_initial_components_stay_finite(method):
    counts, means, m2 = [30, 40, 30], [-1.0, 0.0, 1.0], [0.1, 0.1, 0.1]

    fit = fit_mixture(counts, means, m2, method=method, init_labels=[0, 1, 2])

    assert_sane(fit, K)
    assert fit.weights.size == K
    # The stick-breaking prior leaves about gamma_0 / 100 rows on the first
    # empty stick, and a geometric tail after it; EM keeps only 10 eps.
    assert np.all(fit.weights[3:] < (1e-4 if method == "bayesian" else 1e-12))


def test_pivoted_sums_keep_precision_around_1e12(rounded_data):
    # Near 1e12 a float64 moves values and component means by up to 6e-5 (half
    # an ulp), about 1e-4 sigma; 20 iterations of a 10-component fit amplify
    # that to the 3e-5 (weights) and 4e-4 (variances) seen here. Raw moments
    # would lose everything: E[x^2] - E[x]^2 is 0 at this magnitude.
    x = rounded_data
    labels = sklearn_init_labels(x, K, 0)
    counts, values, m2, atom_labels = distinct_atoms(x, labels)
    base = fit_mixture(counts, values, m2, init_labels=atom_labels, max_iter=20)

    far = fit_mixture(counts, values + 1e12, m2, init_labels=atom_labels, max_iter=20)

    assert_sane(far, K)
    assert np.max(np.abs(far.weights - base.weights)) < 1e-4
    assert np.max(np.abs(far.means - 1e12 - base.means)) < 1e-3
    assert relative(far.variances, base.variances) < 1e-3


def test_zero_count_atoms_are_ignored():
    rng = np.random.default_rng(2)
    counts = rng.integers(1, 50, 300).astype(np.float64)
    means = np.sort(rng.normal(0, 1, 300))
    m2 = np.zeros(300)
    padded = np.insert(counts, [0, 100, 300], 0.0)
    padded_means = np.insert(means, [0, 100, 300], [-1e6, 0.123, 1e6])

    fit = fit_mixture(counts, means, m2)
    with_zeros = fit_mixture(padded, padded_means, np.zeros(303))

    assert np.array_equal(fit.weights, with_zeros.weights)
    assert np.array_equal(fit.variances, with_zeros.variances)


def test_int64_and_float64_counts_agree():
    counts = np.array([3, 9, 27, 81, 5], dtype=np.int64)
    means = np.array([0.0, 0.4, 1.1, 3.0, 4.2])
    as_int = fit_mixture(counts, means, np.zeros(5), n_components=3)
    as_float = fit_mixture(
        counts.astype(np.float64), means, np.zeros(5), n_components=3
    )
    assert np.array_equal(as_int.means, as_float.means)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**9),
            st.floats(-1e9, 1e9, allow_nan=False),
            st.floats(0.0, 1e3),
        ),
        min_size=1,
        max_size=12,
    ).filter(lambda atoms: any(count > 0 for count, _, _ in atoms)),
    st.sampled_from(["bayesian", "em"]),
    st.integers(1, 6),
)
def test_any_small_summary_gives_a_finite_fit(atoms, method, n_components):
    counts, means, m2 = (
        np.array(column, dtype=np.float64) for column in zip(*atoms, strict=True)
    )
    m2 = np.where(counts > 1, m2, 0.0)

    fit = fit_mixture(counts, means, m2, n_components=n_components, method=method)

    assert_sane(fit, n_components)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"counts": [1, 2]}, "one entry per atom"),
        ({"counts": [1, -2, 3]}, "counts holds negative"),
        ({"means": [0.0, np.nan, 1.0]}, "means holds 1 non-finite"),
        ({"m2": [0.0, -1.0, 0.0]}, "m2 holds negative"),
        ({"counts": [0, 0, 0]}, "no atom has a positive count"),
        ({"method": "spark"}, "method must be one of"),
        ({"max_iter": 0}, "max_iter must be"),
        ({"n_components": 0}, "n_components must be"),
        ({"init_labels": [0, 1, 10]}, r"init_labels must lie in 0\.\.9"),
        ({"init_labels": [0, 1]}, "one integer per atom"),
        ({"means": [0.0, 1e200, -1e200]}, "overflows float64"),
    ],
)
def test_invalid_input_is_rejected(kwargs, match):
    arguments = {"counts": [1, 2, 3], "means": [0.0, 1.0, 2.0], "m2": [0.0] * 3}
    arguments.update(kwargs)
    counts, means, m2 = (arguments.pop(name) for name in ("counts", "means", "m2"))
    with pytest.raises(ValueError, match=match):
        fit_mixture(counts, means, m2, **arguments)


# --- determinism ------------------------------------------------------------------


def test_fit_is_bit_reproducible_for_any_thread_count():
    # More than two chunks of 65536 atoms, so the pass is split across threads.
    rng = np.random.default_rng(3)
    n_atoms = 2**17 + 1000
    counts = rng.integers(1, 100, n_atoms).astype(np.float64)
    means = np.sort(
        np.concatenate(
            [rng.normal(0, 1, n_atoms // 2), rng.normal(6, 2, n_atoms - n_atoms // 2)]
        )
    )
    m2 = counts * 1e-4

    fits = [
        fit_mixture(counts, means, m2, max_iter=8, n_threads=n_threads)
        for n_threads in (1, 2, 1, None)
    ]

    for other in fits[1:]:
        for name in ("weights", "means", "variances", "weight_concentration_b"):
            assert np.array_equal(getattr(fits[0], name), getattr(other, name))
        assert other.lower_bound == fits[0].lower_bound


# --- fidelity with its own initialisation ----------------------------------------


def bimodal(rng, n):
    return np.concatenate(
        [rng.normal(0.0, 1.0, n // 2), rng.normal(5.0, 0.5, n - n // 2)]
    )


def student_t(rng, n):
    return 3.0 * rng.standard_t(3, n) + 10.0


def spike_and_normal(rng, n):
    spike = np.full(n // 3, 2.0)
    return np.concatenate([spike, rng.normal(0.0, 4.0, n - n // 3)])


@pytest.mark.parametrize("make", [bimodal, student_t, spike_and_normal])
def test_own_initialisation_fits_as_well_as_sklearn(make):
    rng = np.random.default_rng(11)
    x = make(rng, 10_000)
    bgm = fit_sklearn(x, random_state=0)
    values, counts = np.unique(x, return_counts=True)

    fit = fit_mixture(counts, values, np.zeros(values.size), random_state=0)

    sklearn_fit = MixtureFit(
        "bayesian",
        bgm.weights_,
        bgm.means_.ravel(),
        bgm.covariances_.ravel(),
        *bgm.weight_concentration_,
        bgm.mean_precision_,
        bgm.degrees_of_freedom_,
        bgm.converged_,
        bgm.n_iter_,
        bgm.lower_bound_,
    )
    ours = mean_log_likelihood(fit, values, counts)
    theirs = mean_log_likelihood(sklearn_fit, x)
    assert ours >= theirs - 0.005
