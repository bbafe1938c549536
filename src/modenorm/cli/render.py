"""How progress looks: a bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time

from modenorm.engines.progress import StageProgress

__all__ = ["TerminalRenderer"]


def _fmt_rate(rate: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if rate >= scale:
            return f"{rate / scale:.1f}{unit}"
    return f"{rate:.0f}"


def _fmt_time(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}:{seconds % 60:02d}"


class TerminalRenderer:
    """Render stage progress to a stream (stderr by default)."""

    def __init__(self, stream=None, *, line_interval: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.is_tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.line_interval = line_interval
        self._last_line = 0.0

    def line(self, stage: StageProgress) -> str:
        """One status line: stage, rows done, rate and time left."""
        elapsed = max(stage.elapsed, 1e-9)
        rate = stage.rows / elapsed
        unit = "columns" if stage.name == "fit mixtures" else "rows"
        text = f"{stage.name}: {stage.rows:,} {unit}"
        if stage.total:
            frac = min(stage.rows / stage.total, 1.0)
            text += f" / {stage.total:,} ({100 * frac:.0f}%)"
            if 0 < frac < 1 and rate > 0:
                text += f", {_fmt_time((stage.total - stage.rows) / rate)} left"
        text += f", {_fmt_rate(rate)} {unit}/s, {_fmt_time(elapsed)}"
        return text

    def bar(self, stage: StageProgress) -> str:
        """A text bar for terminals."""
        width = 24
        if stage.total:
            filled = int(width * min(stage.rows / stage.total, 1.0))
            return "[" + "#" * filled + "." * (width - filled) + "] " + self.line(stage)
        return self.line(stage)

    def __call__(self, stage: StageProgress, done: bool) -> None:
        if self.is_tty:
            end = "\n" if done else ""
            self.stream.write("\r\033[K" + self.bar(stage) + end)
            self.stream.flush()
            return
        now = time.monotonic()
        if done or now - self._last_line >= self.line_interval:
            self._last_line = now
            self.stream.write(self.line(stage) + ("" if not done else " done") + "\n")
            self.stream.flush()
