"""Figures of the report, drawn with Matplotlib's object API to PNG bytes.

Matplotlib is imported when a figure is drawn, not when modenorm is imported,
and ``pyplot`` is never used: the figures render on the Agg canvas without
touching the global backend of the calling program.
"""

from __future__ import annotations

import io
import math

import numpy as np

from modenorm.errors import ModenormError
from modenorm.report.collect import (
    ALPHA_EDGES,
    CategoricalSummary,
    NumericSummary,
    to_fitted,
)
from modenorm.report.units import DisplayUnits

__all__ = ["numeric_figure", "categorical_figure", "mode_color", "category_label"]

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#393b79",
)
DATA_FILL = "#c8d5e2"
DATA_EDGE = "#8ea4ba"
SPECIAL = "#8a8a8a"
NULL = "#cfcfcf"
INK = "#1d2733"
DPI = 100


def require_matplotlib() -> None:
    """Raise a clear error, before any work, when matplotlib is missing."""
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError as exc:
        raise ModenormError(
            "the report draws its figures with matplotlib, which is not "
            "installed; install it with: pip install 'modenorm[report]'"
        ) from exc


def _figure(width: float, height: float):
    require_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    fig.set_facecolor("white")
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def mode_color(rank: int, kind: str = "gaussian") -> str:
    """Colour of a mode: by rank for Gaussian modes, greys otherwise."""
    if kind == "special":
        return SPECIAL
    if kind == "null":
        return NULL
    return PALETTE[rank % len(PALETTE)]


def _compact(value: float, _pos=None) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.3g}"


def _style(ax) -> None:
    from matplotlib.ticker import FuncFormatter

    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color("#9aa5b1")
    ax.spines["bottom"].set_color("#9aa5b1")
    ax.tick_params(colors="#3c4752", labelsize=8.5)
    ax.yaxis.set_major_formatter(FuncFormatter(_compact))
    ax.grid(axis="y", color="#e6e9ed", linewidth=0.8)
    ax.set_axisbelow(True)


def _legend_above(ax, ncol: int = 1) -> None:
    """A frameless legend right-aligned above the axes, clear of the data."""
    ax.legend(
        fontsize=8,
        frameon=False,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=ncol,
        borderaxespad=0.1,
    )


def _normal_pdf(u: np.ndarray, mean: float, std: float) -> np.ndarray:
    z = (u - mean) / std
    return np.exp(-0.5 * z * z) / (std * math.sqrt(2 * math.pi))


def _normal_cdf(u: np.ndarray, mean: float, std: float) -> np.ndarray:
    from scipy.special import ndtr

    return ndtr((u - mean) / std)


def _curve_grid(lo: float, hi: float, means, stds) -> np.ndarray:
    """Points to draw densities on, dense around narrow modes."""
    points = [np.linspace(lo, hi, 1500)]
    for mean, std in zip(means, stds, strict=True):
        points.append(mean + std * np.linspace(-4, 4, 81))
    u = np.unique(np.concatenate(points))
    return u[(u >= lo) & (u <= hi)]


def _mixture_parts(col, edges):
    mix = col.mixture
    weights = np.asarray(mix["weights"])
    means = np.asarray(mix["means"])
    stds = np.sqrt(np.asarray(mix["variances"]))
    per_bar = [
        w * (_normal_cdf(edges[1:], m, s) - _normal_cdf(edges[:-1], m, s))
        for w, m, s in zip(weights, means, stds, strict=True)
    ]
    return weights, means, stds, per_bar


def _is_discrete(summary: NumericSummary) -> bool:
    """True when a mode is narrower than half a bar (values on a coarse grid)."""
    width = float(summary.edges[1] - summary.edges[0])
    return any(m.std < 0.5 * width for _, m in summary.column.gaussian_modes)


