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


def _finite(value: Any, where: str) -> float:
    number = decode_number(value, where)
    if not math.isfinite(number):
        raise ModelFileError(f"{where}: expected a finite number, found {value!r}")
    return float(number)


def _mode_from_dict(doc: Any, where: str, physical: str) -> Mode:
    kind = _require(doc, "kind", str, where)
    if kind not in ("gaussian", "special", "null"):
        raise ModelFileError(f"{where}: unknown mode kind {kind!r}")
    count = _finite(_require(doc, "count", (int, float), where), where)
    mode = Mode(kind=kind, count=count)
    if kind == "gaussian":
        mode.component = _require(doc, "component", int, where)
        mode.mean = _finite(doc.get("mean"), f"{where} mean")
        mode.std = _finite(doc.get("std"), f"{where} std")
        if not mode.std > 0:
            raise ModelFileError(f"{where}: std must be positive, found {mode.std}")
    elif kind == "special":
        value = decode_number(doc.get("value"), f"{where} value")
        if physical == "int" and not isinstance(value, int):
            raise ModelFileError(
                f"{where}: special value of an integer column "
                f"must be an integer, found {value!r}"
            )
        mode.value = value
    return mode


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
    if not modes:
        raise ModelFileError(f"{where}: a numeric column needs at least one mode")
    col = NumericColumn(
        name=doc["name"],
        kind=doc["kind"],
        dtype=dtype,
        modes=modes,
        mixture=doc.get("mixture"),
        log=bool(_require(doc, "log", bool, where)),
        log_lower=_finite(doc.get("log_lower", 0.0), f"{where} log_lower"),
        offset=_require(doc, "offset", int, where),
        decimals=_require(doc, "decimals", int, where),
        round_f32=bool(_require(doc, "round_f32", bool, where)),
        alpha_dtype=_require(doc, "alpha_dtype", str, where),
        stats=doc.get("stats") or {},
    )
    if col.alpha_dtype not in ("float32", "float64"):
        raise ModelFileError(f"{where}: alpha_dtype must be float32 or float64")
    if not -1 <= col.decimals <= 15:
        raise ModelFileError(
            f"{where}: decimals must be in -1..15, found {col.decimals}"
        )
    return col


def _categorical_from_dict(doc: dict[str, Any], where: str) -> CategoricalColumn:
    dtype = _require(doc, "dtype", dict, where)
    dtype_from_json(dtype)
    categories = _require(doc, "categories", list, where)
    counts = _require(doc, "counts", list, where)
    if len(categories) != len(counts) or not categories:
        raise ModelFileError(
            f"{where}: {len(categories)} categories but {len(counts)} counts; the "
            "lists must be non-empty and of equal length"
        )
    for value in categories:
        if not (value is None or isinstance(value, str | int | float | bool)):
            raise ModelFileError(f"{where}: category {value!r} is not a plain value")
    return CategoricalColumn(
        name=doc["name"],
        dtype=dtype,
        categories=categories,
        counts=[int(c) for c in counts],
    )


def _model_from_dict(doc: Any, source: str = "model") -> Model:
    where = f"model {source}"
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
    seed = _require(doc, "seed", int, where)
    mode_choice = _require(doc, "mode_choice", str, where)
    if mode_choice not in ("sample", "argmax"):
        raise ModelFileError(f"{where}: mode_choice must be sample or argmax")
    options = doc.get("options") or {}
    if not isinstance(options, dict):
        raise ModelFileError(f"{where}: options must be an object")
    return Model(columns=columns, seed=seed, mode_choice=mode_choice, options=options)
