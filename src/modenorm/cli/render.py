"""What the command line shows: progress, log lines and the fitted model.

Progress goes to stderr: a bar redrawn in place on a terminal, plain lines
every few seconds otherwise (log files, CI), so stdout stays free for results
and ``--json``. Log records written while a bar is on screen clear it first
and redraw it after, so the two never share a line.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import threading
import time
from typing import Any

from modenorm.engines.progress import StageProgress

__all__ = [
    "TerminalRenderer",
    "ProgressLogHandler",
    "format_model",
    "format_table",
    "progress_interval",
]

INTERVAL_ENV = "MODENORM_PROGRESS_SECONDS"
BAR_WIDTH = 24

_screen_lock = threading.RLock()
_open_bar: TerminalRenderer | None = None


def progress_interval(default: float) -> float:
    """Seconds between progress lines: ``$MODENORM_PROGRESS_SECONDS`` or default.

    Raises
    ------
    ValueError
        The variable is set but is not a non-negative number.
    """
    text = os.environ.get(INTERVAL_ENV)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(
            f"{INTERVAL_ENV} must be a number of seconds >= 0, got {text!r}"
        )
    return value


def _fmt_rate(rate: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if rate >= scale:
            return f"{rate / scale:.1f}{unit}"
    return f"{rate:.0f}" if rate >= 10 else f"{rate:.2g}"


def _fmt_time(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}:{seconds % 60:02d}"


def _fmt_elapsed(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 60 else _fmt_time(seconds)


def _unit(stage: StageProgress) -> str:
    return "columns" if stage.name == "fit mixtures" else "rows"


class TerminalRenderer:
    """Render stage progress to a stream (stderr by default).

    Parameters
    ----------
    stream : file-like, optional
        Where to write (default ``sys.stderr``).
    line_interval : float, optional
        Seconds between plain lines when the stream is not a terminal
        (default 5, or ``$MODENORM_PROGRESS_SECONDS``).
    refresh : float, optional
        Seconds between redraws of the bar on a terminal (default 0.2, or
        ``$MODENORM_PROGRESS_SECONDS``).
    """

    def __init__(
        self,
        stream=None,
        *,
        line_interval: float | None = None,
        refresh: float | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        self.is_tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.line_interval = (
            progress_interval(5.0) if line_interval is None else line_interval
        )
        self.refresh = progress_interval(0.2) if refresh is None else refresh
        self._printed: dict[int, float] = {}
        self._bar_text = ""
        self._current: StageProgress | None = None
        self._ticker: threading.Thread | None = None

    @property
    def interval(self) -> float:
        """How often :class:`Progress` should call the renderer."""
        return min(self.refresh, self.line_interval) if self.is_tty else 0.0

    def line(self, stage: StageProgress) -> str:
        """One status line: stage, rows done, percentage, rate and time left."""
        elapsed = max(stage.elapsed, 1e-9)
        rate = stage.rows / elapsed
        unit = _unit(stage)
        if stage.rows == 0:
            of = f" / {stage.total:,}" if stage.total else ""
            return f"{stage.name}: 0{of} {unit}, starting, {_fmt_time(elapsed)} elapsed"
        if stage.total:
            frac = min(stage.rows / stage.total, 1.0)
            text = (
                f"{stage.name}: {stage.rows:,} / {stage.total:,} {unit} "
                f"({100 * frac:.0f}%), {_fmt_rate(rate)} {unit}/s"
            )
            if frac < 1:
                left = (stage.total - stage.rows) / rate if rate > 0 else math.inf
                text += f", {_fmt_time(left) if math.isfinite(left) else '?'} left"
        else:
            text = f"{stage.name}: {stage.rows:,} {unit}, {_fmt_rate(rate)} {unit}/s"
        return text + f", {_fmt_time(elapsed)} elapsed"

    def done_line(self, stage: StageProgress) -> str:
        """The line written when a stage ends."""
        elapsed = stage.elapsed
        unit = _unit(stage)
        rate = stage.rows / elapsed if elapsed > 0 else math.inf
        rate_text = _fmt_rate(rate) if math.isfinite(rate) else "-"
        return (
            f"{stage.name}: done, {stage.rows:,} {unit} in {_fmt_elapsed(elapsed)} "
            f"({rate_text} {unit}/s)"
        )

    def bar(self, stage: StageProgress) -> str:
        """A text bar for terminals."""
        if stage.total:
            filled = int(BAR_WIDTH * min(stage.rows / stage.total, 1.0))
            cells = "#" * filled + "." * (BAR_WIDTH - filled)
            return f"[{cells}] " + self.line(stage)
        return self.line(stage)

    def clear(self) -> None:
        """Take the bar off the screen (before a log line)."""
        if self._bar_text:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def redraw(self) -> None:
        """Put the bar back after a log line."""
        if self._bar_text:
            self.stream.write(self._bar_text)
            self.stream.flush()

    def __call__(self, stage: StageProgress, done: bool) -> None:
        with _screen_lock:
            self._current = None if done else stage
            self._draw(stage, done)
            if not done and (self._ticker is None or not self._ticker.is_alive()):
                self._ticker = threading.Thread(
                    target=self._tick, name="modenorm-progress", daemon=True
                )
                self._ticker.start()

    def _tick(self) -> None:
        """Keep the clock moving while a stage runs between updates."""
        pause = max(0.1, self.refresh if self.is_tty else self.line_interval / 5)
        while True:
            time.sleep(pause)
            with _screen_lock:
                stage = self._current
                if stage is None:
                    return
                self._draw(stage, False)

    def _draw(self, stage: StageProgress, done: bool) -> None:
        global _open_bar
        if self.is_tty:
            if done:
                self.stream.write("\r\033[K" + self.done_line(stage) + "\n")
                self._bar_text = ""
                _open_bar = None
            else:
                self._bar_text = self.bar(stage)
                self.stream.write("\r\033[K" + self._bar_text)
                _open_bar = self
            self.stream.flush()
            return
        key = id(stage)
        if done:
            self._printed.pop(key, None)
            self.stream.write(self.done_line(stage) + "\n")
        elif stage.elapsed - self._printed.get(key, 0.0) >= self.line_interval:
            self._printed[key] = stage.elapsed
            self.stream.write(self.line(stage) + "\n")
        else:
            return
        self.stream.flush()


class ProgressLogHandler(logging.StreamHandler):
    """A stream handler that lifts the progress bar off the line it writes."""

    def emit(self, record: logging.LogRecord) -> None:
        with _screen_lock:
            bar = _open_bar
            if bar is not None and bar.stream is self.stream:
                bar.clear()
            super().emit(record)
            if bar is not None and bar.stream is self.stream:
                bar.redraw()


# ----------------------------------------------------------------- the model
def format_table(headers: list[str], rows: list[list[Any]], indent: int = 0) -> str:
    """Align rows under headers; text columns left, numbers right."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [
        all(_looks_numeric(r[i]) for r in cells if r[i]) and any(r[i] for r in cells)
        for i in range(len(headers))
    ]

    def fmt(row):
        parts = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(row, widths, numeric, strict=True)
        ]
        return " " * indent + "  ".join(parts).rstrip()

    return "\n".join([fmt(headers)] + [fmt(r) for r in cells])


