"""From the fitted domain to the units a reader knows.

A mixture is fitted on ``x - offset`` for integer-like columns (integers,
dates, datetimes, durations) and on ``log1p(x - lower)`` for log columns
(``fitted_domain`` in :mod:`modenorm.fit.scoring`). The report draws and
prints numbers in the column's own units where that map is linear (a shift,
or a change of time unit) and in the fitted domain, labelled as such, for log
columns, where the Gaussians only look Gaussian before ``expm1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from modenorm.model.schema import NumericColumn

__all__ = ["DisplayUnits", "display_units", "domain_text", "format_number"]

_PER_SECOND = {"ns": 1e9, "us": 1e6, "ms": 1e3}
_DAY = 86_400.0


def format_number(value: float, digits: int = 6) -> str:
    """A float with ``digits`` significant digits, integers without a dot."""
    if value is None or not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):d}"
    return f"{value:.{digits}g}"


def _duration_text(seconds: float) -> str:
    for unit, size in (("d", _DAY), ("h", 3600.0), ("min", 60.0)):
        if abs(seconds) >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


@dataclass(frozen=True)
class DisplayUnits:
    """A linear map ``shift + scale * u`` from fitted domain ``u`` to display.

    Attributes
    ----------
    kind : {"linear", "date", "log"}
        ``date``: display values are Matplotlib date numbers (days since
        1970-01-01); ``log``: display values are the fitted domain itself.
    label : str
        Axis label.
    per_second : float
        Fitted units per second for dates, datetimes and durations, else 0.
    """

    shift: float
    scale: float
    kind: str
    label: str
    offset: int = 0
    per_second: float = 0.0
    tz: str | None = None
    date_format: str = "%Y-%m-%d %H:%M"

    def to_display(self, u: np.ndarray | float) -> np.ndarray | float:
        """Map fitted-domain values to display values."""
        return self.shift + self.scale * np.asarray(u, dtype=np.float64)

    def value_text(self, u: float) -> str:
        """A fitted-domain value as the reader would write it."""
        if self.kind == "date":
            seconds = (self.offset + u) / self.per_second
            zone = ZoneInfo(self.tz) if self.tz else UTC
            when = datetime.fromtimestamp(seconds, tz=zone)
            return when.strftime(self.date_format)
        if self.per_second:
            return _duration_text(float(self.to_display(u)))
        return format_number(float(self.to_display(u)))

    def spread_text(self, sd: float) -> str:
        """A fitted-domain deviation in display units."""
        if self.per_second:
            return _duration_text(sd / self.per_second)
        return format_number(sd * self.scale, 4)


def display_units(col: NumericColumn) -> DisplayUnits:
    """Choose how to show the numbers of one fitted numeric column."""
    name = col.dtype["name"]
    if col.log:
        lower = col.offset + col.log_lower
        text = "log1p(x)" if lower == 0 else f"log1p(x - {format_number(lower)})"
        return DisplayUnits(0.0, 1.0, "log", f"{col.name}: {text}", col.offset)
    if name == "Date":
        return DisplayUnits(
            float(col.offset),
            1.0,
            "date",
            col.name,
            col.offset,
            1.0 / _DAY,
            date_format="%Y-%m-%d",
        )
    if name == "Datetime":
        per_second = _PER_SECOND[col.dtype["unit"]]
        per_day = per_second * _DAY
        return DisplayUnits(
            col.offset / per_day,
            1.0 / per_day,
            "date",
            col.name if not col.dtype.get("tz") else f"{col.name} ({col.dtype['tz']})",
            col.offset,
            per_second,
            col.dtype.get("tz"),
        )
    if name == "Duration":
        per_second = _PER_SECOND[col.dtype["unit"]]
        return DisplayUnits(
            col.offset / per_second,
            1.0 / per_second,
            "linear",
            f"{col.name} (seconds)",
            col.offset,
            per_second,
        )
    return DisplayUnits(float(col.offset), 1.0, "linear", col.name, col.offset)


def domain_text(col: NumericColumn, units: DisplayUnits) -> str:
    """How the column's values were turned into the fitted domain, in words."""
    if col.log:
        return units.label.split(": ", 1)[1]
    if units.kind == "date" or units.per_second:
        unit = col.dtype.get("unit", "days")
        if not col.offset:
            return f"x, in {unit}"
        return f"x - {units.value_text(0)}, in {unit}"
    return f"x - {col.offset}" if col.offset else "x"
