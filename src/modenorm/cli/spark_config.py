"""``modenorm spark-config``: Spark settings for a data size and a machine.

The advice follows from where modenorm's work happens: in Spark's Python
workers (reading Parquet, the numba kernels), not in the JVM heap; the only
shuffle is the merge of the summaries, at most ``bins`` rows per column. So
the JVM needs little memory, Python workers need room for their chunks and
histograms, and shuffle partitions can be few. Nothing here imports pyspark.
"""

from __future__ import annotations

import argparse
import math
import os
import re

from modenorm.engines._spark_plan import (
    TARGET_PARTITION_BYTES,
    choose_partitions,
)

__all__ = ["add_parser", "recommend", "run"]

GIB = 1 << 30
MIB = 1 << 20
CHUNK_ROWS = 1 << 17  # rows per chunk in a Spark task (engines.spark)
DISK_RATIO = 2.0  # in-memory bytes per Parquet byte, a typical compression
OS_RESERVE = GIB  # left to the operating system on every machine
EXAMPLE = "modenorm spark-config --rows 1e9 --columns 2 --cores 16 --memory 64g"

_UNITS = {"": 1, "k": 1 << 10, "m": MIB, "g": GIB, "t": 1 << 40}
_COUNTS = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}


def parse_bytes(text: str) -> int:
    """Parse a size such as ``64g``, ``512MiB``, ``1.5T`` or ``1000000``."""
    match = re.fullmatch(r"\s*([0-9.eE+_]+)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"size {text!r} is not understood; write e.g. 64g, 512MiB or 1.5T"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_count(text: str) -> int:
    """Parse a count such as ``1e9``, ``10M``, ``2.5B`` or ``1_000_000``."""
    match = re.fullmatch(r"\s*([0-9.eE+_]+)\s*([kKmMbBgGtT]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"count {text!r} is not understood; write e.g. 1e9, 10M or 2.5B"
        )
    value = int(float(match.group(1)) * _COUNTS[match.group(2).lower()])
    if value < 1:
        raise argparse.ArgumentTypeError(f"count must be at least 1, got {text!r}")
    return value


def _this_machine() -> tuple[int, int]:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 8 * GIB
    return max(1, cores), int(memory)


def _size(n: float) -> str:
    """Spark's notation, rounded down to whole MiB or GiB."""
    if n >= 4 * GIB:
        return f"{int(n // GIB)}g"
    return f"{max(1, int(n // MIB))}m"


def _human(n: float) -> str:
    for unit, scale in (("TiB", 1 << 40), ("GiB", GIB), ("MiB", MIB), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def _pow2_floor(n: float) -> int:
    return 1 << max(0, int(math.floor(math.log2(max(n, 1)))))


def recommend(
    *,
    rows: int | None = None,
    columns: int = 2,
    data_bytes: int | None = None,
    cores: int | None = None,
    memory: int | None = None,
    nodes: int = 0,
    bins: int = 1 << 18,
) -> dict:
    """Recommend Spark settings for modenorm.

    Parameters
    ----------
    rows : int, optional
        Rows of the table. Estimated from ``data_bytes`` when not given.
    columns : int, default 2
        Columns modenorm encodes.
    data_bytes : int, optional
        Size of the Parquet input on disk (else estimated from rows).
    cores, memory : int, optional
        Cores and bytes of memory of one machine (default: this machine).
    nodes : int, default 0
        Worker machines of a cluster; 0 means Spark in local mode on one
        machine.
    bins : int, default 262144
        Histogram bins per numeric column (``--bins`` of ``modenorm fit``).

    Returns
    -------
    dict
        ``settings`` (Spark configuration keys to values), ``reasons`` (one
        line per key), ``partitions`` (modenorm's ``--partitions``), ``mode``
        and the inputs as understood.
    """
    here_cores, here_memory = _this_machine()
    cores = cores or here_cores
    memory = memory or here_memory
    width = 8 * max(1, columns)
    if rows is None and data_bytes is None:
        raise ValueError("give the data size: rows (--rows) or bytes (--bytes)")
    estimated = rows is None
    if estimated:
        rows = max(1, int(data_bytes * DISK_RATIO / width))
    table_bytes = rows * width
    disk_bytes = data_bytes or int(table_bytes / DISK_RATIO)
    total_cores = cores * nodes if nodes else cores
    if nodes:
        settings, reasons = _cluster(cores, memory, nodes, columns, bins)
    else:
        settings, reasons = _local(cores, memory, columns, bins)
    partitions = choose_partitions(rows, width, total_cores)
    per_partition = table_bytes / partitions
    split = min(TARGET_PARTITION_BYTES, max(16 * MIB, disk_bytes // (2 * total_cores)))
    batch = min(1 << 20, max(10_000, _pow2_floor(32 * MIB / width)))
    summary = bins * columns * 56
    shuffle = max(2, min(200, 2 * total_cores))
    settings.update(
        {
            "spark.sql.shuffle.partitions": str(shuffle),
            "spark.sql.files.maxPartitionBytes": _size(split),
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            "spark.sql.execution.arrow.maxRecordsPerBatch": str(batch),
            "spark.driver.maxResultSize": _size(max(GIB, 4 * summary)),
        }
    )
    reasons.update(
        {
            "spark.sql.shuffle.partitions": (
                f"modenorm shuffles only its summaries (at most {bins:,} bins x "
                f"{columns} columns = {_human(summary)}), never rows: two "
                f"partitions per core ({total_cores} cores) are plenty; Spark's "
                "200 would mostly schedule empty tasks"
            ),
            "spark.sql.files.maxPartitionBytes": (
                f"for inputs Spark reads itself (DataFrames, remote URIs): "
                f"{_human(disk_bytes)} on disk in splits of at most 128 MiB, "
                f"small enough that each of the {total_cores} cores gets two"
            ),
            "spark.sql.execution.arrow.pyspark.enabled": (
                "mapInArrow moves columns between the JVM and Python as Arrow"
            ),
            "spark.sql.execution.arrow.maxRecordsPerBatch": (
                f"rows of {width} bytes: {batch:,} rows make about "
                f"{_human(batch * width)} per batch, so the per-batch cost of the "
                "kernels is amortised (Spark's default is 10,000)"
            ),
            "spark.driver.maxResultSize": (
                f"the driver collects the merged summaries, about {_human(summary)}"
            ),
        }
    )
    return {
        "mode": "cluster" if nodes else "local",
        "rows_estimated": estimated,
        "rows": rows,
        "columns": columns,
        "table_bytes": table_bytes,
        "cores": total_cores,
        "memory_per_machine": memory,
        "partitions": partitions,
        "partition_reason": (
            f"{rows:,} rows x {width} bytes = {_human(table_bytes)}; "
            f"{partitions} partitions of about {_human(per_partition)}: two tasks "
            f"per core ({total_cores} cores), at most 128 MiB and at least "
            "131,072 rows each"
        ),
        "settings": settings,
        "reasons": reasons,
    }


def _python_need(columns: int, bins: int) -> int:
    """Memory of one Spark task's Python worker: chunks in and out, histograms."""
    chunk = CHUNK_ROWS * 8 * max(1, columns) * 6
    histograms = bins * 40 * max(1, columns)
    return chunk + histograms + 256 * MIB


def _local(cores: int, memory: int, columns: int, bins: int):
    python = cores * _python_need(columns, bins)
    driver = min(8 * GIB, max(GIB, (memory - OS_RESERVE - python) // 4))
    settings = {
        "spark.master": f"local[{cores}]",
        "spark.driver.memory": _size(driver),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
    }
    reasons = {
        "spark.master": f"one machine, {cores} cores, all used by tasks",
        "spark.driver.memory": (
            f"in local mode the driver JVM also runs the executors, but modenorm "
            f"computes in Python workers outside the heap ({cores} x "
            f"{_human(_python_need(columns, bins))} = {_human(python)}); a quarter "
            f"of the rest of {_human(memory)}, at most 8 GiB, leaves the page "
            "cache room for the Parquet files"
        ),
        "spark.driver.host": "bind the local session to the loopback interface",
        "spark.driver.bindAddress": "bind the local session to the loopback interface",
        "spark.ui.enabled": "no web UI port is opened",
    }
    return settings, reasons


def _cluster(cores: int, memory: int, nodes: int, columns: int, bins: int):
    usable = max(1, cores - 1)
    per_executor_cores = min(5, usable)
    executors_per_node = max(1, usable // per_executor_cores)
    executors = nodes * executors_per_node
    per_executor = (memory - OS_RESERVE) / executors_per_node
    python = max(per_executor_cores * _python_need(columns, bins), per_executor * 0.5)
    python = min(python, per_executor * 0.6)
    overhead = max(384 * MIB, per_executor * 0.1)
    heap = max(GIB, per_executor - python - overhead)
    settings = {
        "spark.executor.instances": str(executors),
        "spark.executor.cores": str(per_executor_cores),
        "spark.executor.memory": _size(heap),
        "spark.executor.pyspark.memory": _size(python),
        "spark.executor.memoryOverhead": _size(overhead),
        "spark.driver.memory": "4g",
        "spark.python.worker.reuse": "true",
    }
    reasons = {
        "spark.executor.instances": (
            f"{nodes} machines x {executors_per_node} executors, one core per "
            "machine left to the OS and the node manager"
        ),
        "spark.executor.cores": (
            "up to 5 concurrent tasks per executor keeps file-system clients efficient"
        ),
        "spark.executor.memory": (
            f"of {_human(per_executor)} per executor the JVM heap only buffers "
            "Arrow batches and Parquet pages: it gets what Python and the "
            "overhead leave"
        ),
        "spark.executor.pyspark.memory": (
            f"the kernels run in Python: {per_executor_cores} tasks x "
            f"{_human(_python_need(columns, bins))} (chunks, histograms, "
            "interpreter), with headroom"
        ),
        "spark.executor.memoryOverhead": "off-heap Arrow buffers and JVM overhead",
        "spark.driver.memory": (
            "the driver fits mixtures on merged summaries, never rows: 4 GiB is ample"
        ),
        "spark.python.worker.reuse": (
            "each Python worker imports numba and loads its compiled kernels once"
        ),
    }
    return settings, reasons


def format_recommendation(rec: dict) -> str:
    """The recommendation as text: settings, each with its reason."""
    lines = [
        f"Spark settings for {rec['rows']:,} rows x {rec['columns']} columns "
        f"({_human(rec['table_bytes'])} in memory"
        f"{', estimated from the Parquet size' if rec['rows_estimated'] else ''}), "
        f"{rec['mode']} mode, "
        f"{rec['cores']} cores:",
        "",
    ]
    for key, value in rec["settings"].items():
        lines.append(f"  {key} = {value}")
        lines.append(f"      {rec['reasons'][key]}")
    lines += [
        "",
        f"  modenorm --partitions {rec['partitions']}",
        f"      {rec['partition_reason']}",
        "",
        "as spark-submit options:",
        "  "
        + " ".join(
            f"--conf {k}={v}" for k, v in rec["settings"].items() if k != "spark.master"
        ),
    ]
    return "\n".join(lines)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``spark-config`` on the command line's subparsers."""
    text = "recommend Spark settings for a data size and a machine, with reasons"
    parser = subparsers.add_parser(
        "spark-config",
        help=text,
        description=text,
        epilog=f"example:\n  {EXAMPLE}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_argument_group("data (give rows or bytes)")
    data.add_argument("--rows", type=parse_count, help="rows, e.g. 1e9 or 250M")
    data.add_argument("--columns", type=int, default=2, help="columns (default 2)")
    data.add_argument(
        "--bytes", type=parse_bytes, dest="data_bytes", help="Parquet size, e.g. 40g"
    )
    data.add_argument(
        "--bins", type=int, default=1 << 18, help="histogram bins (default 262144)"
    )
    machine = parser.add_argument_group("machine (default: this one, local mode)")
    machine.add_argument("--cores", type=int, help="cores per machine")
    machine.add_argument("--memory", type=parse_bytes, help="memory per machine")
    machine.add_argument(
        "--nodes",
        type=int,
        default=0,
        help="worker machines of a cluster (default 0: local mode)",
    )
    out = parser.add_argument_group("output and diagnostics")
    out.add_argument("--quiet", action="store_true", help="print nothing")
    out.add_argument("--json", action="store_true", help="print the result as JSON")
    out.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def run(args) -> dict:
    """Run ``spark-config``; print the advice unless ``--quiet`` or ``--json``."""
    for name in ("columns", "bins", "cores", "memory", "nodes"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "nodes" else 1):
            raise ValueError(f"--{name} must be positive, got {value}")
    rec = recommend(
        rows=args.rows,
        columns=args.columns,
        data_bytes=args.data_bytes,
        cores=args.cores,
        memory=args.memory,
        nodes=args.nodes,
        bins=args.bins,
    )
    if not args.quiet and not args.json:
        print(format_recommendation(rec))
    return rec
