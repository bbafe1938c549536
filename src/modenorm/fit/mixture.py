"""One-dimensional Gaussian mixtures fitted to weighted atoms.

An *atom* is a bin of a column summary: ``counts[b]`` rows with mean
``means[b]`` and within-bin sum of squared deviations ``m2[b]`` (0 when the
bin holds one distinct value). EM on atoms adds exactly what the atom's rows
would add if the responsibilities were constant within the atom, so a summary
of distinct values reproduces the full-data fit, and a moment histogram comes
within O((bin spread / sigma)**2) of it.

Two methods share the pass over the atoms:

- ``"bayesian"``: scikit-learn's ``BayesianGaussianMixture`` with
  ``weight_concentration_prior_type="dirichlet_process"`` and
  ``covariance_type="full"``: its priors, M-step, E-step, lower bound and
  stopping rule.
- ``"em"``: plain maximum-likelihood EM with Spark ML ``GaussianMixture``
  semantics (``w = N_k / N``, ``mu = xbar``, ``var = S_k``), in the log
  domain and with ``reg_covar`` added to every variance.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import betaln, digamma, gammaln, logsumexp
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from modenorm.fit._vb_kernels import e_step_sums

__all__ = ["MixtureFit", "fit_mixture", "predict_log_proba", "mean_log_likelihood"]

logger = logging.getLogger(__name__)

_METHODS = ("bayesian", "em")
_DEFAULT_TOL = {"bayesian": 1e-3, "em": 1e-2}
_NK_FLOOR = 10.0 * np.finfo(np.float64).eps  # added to every N_k, as sklearn does
_LN2 = math.log(2.0)
_LOG_2PI = math.log(2.0 * math.pi)
_MEAN_PRECISION_PRIOR = 1.0  # beta_0
_DOF_PRIOR = 1.0  # nu_0 = n_features
_CHUNK = 1 << 16  # atoms per partial sum; fixed, so results do not depend on threads


@dataclass(frozen=True)
class MixtureFit:
    """A fitted 1-D Gaussian mixture.

    Attributes
    ----------
    method : str
        ``"bayesian"`` or ``"em"``.
    weights : ndarray of float64, shape (K,)
        Mixture weights summing to 1 (sklearn's ``weights_`` for "bayesian").
    means : ndarray of float64, shape (K,)
        Component means (sklearn's ``means_``).
    variances : ndarray of float64, shape (K,)
        Component variances (sklearn's ``covariances_``), always positive.
    weight_concentration_a, weight_concentration_b : ndarray, shape (K,)
        Stick-breaking Beta parameters ``a_k``, ``b_k``; zeros for "em".
    mean_precision : ndarray, shape (K,)
        ``beta_k``; zeros for "em".
    degrees_of_freedom : ndarray, shape (K,)
        ``nu_k``; zeros for "em".
    converged : bool
        Whether the stopping rule was met before ``max_iter``.
    n_iter : int
        Iterations run (E-step plus M-step each).
    lower_bound : float
        Final total lower bound ("bayesian"), or the total log-likelihood of
        the parameters that fed the last M-step ("em", as Spark reports it).
    """

    method: str
    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    weight_concentration_a: np.ndarray
    weight_concentration_b: np.ndarray
    mean_precision: np.ndarray
    degrees_of_freedom: np.ndarray
    converged: bool
    n_iter: int
    lower_bound: float

    @property
    def n_components(self) -> int:
        """Number of components K."""
        return int(self.weights.shape[0])

    def log_resp_terms(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the terms of the unnormalised log responsibilities.

        Returns
        -------
        const, mean, prec : ndarray of float64, shape (K,)
            ``log rho_k(x) = const[k] - 0.5 * prec[k] * (x - mean[k])**2``.
            For "bayesian" this is sklearn's ``_estimate_weighted_log_prob``
            (``E[ln pi_k] + 0.5 E[ln lambda_k] - 0.5 ln 2pi - 0.5 / beta_k``
            in ``const``, ``prec = 1 / cov_k``); for "em" it is the log of
            ``w_k N(x; mu_k, var_k)``. A softmax over ``k`` gives
            ``predict_proba``.
        """
        if self.method == "bayesian":
            return _vb_log_terms(
                self.weight_concentration_a,
                self.weight_concentration_b,
                self.mean_precision,
                self.means,
                self.degrees_of_freedom,
                self.variances,
            )
        return _em_log_terms(self.weights, self.means, self.variances)


class _Atoms(NamedTuple):
    counts: np.ndarray
    means: np.ndarray
    m2: np.ndarray


class _Prior(NamedTuple):
    n_rows: float
    mean: float  # m_0
    variance: float  # C_0, unbiased as np.cov
    weight_concentration: float  # gamma_0


class _Params(NamedTuple):
    """Variational parameters (``a``, ``b``, ``beta``, ``nu`` are unused by EM)."""

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    a: np.ndarray
    b: np.ndarray
    beta: np.ndarray
    nu: np.ndarray


def fit_mixture(
    counts: np.ndarray,
    means: np.ndarray,
    m2: np.ndarray,
    *,
    n_components: int = 10,
    method: str = "bayesian",
    max_iter: int = 100,
    tol: float | None = None,
    weight_concentration_prior: float = 1e-3,
    reg_covar: float = 1e-6,
    random_state: int | np.random.RandomState | None = 0,
    init_labels: np.ndarray | None = None,
    n_threads: int | None = None,
) -> MixtureFit:
    """Fit a 1-D Gaussian mixture to weighted atoms.

    Parameters
    ----------
    counts : array_like of shape (B,), float64 or int64
        Rows in each atom; atoms with count 0 are ignored.
    means : array_like of float64, shape (B,)
        Mean of each atom's rows.
    m2 : array_like of float64, shape (B,)
        Sum of squared deviations from the atom mean (0 for distinct values).
    n_components : int, default=10
        Number of components K asked for; see Notes for when fewer are fitted.
    method : {"bayesian", "em"}, default="bayesian"
        Variational Dirichlet-process mixture as scikit-learn's
        ``BayesianGaussianMixture``, or maximum-likelihood EM as Spark ML.
    max_iter : int, default=100
        Most iterations, at least 1.
    tol : float, optional
        Stop when the change of the *total* lower bound is ``< tol``
        ("bayesian", default 1e-3) or of the total log-likelihood ``<= tol``
        ("em", default 0.01). Both are absolute, over all rows.
    weight_concentration_prior : float, default=1e-3
        ``gamma_0`` of the stick-breaking prior ("bayesian" only).
    reg_covar : float, default=1e-6
        Added to every component variance, in data units.
    random_state : int, RandomState or None, default=0
        Seed of the weighted k-means initialisation.
    init_labels : array_like of int, shape (B,), optional
        One label in ``0..n_components-1`` per atom. When given, k-means is
        skipped and the M-step is applied to these one-hot responsibilities,
        as scikit-learn does with its k-means labels.
    n_threads : int, optional
        Threads for the pass over the atoms, which is split into fixed chunks
        of 65536 atoms; the result is bit-identical for any value. None uses
        every CPU this process may run on, capped at the number of chunks.

    Returns
    -------
    MixtureFit
        The fitted mixture; see :class:`MixtureFit`.

    Raises
    ------
    ValueError
        If the arrays differ in length, hold non-finite or negative values,
        have no row, if an option is out of range, or if the spread of the
        values overflows float64 when squared.

    Notes
    -----
    The E-step and sums follow docs/algorithms.md, sections 1 and 3: sums are
    pivoted at the current component means, so values around 1e12 keep their
    precision. With distinct-value atoms the iterates equal scikit-learn's on
    the rows up to summation order.

    Without ``init_labels`` the initial labels come from
    ``KMeans(n_clusters=K, n_init=1, random_state=random_state)`` fitted to the
    atom means with the counts as sample weights. Its k-means++ seeding follows
    the row distribution but not scikit-learn's random draws on the rows.
    K is then reduced to the number of distinct atom means and, when the
    counts are fractional, to ``floor(total count)`` (at least 1), since k-means
    cannot form more clusters. With ``init_labels`` K stays ``n_components``;
    empty components keep the prior ("bayesian") or a weight of
    ``10 eps / N`` ("em"), which keeps every log finite.
    """
    atoms, labels = _check_atoms(counts, means, m2, init_labels, n_components)
    _check_options(method, max_iter, tol, weight_concentration_prior, reg_covar)
    if tol is None:
        tol = _DEFAULT_TOL[method]
    prior = _estimate_prior(atoms, weight_concentration_prior)

    if labels is None:
        n_comp = _usable_components(atoms, n_components, prior.n_rows)
        labels = _kmeans_labels(atoms, n_comp, random_state)
    else:
        n_comp = n_components
    sums, pivot = _label_sums(atoms, labels, n_comp, prior.mean)
    params = _m_step(method, sums, pivot, prior, reg_covar)

    with _AtomPass(atoms, n_comp, n_threads) as atom_pass:
        params, converged, n_iter, bound = _run_em(
            method, atom_pass, params, prior, reg_covar, max_iter, tol
        )
    if not converged:
        logger.debug(
            "%s mixture did not converge in %d iterations (last bound %.6g)",
            method,
            n_iter,
            bound,
        )
    return _assemble(method, params, converged, n_iter, bound)


def predict_log_proba(fit: MixtureFit, x: np.ndarray) -> np.ndarray:
    """Return the log responsibilities of each value under ``fit``.

    Parameters
    ----------
    fit : MixtureFit
        A fitted mixture.
    x : array_like of float64, shape (n,)
        Values.

    Returns
    -------
    ndarray of float64, shape (n, K)
        ``log p(k | x)``; for "bayesian" the log of sklearn's
        ``predict_proba``.
    """
    log_rho = _log_rho(fit.log_resp_terms(), x)
    return log_rho - logsumexp(log_rho, axis=1, keepdims=True)


def mean_log_likelihood(
    fit: MixtureFit, x: np.ndarray, counts: np.ndarray | None = None
) -> float:
    """Return the mean log density per row under the plug-in mixture.

    Parameters
    ----------
    fit : MixtureFit
        A fitted mixture; only ``weights``, ``means`` and ``variances`` are used.
    x : array_like of float64, shape (n,)
        Values.
    counts : array_like of shape (n,), optional
        Rows per value; the mean is weighted by them.

    Returns
    -------
    float
        ``mean log sum_k w_k N(x; mu_k, var_k)``, in nats per row.
    """
    with np.errstate(divide="ignore"):
        terms = _em_log_terms(fit.weights, fit.means, fit.variances)
    log_density = logsumexp(_log_rho(terms, x), axis=1)
    return float(np.average(log_density, weights=counts))


def _log_rho(terms, x) -> np.ndarray:
    const, center, prec = terms
    d = np.asarray(x, dtype=np.float64).reshape(-1, 1) - center
    return const - 0.5 * prec * d * d


def _check_atoms(counts, means, m2, init_labels, n_components) -> tuple:
    counts = np.ascontiguousarray(counts, dtype=np.float64).ravel()
    means = np.ascontiguousarray(means, dtype=np.float64).ravel()
    m2 = np.ascontiguousarray(m2, dtype=np.float64).ravel()
    if not counts.shape == means.shape == m2.shape:
        msg = (
            f"counts, means and m2 must have one entry per atom; got lengths "
            f"{counts.size}, {means.size} and {m2.size}"
        )
        raise ValueError(msg)
    for name, values in (("counts", counts), ("means", means), ("m2", m2)):
        if not np.all(np.isfinite(values)):
            msg = f"{name} holds {np.sum(~np.isfinite(values))} non-finite values"
            raise ValueError(msg + "; atoms must be finite, drop or encode them first")
        if name != "means" and np.any(values < 0):
            msg = f"{name} holds negative values (min {values.min()!r})"
            raise ValueError(msg + "; counts and sums of squares are never negative")
    if not (isinstance(n_components, (int, np.integer)) and n_components >= 1):
        msg = f"n_components must be an integer >= 1, got {n_components!r}"
        raise ValueError(msg)

    keep = counts > 0
    if not np.any(keep):
        msg = "no atom has a positive count; a mixture needs at least one row"
        raise ValueError(msg)
    atoms = _Atoms(counts[keep], means[keep], m2[keep])
    if init_labels is None:
        return atoms, None
    labels = np.asarray(init_labels).ravel()
    if labels.shape != counts.shape or not np.issubdtype(labels.dtype, np.integer):
        msg = (
            f"init_labels must hold one integer per atom ({counts.size}); got "
            f"dtype {labels.dtype} and length {labels.size}"
        )
        raise ValueError(msg)
    if labels.size and (labels.min() < 0 or labels.max() >= n_components):
        msg = (
            f"init_labels must lie in 0..{n_components - 1}; got values from "
            f"{labels.min()} to {labels.max()}"
        )
        raise ValueError(msg)
    return atoms, labels[keep].astype(np.intp)


def _check_options(method, max_iter, tol, weight_concentration_prior, reg_covar):
    if method not in _METHODS:
        msg = f"method must be one of {_METHODS}, got {method!r}"
        raise ValueError(msg)
    if not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
        msg = f"max_iter must be an integer >= 1, got {max_iter!r}"
        raise ValueError(msg)
    if tol is not None and not (math.isfinite(tol) and tol >= 0):
        msg = f"tol must be a finite number >= 0 or None, got {tol!r}"
        raise ValueError(msg)
    if not (
        math.isfinite(weight_concentration_prior) and weight_concentration_prior > 0
    ):
        msg = (
            "weight_concentration_prior must be a finite number > 0, got "
            f"{weight_concentration_prior!r}"
        )
        raise ValueError(msg)
    if not (math.isfinite(reg_covar) and reg_covar >= 0):
        msg = f"reg_covar must be a finite number >= 0, got {reg_covar!r}"
        raise ValueError(msg)


def _estimate_prior(atoms: _Atoms, weight_concentration: float) -> _Prior:
    """Total rows, mean and unbiased variance of the rows behind the atoms."""
    counts, means, m2 = atoms
    n_rows = float(np.sum(counts))
    rough = float(np.dot(counts, means)) / n_rows
    mean = rough + float(np.dot(counts, means - rough)) / n_rows
    dev = means - mean
    with np.errstate(over="ignore"):
        total_ss = float(np.sum(m2)) + float(np.dot(counts, dev * dev))
    if not math.isfinite(total_ss):
        msg = (
            "the spread of the values overflows float64 when squared; rescale "
            "the column (for example divide it by a power of 10) before fitting"
        )
        raise ValueError(msg)
    # np.cov divides by N - 1; a single row (or less, with fractional counts)
    # has no spread to share, so divide by 1 there instead of by zero.
    variance = total_ss / max(n_rows - 1.0, 1.0)
    return _Prior(n_rows, mean, variance, weight_concentration)


def _usable_components(atoms: _Atoms, n_components: int, n_rows: float) -> int:
    n_distinct = int(np.unique(atoms.means).size)
    n_comp = min(n_components, n_distinct, max(1, math.floor(n_rows)))
    if n_comp < n_components:
        logger.debug(
            "fitting %d components instead of %d: only %d distinct atom means "
            "and %.6g rows",
            n_comp,
            n_components,
            n_distinct,
            n_rows,
        )
    return n_comp


def _kmeans_labels(atoms: _Atoms, n_comp: int, random_state) -> np.ndarray:
    """Labels of a weighted k-means on the atom means, as sklearn's init."""
    if n_comp == 1:
        return np.zeros(atoms.counts.size, dtype=np.intp)
    if isinstance(random_state, int | np.integer):
        # scikit-learn takes seeds in 0..2**32-1; modenorm accepts any integer
        random_state = int(random_state) % 2**32
    kmeans = KMeans(n_clusters=n_comp, n_init=1, random_state=random_state)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        kmeans.fit(atoms.means.reshape(-1, 1), sample_weight=atoms.counts)
    for item in caught:
        if issubclass(item.category, ConvergenceWarning):
            logger.info("k-means initialisation: %s", item.message)
        else:
            warnings.warn_explicit(
                item.message, item.category, item.filename, item.lineno
            )
    return kmeans.labels_.astype(np.intp)


def _label_sums(atoms: _Atoms, labels, n_comp: int, mean: float) -> tuple:
    """Pivoted sums (3, K) of one-hot responsibilities, and their pivots."""
    counts, means, m2 = atoms
    n_k = np.bincount(labels, weights=counts, minlength=n_comp)
    shift = np.bincount(labels, weights=counts * (means - mean), minlength=n_comp)
    pivot = mean + shift / (n_k + _NK_FLOOR)
    dev = means - pivot[labels]
    sums = np.empty((3, n_comp))
    sums[0] = n_k
    sums[1] = np.bincount(labels, weights=counts * dev, minlength=n_comp)
    sums[2] = np.bincount(labels, weights=m2 + counts * dev * dev, minlength=n_comp)
    return sums, pivot


def _component_moments(sums: np.ndarray, reg_covar: float) -> tuple:
    """``N_k + eps``, offset of ``xbar_k`` from the pivot, and ``S_k + reg``.

    Matches sklearn's ``_estimate_gaussian_parameters``: the ``10 eps`` floor
    enters the means and the division, not the raw sum of squares.
    """
    n_raw, s1, s2 = sums
    n_k = n_raw + _NK_FLOOR
    offset = s1 / n_k
    scatter = s2 - offset * (2.0 * s1 - offset * n_raw)
    variance = np.maximum(scatter, 0.0) / n_k + reg_covar
    return n_k, offset, variance


def _m_step(method, sums, pivot, prior: _Prior, reg_covar: float) -> _Params:
    n_k, offset, sk = _component_moments(sums, reg_covar)
    if method == "em":
        zeros = np.zeros_like(n_k)
        weights = n_k / np.sum(n_k)
        return _Params(weights, pivot + offset, sk, zeros, zeros, zeros, zeros)

    a = 1.0 + n_k
    b = prior.weight_concentration + np.hstack((np.cumsum(n_k[::-1])[-2::-1], 0.0))
    beta = _MEAN_PRECISION_PRIOR + n_k
    from_prior = (pivot - prior.mean) + offset  # xbar_k - m_0
    means = prior.mean + n_k * from_prior / beta
    nu = _DOF_PRIOR + n_k
    shrink = n_k * _MEAN_PRECISION_PRIOR / beta
    cov = (prior.variance + n_k * sk + shrink * from_prior * from_prior) / nu
    return _Params(_vb_weights(a, b), means, cov, a, b, beta, nu)


def _vb_weights(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Expected stick-breaking weights, renormalised (sklearn's ``weights_``)."""
    total = a + b
    remain = b / total
    weights = a / total * np.hstack((1.0, np.cumprod(remain[:-1])))
    return weights / np.sum(weights)


def _vb_log_terms(a, b, beta, means, nu, cov) -> tuple:
    digamma_total = digamma(a + b)
    stick = np.cumsum(digamma(b) - digamma_total)[:-1]
    log_weights = digamma(a) - digamma_total + np.hstack((0.0, stick))
    log_lambda = _LN2 + digamma(0.5 * nu) - np.log(nu) - np.log(cov)
    const = log_weights + 0.5 * (log_lambda - _LOG_2PI - 1.0 / beta)
    return const, means, 1.0 / cov


def _em_log_terms(weights, means, variances) -> tuple:
    const = np.log(weights) - 0.5 * (_LOG_2PI + np.log(variances))
    return const, means, 1.0 / variances


def _vb_bound_terms(params: _Params) -> float:
    """The parameter part of sklearn's lower bound (all but the entropy)."""
    a, b, beta, nu, cov = params.a, params.b, params.beta, params.nu, params.variances
    log_det_chol = -0.5 * np.log(cov) - 0.5 * np.log(nu)
    log_wishart = -(nu * log_det_chol + 0.5 * _LN2 * nu + gammaln(0.5 * nu))
    return float(
        -np.sum(log_wishart) + np.sum(betaln(a, b)) - 0.5 * np.sum(np.log(beta))
    )


class _AtomPass:
    """The E-step and sums over all atoms, chunk by chunk, merged in order."""

    def __init__(self, atoms: _Atoms, n_comp: int, n_threads: int | None):
        starts = range(0, atoms.counts.size, _CHUNK)
        self._chunks = [tuple(a[i : i + _CHUNK] for a in atoms) for i in starts]
        self._sums = np.empty((len(self._chunks), 3, n_comp))
        if n_threads is None:
            n_threads = (
                len(os.sched_getaffinity(0))
                if hasattr(os, "sched_getaffinity")
                else os.cpu_count()
            )
        n_threads = max(1, min(int(n_threads or 1), len(self._chunks)))
        self._pool = ThreadPoolExecutor(n_threads) if n_threads > 1 else None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self._pool is not None:
            self._pool.shutdown()

    def _one(self, i: int, terms: tuple) -> tuple:
        return e_step_sums(*self._chunks[i], *terms, self._sums[i])

    def run(self, terms: tuple) -> tuple:
        """Return the merged sums (3, K), entropy and log-likelihood."""
        terms = tuple(np.ascontiguousarray(t, dtype=np.float64) for t in terms)
        indices = range(len(self._chunks))
        if self._pool is None:
            parts = [self._one(i, terms) for i in indices]
        else:
            parts = list(self._pool.map(self._one, indices, [terms] * len(indices)))
        sums = self._sums[0].copy()
        entropy, loglik = parts[0]
        for i in indices[1:]:
            sums += self._sums[i]
            entropy += parts[i][0]
            loglik += parts[i][1]
        return sums, entropy, loglik


def _log_terms(method: str, params: _Params) -> tuple:
    if method == "bayesian":
        p = params
        return _vb_log_terms(p.a, p.b, p.beta, p.means, p.nu, p.variances)
    return _em_log_terms(params.weights, params.means, params.variances)


def _run_em(method, atom_pass: _AtomPass, params, prior, reg_covar, max_iter, tol):
    """Iterate E-step + M-step until the total bound changes by less than tol.

    The comparisons are sklearn's (``abs(change) < tol``) and Spark's
    (``abs(change) <= tol``), starting from a previous bound of -inf.
    """
    bound = -math.inf
    converged = False
    n_iter = 0
    while n_iter < max_iter and not converged:
        n_iter += 1
        previous = bound
        terms = _log_terms(method, params)
        sums, entropy, loglik = atom_pass.run(terms)
        params = _m_step(method, sums, terms[1], prior, reg_covar)

        if method == "bayesian":
            bound = entropy + _vb_bound_terms(params)
            converged = abs(bound - previous) < tol
        else:
            bound = loglik
            converged = abs(bound - previous) <= tol
    return params, converged, n_iter, float(bound)


def _assemble(method, params: _Params, converged, n_iter, bound) -> MixtureFit:
    return MixtureFit(
        method=method,
        weights=params.weights,
        means=params.means,
        variances=params.variances,
        weight_concentration_a=params.a,
        weight_concentration_b=params.b,
        mean_precision=params.beta,
        degrees_of_freedom=params.nu,
        converged=bool(converged),
        n_iter=int(n_iter),
        lower_bound=bound,
    )
