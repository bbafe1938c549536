"""The Spark engine against the local engine, on a real local[2] Spark session.

One session serves every test (it takes seconds to start). The engine must give
the same model as the local engine from the same data, identical encodings
when row order is defined (Parquet input, or a DataFrame's partition order),
and decoded tables equal to the original bit for bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from modenorm import Transformer
from modenorm.engines._spark_plan import choose_partitions, plan_read_tasks
from modenorm.errors import OutputExistsError
from modenorm.transformer import mismatched_rows


def assert_identical(original: pl.DataFrame, decoded: pl.DataFrame) -> None:
    assert decoded.columns == original.columns
    for name in original.columns:
        bad = mismatched_rows(original[name], decoded[name])
        assert len(bad) == 0, f"{name}: {len(bad)} rows differ, e.g. rows {bad[:5]}"


def same_model(a: Transformer, b: Transformer) -> bool:
    doc_a = json.dumps(a.model_.to_dict(), sort_keys=True)
    doc_b = json.dumps(b.model_.to_dict(), sort_keys=True)
    return doc_a == doc_b


def collect(frame) -> pl.DataFrame:
    """A Spark DataFrame as polars, rows in partition order."""
    return pl.from_arrow(frame.toArrow())


def as_types_of(frame: pl.DataFrame, like: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns([pl.col(c).cast(like.schema[c]) for c in like.columns])


@pytest.fixture(scope="session")
def spark():
    """One local[2] session bound to the loopback address, UI off."""
    pytest.importorskip("pyspark")
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    from modenorm.engines.spark import spark_session

    session = spark_session("local[2]")
    session.sparkContext.setLogLevel("ERROR")
    conf = session.sparkContext.getConf()
    assert conf.get("spark.driver.bindAddress") == "127.0.0.1"
    assert conf.get("spark.ui.enabled") == "false"
    yield session
    session.stop()


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    """24,000 rows: two-decimal amounts with exact zeros, nulls, ints, labels."""
    rng = np.random.default_rng(11)
    n = 24_000
    amount = np.round(np.abs(rng.standard_t(2, n)) * 50, 2)
    amount[rng.random(n) < 0.05] = 0.0
    v1 = rng.normal(0, 1, n) - rng.exponential(2, n)
    v1[::13] = np.nan
    return pl.DataFrame(
        {
            "amount": amount,
            "v1": v1,
            "count": rng.poisson(30, n).astype(np.int32),
            "label": rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.15, 0.05]),
            "flag": rng.random(n) < 0.3,
        }
    ).with_columns(
        pl.col("v1").fill_nan(None),
        pl.when(pl.int_range(n) % 17 == 0).then(None).otherwise("label").alias("label"),
    )


@pytest.fixture(scope="module")
def parquet_dir(table, tmp_path_factory) -> Path:
    """The table as three Parquet files of uneven sizes and several row groups."""
    folder = tmp_path_factory.mktemp("spark") / "table"
    folder.mkdir()
    for i, (start, stop) in enumerate([(0, 11_000), (11_000, 14_000), (14_000, None)]):
        part = table.slice(start, None if stop is None else stop - start)
        part.write_parquet(folder / f"part-{i}.parquet", row_group_size=4_000)
    return folder


OPTIONS = {"mixed": {"amount": [0.0]}, "seed": 5, "bins": 4096, "max_modes": 6}


@pytest.fixture(scope="module")
def local_fit(parquet_dir) -> Transformer:
    """The local engine's model of the Parquet table."""
    return Transformer(**OPTIONS).fit(parquet_dir)


@pytest.fixture(scope="module")
def spark_fit(spark, parquet_dir) -> Transformer:
    """The Spark engine's model of the same files, read as three partitions."""
    return Transformer(**OPTIONS, engine="spark", partitions=3).fit(parquet_dir)


# ---------------------------------------------------------- without Spark
def test_local_engine_never_imports_pyspark(tmp_path):
    script = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "pyspark" or name.startswith("pyspark.") or name == "py4j":
            raise ImportError("pyspark is blocked in this test")
        return None

sys.meta_path.insert(0, Block())
import numpy as np, polars as pl
from modenorm import Transformer

