"""The report page: one self-contained HTML file with the figures inline.

Everything the page needs is in the file: styles in a ``<style>`` element and
every figure as a base64 PNG ``data:`` URL, so the page can be mailed,
archived or opened offline, and no request leaves the browser.
"""

from __future__ import annotations

import base64
import copy
import html
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from modenorm.engines.progress import Progress
from modenorm.model.schema import Model, NumericColumn
from modenorm.report.collect import (
    CategoricalSummary,
    NumericSummary,
    collect_report_data,
)
from modenorm.report.units import (
    DisplayUnits,
    display_units,
    domain_text,
    format_number,
)

__all__ = ["render_report", "write_report"]

logger = logging.getLogger(__name__)

STYLE = """
* { box-sizing: border-box; }
body { margin: 0; background: #f4f6f8; color: #1d2733;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 24px 60px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0; font-family: ui-monospace, Menlo, monospace; }
.sub { color: #5b6673; margin: 0 0 20px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin-bottom: 22px; }
.card { background: #fff; border: 1px solid #dde2e7; border-radius: 8px;
  padding: 10px 16px; min-width: 150px; }
.card b { display: block; font-size: 20px; }
.card span { color: #5b6673; font-size: 12px; text-transform: uppercase;
  letter-spacing: .04em; }
section { background: #fff; border: 1px solid #dde2e7; border-radius: 10px;
  padding: 18px 22px; margin: 0 0 22px; }
.head { display: flex; align-items: center; gap: 10px; flex-wrap: wrap;
  margin-bottom: 10px; }
.badge { font-size: 12px; padding: 2px 9px; border-radius: 10px;
  background: #e8edf2; color: #34404c; }
.ok { background: #dff3e4; color: #1d6b34; }
.bad { background: #fbe1df; color: #9b2621; }
.none { background: #eef0f2; color: #5b6673; }
dl { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr));
  gap: 4px 18px; margin: 0 0 12px; }
dl div { border-bottom: 1px solid #eef1f4; padding: 3px 0; }
dt { color: #5b6673; font-size: 12px; }
dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
img { display: block; width: 100%; max-width: 1100px; height: auto;
  margin: 6px 0 12px; }
table { border-collapse: collapse; width: 100%; font-size: 13px;
  font-variant-numeric: tabular-nums; }
th, td { text-align: right; padding: 4px 10px; border-bottom: 1px solid #eef1f4; }
th { color: #5b6673; font-weight: 600; background: #f8f9fb; }
th:first-child, td:first-child, td.l, th.l { text-align: left; }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px; vertical-align: -1px; }
.note { color: #5b6673; font-size: 13px; margin: 8px 0 0; }
a { color: #1f5f99; text-decoration: none; }
code { font-family: ui-monospace, Menlo, monospace; font-size: 12.5px; }
"""


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _facts(items: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in items)
    return f"<dl>{cells}</dl>"


def _verdict(verify, name: str) -> tuple[str, str]:
    """Badge class and text of one column's round trip."""
    if verify is None:
        return "none", "round trip not checked"
    bad = verify.mismatches.get(name, 0)
    if bad:
        return "bad", f"round trip FAILED: {bad:,} values differ"
    return "ok", "round trip lossless"


def _data_text(col: NumericColumn, units: DisplayUnits, value) -> str:
    if value is None:
        return "none"
    if units.kind == "date" or units.per_second:
        return units.value_text(int(value) - col.offset)
    return format_number(float(value))


def _mixture_text(col: NumericColumn) -> str:
    mix = col.mixture
    if mix is None:
        return "none (min-max scaling)" if col.kind == "minmax" else "none"
    state = "converged" if mix["converged"] else "not converged"
    n = len(mix["weights"])
    what = "component" if n == 1 else "components"
    return f"{mix['method']}, {n} {what}, {state} in {mix['n_iter']} iterations"


