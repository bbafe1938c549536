"""Helpers shared by the benchmark scripts: machine, memory, workers, tables.

Every measured tool runs in a fresh worker process (the benchmark script
itself, with ``--worker``), so that peak memory is that of the tool alone and
no import or cache of one tool helps another. A worker prints one JSON object
as its last line of output.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow.parquet as pq


def machine() -> dict:
    """Cores, memory and CPU model of this machine."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    try:
        import llvmlite.binding as llvm

        model = f"{model}, {llvm.get_host_cpu_name()}"
    except ImportError:
        pass
    return {
        "cpu": model,
        "cores": cores,
        "memory_gib": psutil.virtual_memory().total / 2**30,
        "python": platform.python_version(),
        "load": os.getloadavg()[0],
    }


def machine_line(info: dict | None = None) -> str:
    """One Markdown line describing the machine."""
    info = info or machine()
    return (
        f"Machine: {info['cores']} cores ({info['cpu']}), "
        f"{info['memory_gib']:.0f} GiB memory, Python {info['python']}; "
        f"load average {info['load']:.2f} at the start."
    )


def versions(*names: str) -> str:
    """Installed versions of some packages, as ``name x.y``."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in names:
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


class PeakRSS:
    """Sample this process's resident memory in a thread; keep the peak.

    Call :meth:`reset` at the start of a stage and read :attr:`peak` at its
    end for the stage's peak.
    """

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def reset(self) -> None:
        """Start a new stage: the peak becomes the current resident memory."""
        self.peak = self.process.memory_info().rss

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()


class Stages:
    """Time stages of a worker and record each one's peak memory."""

    def __init__(self) -> None:
        self.rss = PeakRSS()
        self.result: dict = {}

    def run(self, name: str, func):
        """Run ``func()`` as stage ``name``; record seconds and peak MiB."""
        self.rss.reset()
        t0 = time.perf_counter()
        c0 = time.process_time()
        value = func()
        self.result[f"{name}_s"] = time.perf_counter() - t0
        self.result[f"{name}_cpu_s"] = time.process_time() - c0
        self.rss.peak = max(self.rss.peak, self.rss.process.memory_info().rss)
        self.result[f"{name}_peak_mib"] = self.rss.peak / 2**20
        self.result[f"{name}_load"] = os.getloadavg()[0]
        return value


def emit(result: dict) -> None:
    """Print a worker's result as the last line of its output."""
    print(json.dumps(result, default=float), flush=True)


def run_worker(script: str, args: list[str], *, timeout: float | None = None) -> dict:
    """Run ``script --worker ...`` in a fresh process and return its result."""
    cmd = [sys.executable, script, "--worker", *args]
    # A session of its own, so that a timeout also stops the worker's children
    # (Spark's JVM).
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"stopped after {timeout / 60:.0f} min"}
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (stderr or stdout).strip().splitlines()[-15:]
        return {"error": f"exit code {proc.returncode}", "log": "\n".join(tail)}
    return json.loads(lines[-1])


def mismatches(original: str | Path, decoded: str | Path, columns: list[str]) -> int:
    """Values that differ between two Parquet files (floats bit for bit)."""
    bad = 0
    a_batches = pq.ParquetFile(original).iter_batches(1 << 20, columns=columns)
    b_batches = pq.ParquetFile(decoded).iter_batches(1 << 20, columns=columns)
    for a, b in zip(a_batches, b_batches, strict=True):
        for name in columns:
            x, y = a.column(name), b.column(name)
            nx = np.asarray(x.is_null())
            ny = np.asarray(y.is_null())
            vx = x.fill_null(0).to_numpy(zero_copy_only=False)
            vy = y.fill_null(0).to_numpy(zero_copy_only=False)
            if vx.dtype.kind == "f":
                vx = vx.astype(np.float64).view(np.int64)
                vy = vy.astype(np.float64).view(np.int64)
            bad += int(np.count_nonzero((nx != ny) | (~nx & (vx != vy))))
    return bad


def human_rows(n: int) -> str:
    """1000000 -> '1M'."""
    for scale, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{suffix}"
    return f"{n:,}"


def fmt_seconds(s: float | None) -> str:
    """Seconds with a sensible number of digits, or a dash."""
    if s is None:
        return "–"
    if s >= 100:
        return f"{s:.0f}"
    if s >= 10:
        return f"{s:.1f}"
    return f"{s:.2f}"


def fmt_rate(rows: int, seconds: float | None) -> str:
    """Rows per second as ``12.3 M``."""
    if not seconds:
        return "–"
    rate = rows / seconds
    if rate >= 1e6:
        return f"{rate / 1e6:.1f} M"
    if rate >= 1e4:
        return f"{rate / 1e3:.0f} K"
    return f"{rate:,.0f}"


def fmt_ratio(ratio: float) -> str:
    """A time ratio: ``250x``, ``3.5x`` or ``0.42x``."""
    if ratio >= 10:
        return f"{ratio:.0f}x"
    if ratio >= 1:
        return f"{ratio:.1f}x"
    return f"{ratio:.2f}x"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def free_bytes(path: str | Path) -> int:
    """Free disk space where ``path`` lives."""
    return psutil.disk_usage(str(path)).free
