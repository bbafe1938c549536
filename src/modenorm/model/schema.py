"""The fitted model: plain data, written as a versioned JSON document.

A model never holds code: loading one parses JSON and checks every field, so
a file from a stranger is safe to load, and a damaged one fails with a clear
:class:`~modenorm.errors.ModelFileError` instead of a crash inside a kernel.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modenorm.errors import ModelFileError
from modenorm.model.dtypes import dtype_from_json, physical_kind

__all__ = [
    "FORMAT",
    "VERSION",
    "Mode",
    "NumericColumn",
    "CategoricalColumn",
    "Model",
    "encode_number",
    "decode_number",
]

FORMAT = "modenorm-model"
VERSION = 1
NUMERIC_KINDS = ("continuous", "mixed", "minmax")


def encode_number(value: float | int | None) -> float | int | str | None:
    """Write a number so that JSON keeps it exactly (non-finite floats as text)."""
    if value is None or isinstance(value, int | np.integer):
        return None if value is None else int(value)
    value = float(value)
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def decode_number(value: Any, where: str) -> float | int:
    """Read a number written by :func:`encode_number`."""
    if isinstance(value, bool):
        raise ModelFileError(f"{where}: expected a number, found {value!r}")
    if isinstance(value, int | float):
        return value
    if value in ("nan", "inf", "-inf"):
        return float(value)
    raise ModelFileError(f"{where}: expected a number, found {value!r}")


@dataclass
class Mode:
    """One mode of a numeric column, in rank order.

    ``kind`` is ``"gaussian"`` (a valid mixture component), ``"special"`` (one
    exact value, such as 0) or ``"null"``. ``count`` is the number of training
    rows that chose it (expected count for sampled Gaussian modes).
    """

    kind: str
    count: float
    component: int = -1
    mean: float = 0.0
    std: float = 0.0
    value: float | int | None = None


@dataclass
class NumericColumn:
    """Fitted encoding of one continuous, mixed or min-max column."""

    name: str
    kind: str
    dtype: dict[str, Any]
    modes: list[Mode]
    mixture: dict[str, Any] | None = None
    log: bool = False
    log_lower: float = 0.0
    offset: int = 0
    decimals: int = -1
    round_f32: bool = False
    alpha_dtype: str = "float64"
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def physical(self) -> str:
        """``"int"`` or ``"float"``: how the kernels see the column."""
        return physical_kind(dtype_from_json(self.dtype))

    @property
    def gaussian_modes(self) -> list[tuple[int, Mode]]:
        """``(rank, mode)`` for each Gaussian mode."""
        return [(r, m) for r, m in enumerate(self.modes) if m.kind == "gaussian"]

    @property
    def onehot_width(self) -> int:
        """Width of the mode block in the onehot layout (0 when it is omitted)."""
        if self.kind == "minmax" and len(self.modes) == 1:
            return 0
        return len(self.modes)


@dataclass
class CategoricalColumn:
    """Fitted encoding of one categorical column: categories by frequency."""

    name: str
    dtype: dict[str, Any]
    categories: list[Any]
    counts: list[int]
    kind: str = "categorical"

    @property
    def onehot_width(self) -> int:
        """Number of one-hot columns."""
        return len(self.categories)


@dataclass
class Model:
    """A fitted modenorm model: options and one entry per column."""

    columns: list[NumericColumn | CategoricalColumn]
    seed: int = 0
    mode_choice: str = "sample"
    options: dict[str, Any] = field(default_factory=dict)

    def column(self, name: str) -> NumericColumn | CategoricalColumn:
        """Return the fitted column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready document."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "seed": self.seed,
            "mode_choice": self.mode_choice,
            "options": self.options,
            "columns": [_column_to_dict(c) for c in self.columns],
        }

    def fingerprint(self) -> str:
        """A short hash of the model document, written into encoded Parquet."""
        import hashlib

        text = json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def save(self, path: str | Path) -> None:
        """Write the model as JSON (atomically)."""
        from modenorm.io.sinks import atomic_write_text

        text = json.dumps(self.to_dict(), indent=1, allow_nan=False)
        atomic_write_text(Path(path), text + "\n")

    @classmethod
    def from_dict(cls, doc: Any) -> Model:
        """Build a model from a parsed JSON document, checking every field."""
        return _model_from_dict(doc)

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read and check a model file written by :meth:`save`."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ModelFileError(f"model file {str(path)!r} does not exist") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelFileError(
                f"cannot read model file {str(path)!r}: {exc}"
            ) from exc
        try:
            doc = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ModelFileError(
                f"model file {str(path)!r} is not valid JSON ({exc}); it is damaged "
                "or not a modenorm model; fit the model again"
            ) from exc
        return _model_from_dict(doc, source=str(path))


