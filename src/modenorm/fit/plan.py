"""Which kind each column gets: the user's choices, then inference."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import polars as pl

from modenorm.errors import ColumnError
from modenorm.model.dtypes import is_integer_name, physical_kind
from modenorm.summarize.numeric import ColumnSpec

__all__ = ["plan_columns", "KINDS"]

KINDS = ("continuous", "categorical", "mixed", "minmax")
_CATEGORICAL_DTYPES = ("String", "Categorical", "Enum", "Boolean")


def _dtype_name(dtype: pl.DataType) -> str:
    return type(dtype).__name__ if not isinstance(dtype, type) else dtype.__name__


def infer_kind(name: str, dtype: pl.DataType) -> str:
    """Numbers, dates and times are continuous; strings and booleans categorical."""
    if physical_kind(dtype) is not None:
        return "continuous"
    if _dtype_name(dtype) in _CATEGORICAL_DTYPES:
        return "categorical"
    raise ColumnError(
        f"column {name!r} has type {dtype}, which modenorm cannot encode; cast it "
        "to Float64, an integer, String, Boolean, Date or Datetime (a Decimal "
        "column to Float64, or to String to keep it as categories), or leave it "
        "out with columns=[...] (--columns)"
    )


def _check_categorical(name: str, dtype: pl.DataType) -> None:
    dname = _dtype_name(dtype)
    if dname in _CATEGORICAL_DTYPES or is_integer_name(dname):
        return
    raise ColumnError(
        f"column {name!r} of type {dtype} cannot be categorical; categorical "
        "columns hold strings, booleans or integers; cast it to String first or "
        "declare it continuous"
    )


def _check_numeric(name: str, dtype: pl.DataType, kind: str) -> None:
    if physical_kind(dtype) is None:
        raise ColumnError(
            f"column {name!r} holds {dtype} values but was declared {kind}; "
            f"{kind} columns hold numbers, dates, datetimes or durations; declare "
            "it categorical instead"
        )


def _special_values(name: str, dtype: pl.DataType, values: Iterable) -> list:
    out = []
    for value in values:
        if value is None:
            continue
        if physical_kind(dtype) == "int":
            if not float(value).is_integer():
                raise ColumnError(
                    f"column {name!r}: special value {value!r} is not an integer, "
                    f"but the column holds {dtype} values"
                )
            out.append(int(value))
        else:
            out.append(float(value))
    keys = [v if isinstance(v, int) or not math.isnan(v) else "nan" for v in out]
    if len(set(map(repr, keys))) != len(keys):
        raise ColumnError(f"column {name!r}: special values {values!r} repeat")
    return out


def plan_columns(
    schema: pl.Schema,
    *,
    columns: list[str] | None = None,
    continuous: Iterable[str] = (),
    categorical: Iterable[str] = (),
    mixed: Mapping[str, Iterable] | None = None,
    minmax: Iterable[str] = (),
    log: Iterable[str] = (),
) -> list[ColumnSpec]:
    """Resolve every column's kind, in the source's column order."""
    mixed = dict(mixed or {})
    chosen: dict[str, str] = {}
    for kind, names in (
        ("continuous", continuous),
        ("categorical", categorical),
        ("mixed", mixed.keys()),
        ("minmax", minmax),
    ):
        for name in names:
            if name in chosen and chosen[name] != kind:
                raise ColumnError(
                    f"column {name!r} was declared both {chosen[name]} and {kind}; "
                    "give each column one kind"
                )
            chosen[name] = kind
    wanted = list(columns) if columns is not None else list(schema.names())
    named = list(chosen) + list(log) + wanted
    missing = sorted({n for n in named if n not in schema})
    if missing:
        raise ColumnError(
            f"column(s) {missing} not found; the source has {list(schema.names())}"
        )
    log = set(log)
    specs = []
    for name in schema.names():
        if name not in wanted and name not in chosen:
            continue
        dtype = schema[name]
        kind = chosen.get(name) or infer_kind(name, dtype)
        if kind == "categorical":
            _check_categorical(name, dtype)
            if name in log:
                raise ColumnError(f"column {name!r}: the log option needs a number")
            specs.append(ColumnSpec(name, kind, dtype))
            continue
        _check_numeric(name, dtype, kind)
        specials = _special_values(name, dtype, mixed.get(name, ()))
        specs.append(ColumnSpec(name, kind, dtype, specials, log=name in log))
    return specs
