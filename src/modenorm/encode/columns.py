"""Chunk encoders and decoders: one per fitted column, wrapping the kernels."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from modenorm.encode import numeric_kernels as nk
from modenorm.encode._rng import column_key
from modenorm.errors import ColumnError, SchemaMismatchError, UnseenCategoryError
from modenorm.model.dtypes import dtype_from_json, from_kernel_array, to_kernel_array
from modenorm.model.schema import CategoricalColumn, NumericColumn

__all__ = ["NumericCodec", "CategoricalCodec", "codec_for", "rank_dtype"]

_KIND_CODES = {
    "gaussian": nk.KIND_GAUSSIAN,
    "special": nk.KIND_SPECIAL,
    "null": nk.KIND_NULL,
}


def rank_dtype(n: int) -> type[np.integer]:
    """Smallest integer type for ranks ``0..n-1`` (signed for numeric modes)."""
    if n <= 127:
        return np.int8
    if n <= 32767:
        return np.int16
    return np.int32


def _value_key(value, physical: str) -> int:
    if physical == "int":
        return int(value)
    return int(np.array([float(value)], dtype=np.float64).view(np.int64)[0])


class NumericCodec:
    """Encode and decode one continuous, mixed or min-max column."""

    def __init__(self, col: NumericColumn, *, seed: int, mode_choice: str) -> None:
        self.col = col
        self.name = col.name
        self.dtype = dtype_from_json(col.dtype)
        self.physical = col.physical
        self.key = column_key(seed, col.name)
        self.argmax = mode_choice == "argmax"
        self.n_modes = len(col.modes)
        self.mode_dtype = rank_dtype(self.n_modes)
        self.alpha_dtype = np.dtype(col.alpha_dtype)
        self.exact_dtype = np.int64 if self.physical == "int" else np.float64
        self.p_dec = 10.0**col.decimals if col.decimals >= 0 else 0.0
        self._build_tables(col)

    def _build_tables(self, col: NumericColumn) -> None:
        gauss = col.gaussian_modes
        mix = col.mixture
        const, prec = [], []
        for _, mode in gauss:
            if mix is not None:
                const.append(mix["resp_const"][mode.component])
                prec.append(mix["resp_prec"][mode.component])
            else:
                const.append(0.0)
                prec.append(0.0)
        self.g_const = np.array(const, dtype=np.float64)
        self.g_prec = np.array(prec, dtype=np.float64)
        self.g_mean = np.array([m.mean for _, m in gauss], dtype=np.float64)
        self.g_sd4 = np.array([4.0 * m.std for _, m in gauss], dtype=np.float64)
        self.g_rank = np.array([r for r, _ in gauss], dtype=np.int64)
        specials = [(r, m) for r, m in enumerate(col.modes) if m.kind == "special"]
        self.sp_keys = np.array(
            [_value_key(m.value, self.physical) for _, m in specials], dtype=np.int64
        )
        self.sp_rank = np.array([r for r, _ in specials], dtype=np.int64)
        nulls = [r for r, m in enumerate(col.modes) if m.kind == "null"]
        self.null_rank = nulls[0] if nulls else -1
        self.rank_kind = np.array([_KIND_CODES[m.kind] for m in col.modes], np.int64)
        self.rank_mean = np.array([m.mean for m in col.modes], dtype=np.float64)
        self.rank_sd4 = np.array([4.0 * m.std for m in col.modes], dtype=np.float64)
        self.rank_keys = np.array(
            [
                _value_key(m.value, self.physical) if m.kind == "special" else 0
                for m in col.modes
            ],
            dtype=np.int64,
        )
        stats = col.stats
        lo, hi = stats.get("min"), stats.get("max")
        self.int_lo = int(lo) if isinstance(lo, int) else np.iinfo(np.int64).min
        self.int_hi = int(hi) if isinstance(hi, int) else np.iinfo(np.int64).max
        self.float_lo = float(lo) if lo is not None else -np.inf
        self.float_hi = float(hi) if hi is not None else np.inf

    def encode(self, series: pl.Series, row0: int) -> dict[str, np.ndarray]:
        """Encode one chunk; rows are numbered from ``row0`` for the draw."""
        values, is_null = to_kernel_array(series, self.name)
        if self.null_rank < 0 and is_null.any():
            raise ColumnError(
                f"column {self.name!r}: {int(is_null.sum())} null values, but the "
                "column had no nulls when the model was fitted; fit on data that "
                "includes nulls"
            )
        n = len(values)
        alpha = np.empty(n, dtype=self.alpha_dtype)
        mode = np.empty(n, dtype=self.mode_dtype)
        exact = np.empty(n, dtype=self.exact_dtype)
        flag = np.empty(n, dtype=np.bool_)
        c = self.col
        if self.physical == "int":
            nk.encode_int(
                values,
                is_null,
                self.g_const,
                self.g_mean,
                self.g_prec,
                self.g_sd4,
                self.g_rank,
                self.sp_keys,
                self.sp_rank,
                self.null_rank,
                c.log,
                c.log_lower,
                c.offset,
                self.argmax,
                self.key,
                row0,
                alpha,
                mode,
                exact,
                flag,
            )
        else:
            nk.encode_float(
                values,
                is_null,
                self.g_const,
                self.g_mean,
                self.g_prec,
                self.g_sd4,
                self.g_rank,
                self.sp_keys,
                self.sp_rank,
                self.null_rank,
                c.log,
                c.log_lower,
                self.p_dec,
                c.round_f32,
                self.argmax,
                self.key,
                row0,
                alpha,
                mode,
                exact,
                flag,
            )
        return {"alpha": alpha, "mode": mode, "exact": exact, "exact_flag": flag}

    def decode(
        self,
        alpha: np.ndarray,
        mode: np.ndarray,
        exact: np.ndarray | None = None,
        exact_flag: np.ndarray | None = None,
        *,
        clip: bool = False,
    ) -> pl.Series:
        """Decode one chunk back to a Series of the original dtype."""
        n = len(alpha)
        if exact is None:
            exact = np.zeros(n, dtype=self.exact_dtype)
            exact_flag = np.zeros(n, dtype=np.bool_)
        values = np.empty(n, dtype=self.exact_dtype)
        nulls = np.empty(n, dtype=np.bool_)
        c = self.col
        if self.physical == "int":
            bad = nk.decode_int(
                alpha,
                mode,
                exact,
                exact_flag,
                self.rank_kind,
                self.rank_mean,
                self.rank_sd4,
                self.rank_keys,
                c.log,
                c.log_lower,
                c.offset,
                self.int_lo,
                self.int_hi,
                clip,
                values,
                nulls,
            )
        else:
            bad = nk.decode_float(
                alpha,
                mode,
                exact,
                exact_flag,
                self.rank_kind,
                self.rank_mean,
                self.rank_sd4,
                self.rank_keys,
                c.log,
                c.log_lower,
                self.p_dec,
                c.round_f32,
                self.float_lo,
                self.float_hi,
                clip,
                values,
                nulls,
            )
        if bad:
            raise SchemaMismatchError(
                f"column {self.name!r}: {bad} rows have a mode outside 0.."
                f"{self.n_modes - 1}; the encoded data does not belong to this model"
            )
        return from_kernel_array(values, nulls, self.dtype, self.name)


class CategoricalCodec:
    """Encode and decode one categorical column by frequency rank."""

    def __init__(self, col: CategoricalColumn, *, unseen: str = "error") -> None:
        self.col = col
        self.name = col.name
        self.dtype = dtype_from_json(col.dtype)
        self.unseen = unseen
        self.n_categories = len(col.categories)
        self.rank_dtype = rank_dtype(self.n_categories)
        self.is_text = isinstance(self.dtype, pl.Categorical | pl.Enum)
        value_dtype = pl.String if self.is_text else self.dtype
        self.values = pl.Series(self.name, col.categories, dtype=value_dtype)
        self.ranks = pl.Series(np.arange(self.n_categories, dtype=np.int64))

    def encode(self, series: pl.Series, row0: int = 0) -> dict[str, np.ndarray]:
        """Encode one chunk to category ranks."""
        if isinstance(series.dtype, pl.Categorical | pl.Enum):
            series = series.cast(pl.String)
        try:
            ranks = series.replace_strict(
                self.values, self.ranks, default=None, return_dtype=pl.Int64
            )
        except pl.exceptions.PolarsError as exc:
            raise ColumnError(
                f"column {self.name!r}: values of type {series.dtype} cannot be "
                f"matched with the fitted categories of type {self.values.dtype}"
            ) from exc
        missing = ranks.is_null()
        if missing.any():
            ranks = self._handle_unseen(series, ranks, missing)
        return {"rank": ranks.to_numpy().astype(self.rank_dtype)}

    def _handle_unseen(self, series, ranks, missing) -> pl.Series:
        if self.unseen == "most_frequent":
            return ranks.fill_null(0)
        unseen = series.filter(missing).unique(maintain_order=True).head(5).to_list()
        count = int(missing.sum())
        raise UnseenCategoryError(
            f"column {self.name!r}: {count} values were not seen at fit time, "
            f"such as {unseen}; refit on data that includes them, or choose the "
            "policy unseen='most_frequent' (--unseen most-frequent)"
        )

    def decode(self, ranks: np.ndarray) -> pl.Series:
        """Map ranks back to the category values."""
        ranks = np.asarray(ranks)
        if len(ranks) and (ranks.min() < 0 or ranks.max() >= self.n_categories):
            raise SchemaMismatchError(
                f"column {self.name!r}: category rank {int(ranks.max())} outside "
                f"0..{self.n_categories - 1}; the encoded data does not belong to "
                "this model"
            )
        out = self.values.gather(ranks)
        if self.is_text:
            out = out.cast(self.dtype)
        return out.rename(self.name)


def codec_for(col, *, seed: int, mode_choice: str, unseen: str = "error"):
    """Build the codec of one fitted column."""
    if isinstance(col, CategoricalColumn):
        return CategoricalCodec(col, unseen=unseen)
    return NumericCodec(col, seed=seed, mode_choice=mode_choice)


def is_nan_value(value) -> bool:
    """True for a float NaN (used when printing special values)."""
    return isinstance(value, float) and math.isnan(value)
