"""Parquet to Parquet at scale: modenorm beside RDT and a CTAB-GAN-style transformer.

For each row count, the data are generated chunk by chunk (see ``datagen.py``),
then modenorm fits, transforms and inverts them, Parquet file to Parquet file,
in a fresh process; every decoded value is compared bit for bit with the
input. At the peer row count (1M by default) RDT's ``ClusterBasedNormalizer``
(as CTGAN uses it) and a CTAB-GAN-style scikit-learn transformer do the same
job on the same file, and the table shows how many times longer they take.
Generated data and outputs are deleted as soon as they are no longer needed.

Examples::

    python benchmarks/bench_scale.py                    # 1M, 10M, 100M + peers
    python benchmarks/bench_scale.py --rows 1M,10M --no-peers
    python benchmarks/bench_scale.py --billion          # adds 1B rows

The Markdown table printed at the end can be pasted into the README.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common as C  # noqa: E402
import datagen  # noqa: E402

COLUMNS = {"credit": ["amount", "v1"], "flights": ["dep_delay", "arr_delay"]}
# Bytes per row of input, encoded and decoded files, with room to spare.
DISK_BYTES_PER_ROW = 48
TOOLS = ("modenorm", "rdt", "ctabgan")
TOOL_NAMES = {
    "modenorm": "modenorm",
    "rdt": "RDT ClusterBasedNormalizer",
    "ctabgan": "CTAB-GAN-style (scikit-learn)",
}


# ----------------------------------------------------------------- workers
def work_modenorm(args) -> dict:
    """Fit + transform, then inverse, Parquet to Parquet, in this process."""
    from modenorm import Transformer

    stages = C.Stages()
    enc, dec = Path(args.out) / "encoded.parquet", Path(args.out) / "decoded.parquet"
    opts = {"seed": 0, "continuous": args.columns, "columns": args.columns}
    if args.threads:
        opts["threads"] = args.threads

    def fit_transform():
        t = Transformer(**opts).fit(args.input)
        stages.result["fit_only_s"] = time.perf_counter() - start
        t.transform(args.input, output=enc, compression=args.compression)
        return t

    start = time.perf_counter()
    t = stages.run("fit_transform", fit_transform)
    stages.run(
        "inverse",
        lambda: t.inverse_transform(enc, output=dec, compression=args.compression),
    )
    stages.result["encoded_bytes"] = enc.stat().st_size
    stages.result["alpha_dtypes"] = {c.name: c.alpha_dtype for c in t.model_.columns}
    if args.check:
        stages.result["mismatches"] = C.mismatches(args.input, dec, args.columns)
    return stages.result


def _read_pandas(path, columns):
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=columns).to_pandas()


def _write_pandas(frame, path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def work_rdt(args) -> dict:
    """RDT's ClusterBasedNormalizer, set up as CTGAN's DataTransformer does."""
    import pandas as pd
    from rdt.transformers.numerical import ClusterBasedNormalizer

    stages = C.Stages()
    enc, dec = Path(args.out) / "encoded.parquet", Path(args.out) / "decoded.parquet"

    def fit_transform():
        data = _read_pandas(args.input, args.columns)
        fitted, parts = {}, []
        for name in args.columns:
            ct = ClusterBasedNormalizer(
                missing_value_generation="from_column",
                max_clusters=min(len(data), 10),
                weight_threshold=0.005,
            )
            ct.fit(data, column=name)
            parts.append(ct.transform(data[[name]]))
            fitted[name] = ct
        _write_pandas(pd.concat(parts, axis=1), enc)
        return fitted

    fitted = stages.run("fit_transform", fit_transform)

    def inverse():
        encoded = _read_pandas(enc, None)
        cols = []
        for name, ct in fitted.items():
            part = encoded[[c for c in encoded.columns if c.startswith(f"{name}.")]]
            cols.append(ct.reverse_transform(part)[[name]])
        _write_pandas(pd.concat(cols, axis=1), dec)

    stages.run("inverse", inverse)
    stages.result["encoded_bytes"] = enc.stat().st_size
    if args.check:
        stages.result["mismatches"] = C.mismatches(args.input, dec, args.columns)
    return stages.result


class CtabganStyle:
    """Continuous columns encoded as the CTAB-GAN transformer does.

    A BayesianGaussianMixture per column (10 components, Dirichlet-process
    prior 0.001, 100 iterations, one initialisation); modes are valid when
    their weight exceeds 0.005 and some row predicts them; each row's mode is
    drawn in a Python loop from ``predict_proba + 1e-6`` over the valid
    modes; alpha is clipped to [-0.99, 0.99]; the one-hot block is reordered
    by mode frequency. Decoding takes the arg-max of the block.
    """

    def __init__(self, eps: float = 0.005, n_clusters: int = 10) -> None:
        self.eps = eps
        self.n_clusters = n_clusters
        self.models = {}

    def fit(self, frame, columns) -> CtabganStyle:
        from sklearn.mixture import BayesianGaussianMixture

        for name in columns:
            x = frame[name].to_numpy(dtype=np.float64).reshape(-1, 1)
            gm = BayesianGaussianMixture(
                n_components=self.n_clusters,
                weight_concentration_prior_type="dirichlet_process",
                weight_concentration_prior=0.001,
                max_iter=100,
                n_init=1,
                random_state=42,
            )
            gm.fit(x)
            used = set(np.unique(gm.predict(x)).tolist())
            valid = np.array(
                [w > self.eps and i in used for i, w in enumerate(gm.weights_)]
            )
            self.models[name] = {"gm": gm, "valid": valid}
        return self

    def transform(self, frame):
        import pandas as pd

        out = {}
        for name, m in self.models.items():
            gm, valid = m["gm"], m["valid"]
            x = frame[name].to_numpy(dtype=np.float64).reshape(-1, 1)
            means = gm.means_.reshape(-1)[valid]
            stds = np.sqrt(gm.covariances_).reshape(-1)[valid]
            features = (x - means) / (4 * stds)
            probs = gm.predict_proba(x)[:, valid]
            n_opts = int(valid.sum())
            chosen = np.zeros(len(x), dtype=int)
            for i in range(len(x)):
                pp = probs[i] + 1e-6
                pp = pp / pp.sum()
                chosen[i] = np.random.choice(np.arange(n_opts), p=pp)
            rows = np.arange(len(x))
            alpha = np.clip(features[rows, chosen], -0.99, 0.99)
            onehot = np.zeros_like(probs)
            onehot[rows, chosen] = 1
            order = np.argsort(-onehot.sum(axis=0), kind="stable")
            m["order"] = order
            out[f"{name}.alpha"] = alpha
            for j, k in enumerate(order):
                out[f"{name}.mode.{j}"] = onehot[:, k]
        return pd.DataFrame(out)

    def inverse_transform(self, encoded):
        import pandas as pd

        out = {}
        for name, m in self.models.items():
            gm, valid, order = m["gm"], m["valid"], m["order"]
            u = np.clip(encoded[f"{name}.alpha"].to_numpy(), -1, 1)
            block = encoded[[f"{name}.mode.{j}" for j in range(len(order))]].to_numpy()
            picked = order[np.argmax(block, axis=1)]
            means = gm.means_.reshape(-1)[valid]
            stds = np.sqrt(gm.covariances_).reshape(-1)[valid]
            out[name] = u * 4 * stds[picked] + means[picked]
        return pd.DataFrame(out)


def work_ctabgan(args) -> dict:
    """The CTAB-GAN-style transformer, Parquet to Parquet."""
    np.random.seed(0)
    stages = C.Stages()
    enc, dec = Path(args.out) / "encoded.parquet", Path(args.out) / "decoded.parquet"

    def fit_transform():
        data = _read_pandas(args.input, args.columns)
        tr = CtabganStyle().fit(data, args.columns)
        _write_pandas(tr.transform(data), enc)
        return tr

    tr = stages.run("fit_transform", fit_transform)
    stages.run(
        "inverse",
        lambda: _write_pandas(tr.inverse_transform(_read_pandas(enc, None)), dec),
    )
    stages.result["encoded_bytes"] = enc.stat().st_size
    if args.check:
        stages.result["mismatches"] = C.mismatches(args.input, dec, args.columns)
    return stages.result


WORKERS = {"modenorm": work_modenorm, "rdt": work_rdt, "ctabgan": work_ctabgan}


# ------------------------------------------------------------------ driver
def run_tool(tool, data, rows, args, workdir) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"{tool}-", dir=workdir))
    cmd = ["--tool", tool, "--input", str(data), "--out", str(out)]
    cmd += [
        "--columns",
        ",".join(COLUMNS[args.data]),
        "--compression",
        args.compression,
    ]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if not args.check:
        cmd += ["--no-check"]
    print(f"  {TOOL_NAMES[tool]} on {C.human_rows(rows)} rows ...", flush=True)
    result = C.run_worker(__file__, cmd, timeout=args.timeout)
    shutil.rmtree(out, ignore_errors=True)
    if "error" in result:
        print(f"    failed: {result['error']}\n{result.get('log', '')}", flush=True)
    else:
        print(
            f"    fit+transform {result['fit_transform_s']:.2f} s, inverse "
            f"{result['inverse_s']:.2f} s, peak "
            f"{max(result['fit_transform_peak_mib'], result['inverse_peak_mib']):.0f}"
            f" MiB, mismatches {result.get('mismatches', '?')}, load average "
            f"{result['fit_transform_load']:.2f} / {result['inverse_load']:.2f}",
            flush=True,
        )
    return result


def table(results: list[tuple[int, str, dict]]) -> str:
    base = {
        rows: r["fit_transform_s"] + r["inverse_s"]
        for rows, tool, r in results
        if tool == "modenorm" and "error" not in r
    }
    header = [
        "rows",
        "tool",
        "fit + transform (s)",
        "of which fit (s)",
        "rows/s",
        "CPU (s)",
        "inverse (s)",
        "peak memory (MiB)",
        "values not restored",
        "total time / modenorm total",
    ]
    lines = []
    for rows, tool, r in results:
        if "error" in r:
            lines.append([C.human_rows(rows), TOOL_NAMES[tool], r["error"]] + [""] * 7)
            continue
        total = r["fit_transform_s"] + r["inverse_s"]
        ratio = "1" if tool == "modenorm" else "–"
        if tool != "modenorm" and rows in base:
            ratio = C.fmt_ratio(total / base[rows])
        peak = max(r["fit_transform_peak_mib"], r["inverse_peak_mib"])
        lines.append(
            [
                C.human_rows(rows),
                TOOL_NAMES[tool],
                C.fmt_seconds(r["fit_transform_s"]),
                C.fmt_seconds(r.get("fit_only_s")),
                C.fmt_rate(rows, r["fit_transform_s"]),
                C.fmt_seconds(r["fit_transform_cpu_s"]),
                C.fmt_seconds(r["inverse_s"]),
                f"{peak:.0f}",
                f"{r['mismatches']:,}" if "mismatches" in r else "not checked",
                ratio,
            ]
        )
    return C.markdown_table(header, lines)


def parse_sizes(text: str) -> list[int]:
    return [datagen.parse_rows(t) for t in text.split(",") if t.strip()]


def main_driver(args) -> None:
    info = C.machine()
    sizes = parse_sizes(args.rows)
    if args.billion and 10**9 not in sizes:
        sizes.append(10**9)
    peers = [] if args.no_peers else ["rdt", "ctabgan"]
    peer_rows = datagen.parse_rows(args.peer_rows)
    if peers and peer_rows not in sizes:
        sizes = sorted([*sizes, peer_rows])
    workdir = Path(tempfile.mkdtemp(prefix="modenorm-bench-", dir=args.workdir))
    print(C.machine_line(info), flush=True)
    results = []
    try:
        for rows in sizes:
            need = rows * DISK_BYTES_PER_ROW
            if C.free_bytes(workdir) < need * 1.2:
                print(
                    f"skipping {C.human_rows(rows)}: needs about {need / 2**30:.0f} GiB"
                )
                continue
            data = workdir / f"{args.data}-{C.human_rows(rows)}.parquet"
            t0 = time.perf_counter()
            datagen.write_dataset(args.data, data, rows, seed=args.seed)
            print(
                f"{C.human_rows(rows)} rows generated in "
                f"{time.perf_counter() - t0:.1f} s "
                f"({data.stat().st_size / 2**20:.0f} MiB)",
                flush=True,
            )
            tools = ["modenorm"] + (peers if rows == peer_rows else [])
            for tool in tools:
                results.append((rows, tool, run_tool(tool, data, rows, args, workdir)))
            data.unlink()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(
        f"Parquet to Parquet, {len(COLUMNS[args.data])} continuous columns "
        f"({', '.join(COLUMNS[args.data])}; recipe `{args.data}`), "
        f"{args.compression} output, compact layout."
    )
    print()
    print(table(results))
    print()
    print(C.machine_line(info))
    print(C.versions("modenorm", "rdt", "scikit-learn", "numba", "pyarrow", "polars"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    parser.add_argument("--rows", default="1M,10M,100M", help="sizes, e.g. 1M,10M")
    parser.add_argument("--billion", action="store_true", help="add 1B rows")
    parser.add_argument("--data", choices=datagen.RECIPES, default="credit")
    parser.add_argument("--peer-rows", default="1M", help="size for RDT and CTAB-GAN")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--no-check", dest="check", action="store_false")
    parser.add_argument("--compression", default="zstd")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--workdir", default=None, help="where data go (temp dir)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tool", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--columns", help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.worker:
        args.columns = args.columns.split(",")
        C.emit(WORKERS[args.tool](args))
        return
    main_driver(args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
