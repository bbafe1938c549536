"""Output layouts: column names, ``output_info`` and chunk assembly.

*compact*: per numeric column ``<col>.alpha`` and ``<col>.mode``; per
categorical column ``<col>.category``. *onehot*: per numeric column
``<col>.alpha`` then ``<col>.mode.<rank>`` for every mode, per categorical
column ``<col>.category.<rank>``. In both layouts the exact side channel
``<col>.exact`` of every numeric column comes last, after the columns that
``output_info`` describes.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from modenorm.encode.columns import NumericCodec
from modenorm.errors import SchemaMismatchError

__all__ = ["LAYOUTS", "output_info", "encoded_columns", "assemble", "split_encoded"]

LAYOUTS = ("compact", "onehot")


def check_layout(layout: str) -> str:
    """Return ``layout`` or raise naming the allowed values."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'compact' or 'onehot', got {layout!r}")
    return layout


def output_info(codecs) -> list[tuple[int, str]]:
    """``(width, activation)`` spans of the onehot layout, in column order."""
    info = []
    for codec in codecs:
        if isinstance(codec, NumericCodec):
            info.append((1, "tanh"))
            if codec.col.onehot_width:
                info.append((codec.col.onehot_width, "softmax"))
        else:
            info.append((codec.n_categories, "softmax"))
    return info


def block_names(codec, layout: str) -> list[str]:
    """Names of the model-facing columns of one codec."""
    name = codec.name
    if isinstance(codec, NumericCodec):
        if layout == "compact":
            return [f"{name}.alpha", f"{name}.mode"]
        modes = [f"{name}.mode.{r}" for r in range(codec.col.onehot_width)]
        return [f"{name}.alpha", *modes]
    if layout == "compact":
        return [f"{name}.category"]
    return [f"{name}.category.{r}" for r in range(codec.n_categories)]


def encoded_columns(codecs, layout: str) -> list[str]:
    """All output column names, side channel last."""
    names = [n for c in codecs for n in block_names(c, layout)]
    names += [f"{c.name}.exact" for c in codecs if isinstance(c, NumericCodec)]
    return names


def _onehot(ranks: np.ndarray, width: int, prefix: str) -> dict[str, np.ndarray]:
    cols = {}
    for r in range(width):
        cols[f"{prefix}.{r}"] = (ranks == r).view(np.uint8)
    return cols


def assemble(codecs, encoded: list[dict], layout: str) -> pl.DataFrame:
    """Build one output chunk from per-codec kernel outputs."""
    data: dict[str, pl.Series | np.ndarray] = {}
    exact: dict[str, pl.Series] = {}
    for codec, out in zip(codecs, encoded, strict=True):
        name = codec.name
        if isinstance(codec, NumericCodec):
            data[f"{name}.alpha"] = out["alpha"]
            if layout == "compact":
                data[f"{name}.mode"] = out["mode"]
            elif codec.col.onehot_width:
                data.update(
                    _onehot(out["mode"], codec.col.onehot_width, f"{name}.mode")
                )
            flag = out["exact_flag"]
            arrow = pa.array(out["exact"], mask=~flag)
            exact[f"{name}.exact"] = pl.Series(f"{name}.exact", arrow)
        elif layout == "compact":
            data[f"{name}.category"] = out["rank"]
        else:
            data.update(_onehot(out["rank"], codec.n_categories, f"{name}.category"))
    frame = pl.DataFrame(data)
    if exact:
        frame = frame.with_columns(list(exact.values()))
    return frame


def _check_block_widths(columns: list[str], codecs) -> None:
    """Refuse one-hot blocks wider than the model's (an encoding of another)."""
    expected = {n for c in codecs for n in block_names(c, "onehot")}
    for codec in codecs:
        part = "mode" if isinstance(codec, NumericCodec) else "category"
        prefix = f"{codec.name}.{part}."
        extra = [
            c
            for c in columns
            if c.startswith(prefix) and c[len(prefix) :].isdigit() and c not in expected
        ]
        if extra:
            width = len(block_names(codec, "onehot")) - isinstance(codec, NumericCodec)
            raise SchemaMismatchError(
                f"column {codec.name!r}: the encoded table has one-hot columns "
                f"{extra[:3]} beyond the model's {width}; it was encoded with "
                "another model; decode it with the model that encoded it"
            )


