"""From summaries to fitted columns: mixtures, valid modes, ranking, storage types."""

from __future__ import annotations

import logging
import math

import numpy as np

from modenorm.errors import ColumnError
from modenorm.fit.mixture import fit_mixture, predict_log_proba
from modenorm.model.dtypes import dtype_to_json
from modenorm.model.schema import CategoricalColumn, Mode, NumericColumn
from modenorm.summarize.categorical import CategoryCounts
from modenorm.summarize.numeric import ColumnSpec, Histogram, NumericScan, coarsen
from modenorm.summarize.refine import local_resolution

__all__ = ["FitOptions", "fit_numeric_column", "fit_categorical_column"]

logger = logging.getLogger(__name__)

ALPHA_LIMIT = 0.99
FLOAT32_STD_LIMIT = 1e6
SCREEN_ATOMS = 1 << 12
MAX_STD = 2.0**1020  # keeps 4 * std finite in the kernels


class FitOptions:
    """Options shared by every column's fit."""

    def __init__(
        self,
        *,
        max_modes: int = 10,
        weight_threshold: float = 0.005,
        mode_choice: str = "sample",
        mixture: str = "bayesian",
        seed: int = 0,
        max_atoms: int = 1 << 18,
        n_init: int = 10,
    ) -> None:
        self.n_init = n_init
        self.max_modes = max_modes
        self.weight_threshold = weight_threshold
        self.mode_choice = mode_choice
        self.mixture = mixture
        self.seed = seed
        self.max_atoms = max_atoms


def _special_modes(spec: ColumnSpec, scan: NumericScan) -> list[tuple[Mode, int]]:
    """Special-value and null modes with a tie-break order."""
    modes = []
    counts = scan.special_counts if scan.special_counts is not None else []
    for value, count in zip(spec.specials, counts, strict=True):
        if count == 0:
            raise ColumnError(
                f"column {spec.name!r}: special value {value!r} does not occur in "
                "the data; remove it from the mixed values or check the column"
            )
        modes.append(Mode(kind="special", count=float(count), value=value))
    for value, count in (
        (math.nan, scan.n_nan),
        (math.inf, scan.n_posinf),
        (-math.inf, scan.n_neginf),
    ):
        if count:
            logger.info(
                "column %r: %d values are %s; kept as a special mode",
                spec.name,
                count,
                value,
            )
            modes.append(Mode(kind="special", count=float(count), value=value))
    if scan.n_null:
        modes.append(Mode(kind="null", count=float(scan.n_null)))
    return [(m, 1_000_000 + i) for i, m in enumerate(modes)]


def _mixture_doc(fit, valid: np.ndarray) -> dict:
    const, mean, prec = fit.log_resp_terms()
    return {
        "method": fit.method,
        "weights": fit.weights.tolist(),
        "means": fit.means.tolist(),
        "variances": fit.variances.tolist(),
        "valid": valid.tolist(),
        "converged": bool(fit.converged),
        "n_iter": int(fit.n_iter),
        "lower_bound": float(fit.lower_bound),
        "resp_const": const.tolist(),
        "resp_mean": mean.tolist(),
        "resp_prec": prec.tolist(),
    }


def _responsibilities(const, mean, prec, x) -> np.ndarray:
    logp = const[None, :] - 0.5 * prec[None, :] * (x[:, None] - mean[None, :]) ** 2
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=1, keepdims=True)


def _atom_log_likelihood(fit, atoms) -> float:
    """Plug-in log-likelihood of the atoms (exact for distinct-value atoms)."""
    w, mu, var = fit.weights, fit.means, fit.variances
    d = atoms.means[:, None] - mu[None, :]
    logp = np.log(w)[None, :] - 0.5 * np.log(2 * np.pi * var)[None, :]
    logp = logp - 0.5 * d * d / var[None, :]
    top = logp.max(axis=1)
    dens = top + np.log(np.exp(logp - top[:, None]).sum(axis=1))
    return float(atoms.counts @ dens)