def _column_to_dict(col: NumericColumn | CategoricalColumn) -> dict[str, Any]:
    doc = asdict(col)
    if isinstance(col, NumericColumn):
        for mode in doc["modes"]:
            mode["value"] = encode_number(mode["value"])
        doc["stats"] = {
            k: encode_number(v) if isinstance(v, float) else v
            for k, v in col.stats.items()
        }
    return doc


def _require(doc: Any, key: str, kinds: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(doc, dict) or key not in doc:
        raise ModelFileError(f"{where}: field {key!r} is missing")
    value = doc[key]
    if not isinstance(value, kinds) or (
        isinstance(value, bool) and bool not in np.atleast_1d(kinds)
    ):
        raise ModelFileError(f"{where}: field {key!r} has a wrong type: {value!r}")
    return value


INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
MIXTURE_ARRAYS = (
    "weights",
    "means",
    "variances",
    "resp_const",
    "resp_mean",
    "resp_prec",
)
CATEGORY_TYPES = {
    "String": str,
    "Categorical": str,
    "Enum": str,
    "Boolean": bool,
}
_INTEGER_RANGES = {
    f"{prefix}Int{bits}": (
        (0, (1 << bits) - 1) if prefix else (-(1 << bits - 1), (1 << bits - 1) - 1)
    )
    for prefix in ("", "U")
    for bits in (8, 16, 32, 64)
}


def _finite(value: Any, where: str) -> float:
    number = decode_number(value, where)
    try:
        number = float(number)
    except OverflowError:
        raise ModelFileError(
            f"{where}: expected a finite number, found {value!r}"
        ) from None
    if not math.isfinite(number):
        raise ModelFileError(f"{where}: expected a finite number, found {value!r}")
    return number


def _int64(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ModelFileError(f"{where}: expected an integer, found {value!r}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise ModelFileError(
            f"{where}: {value} is outside the int64 range; the file is damaged"
        )
    return value


def _number_list(doc: dict, key: str, where: str, size: int | None) -> list[float]:
    values = _require(doc, key, list, where)
    if size is not None and len(values) != size:
        raise ModelFileError(
            f"{where}: field {key!r} has {len(values)} entries, expected {size}"
        )
    return [_finite(v, f"{where} {key}[{i}]") for i, v in enumerate(values)]


def _mixture_from_dict(doc: Any, where: str) -> dict[str, Any] | None:
    """Check the mixture of a numeric column: equal-length finite arrays."""
    if doc is None:
        return None
    where = f"{where} mixture"
    if not isinstance(doc, dict):
        raise ModelFileError(f"{where}: expected an object, found {doc!r}")
    out = dict(doc)
    size = len(_require(doc, "weights", list, where))
    if size == 0:
        raise ModelFileError(f"{where}: the mixture has no components")
    for key in MIXTURE_ARRAYS:
        out[key] = _number_list(doc, key, where, size)
    if any(v < 0 for v in out["variances"] + out["resp_prec"] + out["weights"]):
        raise ModelFileError(
            f"{where}: weights, variances and resp_prec must not be negative"
        )
    valid = _require(doc, "valid", list, where)
    if len(valid) != size or not all(isinstance(v, bool) for v in valid):
        raise ModelFileError(f"{where}: field 'valid' must hold {size} booleans")
    _require(doc, "method", str, where)
    _require(doc, "converged", bool, where)
    _require(doc, "n_iter", int, where)
    return out


def _mode_from_dict(doc: Any, where: str, physical: str) -> Mode:
    kind = _require(doc, "kind", str, where)
    if kind not in ("gaussian", "special", "null"):
        raise ModelFileError(f"{where}: unknown mode kind {kind!r}")
    count = _finite(_require(doc, "count", (int, float), where), where)
    if count < 0:
        raise ModelFileError(f"{where}: count must not be negative, found {count}")
    mode = Mode(kind=kind, count=count)
    if kind == "gaussian":
        mode.component = _require(doc, "component", int, where)
        mode.mean = _finite(doc.get("mean"), f"{where} mean")
        mode.std = _finite(doc.get("std"), f"{where} std")
        if not mode.std > 0:
            raise ModelFileError(f"{where}: std must be positive, found {mode.std}")
    elif kind == "special":
        value = decode_number(doc.get("value"), f"{where} value")
        if physical == "int":
            if not isinstance(value, int):
                raise ModelFileError(
                    f"{where}: special value of an integer column "
                    f"must be an integer, found {value!r}"
                )
            value = _int64(value, f"{where} value")
        else:
            try:
                value = float(value)
            except OverflowError:
                raise ModelFileError(
                    f"{where}: special value {value!r} is too large for float64"
                ) from None
        mode.value = value
    return mode


def _check_modes(modes: list[Mode], mixture: dict | None, where: str) -> None:
    if not modes:
        raise ModelFileError(f"{where}: a numeric column needs at least one mode")
    if sum(m.kind == "null" for m in modes) > 1:
        raise ModelFileError(f"{where}: more than one null mode")
    keys = [repr(m.value) for m in modes if m.kind == "special"]
    if len(set(keys)) != len(keys):
        raise ModelFileError(f"{where}: a special value appears twice")
    size = len(mixture["weights"]) if mixture is not None else None
    for rank, mode in enumerate(modes):
        if mode.kind != "gaussian":
            continue
        bad = mode.component < 0 if size is None else not 0 <= mode.component < size
        if bad:
            raise ModelFileError(
                f"{where} mode {rank}: component {mode.component} is not one of "
                f"the mixture's {size or 0} components"
            )


def _stats_from_dict(doc: Any, where: str) -> dict[str, Any]:
    stats = doc.get("stats") or {}
    if not isinstance(stats, dict):
        raise ModelFileError(f"{where}: stats must be an object, found {stats!r}")
    for key in ("min", "max"):
        value = stats.get(key)
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            _int64(value, f"{where} stats {key}")
        else:
            _finite(value, f"{where} stats {key}")
    return stats


def _numeric_from_dict(doc: dict[str, Any], where: str) -> NumericColumn:
    dtype = _require(doc, "dtype", dict, where)
    physical = physical_kind(dtype_from_json(dtype))
    if physical is None:
        raise ModelFileError(f"{where}: dtype {dtype!r} is not numeric")
    modes_doc = _require(doc, "modes", list, where)
    modes = [
        _mode_from_dict(m, f"{where} mode {i}", physical)
        for i, m in enumerate(modes_doc)
    ]
    mixture = _mixture_from_dict(doc.get("mixture"), where)
    _check_modes(modes, mixture, where)
    col = NumericColumn(
        name=doc["name"],
        kind=doc["kind"],
        dtype=dtype,
        modes=modes,
        mixture=mixture,
        log=bool(_require(doc, "log", bool, where)),
        log_lower=_finite(doc.get("log_lower", 0.0), f"{where} log_lower"),
        offset=_int64(_require(doc, "offset", int, where), f"{where} offset"),
        decimals=_require(doc, "decimals", int, where),
        round_f32=bool(_require(doc, "round_f32", bool, where)),
        alpha_dtype=_require(doc, "alpha_dtype", str, where),
        stats=_stats_from_dict(doc, where),
    )
    if col.alpha_dtype not in ("float32", "float64"):
        raise ModelFileError(f"{where}: alpha_dtype must be float32 or float64")
    if not -1 <= col.decimals <= 15:
        raise ModelFileError(
            f"{where}: decimals must be in -1..15, found {col.decimals}"
        )
    return col


def _check_category(value: Any, dtype: dict[str, Any], where: str) -> None:
    name = dtype["name"]
    if value is None:
        return
    if name in _INTEGER_RANGES:
        lo, hi = _INTEGER_RANGES[name]
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok and lo <= value <= hi
    else:
        ok = type(value) is CATEGORY_TYPES[name]
        if ok and name == "Enum":
            ok = value in dtype["categories"]
    if not ok:
        raise ModelFileError(
            f"{where}: category {value!r} does not fit the column's type {name}"
        )


def _categorical_from_dict(doc: dict[str, Any], where: str) -> CategoricalColumn:
    dtype = _require(doc, "dtype", dict, where)
    dtype_from_json(dtype)
    if dtype["name"] not in CATEGORY_TYPES and dtype["name"] not in _INTEGER_RANGES:
        raise ModelFileError(
            f"{where}: a categorical column cannot have type {dtype['name']!r}"
        )
    categories = _require(doc, "categories", list, where)
    counts = _require(doc, "counts", list, where)
    if len(categories) != len(counts) or not categories:
        raise ModelFileError(
            f"{where}: {len(categories)} categories but {len(counts)} counts; the "
            "lists must be non-empty and of equal length"
        )
    for value in categories:
        _check_category(value, dtype, where)
    if len({(type(v), v) for v in categories}) != len(categories):
        raise ModelFileError(f"{where}: a category appears twice")
    for count in counts:
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ModelFileError(
                f"{where}: category counts must be non-negative integers, found "
                f"{count!r}"
            )
    return CategoricalColumn(
        name=doc["name"],
        dtype=dtype,
        categories=categories,
        counts=[int(c) for c in counts],
    )


def _check_options(options: Any, where: str) -> dict[str, Any]:
    """Check the saved options that :meth:`Transformer.from_model` reads back."""
    if not isinstance(options, dict):
        raise ModelFileError(f"{where}: options must be an object")
    allowed = {
        "layout": ("compact", "onehot"),
        "unseen": ("error", "most_frequent"),
        "mixture": ("bayesian", "em", "spark-ml"),
    }
    for key, values in allowed.items():
        if key in options and options[key] not in values:
            raise ModelFileError(
                f"{where}: option {key!r} must be one of {values}, found "
                f"{options[key]!r}"
            )
    for key in ("max_modes", "bins", "max_onehot_categories"):
        value = options.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelFileError(
                f"{where}: option {key!r} must be a positive integer, found {value!r}"
            )
    threshold = options.get("weight_threshold", 0.0)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ModelFileError(
            f"{where}: option 'weight_threshold' must be a number, found {threshold!r}"
        )
    return options


def _model_from_dict(doc: Any, source: str | None = None) -> Model:
    where = "model" if source is None else f"model {source}"
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(
            f'{where} is not a modenorm model (no "format": "{FORMAT}" field)'
        )
    version = doc.get("version")
    if version != VERSION:
        raise ModelFileError(
            f"{where} has version {version!r}; this modenorm reads version "
            f"{VERSION}; fit the model again with this version"
        )
    columns = []
    seen = set()
    for i, cdoc in enumerate(_require(doc, "columns", list, where)):
        cwhere = f"{where}, column {i}"
        name = _require(cdoc, "name", str, cwhere)
        kind = _require(cdoc, "kind", str, cwhere)
        cwhere = f"{where}, column {name!r}"
        if name in seen:
            raise ModelFileError(f"{cwhere}: the column appears twice")
        seen.add(name)
        if kind == "categorical":
            columns.append(_categorical_from_dict(cdoc, cwhere))
        elif kind in NUMERIC_KINDS:
            columns.append(_numeric_from_dict(cdoc, cwhere))
        else:
            raise ModelFileError(f"{cwhere}: unknown column kind {kind!r}")
    if not columns:
        raise ModelFileError(f"{where} has no columns; fit the model again")
    seed = _require(doc, "seed", int, where)
    mode_choice = _require(doc, "mode_choice", str, where)
    if mode_choice not in ("sample", "argmax"):
        raise ModelFileError(f"{where}: mode_choice must be sample or argmax")
    options = _check_options(doc.get("options") or {}, where)
    return Model(columns=columns, seed=seed, mode_choice=mode_choice, options=options)