x = np.random.default_rng(0).normal(size=3000)
frame = pl.DataFrame({"x": x, "c": ["a", "b"] * 1500})
t = Transformer(seed=1).fit(frame)
decoded = t.inverse_transform(t.transform(frame))
assert decoded.equals(frame)
assert not any(m.startswith("pyspark") for m in sys.modules)
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_read_tasks_cover_every_row_once_in_order(parquet_dir):
    paths = sorted(parquet_dir.glob("*.parquet"))
    for n in (1, 2, 3, 5, 7, 40):
        tasks = plan_read_tasks(paths, n)
        assert tasks[0].row0 == 0
        assert sum(t.rows for t in tasks) == 24_000
        for a, b in zip(tasks, tasks[1:], strict=False):
            assert b.row0 == a.row0 + a.rows
        for task in tasks:
            assert sum(s.take for s in task.segments) == task.rows
    # even cuts at 8,000 and 16,000 snap to the nearest row-group boundaries
    # (8,000 in the first file; 14,000, the start of the third, for 16,000)
    assert [t.row0 for t in plan_read_tasks(paths, 3)] == [0, 8_000, 14_000]
    # two tasks: the even cut at 12,000 is 1,000 rows from the second file's end
    # at 14,000... and from its start at 11,000: within a quarter, so it snaps
    assert [t.row0 for t in plan_read_tasks(paths, 2)] == [0, 11_000]


def test_partitions_follow_size_and_cores():
    assert choose_partitions(10_000, 16, cores=2) == 1  # too few rows to split
    assert choose_partitions(10_000_000, 16, cores=2) == 4  # two per core
    assert choose_partitions(10**9, 16, cores=2) == 120  # 128 MiB each
    assert choose_partitions(10**9, 16, cores=64) == 128
    assert choose_partitions(10**9, 16, cores=2, requested=7) == 7
    with pytest.raises(ValueError, match="partitions must be a positive integer"):
        choose_partitions(100, 8, cores=2, requested=0)


def test_spark_config_command_recommends_with_reasons(capsys):
    from modenorm.cli.main import main

    code = main("spark-config --rows 1e9 --columns 2 --cores 16 --memory 64g".split())
    assert code == 0
    text = capsys.readouterr().out
    assert "spark.master = local[16]" in text
    assert "spark.sql.shuffle.partitions = 32" in text
    assert "modenorm --partitions 120" in text
    code = main(
        "spark-config --bytes 2t --cores 32 --memory 256g --nodes 10 --json".split()
    )
    rec = json.loads(capsys.readouterr().out)
    assert code == 0 and rec["mode"] == "cluster" and rec["rows_estimated"]
    assert rec["settings"]["spark.executor.cores"] == "5"
    assert rec["settings"]["spark.executor.instances"] == "60"
    assert set(rec["settings"]) == set(rec["reasons"])


def test_spark_ml_mixture_needs_the_spark_engine(table):
    with pytest.raises(ValueError, match="spark-ml.*needs engine='spark'"):
        Transformer(mixture="spark-ml").fit(table)


# -------------------------------------------------------------- with Spark
@pytest.mark.spark
def test_spark_fit_gives_the_local_model(local_fit, spark_fit):
    assert same_model(local_fit, spark_fit)


@pytest.mark.spark
def test_spark_encodes_as_local_and_decodes_exactly(
    spark, local_fit, table, parquet_dir
):
    local = local_fit
    expected = local.transform(parquet_dir)
    remote = Transformer.from_model(local.model_, engine="spark", partitions=5)
    encoded = remote.transform(parquet_dir)
    assert encoded.rdd.getNumPartitions() == 5
    got = collect(encoded)
    assert got.columns == expected.columns
    assert as_types_of(got, expected).equals(expected)
    assert_identical(table, collect(remote.inverse_transform(encoded)))


@pytest.mark.spark
def test_spark_output_files_round_trip_with_either_engine(
    spark_fit, table, parquet_dir
):
    remote = Transformer.from_model(spark_fit.model_, engine="spark", partitions=4)
    out = parquet_dir.parent / "encoded"
    assert remote.transform(parquet_dir, output=out) == out
    written = pl.read_parquet(sorted(out.glob("*.parquet")))
    local = Transformer.from_model(remote.model_)
    assert as_types_of(written, written).equals(local.transform(parquet_dir))
    decoded = parquet_dir.parent / "decoded"
    remote.inverse_transform(out, output=decoded)
    assert_identical(table, pl.read_parquet(sorted(decoded.glob("*.parquet"))))
    assert_identical(table, local.inverse_transform(out))
    leftovers = [p.name for p in parquet_dir.parent.iterdir() if "partial" in p.name]
    assert leftovers == []


@pytest.mark.spark
def test_existing_output_is_refused_then_replaced(
    spark, local_fit, table, parquet_dir, tmp_path
):
    remote = Transformer.from_model(local_fit.model_, engine="spark")
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="exists already.*--overwrite"):
        remote.transform(parquet_dir, output=out)
    assert (out / "keep.txt").read_text() == "old"
    remote.transform(parquet_dir, output=out, overwrite=True, compression="lz4")
    assert not (out / "keep.txt").exists()
    assert pl.scan_parquet(out / "*.parquet").select(pl.len()).collect().item() == (
        table.height
    )
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.spark
def test_dataframes_use_partition_order(spark, local_fit, table):
    local = local_fit
    frame = spark.createDataFrame(table.to_arrow())
    assert frame.rdd.getNumPartitions() >= 2
    remote = Transformer(**OPTIONS, engine="spark").fit(frame)
    assert same_model(local, remote)
    encoded = collect(remote.transform(frame, layout="onehot"))
    expected = local.transform(table, layout="onehot")
    assert as_types_of(encoded, expected).equals(expected)
    decoded = collect(remote.inverse_transform(encoded))
    assert_identical(table, decoded)