_NUMBER = re.compile(r"^[-+]?[\d,]*\.?\d+(e[-+]?\d+)?%?$")


def _looks_numeric(text: str) -> bool:
    return bool(_NUMBER.match(text))


def _convergence(mix: dict) -> str:
    state = "converged" if mix["converged"] else "not converged"
    return f"{state} in {mix['n_iter']} iterations"


def _numeric_summary(col) -> list[Any]:
    stats = col.stats
    gauss = len(col.gaussian_modes)
    if col.mixture is not None:
        mix = col.mixture
        fit = (
            f"{mix['method']}: {gauss} of {len(mix['weights'])} components "
            f"kept, {_convergence(mix)}"
        )
    else:
        fit = "min-max scaling, no mixture" if col.kind == "minmax" else "-"
    return [
        col.name,
        col.kind,
        col.dtype["name"],
        f"{stats.get('rows', 0):,}",
        f"{stats.get('nulls', 0):,}",
        len(col.modes),
        fit,
    ]


def _categorical_summary(col) -> list[Any]:
    rows = sum(col.counts)
    nulls = sum(n for c, n in zip(col.categories, col.counts, strict=True) if c is None)
    return [
        col.name,
        col.kind,
        col.dtype["name"],
        f"{rows:,}",
        f"{nulls:,}",
        len(col.categories),
        "categories ranked by frequency",
    ]