def _best_fit(atoms, opts, init_labels=None):
    """Fit from ``opts.n_init`` k-means starts; keep the highest likelihood.

    Starts are screened on at most ``SCREEN_ATOMS`` coarsened atoms; the best
    one's labels then start the fit on all atoms. With ``init_labels`` (a refit
    on finer atoms), start once from them.
    """
    if init_labels is not None:
        return fit_mixture(
            atoms.counts,
            atoms.means,
            atoms.m2,
            n_components=opts.max_modes,
            method=opts.mixture,
            init_labels=init_labels,
            n_threads=1,
        )
    screen = (
        atoms if len(atoms.counts) <= SCREEN_ATOMS else coarsen(atoms, SCREEN_ATOMS)
    )
    best, best_ll = None, -np.inf
    for start in range(opts.n_init):
        fit = fit_mixture(
            screen.counts,
            screen.means,
            screen.m2,
            n_components=opts.max_modes,
            method=opts.mixture,
            random_state=opts.seed * 7919 + start,
            n_threads=1,
        )
        ll = _atom_log_likelihood(fit, screen)
        if ll > best_ll:
            best, best_ll = fit, ll
    if screen is atoms:
        return best
    labels = predict_log_proba(best, atoms.means).argmax(axis=1)
    return _best_fit(atoms, opts, init_labels=labels)


def _gaussian_modes(spec, atoms, opts, name, init_labels=None, prefit=None):
    fit = prefit if prefit is not None else _best_fit(atoms, opts, init_labels)
    const, mean, prec = fit.log_resp_terms()
    resp = _responsibilities(const, mean, prec, atoms.means)
    chosen = np.bincount(resp.argmax(axis=1), minlength=len(fit.weights))
    valid = (fit.weights > opts.weight_threshold) & (chosen > 0)
    if not valid.any():
        valid[np.argmax(fit.weights)] = True
    idx = np.flatnonzero(valid)
    sub = _responsibilities(const[idx], mean[idx], prec[idx], atoms.means)
    if opts.mode_choice == "argmax":
        usage = np.bincount(
            sub.argmax(axis=1), weights=atoms.counts, minlength=len(idx)
        )
    else:
        usage = atoms.counts @ sub
    if not fit.converged:
        logger.info(
            "column %r: the mixture did not converge in %d iterations (as "
            "scikit-learn's with the same settings); the fit is still usable",
            name,
            fit.n_iter,
        )
    modes = []
    for j, k in enumerate(idx):
        std = math.sqrt(float(fit.variances[k]))
        modes.append(
            (
                Mode(
                    kind="gaussian",
                    count=float(usage[j]),
                    component=int(k),
                    mean=float(fit.means[k]),
                    std=std,
                ),
                int(k),
            )
        )
    return modes, _mixture_doc(fit, valid), fit


def _minmax_mode(atoms) -> tuple[Mode, int]:
    lo = float(atoms.means.min())
    hi = float(atoms.means.max())
    std = (hi - lo) / (8 * ALPHA_LIMIT) if hi > lo else 1.0
    return Mode(
        kind="gaussian", count=atoms.n_rows, component=0, mean=(lo + hi) / 2, std=std
    ), 0


def _unscale(ranked, mixture, scale: float) -> None:
    """Move modes and mixture fitted on ``x * scale`` back to data units."""
    for mode, _ in ranked:
        if mode.kind == "gaussian":
            mode.mean /= scale
            mode.std = min(mode.std / scale, MAX_STD)
    if mixture is None:
        return
    big = np.finfo(np.float64).max
    means = np.array(mixture["means"]) / scale
    with np.errstate(over="ignore", under="ignore"):
        variances = np.minimum(np.array(mixture["variances"]) / scale / scale, big)
        prec = np.array(mixture["resp_prec"]) * scale * scale
    const = np.array(mixture["resp_const"]) + math.log(scale)
    mixture["means"] = means.tolist()
    mixture["variances"] = variances.tolist()
    mixture["resp_mean"] = (np.array(mixture["resp_mean"]) / scale).tolist()
    mixture["resp_prec"] = prec.tolist()
    mixture["resp_const"] = const.tolist()