@pytest.mark.spark
def test_flights_columns_fit_the_same_model(spark, flights, tmp_path):
    cols = ["dep_delay", "carrier", "time_hour"]
    path = tmp_path / "flights.parquet"
    flights.select(cols).write_parquet(path, row_group_size=60_000)
    options = {
        "mixed": {"dep_delay": [0.0]},
        "seed": 2,
        "bins": 1 << 14,
        "max_modes": 6,
    }
    local = Transformer(**options).fit(path)
    remote = Transformer(**options, engine="spark").fit(path)
    assert same_model(local, remote)
    encoded = collect(remote.transform(path))
    expected = local.transform(path)
    assert as_types_of(encoded, expected).equals(expected)
    decoded = collect(remote.inverse_transform(encoded))
    decoded = decoded.with_columns(
        pl.col("time_hour").dt.convert_time_zone("America/New_York")
    )
    assert_identical(flights.select(cols), decoded)


@pytest.mark.spark
def test_spark_ml_mixture_fits_and_round_trips(spark, tmp_path):
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(-5, 1, 6000), rng.normal(8, 2, 4000)])
    frame = pl.DataFrame({"x": rng.permutation(x)})
    path = tmp_path / "x.parquet"
    frame.write_parquet(path)
    t = Transformer(mixture="spark-ml", max_modes=2, engine="spark", seed=1)
    t.fit(path)
    mix = t.mixture("x")
    assert mix["method"] == "spark-ml"
    order = np.argsort(mix["means"])
    np.testing.assert_allclose(mix["means"][order], [-5, 8], atol=0.1)
    np.testing.assert_allclose(mix["stds"][order], [1, 2], rtol=0.05)
    np.testing.assert_allclose(mix["weights"][order], [0.6, 0.4], atol=0.01)
    assert_identical(frame, collect(t.inverse_transform(t.transform(path))))
    with pytest.raises(ValueError, match="max_modes >= 2"):
        Transformer(mixture="spark-ml", max_modes=1, engine="spark").fit(path)


@pytest.mark.spark
def test_cli_fit_with_the_spark_engine_writes_the_local_model(
    spark, parquet_dir, tmp_path
):
    from modenorm.cli.main import main

    common = [
        "--mixed",
        "amount=0",
        "--seed",
        "5",
        "--bins",
        "4096",
        "--max-modes",
        "3",
    ]
    common.append("--quiet")
    args = ["fit", str(parquet_dir), "-m"]
    assert main([*args, str(tmp_path / "local.json"), *common]) == 0
    spark_args = ["--engine", "spark", "--master", "local[2]", "--partitions", "2"]
    assert main([*args, str(tmp_path / "spark.json"), *common, *spark_args]) == 0
    local = json.loads((tmp_path / "local.json").read_text())
    remote = json.loads((tmp_path / "spark.json").read_text())
    assert local == remote
    model = ["-m", str(tmp_path / "spark.json"), "--quiet", *spark_args]
    encoded, decoded = tmp_path / "encoded", tmp_path / "decoded"
    assert main(["transform", str(parquet_dir), "-o", str(encoded), *model]) == 0
    assert main(["inverse", str(encoded), "-o", str(decoded), *model]) == 0
    original = pl.read_parquet(sorted(parquet_dir.glob("*.parquet")))
    assert_identical(original, pl.read_parquet(sorted(decoded.glob("*.parquet"))))


@pytest.mark.spark
def test_parquet_source_reads_as_a_dataframe_with_progress(
    spark, local_fit, table, parquet_dir, tmp_path
):
    from modenorm import Progress
    from modenorm.engines.spark import SparkEngine, open_spark_source

    src = open_spark_source(parquet_dir, SparkEngine(partitions=4))
    assert (src.num_rows, len(src.tasks)) == (24_000, 4)
    # 6,000 lies 2,000 rows from the nearest row groups: cut inside one
    assert [t.row0 for t in src.tasks] == [0, 6_000, 11_000, 18_000]
    assert_identical(table, collect(src.df))

    progress = Progress(render=lambda stage, final: None)
    remote = Transformer.from_model(
        local_fit.model_, engine="spark", partitions=4, progress=progress
    )
    remote.transform(parquet_dir, output=tmp_path / "encoded")
    records = {r.name: r.rows for r in progress.records}
    assert records["transform"] == 24_000