def _dropped_components(col: NumericColumn) -> str:
    mix = col.mixture
    if mix is None:
        return ""
    dropped = [
        (i, w)
        for i, (w, v) in enumerate(zip(mix["weights"], mix["valid"], strict=True))
        if not v
    ]
    if not dropped:
        return ""
    weights = ", ".join(f"{w:.3g}" for _, w in dropped)
    what = (
        "component is not a mode" if len(dropped) == 1 else "components are not modes"
    )
    return (
        f"{len(dropped)} fitted {what} (weight at or below the threshold, or never "
        f"the most likely component of a row): weight {weights}."
    )


def _mode_rows(summary: NumericSummary, units: DisplayUnits) -> str:
    from modenorm.report.plots import mode_color

    col = summary.column
    mix = col.mixture
    total = max(summary.rows, 1)
    log_extra = col.log
    rows = []
    for rank, mode in enumerate(col.modes):
        swatch = f'<span class="sw" style="background:{mode_color(rank, mode.kind)}">'
        weight = mean = std = data_mean = ""
        if mode.kind == "gaussian":
            kind = "gaussian"
            if mix is not None:
                weight = f"{mix['weights'][mode.component]:.4f}"
            mean = units.value_text(mode.mean)
            std = units.spread_text(mode.std)
            if log_extra:
                lower = col.offset + col.log_lower
                data_mean = format_number(math.expm1(mode.mean) + lower)
        elif mode.kind == "special":
            kind = f"special {mode.value!r}"
        else:
            kind = "null"
        used = int(summary.mode_rows[rank])
        cells = [
            f"{swatch}</span>{rank}",
            _e(kind),
            weight,
            _e(mean),
            _e(std),
        ]
        if log_extra:
            cells.append(_e(data_mean))
        cells += [
            f"{mode.count:,.0f}",
            f"{used:,}",
            f"{100 * used / total:.2f}%",
        ]
        tds = "".join(
            f'<td class="l">{c}</td>' if i < 2 else f"<td>{c}</td>"
            for i, c in enumerate(cells)
        )
        rows.append(f"<tr>{tds}</tr>")
    heads = ["rank", "kind", "weight", "mean", "std"]
    if log_extra:
        heads.append("mean in data units")
    heads += ["rows at fit", "rows encoded", "share"]
    head = "".join(
        f'<th class="l">{h}</th>' if i < 2 else f"<th>{h}</th>"
        for i, h in enumerate(heads)
    )
    return (
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _numeric_section(index: int, summary: NumericSummary, verify) -> str:
    from modenorm.report.plots import numeric_figure

    col = summary.column
    units = display_units(col)
    cls, verdict = _verdict(verify, col.name)
    stats = col.stats
    n_gauss = len(col.gaussian_modes)
    exact = (
        verify.exact_rows.get(col.name, 0) if verify is not None else summary.exact_rows
    )
    facts = [
        ("dtype", col.dtype["name"]),
        ("rows", f"{summary.rows:,}"),
        ("nulls", f"{stats.get('nulls', 0):,}"),
        (
            "min / max",
            f"{_data_text(col, units, stats.get('min'))} / "
            f"{_data_text(col, units, stats.get('max'))}",
        ),
        ("fitted on", domain_text(col, units)),
        ("modes", f"{n_gauss} gaussian, {len(col.modes) - n_gauss} special or null"),
        ("mixture", _mixture_text(col)),
        (
            "fit summary",
            f"{stats.get('summary', '?')}, {_count(stats.get('atoms', 0), 'atom')}",
        ),
        ("alpha stored as", col.alpha_dtype),
        ("exact side channel", f"{exact:,} rows"),
        (
            "drawn range",
            f"{units.value_text(summary.edges[0])} to "
            f"{units.value_text(summary.edges[-1])}",
        ),
        ("outside drawn range", f"{summary.below + summary.above:,} values"),
    ]
    parts = [
        f'<section id="c{index}"><div class="head"><h2>{_e(col.name)}</h2>',
        f'<span class="badge">{_e(col.kind)}</span>',
        f'<span class="badge {cls}">{_e(verdict)}</span></div>',
        _facts(facts),
    ]
    if summary.n_fitted or summary.rows:
        parts.append(_img(numeric_figure(summary, units), f"{col.name}: histogram"))
    parts.append(_mode_rows(summary, units))
    note = _dropped_components(col)
    if verify is not None and verify.mismatches.get(col.name):
        note += f" Values that did not come back: {verify.examples.get(col.name)}."
    if note:
        parts.append(f'<p class="note">{_e(note.strip())}</p>')
    parts.append("</section>")
    return "".join(parts)


def _categorical_section(index: int, summary: CategoricalSummary, verify, top: int):
    from modenorm.report.plots import categorical_figure

    col = summary.column
    cls, verdict = _verdict(verify, col.name)
    shown = min(top, len(col.categories))
    facts = [
        ("dtype", col.dtype["name"]),
        ("rows", f"{summary.rows:,}"),
        ("categories", f"{len(col.categories):,} (top {shown} drawn)"),
        ("not seen at fit time", f"{summary.unseen:,} rows"),
    ]
    return "".join(
        [
            f'<section id="c{index}"><div class="head"><h2>{_e(col.name)}</h2>',
            '<span class="badge">categorical</span>',
            f'<span class="badge {cls}">{_e(verdict)}</span></div>',
            _facts(facts),
            _img(categorical_figure(summary, top), f"{col.name}: categories"),
            "</section>",
        ]
    )


def _index_table(summaries, verify) -> str:
    rows = []
    for i, summary in enumerate(summaries):
        col = summary.column
        if isinstance(summary, NumericSummary):
            gauss = len(col.gaussian_modes)
            size = f"{gauss} gaussian + {len(col.modes) - gauss} other modes"
        else:
            size = f"{len(col.categories):,} categories"
        cls, verdict = _verdict(verify, col.name)
        rows.append(
            f'<tr><td><a href="#c{i}"><code>{_e(col.name)}</code></a></td>'
            f'<td class="l">{_e(col.kind)}</td><td class="l">{_e(col.dtype["name"])}'
            f'</td><td class="l">{_e(size)}</td><td class="l">'
            f'<span class="badge {cls}">{_e(verdict)}</span></td></tr>'
        )
    head = "".join(
        f'<th class="l">{h}</th>' for h in ("column", "kind", "dtype", "encoding", "")
    )
    return (
        f"<section><table><thead><tr>{head}</tr></thead><tbody>"
        f"{''.join(rows)}</tbody></table></section>"
    )


def _cards(model: Model, rows: int, verify) -> str:
    if verify is None:
        verdict = "not checked"
    else:
        verdict = "lossless" if verify.ok else "FAILED"
    cards = [
        ("rows", f"{rows:,}"),
        ("columns", f"{len(model.columns)}"),
        ("round trip", verdict),
        ("mode choice", f"{model.mode_choice}, seed {model.seed}"),
        ("mixture", str(model.options.get("mixture", "bayesian"))),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f"<div class='card'><span>{_e(k)}</span><b>{_e(v)}</b></div>"
            for k, v in cards
        )
        + "</div>"
    )