def _draw_mixture(ax, summary: NumericSummary, units: DisplayUnits) -> list:
    """Draw the mixture and its valid modes in rows per bar.

    Returns ``(rank, x, height)`` of each valid mode's peak, for its label.
    Where a mode is narrower than half a bar, as for integers on a coarse
    grid, the density is drawn integrated over each bar (rows expected per
    bar), since its peak as a curve would stand far above every bar.
    """
    col = summary.column
    edges = summary.edges
    n = summary.n_fitted
    if col.mixture is None or n == 0:
        return []
    weights, means, stds, per_bar = _mixture_parts(col, edges)
    x_edges = units.to_display(edges)
    gauss = col.gaussian_modes
    peaks = []
    line = {"color": INK, "linewidth": 1.5, "zorder": 4}
    label_all = "mixture density (all components)"
    if _is_discrete(summary):
        ax.stairs(n * sum(per_bar), x_edges, label=label_all + ", per bar", **line)
        for i, (rank, mode) in enumerate(gauss):
            comp = n * per_bar[mode.component]
            ax.stairs(
                comp,
                x_edges,
                color=mode_color(rank),
                linewidth=1.1,
                linestyle="--",
                label="valid modes (by rank)" if i == 0 else None,
                zorder=3,
            )
            top = int(np.argmax(comp))
            peaks.append((rank, (x_edges[top] + x_edges[top + 1]) / 2, comp[top]))
        return peaks
    width = float(edges[1] - edges[0])
    u = _curve_grid(
        edges[0], edges[-1], [m.mean for _, m in gauss], [m.std for _, m in gauss]
    )
    x = units.to_display(u)
    total = sum(
        w * _normal_pdf(u, m, s) for w, m, s in zip(weights, means, stds, strict=True)
    )
    ax.plot(x, n * width * total, label=label_all, **line)
    for i, (rank, mode) in enumerate(gauss):
        comp = n * width * weights[mode.component] * _normal_pdf(u, mode.mean, mode.std)
        ax.plot(
            x,
            comp,
            color=mode_color(rank),
            linewidth=1.1,
            linestyle="--",
            label="valid modes (by rank)" if i == 0 else None,
            zorder=3,
        )
        if len(comp) and edges[0] <= mode.mean <= edges[-1]:
            top = int(np.argmax(comp))
            peaks.append((rank, x[top], comp[top]))
    return peaks


def _expected_top(summary: NumericSummary) -> float:
    """Largest number of rows the mixture expects in one bar."""
    if summary.column.mixture is None or summary.n_fitted == 0:
        return 0.0
    *_, per_bar = _mixture_parts(summary.column, summary.edges)
    return float(summary.n_fitted * np.max(sum(per_bar)))


def _label_modes(ax, peaks: list, top: float) -> None:
    for rank, x, height in peaks:
        ax.text(
            float(x),
            min(float(height), 0.93 * top),
            str(rank),
            color="white",
            fontsize=7.5,
            fontweight="bold",
            ha="center",
            va="bottom",
            zorder=6,
            bbox={
                "boxstyle": "round,pad=0.18",
                "facecolor": mode_color(rank),
                "edgecolor": "none",
            },
        )


def _draw_specials(ax, summary: NumericSummary, units: DisplayUnits, top: float):
    edges = summary.edges
    for rank, mode in enumerate(summary.column.modes):
        if mode.kind != "special":
            continue
        u = to_fitted(summary.column, mode.value)
        if not (math.isfinite(u) and edges[0] <= u <= edges[-1]):
            continue
        x = float(units.to_display(u))
        ax.axvline(x, color=SPECIAL, linestyle=":", linewidth=1.4, zorder=5)
        ax.text(
            x,
            0.985 * top,
            f" special {mode.value!r}: mode {rank}, "
            f"{_compact(summary.mode_rows[rank])} rows",
            color="#4a4a4a",
            fontsize=8,
            va="top",
            ha="left",
            zorder=6,
        )


def _date_axis(ax, units: DisplayUnits) -> None:
    import matplotlib.dates as mdates

    tz = None
    if units.tz:
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(units.tz)
    locator = mdates.AutoDateLocator(tz=tz)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=tz))


def _draw_histogram(ax, summary: NumericSummary, units: DisplayUnits) -> None:
    counts = summary.counts
    ax.stairs(
        counts,
        units.to_display(summary.edges),
        fill=True,
        facecolor=DATA_FILL,
        edgecolor=DATA_EDGE,
        linewidth=0.6,
        label="data",
        zorder=2,
    )
    peaks = _draw_mixture(ax, summary, units)
    top = 1.15 * max(float(counts.max(initial=0)), _expected_top(summary), 1.0)
    ax.set_ylim(0, top)
    x_edges = units.to_display(summary.edges)
    ax.set_xlim(float(x_edges[0]), float(x_edges[-1]))
    _label_modes(ax, peaks, top)
    _draw_specials(ax, summary, units, top)
    _style(ax)
    if units.kind == "date":
        _date_axis(ax, units)
    elif summary.column.physical == "int" and units.kind == "linear":
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel(units.label, fontsize=9, color="#3c4752")
    ax.set_ylabel("rows per bar", fontsize=9, color="#3c4752")
    title = "histogram of the data with the fitted mixture"
    if summary.column.mixture is None:
        title = "histogram of the data (min-max scaled, no mixture)"
    outside = summary.below + summary.above
    if outside:
        title += f" ({outside:,} values outside)"
    ax.set_title(title, fontsize=10, loc="left", color=INK)
    if summary.column.mixture is not None:
        _legend_above(ax, ncol=3)


def _mode_tick(rank: int, mode) -> str:
    if mode.kind == "special":
        return f"{rank}\n={mode.value!r}"
    if mode.kind == "null":
        return f"{rank}\nnull"
    return str(rank)