def _alpha_dtype(spec, scan, modes, p_dec) -> str:
    stds = [m.std for m in modes if m.kind == "gaussian"]
    if spec.log or not stds or (spec.physical == "float" and scan.decimals < 0):
        return "float64"
    return "float32" if max(stds) * p_dec < FLOAT32_STD_LIMIT else "float64"


def fit_numeric_column(
    spec: ColumnSpec,
    scan: NumericScan,
    hist: Histogram,
    opts: FitOptions,
    *,
    atoms=None,
    init_labels=None,
    prefit=None,
) -> NumericColumn:
    """Fit one continuous, mixed or min-max column from its summaries.

    ``atoms`` replaces the histogram's own atoms (a refined summary), and
    ``init_labels`` starts the mixture from given labels instead of k-means.
    ``prefit``, a mixture fitted elsewhere (such as by Spark ML), is used as it
    is: only valid modes, ranking and storage types are derived here.
    """
    if scan.n_rows and scan.n_null == scan.n_rows:
        raise ColumnError(
            f"column {spec.name!r}: all {scan.n_rows} values are null; there is "
            "nothing to fit; leave the column out with columns=[...] (--columns)"
        )
    ranked = _special_modes(spec, scan)
    mixture = None
    refine_state = None
    stats = {
        "rows": scan.n_rows,
        "nulls": scan.n_null,
        "values": scan.n_values,
        "min": scan.vmin,
        "max": scan.vmax,
        "summary": hist.mode,
    }
    if scan.n_values:
        if atoms is None:
            atoms = hist.atoms(opts.max_atoms)
        else:
            stats["summary"] = hist.mode + "+refined"
        stats["atoms"] = len(atoms.counts)
        if spec.kind == "minmax":
            ranked.append(_minmax_mode(atoms))
        else:
            gaussians, mixture, fit = _gaussian_modes(
                spec, atoms, opts, spec.name, init_labels, prefit
            )
            ranked.extend(gaussians)
            ratio = local_resolution(atoms, fit.weights, fit.means, fit.variances)
            stats["resolution"] = float(ratio.max()) if len(ratio) else 0.0
            refine_state = (atoms, ratio, fit)
        if hist.scale != 1.0:
            stats["fit_scale"] = hist.scale
            _unscale(ranked, mixture, hist.scale)
    ranked.sort(key=lambda item: (-item[0].count, item[1]))
    modes = [m for m, _ in ranked]
    p_dec = 10.0**scan.decimals if scan.decimals >= 0 else 0.0
    is_f32 = dtype_to_json(spec.dtype)["name"] == "Float32"
    col = NumericColumn(
        name=spec.name,
        kind=spec.kind,
        dtype=dtype_to_json(spec.dtype),
        modes=modes,
        mixture=mixture,
        log=spec.log,
        log_lower=float(hist.log_lower),
        offset=int(hist.offset),
        decimals=max(int(scan.decimals), -1) if spec.physical == "float" else -1,
        round_f32=is_f32,
        alpha_dtype=_alpha_dtype(spec, scan, modes, p_dec if p_dec else 1.0),
        stats=stats,
    )
    col._refine_state = refine_state
    return col


def fit_categorical_column(counts: CategoryCounts) -> CategoricalColumn:
    """Rank the categories of one column by frequency."""
    categories, freq = counts.ranked()
    if not categories:
        raise ColumnError(f"column {counts.name!r} has no rows to fit")
    dtype = dtype_to_json(counts.dtype)
    if dtype["name"] == "Categorical":
        dtype = {"name": "Categorical"}
    return CategoricalColumn(
        name=counts.name, dtype=dtype, categories=categories, counts=freq
    )