def _as_transformer(model: Any, threads, chunk_rows):
    from modenorm.transformer import Transformer

    if isinstance(model, Transformer):
        # a copy: the report's threads, chunk size and progress stay its own
        t = copy.copy(model)
        t.threads = threads if threads is not None else model.threads
        t.chunk_rows = chunk_rows
        return t
    if isinstance(model, Model):
        return Transformer.from_model(model, threads=threads, chunk_rows=chunk_rows)
    return Transformer.load(model, threads=threads, chunk_rows=chunk_rows)


def render_report(
    source: Any,
    model: Any,
    *,
    verify: bool = True,
    layout: str | None = None,
    top: int = 30,
    hist_bins: int = 100,
    threads: int | None = None,
    chunk_rows: int = 1 << 20,
    progress: Progress | None = None,
    title: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Build the report page of a fitted model on a table.

    Parameters
    ----------
    source : path, glob, DataFrame, LazyFrame, pandas DataFrame or Arrow table
        The data to describe; read in one streaming pass, and once more for the
        round trip unless ``verify=False``.
    model : Transformer, Model or path
        The fitted model (a path is read as a model JSON file).
    verify : bool, default True
        Encode and decode every value and show the verdict per column
        (:meth:`Transformer.verify`).
    layout : {"compact", "onehot"}, optional
        Layout of the round trip (default: the model's).
    top : int, default 30
        Categories drawn one by one per categorical column; the rest share a bar.
    hist_bins : int, default 100
        Largest number of histogram bars per numeric column.
    threads : int, optional
        Worker threads (default: all cores).
    chunk_rows : int, default 1_048_576
        Rows per chunk; memory grows with ``chunk_rows * threads``.
    progress : Progress, optional
        Receives the ``report pass`` and ``verify`` stages.
    title : str, optional
        What the page calls the data (default: a description of ``source``).

    Returns
    -------
    page : str
        The HTML document.
    summary : dict
        ``rows``, ``columns`` and, when checked, ``ok`` and per-column
        ``mismatches`` and ``exact_rows``.

    Raises
    ------
    SchemaMismatchError
        A column of the model is missing from the data or has another type.
    ModenormError
        Matplotlib is not installed.
    """
    from modenorm import __version__

    if not (isinstance(top, int) and top >= 1):
        raise ValueError(f"top must be a positive number of categories, got {top!r}")
    if not (isinstance(hist_bins, int) and 2 <= hist_bins <= 2000):
        raise ValueError(f"hist_bins must be an integer in 2..2000, got {hist_bins!r}")
    t = _as_transformer(model, threads, chunk_rows)
    t.progress = progress if progress is not None else Progress(enabled=False)
    start = time.perf_counter()
    summaries = collect_report_data(
        t,
        source,
        hist_bins=hist_bins,
        threads=threads,
        chunk_rows=chunk_rows,
        progress=progress,
    )
    checked = t.verify(source, layout=layout) if verify else None
    rows = summaries[0].rows if summaries else 0
    sections = []
    for i, summary in enumerate(summaries):
        if isinstance(summary, NumericSummary):
            sections.append(_numeric_section(i, summary, checked))
        else:
            sections.append(_categorical_section(i, summary, checked, top))
    what = title or _describe(source)
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>modenorm report: {_e(what)}</title><style>{STYLE}</style></head>"
        "<body><main><h1>modenorm report</h1>"
        f'<p class="sub">{_e(what)} &middot; generated {generated} by modenorm '
        f"{_e(__version__)}</p>"
        + _cards(t.model_, rows, checked)
        + _index_table(summaries, checked)
        + "".join(sections)
        + "</main></body></html>\n"
    )
    summary = {"rows": rows, "columns": len(summaries)}
    if checked is not None:
        summary.update(
            ok=checked.ok,
            mismatches=checked.mismatches,
            exact_rows=checked.exact_rows,
        )
    summary["seconds"] = time.perf_counter() - start
    logger.debug("report of %d columns over %d rows", len(summaries), rows)
    return page, summary


def _describe(source: Any) -> str:
    if isinstance(source, str | os.PathLike):
        return f"data {os.fspath(source)}"
    if isinstance(source, list | tuple):
        return f"data {', '.join(os.fspath(s) for s in source[:3])}" + (
            " ..." if len(source) > 3 else ""
        )
    return f"data: {type(source).__name__}"


def write_report(
    source: Any,
    model: Any,
    output: str | os.PathLike,
    *,
    overwrite: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Write the report page of a fitted model on a table to ``output``.

    Parameters
    ----------
    source : path, glob, DataFrame, LazyFrame, pandas DataFrame or Arrow table
        The data to describe.
    model : Transformer, Model or path
        The fitted model.
    output : path
        The HTML file to write (atomically).
    overwrite : bool, default False
        Replace an existing file.
    **options
        Passed to :func:`render_report`.

    Returns
    -------
    dict
        The summary of :func:`render_report`, with ``output`` added.

    Raises
    ------
    OutputExistsError
        ``output`` exists and ``overwrite`` is False.
    """
    from modenorm.io.sinks import atomic_write_text, check_output
    from modenorm.report.plots import require_matplotlib

    path = Path(output)
    check_output(path, overwrite)
    require_matplotlib()
    page, summary = render_report(source, model, **options)
    atomic_write_text(path, page)
    summary["output"] = str(path)
    summary["bytes"] = len(page.encode("utf-8"))
    return summary
