"""Progress of long stages: rows done, rows per second and time left.

The library only measures; what is shown is decided by the ``render``
callback the command line installs (a bar on a terminal, periodic lines
otherwise). Without one, stages are logged at DEBUG level when they end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Progress", "StageProgress", "StageRecord"]

logger = logging.getLogger(__name__)


@dataclass
class StageRecord:
    """What one finished stage did."""

    name: str
    rows: int
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        """Throughput of the stage."""
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


class StageProgress:
    """Progress of one stage; call :meth:`advance` as rows finish."""

    def __init__(self, owner: Progress, name: str, total: int | None) -> None:
        self.owner = owner
        self.name = name
        self.total = total
        self.rows = 0
        self.start = time.perf_counter()
        self._last = 0.0
        self._lock = threading.Lock()

    @property
    def elapsed(self) -> float:
        """Seconds since the stage started."""
        return time.perf_counter() - self.start

    def advance(self, rows: int) -> None:
        """Record ``rows`` more rows done."""
        with self._lock:
            self.rows += rows
            now = time.perf_counter()
            if self.owner.render and now - self._last >= self.owner.interval:
                self._last = now
                self.owner.render(self, False)

    def close(self, **extra) -> StageRecord:
        """Finish the stage and return its record."""
        record = StageRecord(self.name, self.rows, self.elapsed, extra)
        self.owner.records.append(record)
        if self.owner.render:
            self.owner.render(self, True)
        logger.debug("%s: %d rows in %.2f s", self.name, self.rows, record.seconds)
        return record


class Progress:
    """Collects stage records and forwards updates to a renderer."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        render: Callable[[StageProgress, bool], None] | None = None,
        interval: float = 0.5,
    ) -> None:
        self.render = render if enabled else None
        self.interval = interval
        self.records: list[StageRecord] = []

    def stage(self, name: str, total: int | None = None) -> StageProgress:
        """Start a stage of ``total`` rows (None when unknown)."""
        task = StageProgress(self, name, total)
        if self.render:
            self.render(task, False)
        return task