def _numeric_detail(col) -> str:
    from modenorm.report.units import display_units, domain_text, format_number

    units = display_units(col)
    stats = col.stats
    exact = "int64" if col.physical == "int" else "float64"
    fit = [f"fitted on {domain_text(col, units)}"]
    if "summary" in stats:
        atoms = stats.get("atoms", 0)
        fit.append(f"{stats['summary']} summary of {atoms:,} atom{'s' * (atoms != 1)}")
    if col.mixture is not None:
        fit.append(f"{col.mixture['method']} mixture {_convergence(col.mixture)}")
    if col.decimals >= 0:
        fit.append(f"{col.decimals} decimals")
    head = [
        f"{col.name}: {col.kind} {col.dtype['name']}, {stats.get('rows', 0):,} rows, "
        f"{stats.get('nulls', 0):,} nulls",
        "  " + "; ".join(fit),
        f"  encoded as {col.name}.alpha ({col.alpha_dtype}) and {col.name}.mode; "
        f"rows no mode holds exactly go to the side channel {col.name}.exact "
        f"({exact})",
    ]
    total = sum(m.count for m in col.modes) or 1.0
    log = col.log
    rows = []
    for rank, mode in enumerate(col.modes):
        if mode.kind == "gaussian":
            weight = (
                f"{col.mixture['weights'][mode.component]:.4f}" if col.mixture else ""
            )
            row = [rank, "gaussian", weight, units.value_text(mode.mean)]
            row.append(units.spread_text(mode.std))
            if log:
                lower = col.offset + col.log_lower
                row.append(format_number(math.expm1(mode.mean) + lower))
        else:
            what = "null" if mode.kind == "null" else f"special {mode.value!r}"
            row = [rank, what, "", "", ""] + ([""] if log else [])
        row += [f"{mode.count:,.0f}", f"{100 * mode.count / total:.2f}%"]
        rows.append(row)
    headers = ["rank", "mode", "weight", "mean", "std"]
    if log:
        headers.append("mean in data units")
    headers += ["rows at fit", "share"]
    return "\n".join(head) + "\n" + format_table(headers, rows, indent=2)


def _categorical_detail(col, top: int) -> str:
    total = sum(col.counts) or 1
    rows = [
        [
            rank,
            "null" if cat is None else repr(cat),
            f"{n:,}",
            f"{100 * n / total:.2f}%",
        ]
        for rank, (cat, n) in enumerate(
            zip(col.categories[:top], col.counts[:top], strict=True)
        )
    ]
    text = (
        f"{col.name}: categorical {col.dtype['name']}, {total:,} rows, "
        f"{len(col.categories):,} categories ranked by rows at fit time\n"
        f"  encoded as {col.name}.category (the rank)\n"
    )
    text += format_table(["rank", "category", "rows at fit", "share"], rows, indent=2)
    if len(col.categories) > top:
        rest = len(col.categories) - top
        rest_rows = sum(col.counts[top:])
        text += f"\n  ... {rest:,} more categories with {rest_rows:,} rows"
    return text


def format_model(model, *, top: int = 10) -> str:
    """The fitted model as readable tables: one line per column, then its modes.

    Parameters
    ----------
    model : Model
        A fitted model.
    top : int, default 10
        Categories listed per categorical column.

    Returns
    -------
    str
        An overview table of every column (kind, dtype, rows, nulls, modes or
        categories, mixture and convergence), then per numeric column its
        modes in rank order (weight, mean and standard deviation in the
        column's units, rows at fit time) and the side channel, and per
        categorical column its most frequent categories.
    """
    n_cat = sum(c.kind == "categorical" for c in model.columns)
    opts = model.options
    head = (
        f"{len(model.columns)} columns ({len(model.columns) - n_cat} numeric, "
        f"{n_cat} categorical); seed {model.seed}, mode choice {model.mode_choice}, "
        f"mixture {opts.get('mixture', 'bayesian')}, layout "
        f"{opts.get('layout', 'compact')}"
    )
    head += (
        "\nmeans and stds are in each column's own units (log columns: in the "
        "fitted log1p domain)"
    )
    rows = [
        _categorical_summary(c) if c.kind == "categorical" else _numeric_summary(c)
        for c in model.columns
    ]
    overview = format_table(
        ["column", "kind", "dtype", "rows", "nulls", "modes/cats", "fit"], rows
    )
    details = [
        _categorical_detail(c, top) if c.kind == "categorical" else _numeric_detail(c)
        for c in model.columns
    ]
    return "\n\n".join([head, overview, *details])
