"""Mergeable category counts of one categorical column."""

from __future__ import annotations

import polars as pl

__all__ = ["CategoryCounts"]


class CategoryCounts:
    """Exact counts per category (null included), merged chunk by chunk."""

    def __init__(self, name: str, dtype: pl.DataType) -> None:
        self.name = name
        self.dtype = dtype
        self._parts: list[pl.DataFrame] = []

    @staticmethod
    def of_chunk(series: pl.Series) -> pl.DataFrame:
        """Count the categories of one chunk."""
        return series.rename("value").value_counts(name="count")

    def add_counts(self, counts: pl.DataFrame) -> None:
        """Merge the counts of one chunk."""
        self._parts.append(counts)
        if len(self._parts) >= 16:
            self._parts = [self._combine()]

    def merge(self, other: CategoryCounts) -> None:
        """Merge the counts of another accumulator."""
        self._parts.extend(other._parts)

    def _combine(self) -> pl.DataFrame:
        if not self._parts:
            return pl.DataFrame(
                {"value": pl.Series([], dtype=self.dtype), "count": []},
                schema={"value": self.dtype, "count": pl.UInt64},
            )
        both = pl.concat(
            [p.with_columns(pl.col("count").cast(pl.UInt64)) for p in self._parts]
        )
        return both.group_by("value").agg(pl.col("count").sum())

    def ranked(self) -> tuple[list, list[int]]:
        """Categories by falling frequency, ties by value (null last)."""
        table = self._combine()
        value = pl.col("value")
        if table.schema["value"] == pl.Categorical:
            table = table.with_columns(value.cast(pl.String))
        table = table.sort(
            ["count", "value"], descending=[True, False], nulls_last=True
        )
        return table["value"].to_list(), [int(c) for c in table["count"].to_list()]

    @property
    def n_categories(self) -> int:
        """Number of distinct categories seen so far."""
        return self._combine().height