def detect_layout(columns: list[str], codecs) -> str:
    """Tell the layout of an encoded table from its column names."""
    names = set(columns)
    for layout in LAYOUTS:
        if all(n in names for c in codecs for n in block_names(c, layout)):
            if layout == "onehot":
                _check_block_widths(columns, codecs)
            return layout
    expected = block_names(codecs[0], "compact") if codecs else []
    missing = [n for c in codecs for n in block_names(c, "compact") if n not in names]
    raise SchemaMismatchError(
        "the encoded table matches neither layout of this model: missing compact "
        f"columns {missing[:5]} (expected e.g. {expected}); check that the table "
        "was encoded with this model"
    )


def _column(frame: pl.DataFrame, name: str, *, integer: bool = False) -> np.ndarray:
    """One encoded column as a NumPy array, refusing text, nulls and fractions."""
    series = frame[name]
    dtype = series.dtype
    if not (dtype.is_numeric() or dtype == pl.Boolean):
        raise SchemaMismatchError(
            f"encoded column {name!r} holds {dtype} values, not numbers; check that "
            "the table was encoded with this model"
        )
    if series.null_count():
        raise SchemaMismatchError(
            f"encoded column {name!r} has {series.null_count()} nulls; only the "
            "'.exact' columns may hold nulls; the encoded table is damaged"
        )
    values = series.to_numpy()
    if integer and not dtype.is_integer():
        whole = np.isfinite(values) & (np.abs(values) < 2**31)
        whole[whole] = values[whole] == np.rint(values[whole])
        if not whole.all():
            row = int(np.flatnonzero(~whole)[0])
            raise SchemaMismatchError(
                f"encoded column {name!r} holds {float(values[row])!r} at row {row}, "
                "not a rank; the encoded table is damaged"
            )
        values = values.astype(np.int64)
    return values


def _exact_column(frame: pl.DataFrame, name: str, physical: str) -> dict:
    series = frame[name]
    want = "integer" if physical == "int" else "float"
    ok = series.dtype == pl.Null or (
        series.dtype.is_integer() if physical == "int" else series.dtype.is_float()
    )
    if not ok:
        raise SchemaMismatchError(
            f"encoded column {name!r} holds {series.dtype} values, but the side "
            f"channel of this column holds {want} values; the encoded table does "
            "not belong to this model"
        )
    target = pl.Int64 if physical == "int" else pl.Float64
    return {
        "exact_flag": series.is_not_null().to_numpy(),
        "exact": series.cast(target).fill_null(0).to_numpy(),
    }


def split_encoded(frame: pl.DataFrame, codecs, layout: str) -> list[dict]:
    """Pull per-codec arrays out of an encoded chunk (argmax for onehot blocks)."""
    parts = []
    for codec in codecs:
        name = codec.name
        if isinstance(codec, NumericCodec):
            alpha = _column(frame, f"{name}.alpha")
            if layout == "compact":
                mode = _column(frame, f"{name}.mode", integer=True)
            elif codec.col.onehot_width:
                block = [f"{name}.mode.{r}" for r in range(codec.col.onehot_width)]
                mode = argmax_block(frame, block)
            else:
                mode = np.zeros(frame.height, dtype=np.int8)
            part = {"alpha": alpha, "mode": mode}
            if f"{name}.exact" in frame.columns:
                part.update(_exact_column(frame, f"{name}.exact", codec.physical))
            parts.append(part)
        elif layout == "compact":
            parts.append({"rank": _column(frame, f"{name}.category", integer=True)})
        else:
            block = [f"{name}.category.{r}" for r in range(codec.n_categories)]
            parts.append({"rank": argmax_block(frame, block)})
    return parts


def argmax_block(frame: pl.DataFrame, block: list[str]) -> np.ndarray:
    """Arg-max of a one-hot (or softmax score) block; ties go to the lower rank."""
    for name in block:
        _column(frame, name)
    matrix = frame.select(block).to_numpy()
    return np.argmax(matrix, axis=1).astype(np.int64)