def _draw_usage(ax, summary: NumericSummary) -> None:
    modes = summary.column.modes
    ranks = np.arange(len(modes))
    colors = [mode_color(r, m.kind) for r, m in enumerate(modes)]
    ax.bar(ranks, summary.mode_rows, color=colors, width=0.75, zorder=2)
    ax.scatter(
        ranks,
        [m.count for m in modes],
        marker="_",
        s=260,
        linewidths=1.6,
        color=INK,
        zorder=3,
        label="rows at fit time",
    )
    ax.set_xticks(ranks, [_mode_tick(r, m) for r, m in enumerate(modes)])
    ax.set_xlim(-0.6, max(len(modes), 6) - 0.4)  # few modes: bars of usual width
    _style(ax)
    ax.set_xlabel("mode rank (0 = most used at fit time)", fontsize=9, color="#3c4752")
    ax.set_title("mode usage after ranking (rows encoded)", fontsize=10, loc="left")
    _legend_above(ax)


def _draw_alpha(ax, summary: NumericSummary) -> None:
    ax.stairs(
        summary.alpha_counts,
        ALPHA_EDGES,
        fill=True,
        facecolor=DATA_FILL,
        edgecolor=DATA_EDGE,
        linewidth=0.6,
        zorder=2,
    )
    for x in (-0.99, 0.99):
        ax.axvline(x, color="#b0413e", linestyle=":", linewidth=1.0, zorder=3)
    ax.set_xlim(-1.02, 1.02)
    _style(ax)
    ax.set_xlabel("alpha = (x - mean) / (4 std)", fontsize=9, color="#3c4752")
    ax.set_title("alpha of the rows with a Gaussian mode", fontsize=10, loc="left")


def numeric_figure(summary: NumericSummary, units: DisplayUnits) -> bytes:
    """PNG of one numeric column: histogram and mixture, mode usage, alpha.

    Parameters
    ----------
    summary : NumericSummary
        Gathered by :func:`~modenorm.report.collect.collect_report_data`.
    units : DisplayUnits
        How fitted-domain values are shown.

    Returns
    -------
    bytes
        The PNG image, 1100 pixels wide.
    """
    fig = _figure(11, 6.4)
    grid = fig.add_gridspec(2, 2, height_ratios=[3, 2], width_ratios=[3, 2])
    _draw_histogram(fig.add_subplot(grid[0, :]), summary, units)
    _draw_usage(fig.add_subplot(grid[1, 0]), summary)
    _draw_alpha(fig.add_subplot(grid[1, 1]), summary)
    return _png(fig)


def category_label(value, limit: int = 32) -> str:
    """A category as a short label (``null`` for a missing value)."""
    text = "null" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def categorical_figure(summary: CategoricalSummary, top: int = 30) -> bytes:
    """PNG of one categorical column: rows per category, most frequent first.

    Parameters
    ----------
    summary : CategoricalSummary
        Gathered by :func:`~modenorm.report.collect.collect_report_data`.
    top : int, default 30
        Categories drawn one by one; the others share one bar.

    Returns
    -------
    bytes
        The PNG image, 1100 pixels wide.
    """
    col = summary.column
    shown = min(top, len(col.categories))
    labels = [f"{r}  {category_label(c)}" for r, c in enumerate(col.categories[:shown])]
    values = list(summary.counts[:shown])
    fit_counts = list(col.counts[:shown])
    colors = [PALETTE[0]] * shown
    rest = len(col.categories) - shown
    if summary.unseen:
        labels.append("not seen at fit time")
        values.append(summary.unseen)
        fit_counts.append(0)
        colors.append("#b0413e")
    fig = _figure(11, 1.1 + 0.24 * len(labels))
    ax = fig.add_subplot()
    pos = np.arange(len(labels))
    ax.barh(pos, values, color=colors, height=0.72, zorder=2)
    ax.scatter(
        fit_counts,
        pos,
        marker="|",
        s=140,
        linewidths=1.6,
        color=INK,
        zorder=3,
        label="rows at fit time",
    )
    total = max(summary.rows, 1)
    for y, v in zip(pos, values, strict=True):
        ax.text(
            v,
            y,
            f"  {v:,} ({100 * v / total:.3g}%)",
            va="center",
            fontsize=8,
            color="#3c4752",
        )
    from matplotlib.ticker import FuncFormatter

    _style(ax)
    ax.set_yticks(pos, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.18 * max(max(values, default=0), max(fit_counts, default=0), 1))
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#e6e9ed", linewidth=0.8)
    ax.xaxis.set_major_formatter(FuncFormatter(_compact))
    ax.set_xlabel("rows", fontsize=9, color="#3c4752")
    title = "rows per category, by rank (0 = most frequent at fit time)"
    if rest:
        others = int(summary.counts[shown:].sum())
        title += (
            f"; the other {rest:,} categories hold {others:,} rows "
            f"({100 * others / total:.3g}%)"
        )
    ax.set_title(title, fontsize=10, loc="left")
    _legend_above(ax)
    return _png(fig)
