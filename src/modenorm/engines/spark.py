"""The Spark engine: the local engine's summaries and kernels, run by Spark.

Every pass is one Spark job over ``mapInArrow``: each partition runs the same
code as a local chunk (:class:`~modenorm.summarize.numeric.NumericScan`,
:class:`~modenorm.summarize.numeric.Histogram`,
:class:`~modenorm.summarize.categorical.CategoryCounts`,
``Transformer.encode_chunk`` and ``decode_chunk``) and the partial summaries
are merged by Spark's own ``groupBy`` aggregation as rows of
``(column, bin, count, s1, s2, min, max)``. Only the merged summary, at most
``bins`` rows per column, reaches the driver, which fits the mixtures with
the same code as the local engine. The model file is the same either way.

Row order, and so the mode draw of each row (which depends on the seed, the
column and the row's index), is defined as follows:

- a Parquet path (file, folder or glob) on a file system this machine sees:
  files sorted by path, rows in file order, exactly as the local engine reads
  them. The engine splits the rows into contiguous read tasks from the
  Parquet footers (no pass over the data) and each task is one partition, so
  encodings are identical to the local engine's and written output keeps the
  input order;
- a Spark DataFrame (and in-memory tables, converted to one, and remote
  Parquet URIs, read by Spark): partition order, then row order within each
  partition. A first job counts the rows per partition to give every
  partition its first row index.

pyspark is imported only by this module, and only when the engine is used.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import threading
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from modenorm.engines import _spark_worker as W
from modenorm.engines._spark_plan import (
    ReadTask,
    choose_partitions,
    plan_read_tasks,
    row_bytes,
)
from modenorm.engines.progress import Progress
from modenorm.errors import ModenormError, OutputExistsError, SourceError
from modenorm.io.sinks import COMPRESSIONS, check_output
from modenorm.io.sources import (
    FrameSource,
    LazySource,
    ParquetSource,
    Source,
    open_source,
)
from modenorm.summarize.categorical import CategoryCounts
from modenorm.summarize.numeric import ColumnSpec, Histogram, NumericScan

__all__ = ["SparkEngine", "SparkSource", "open_spark_source", "spark_session"]

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
ARROW_BATCH_ROWS = 1 << 17
_SPARK_CODECS = {
    "zstd": "zstd",
    "snappy": "snappy",
    "lz4": "lz4_raw",
    "gzip": "gzip",
    "none": "none",
}
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _require_pyspark():
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise ModenormError(
            "the spark engine needs pyspark, which is not installed; run "
            "pip install 'modenorm[spark]', or use the local engine "
            "(engine='local', --engine local)"
        ) from exc


def _local_cores(master: str) -> int:
    match = re.fullmatch(r"local\[(\d+|\*)(?:,\s*\d+)?\]", master)
    if match and match.group(1) != "*":
        return int(match.group(1))
    if master == "local":
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def session_config(master: str) -> dict[str, str]:
    """Settings of a session the engine starts itself for ``master``.

    A local master binds the driver to the loopback address; every session
    has its web UI off and Arrow transfers on.
    """
    conf = {
        "spark.app.name": "modenorm",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS),
    }
    if master.startswith("local"):
        cores = _local_cores(master)
        conf.update(
            {
                "spark.driver.host": LOOPBACK,
                "spark.driver.bindAddress": LOOPBACK,
                "spark.sql.shuffle.partitions": str(max(2, 2 * cores)),
                "spark.pyspark.python": sys.executable,
                "spark.pyspark.driver.python": sys.executable,
            }
        )
    return conf


def spark_session(master: str | None = None):
    """The active Spark session, or a new one for ``master``.

    Parameters
    ----------
    master : str, optional
        Spark master URL such as ``local[2]`` or ``spark://host:7077``;
        default ``local[*]``. Ignored, with a warning, when a session is
        already active: Spark allows one per process.

    Returns
    -------
    pyspark.sql.SparkSession
    """
    _require_pyspark()
    from pyspark.sql import SparkSession

    # a session started in another thread is not "active" here, but it exists:
    # reuse it rather than let the builder change its settings
    active = SparkSession.getActiveSession() or getattr(
        SparkSession, "_instantiatedSession", None
    )
    if active is not None:
        running = active.sparkContext.master
        if master and master != running:
            logger.warning(
                "a Spark session with master %r is already running; using it "
                "instead of %r (stop it first to change the master)",
                running,
                master,
            )
        return active
    master = master or "local[*]"
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", LOOPBACK)
    builder = SparkSession.builder.master(master)
    for key, value in session_config(master).items():
        builder = builder.config(key, value)
    logger.info("starting a Spark session on %s", master)
    return builder.getOrCreate()


# ----------------------------------------------------------------- types
def _dtype_name(dtype: pl.DataType) -> str:
    return type(dtype).__name__ if not isinstance(dtype, type) else dtype.__name__


def spark_type(name: str, dtype: pl.DataType, *, encoded: bool = False):
    """The Spark type that holds a polars column without loss.

    Unsigned integers widen to the next signed type (the one-hot columns of an
    encoded table, 0 or 1, become bytes when ``encoded``); categoricals become
    strings. Raises :class:`SourceError` for types Spark cannot hold exactly.
    """
    from pyspark.sql import types as T

    kind = _dtype_name(dtype)
    simple = {
        "Float64": T.DoubleType,
        "Float32": T.FloatType,
        "Int8": T.ByteType,
        "Int16": T.ShortType,
        "Int32": T.IntegerType,
        "Int64": T.LongType,
        "UInt8": T.ByteType if encoded else T.ShortType,
        "UInt16": T.IntegerType,
        "UInt32": T.LongType,
        "UInt64": T.LongType,
        "Boolean": T.BooleanType,
        "String": T.StringType,
        "Categorical": T.StringType,
        "Enum": T.StringType,
        "Date": T.DateType,
    }
    if kind in simple:
        return simple[kind]()
    unit = getattr(dtype, "time_unit", None)
    if kind in ("Datetime", "Duration") and unit in ("us", "ms"):
        if kind == "Duration":
            return T.DayTimeIntervalType()
        return T.TimestampType() if dtype.time_zone else T.TimestampNTZType()
    raise SourceError(
        f"column {name!r} has type {dtype}, which Spark cannot hold exactly "
        "(its times have microsecond resolution); use the local engine, or cast "
        "the column to microseconds first if the nanoseconds are not needed"
    )


def spark_schema(schema: pl.Schema, *, encoded: bool = False):
    """The Spark ``StructType`` for a polars schema (see :func:`spark_type`)."""
    from pyspark.sql import types as T

    return T.StructType(
        [
            T.StructField(n, spark_type(n, d, encoded=encoded), True)
            for n, d in schema.items()
        ]
    )


def _arrow_schema(session, struct):
    from pyspark.sql.pandas.types import to_arrow_schema

    large = session.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false")
    return to_arrow_schema(
        struct,
        timezone=session.conf.get("spark.sql.session.timeZone"),
        prefers_large_types=str(large).lower() == "true",
    )


def _polars_schema(session, struct) -> pl.Schema:
    return pl.from_arrow(_arrow_schema(session, struct).empty_table()).schema


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# ----------------------------------------------------------------- sources
class SparkSource(Source):
    """A table the Spark engine reads: Parquet read tasks or a Spark DataFrame.

    Attributes
    ----------
    schema : polars.Schema
        Column types as the kernels see them.
    num_rows : int or None
        Rows, when known without a pass (Parquet footers, in-memory tables).
    tasks : list of ReadTask or None
        Contiguous read tasks of a Parquet input, one per partition.
    frame : pyspark.sql.DataFrame or None
        The DataFrame, for inputs Spark reads itself.
    """

    def __init__(
        self,
        schema: pl.Schema,
        num_rows: int | None,
        *,
        description: str,
        session,
        tasks: list[ReadTask] | None = None,
        frame=None,
    ) -> None:
        super().__init__(schema, num_rows)
        self.description = description
        self.session = session
        self.tasks = tasks
        self.frame = frame

    @property
    def df(self):
        """The table as a Spark DataFrame (built on demand for Parquet tasks)."""
        if self.frame is not None:
            return self.frame
        struct = spark_schema(self.schema)
        source = W.PartitionInput(tuple(self.columns), ARROW_BATCH_ROWS, self._tasks)
        arrow = _arrow_schema(self.session, struct)
        job = partial(_passthrough, schema=arrow)
        func = partial(W.run_partition, source=source, job=job)
        return self._task_range().mapInArrow(func, struct)

    @property
    def _tasks(self) -> tuple[ReadTask, ...]:
        return tuple(self.tasks or ())

    def _task_range(self):
        n = len(self._tasks)
        return self.session.range(0, n, 1, numPartitions=max(1, n))

    def _chunks(self, columns, chunk_rows):
        raise SourceError(
            f"{self.description} is read by Spark; iterate over it with the spark "
            "engine, or open it with modenorm.io.sources.open_source"
        )


def _passthrough(chunks, *, schema):
    for _, chunk in chunks:
        yield from W.to_spark_batches(chunk, schema)


def _is_spark_frame(obj: Any) -> bool:
    module = type(obj).__module__
    return module.startswith("pyspark.sql") and type(obj).__name__ == "DataFrame"


def _frame_source(frame, session, description: str) -> SparkSource:
    try:
        schema = _polars_schema(session, frame.schema)
    except Exception as exc:  # noqa: BLE001 - pyspark raises several kinds here
        raise SourceError(
            f"cannot convert the schema of {description} ({frame.schema.simpleString()}"
            f") to Arrow: {exc}; select the columns to encode first"
        ) from exc
    return SparkSource(
        schema, None, description=description, session=session, frame=frame
    )


def _in_memory_source(frame: pl.DataFrame, description: str, session) -> SparkSource:
    struct = spark_schema(frame.schema)
    table = frame.to_arrow().cast(_arrow_schema(session, struct))
    df = session.createDataFrame(table, schema=struct)
    return SparkSource(
        _polars_schema(session, struct),
        frame.height,
        description=description,
        session=session,
        frame=df,
    )


def open_spark_source(source: Any, engine: SparkEngine) -> SparkSource:
    """Open anything the Spark engine reads.

    Parameters
    ----------
    source : Spark DataFrame, Parquet path, folder, glob or URI, list of
        paths, or a polars, pandas or Arrow table
        Local Parquet files are split into read tasks in the local engine's
        row order; URIs such as ``hdfs://...`` or ``s3a://...`` are read by
        Spark; in-memory tables are converted to a Spark DataFrame.
    engine : SparkEngine
        Gives the session and the number of partitions.

    Returns
    -------
    SparkSource

    Raises
    ------
    SourceError
        The source does not exist, is not Parquet, or has types Spark cannot
        hold.
    """
    if isinstance(source, SparkSource):
        return source
    session = engine.session
    if _is_spark_frame(source):
        return _frame_source(source, session, "the Spark DataFrame")
    paths = source if isinstance(source, list | tuple) else [source]
    if paths and all(isinstance(p, str) and _URI.match(p) for p in paths):
        if not all(p.startswith("file://") for p in paths):
            frame = session.read.parquet(*paths)
            return _frame_source(frame, session, repr(paths[0]))
        paths = [p[len("file://") :] for p in paths]
        source = paths[0] if len(paths) == 1 else paths
    local = open_source(source)
    if isinstance(local, ParquetSource):
        return _parquet_source(local, engine)
    if isinstance(local, FrameSource):
        return _in_memory_source(local.frame, local.description, session)
    if isinstance(source, pl.LazyFrame) and isinstance(local, LazySource):
        return _in_memory_source(source.collect(), local.description, session)
    raise SourceError(
        f"the spark engine reads Parquet, not {local.description}; convert it to "
        "Parquet, or read it with Spark (spark.read.csv) and pass the DataFrame"
    )


def _parquet_source(local: ParquetSource, engine: SparkEngine) -> SparkSource:
    n = engine.partitions_for(local.num_rows, local.schema)
    tasks = plan_read_tasks(local.paths, n)
    logger.info(
        "%s: %d rows in %d files, read as %d partitions",
        local.description,
        local.num_rows,
        len(local.paths),
        len(tasks),
    )
    return SparkSource(
        local.schema,
        local.num_rows,
        description=local.description,
        session=engine.session,
        tasks=tasks,
    )


# ------------------------------------------------------------------ engine
class SparkEngine:
    """Run summaries, encoding and decoding as Spark jobs.

    Parameters
    ----------
    master : str, optional
        Spark master of a session the engine starts (default ``local[*]``);
        an active session is used as it is.
    partitions : int, optional
        Partitions of a Parquet input (default: :func:`choose_partitions`
        from the row count, the row width and the cluster's cores). For a
        Spark DataFrame its own partitioning is kept, except by the fit.
    progress : Progress, optional
        Receives rows done per stage.
    chunk_rows : int, default 131072
        Rows per chunk inside a partition.
    """

    name = "spark"

    def __init__(
        self,
        *,
        master: str | None = None,
        partitions: int | None = None,
        progress: Progress | None = None,
        chunk_rows: int = ARROW_BATCH_ROWS,
    ) -> None:
        if partitions is not None and not (
            isinstance(partitions, int) and partitions >= 1
        ):
            raise ValueError(
                f"partitions must be a positive integer, got {partitions!r}"
            )
        self.master = master
        self.partitions = partitions
        self.progress = progress or Progress(enabled=False)
        self.chunk_rows = chunk_rows
        self._session = None

    @property
    def session(self):
        """The Spark session (started on first use)."""
        if self._session is None:
            self._session = spark_session(self.master)
        return self._session

    @property
    def cores(self) -> int:
        """Cores Spark runs tasks on (``defaultParallelism``)."""
        return int(self.session.sparkContext.defaultParallelism)

    def partitions_for(self, rows: int | None, schema: pl.Schema) -> int:
        """Partitions for a table: the user's number, or one from size and cores."""
        return choose_partitions(rows, row_bytes(schema), self.cores, self.partitions)

    # ---------------------------------------------------------------- jobs
    def _mapped(
        self, src: SparkSource, columns, job, struct, *, ordered: bool, fit=False
    ):
        """``mapInArrow`` of ``job`` over the source's partitions.

        ``ordered`` gives every partition the index of its first row (a counting
        job for DataFrames); ``fit`` lets a DataFrame be repartitioned to the
        engine's ``partitions``, since summaries do not depend on row order.
        """
        from pyspark.sql import functions as F

        src.check_columns(columns)
        if src.frame is None:
            source = W.PartitionInput(tuple(columns), self.chunk_rows, src._tasks)
            base = src._task_range()
        else:
            # positional names: pyspark's mapInArrow cannot resolve dotted ones
            base = src.frame.select(
                [F.col(_quoted(c)).alias(f"_{i}") for i, c in enumerate(columns)]
            )
            if self.partitions is not None and fit:
                base = base.repartition(self.partitions)
            offsets = self._row_offsets(base) if ordered else None
            source = W.PartitionInput(tuple(columns), self.chunk_rows, offsets=offsets)
        func = partial(W.run_partition, source=source, job=job)
        return base.mapInArrow(func, struct)

    def _row_offsets(self, frame) -> tuple[int, ...]:
        """Index of the first row of every partition (one counting job)."""
        counts = frame.mapInArrow(W.count_rows, "pid long, rows long").toArrow()
        rows = np.zeros(frame.rdd.getNumPartitions(), dtype=np.int64)
        rows[counts.column("pid").to_numpy()] = counts.column("rows").to_numpy()
        starts = np.concatenate(([0], np.cumsum(rows)[:-1]))
        return tuple(int(s) for s in starts)

    def _run_stage(self, name: str, total: int | None, action):
        """Run ``action`` (Spark jobs) as one progress stage of ``total`` rows.

        While it runs, a thread polls Spark's status tracker and advances the
        stage by the share of the jobs' tasks that have finished.
        """
        task = self.progress.stage(name, total)
        sc = self.session.sparkContext
        group = f"modenorm-{uuid.uuid4().hex[:12]}"
        sc.setJobGroup(group, f"modenorm {name}")
        stop = threading.Event()
        done = [0]
        watcher = threading.Thread(
            target=_watch_jobs, args=(sc, group, total, task, stop, done), daemon=True
        )
        watcher.start()
        try:
            result = action()
            stop.set()
            watcher.join()
            if total:
                task.advance(total - done[0])
            return result
        finally:
            stop.set()
            sc.setLocalProperty("spark.jobGroup.id", None)
            sc.setLocalProperty("spark.job.description", None)
            task.close()

    # ----------------------------------------------------------- summaries
    def summarize(
        self, src: SparkSource, specs: list[ColumnSpec], *, bins: int, grid_cells: int
    ) -> tuple[dict, dict, dict]:
        """Both summary passes, merged by Spark: scans, histograms, categories.

        Returns the same objects as the local engine's ``summarize_local``:
        ``(scans, histograms, categories)``, dicts keyed by column name.
        """
        names = [s.name for s in specs]
        first = self._mapped(
            src,
            names,
            partial(W.scan_job, specs=specs),
            W.SCAN_DDL,
            ordered=False,
            fit=True,
        )
        table = self._run_stage(
            "summary pass", src.num_rows, lambda: _merge_scans(first).toArrow()
        )
        scans, cats = _scans_from_rows(pl.from_arrow(table), specs)
        numeric = [s for s in specs if s.kind != "categorical"]
        hists = {
            s.name: Histogram(s, scans[s.name], bins=bins, grid_cells=grid_cells)
            for s in numeric
        }
        if numeric and any(scans[s.name].n_values for s in numeric):
            job = partial(
                W.histogram_job,
                specs=numeric,
                scans={s.name: scans[s.name] for s in numeric},
                bins=bins,
                grid_cells=grid_cells,
            )
            second = self._mapped(
                src, [s.name for s in numeric], job, W.HIST_DDL, ordered=False, fit=True
            )
            rows = next(iter(scans.values())).n_rows if scans else None
            table = self._run_stage(
                "histogram pass", rows, lambda: _merge_bins(second).toArrow()
            )
            _fill_histograms(hists, pl.from_arrow(table))
        return scans, hists, cats

    def refine(self, src: SparkSource, zooms: dict) -> dict:
        """One more pass filling zoomed moment histograms of some columns.

        ``zooms`` maps column names to empty
        :class:`~modenorm.summarize.refine.Zoom` objects; they are returned
        filled, merged by Spark as the histograms are.
        """
        job = partial(W.zoom_job, zooms=zooms)
        rows = self._mapped(src, list(zooms), job, W.HIST_DDL, ordered=False, fit=True)
        table = self._run_stage(
            "refine pass", src.num_rows, lambda: _merge_bins(rows).toArrow()
        )
        _fill_histograms(zooms, pl.from_arrow(table), moments=True)
        return zooms

    # ------------------------------------------------------ encode, decode
    def _codec_job(self, transformer, layout: str, schema: pl.Schema, *, encoded):
        struct = spark_schema(schema, encoded=encoded)
        job = W.CodecJob(
            key=uuid.uuid4().hex,
            model=transformer.model_.to_dict(),
            unseen=transformer.unseen,
            layout=layout,
            schema=_arrow_schema(self.session, struct),
        )
        return job, struct

    def transform(
        self,
        transformer,
        src: SparkSource,
        *,
        layout: str,
        output=None,
        overwrite: bool = False,
        compression: str = "zstd",
    ):
        """Encode ``src`` with ``transformer``'s model inside ``mapInArrow``.

        Returns
        -------
        pyspark.sql.DataFrame or Path
            The encoded table (lazy) when ``output`` is None, else the path of
            the Parquet folder written.
        """
        names = [c.name for c in transformer.codecs]
        empty = pl.DataFrame(schema={n: src.schema[n] for n in names})
        encoded = transformer.encode_chunk(empty, 0, layout)
        job, struct = self._codec_job(transformer, layout, encoded.schema, encoded=True)
        frame = self._mapped(
            src, names, partial(W.encode_job, job=job), struct, ordered=True
        )
        if output is None:
            return frame
        return self._write("transform", frame, output, overwrite, compression, src)

    def inverse(
        self,
        transformer,
        src: SparkSource,
        *,
        layout: str,
        output=None,
        overwrite: bool = False,
        compression: str = "zstd",
        clip: bool = False,
    ):
        """Decode ``src`` (either layout) inside ``mapInArrow``.

        Returns
        -------
        pyspark.sql.DataFrame or Path
            The decoded table (lazy) when ``output`` is None, else the path of
            the Parquet folder written.
        """
        wanted = set(transformer.output_columns(layout))
        names = [n for n in src.columns if n in wanted]
        empty = pl.DataFrame(schema={n: src.schema[n] for n in names})
        decoded = transformer.decode_chunk(empty, layout)
        job, struct = self._codec_job(
            transformer, layout, decoded.schema, encoded=False
        )
        decode = partial(W.decode_job, job=job, clip=clip)
        frame = self._mapped(src, names, decode, struct, ordered=False)
        if output is None:
            return frame
        return self._write("inverse", frame, output, overwrite, compression, src)

    # --------------------------------------------------------------- output
    def _write(self, stage, frame, output, overwrite, compression, src) -> Path | str:
        if compression not in COMPRESSIONS:
            raise ValueError(
                f"compression {compression!r} is not one of {', '.join(COMPRESSIONS)}"
            )
        target = _OutputPath(self.session, output)
        target.check(overwrite)
        tmp = target.temporary()
        try:
            self._run_stage(
                stage,
                src.num_rows,
                lambda: (
                    frame.write.option("compression", _SPARK_CODECS[compression])
                    .mode("errorifexists")
                    .parquet(tmp)
                ),
            )
            written = self.session.read.parquet(tmp).count()
            if src.num_rows is not None and written != src.num_rows:
                raise ModenormError(
                    f"wrote {written} rows but the input has {src.num_rows}; "
                    "nothing was committed; the input changed while it was read, "
                    "or it is damaged"
                )
            return target.commit(tmp, overwrite)
        finally:
            target.discard(tmp)

    # ------------------------------------------------------------- spark-ml
    def fit_spark_ml(self, src, specs, scans, hists, cats, opts) -> list:
        """Fit every column, mixtures with Spark ML's ``GaussianMixture``.

        See :func:`modenorm.engines._spark_ml.fit_columns`.
        """
        from modenorm.engines._spark_ml import fit_columns

        return fit_columns(self, src, specs, scans, hists, cats, opts)

    def column_values(self, src: SparkSource, spec: ColumnSpec, scan: NumericScan):
        """A DataFrame ``x double`` of the values a column's mixture is fitted on."""
        job = partial(W.values_job, spec=spec, scan=scan)
        return self._mapped(src, [spec.name], job, "x double", ordered=False, fit=True)


def _watch_jobs(sc, group, total, task, stop, done, interval=0.5) -> None:
    """Advance ``task`` by the finished share of the tasks of ``group``'s jobs."""
    if not total:
        return
    tracker = sc.statusTracker()
    while not stop.wait(interval):
        n_tasks = n_done = 0
        for job_id in tracker.getJobIdsForGroup(group):
            job = tracker.getJobInfo(job_id)
            for stage_id in job.stageIds if job else ():
                info = tracker.getStageInfo(stage_id)
                if info is not None:
                    n_tasks += info.numTasks
                    n_done += info.numCompletedTasks
        if n_tasks and not stop.is_set():
            rows = min(total, total * n_done // n_tasks)
            if rows > done[0]:
                task.advance(rows - done[0])
                done[0] = rows


# -------------------------------------------------------------- merging
def _merge_scans(rows):
    from pyspark.sql import functions as F

    dec = F.col("dec")
    return rows.groupBy("column", "part", "key", "s", "i", "b", "is_null").agg(
        *[F.sum(f"c{k}").alias(f"c{k}") for k in range(6)],
        F.min("fmin").alias("fmin"),
        F.max("fmax").alias("fmax"),
        F.min("imin").alias("imin"),
        F.max("imax").alias("imax"),
        F.min(F.when(dec != -2, dec)).alias("dmin"),
        F.max(dec).alias("dmax"),
    )


def _merge_bins(rows):
    from pyspark.sql import functions as F

    return rows.groupBy("column", "bin").agg(
        F.sum("count").alias("count"),
        F.sum("s1").alias("s1"),
        F.sum("s2").alias("s2"),
        F.min("bmin").alias("bmin"),
        F.max("bmax").alias("bmax"),
    )


def _scan_from_row(spec: ColumnSpec, row: dict, specials: pl.DataFrame):
    counts = np.zeros(len(spec.specials), dtype=np.int64)
    if specials.height:
        counts[specials["key"].to_numpy()] = specials["c0"].to_numpy()
    scan = NumericScan(
        n_rows=int(row["c0"]),
        n_null=int(row["c1"]),
        n_values=int(row["c2"]),
        n_nan=int(row["c3"]),
        n_posinf=int(row["c4"]),
        n_neginf=int(row["c5"]),
        special_counts=counts,
    )
    if scan.n_values:
        if spec.physical == "int":
            scan.vmin, scan.vmax = int(row["imin"]), int(row["imax"])
        else:
            scan.vmin, scan.vmax = float(row["fmin"]), float(row["fmax"])
    dmin = row["dmin"]
    scan.decimals = -2 if dmin is None else (-1 if dmin == -1 else int(row["dmax"]))
    return scan


def _category_counts(spec: ColumnSpec, rows: pl.DataFrame) -> CategoryCounts:
    counts = CategoryCounts(spec.name, spec.dtype)
    if not rows.height:
        return counts
    slot = W._category_slot(spec.dtype)
    values = rows[slot]
    if _dtype_name(spec.dtype) in ("Categorical", "Enum"):
        values = values.cast(pl.String).cast(spec.dtype)
    else:
        values = values.cast(spec.dtype)
    counts.add_counts(
        pl.DataFrame({"value": values, "count": rows["c0"].cast(pl.UInt64)})
    )
    return counts


def _scans_from_rows(table: pl.DataFrame, specs: list[ColumnSpec]):
    scans, cats = {}, {}
    for spec in specs:
        mine = table.filter(pl.col("column") == spec.name)
        if spec.kind == "categorical":
            cats[spec.name] = _category_counts(
                spec, mine.filter(pl.col("part") == "cat")
            )
            continue
        scan_rows = mine.filter(pl.col("part") == "scan").to_dicts()
        if not scan_rows:
            scans[spec.name] = NumericScan()
            continue
        specials = mine.filter(pl.col("part") == "special")
        scans[spec.name] = _scan_from_row(spec, scan_rows[0], specials)
    return scans, cats


def _fill_histograms(hists: dict, table: pl.DataFrame, moments=None) -> None:
    """Write merged bins into zeroed histograms (or zooms), keyed by column."""
    for name, hist in hists.items():
        rows = table.filter(pl.col("column") == name)
        if not rows.height:
            continue
        idx = rows["bin"].to_numpy()
        hist.counts[idx] = rows["count"].to_numpy()
        if moments or (moments is None and hist.mode == "moments"):
            hist.s1[idx] = rows["s1"].to_numpy()
            hist.s2[idx] = rows["s2"].to_numpy()
            hist.bmin[idx] = rows["bmin"].to_numpy()
            hist.bmax[idx] = rows["bmax"].to_numpy()


# --------------------------------------------------------------- output
class _OutputPath:
    """An output folder written under a temporary name, then renamed into place.

    Local paths use the operating system; URIs (``hdfs://``, ``s3a://``, ...)
    use Hadoop's file system of the session.
    """

    def __init__(self, session, output) -> None:
        self.session = session
        text = os.fspath(output)
        self.remote = bool(_URI.match(text)) and not text.startswith("file://")
        self.text = text
        self.path = None if self.remote else Path(text.removeprefix("file://"))

    def _fs(self, text: str):
        jvm = self.session._jvm
        hpath = jvm.org.apache.hadoop.fs.Path(text)
        conf = self.session._jsc.hadoopConfiguration()
        return hpath.getFileSystem(conf), hpath

    def check(self, overwrite: bool) -> None:
        if not self.remote:
            check_output(self.path, overwrite)
            return
        fs, hpath = self._fs(self.text)
        if fs.exists(hpath) and not overwrite:
            raise OutputExistsError(
                f"output {self.text!r} exists already; pass --overwrite "
                "(overwrite=True) to replace it, or choose another path"
            )

    def temporary(self) -> str:
        tag = f".partial-{uuid.uuid4().hex[:8]}"
        if self.remote:
            head, _, name = self.text.rstrip("/").rpartition("/")
            return f"{head}/.{name}{tag}"
        return os.path.abspath(self.path.with_name(f".{self.path.name}{tag}"))

    def commit(self, tmp: str, overwrite: bool) -> Path | str:
        if self.remote:
            fs, hpath = self._fs(self.text)
            if fs.exists(hpath) and overwrite:
                fs.delete(hpath, True)
            if not fs.rename(self._fs(tmp)[1], hpath):
                raise SourceError(f"cannot move {tmp!r} to {self.text!r}")
            return self.text
        if self.path.exists() or self.path.is_symlink():
            if self.path.is_dir() and not self.path.is_symlink():
                shutil.rmtree(self.path)
            else:
                self.path.unlink()
        os.replace(tmp, self.path)
        return self.path

    def discard(self, tmp: str) -> None:
        if self.remote:
            fs, hpath = self._fs(tmp)
            if fs.exists(hpath):
                fs.delete(hpath, True)
        elif os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
