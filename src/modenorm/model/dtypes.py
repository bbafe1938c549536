"""Polars data types written to and read from the JSON model.

Numeric columns are handled by the kernels either as float64 ("float" physical
type) or as int64 ("int" physical type, for integers, dates, datetimes and
durations). This module converts both ways without losing a bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from modenorm.errors import ColumnError, ModelFileError

__all__ = [
    "dtype_to_json",
    "dtype_from_json",
    "physical_kind",
    "to_kernel_array",
    "from_kernel_array",
]

_SIMPLE = {
    "Int8": pl.Int8,
    "Int16": pl.Int16,
    "Int32": pl.Int32,
    "Int64": pl.Int64,
    "UInt8": pl.UInt8,
    "UInt16": pl.UInt16,
    "UInt32": pl.UInt32,
    "UInt64": pl.UInt64,
    "Float32": pl.Float32,
    "Float64": pl.Float64,
    "Boolean": pl.Boolean,
    "String": pl.String,
    "Categorical": pl.Categorical,
    "Date": pl.Date,
}
_INTEGERS = {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64"}
_INT_LIKE = _INTEGERS | {"Date", "Datetime", "Duration"}


def _dtype_name(dtype: pl.DataType) -> str:
    return type(dtype).__name__ if not isinstance(dtype, type) else dtype.__name__


def dtype_to_json(dtype: pl.DataType) -> dict[str, Any]:
    """Describe a polars dtype as a small JSON object."""
    name = _dtype_name(dtype)
    if name == "Datetime":
        return {"name": name, "unit": dtype.time_unit, "tz": dtype.time_zone}
    if name == "Duration":
        return {"name": name, "unit": dtype.time_unit}
    if name == "Enum":
        return {"name": "Enum", "categories": dtype.categories.to_list()}
    if name in _SIMPLE:
        return {"name": name}
    raise ColumnError(
        f"data type {dtype} is not supported; cast the column to a number, a "
        "string, a boolean, a date, a datetime or a duration"
    )


def dtype_from_json(spec: dict[str, Any]) -> pl.DataType:
    """Rebuild the polars dtype written by :func:`dtype_to_json`."""
    try:
        name = spec["name"]
        if name == "Datetime":
            return pl.Datetime(spec["unit"], spec.get("tz"))
        if name == "Duration":
            return pl.Duration(spec["unit"])
        if name == "Enum":
            categories = spec["categories"]
            if not all(isinstance(c, str) for c in categories):
                raise TypeError("Enum categories must be strings")
            return pl.Enum(categories)
        return _SIMPLE[name]()
    except (KeyError, TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise ModelFileError(
            f"unknown data type {spec!r} in the model file; the file is damaged "
            "or was written by a newer modenorm"
        ) from exc


def physical_kind(dtype: pl.DataType) -> str | None:
    """Return ``"int"``, ``"float"`` or None (not numeric) for a polars dtype."""
    name = _dtype_name(dtype)
    if name in _INT_LIKE:
        return "int"
    if name in ("Float32", "Float64"):
        return "float"
    return None


def is_integer_name(name: str) -> bool:
    """True for the names of polars integer dtypes."""
    return name in _INTEGERS


def to_kernel_array(series: pl.Series, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(values, is_null)`` as NumPy arrays the kernels accept.

    Float columns give float64 values, every other numeric kind gives int64
    values (the physical representation of dates, datetimes and durations).
    Null slots hold 0.
    """
    is_null = series.is_null().to_numpy()
    kind = physical_kind(series.dtype)
    if kind == "float" and series.dtype == pl.Float32:
        values = _f32_to_f64(series.fill_null(0.0).to_numpy())
    elif kind == "float":
        values = series.cast(pl.Float64).fill_null(0.0).to_numpy()
    elif kind == "int":
        physical = series.to_physical()
        if physical.dtype == pl.UInt64 and physical.max() is not None:
            if physical.max() > np.iinfo(np.int64).max:
                raise ColumnError(
                    f"column {column!r}: value {physical.max()} is above the "
                    "largest int64; modenorm handles integers up to 2**63 - 1; "
                    "declare the column categorical or cast it to Float64"
                )
        values = physical.cast(pl.Int64).fill_null(0).to_numpy()
    else:
        raise ColumnError(f"column {column!r} of type {series.dtype} is not numeric")
    return np.ascontiguousarray(values), is_null


def _f32_to_f64(values: np.ndarray) -> np.ndarray:
    """Widen float32 to float64, keeping NaN payloads (signalling NaNs too).

    A hardware conversion quiets signalling NaNs, which would change their
    bits; NaNs are therefore widened bit by bit.
    """
    with np.errstate(invalid="ignore"):  # signalling NaNs; fixed below
        out = values.astype(np.float64)
    nan = np.isnan(values)
    if nan.any():
        b = values.view(np.uint32)[nan].astype(np.uint64)
        sign = (b & np.uint64(0x80000000)) << np.uint64(32)
        payload = (b & np.uint64(0x7FFFFF)) << np.uint64(29)
        out.view(np.uint64)[nan] = sign | np.uint64(0x7FF << 52) | payload
    return out


def _f64_to_f32(values: np.ndarray) -> np.ndarray:
    """Narrow float64 to float32; the inverse of :func:`_f32_to_f64` for NaNs."""
    with np.errstate(invalid="ignore", over="ignore"):
        out = values.astype(np.float32)
    nan = np.isnan(values)
    if nan.any():
        b = values.view(np.uint64)[nan]
        sign = ((b >> np.uint64(32)) & np.uint64(0x80000000)).astype(np.uint32)
        payload = ((b >> np.uint64(29)) & np.uint64(0x7FFFFF)).astype(np.uint32)
        payload[payload == 0] = 0x400000  # a NaN made in float64: quiet NaN
        out.view(np.uint32)[nan] = sign | np.uint32(0x7F800000) | payload
    return out


def from_kernel_array(
    values: np.ndarray, is_null: np.ndarray, dtype: pl.DataType, name: str
) -> pl.Series:
    """Turn kernel output back into a polars Series of the original dtype."""
    kind = physical_kind(dtype)
    if dtype == pl.Float32:
        values = _f64_to_f32(values)
    base = pl.Series(name, values)
    if is_null.any():
        base = base.scatter(np.flatnonzero(is_null), None)
    if kind == "float":
        return base.cast(dtype)
    dtype_name = _dtype_name(dtype)
    if dtype_name in _INTEGERS:
        return base.cast(dtype)
    physical = {"Date": pl.Int32}.get(dtype_name, pl.Int64)
    return base.cast(physical).cast(dtype)
