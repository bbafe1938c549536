"""Bad input and faults: clear errors, nothing lost, nothing half-written (issue 7).

Validation happens before any row is read; damaged models, encoded tables and
sources give modenorm errors that name the column and the value; the command
line maps them to distinct exit codes; outputs appear whole or not at all, even
when a real run is killed with SIGKILL.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from modenorm import (
    ColumnError,
    ModelFileError,
    ModenormError,
    OutputExistsError,
    SchemaMismatchError,
    SourceError,
    Transformer,
    VerifyReport,
)
from modenorm.cli.main import EXIT_BUG, EXIT_MISMATCH, EXIT_OK, EXIT_USER
from modenorm.cli.main import main as cli_main
from modenorm.io.sources import FrameSource
from modenorm.model.schema import Model
from modenorm.transformer import mismatched_rows

MODENORM = [sys.executable, "-m", "modenorm.cli.main"]


@pytest.fixture(autouse=True)
def no_hang():
    """Fail instead of hanging: every test here must finish within a minute."""

    def expire(signum, frame):
        raise TimeoutError("the test ran for over 60 s; something hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


class UnreadableSource(FrameSource):
    """A source whose rows must not be read: validation comes first."""

    def _chunks(self, columns, chunk_rows):
        raise AssertionError("rows were read before the options were validated")


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    n = 2000
    return pl.DataFrame(
        {
            "x": np.round(rng.normal(10, 2, n), 2),
            "s": rng.choice(["a", "b", "c"], n),
            "i": rng.integers(0, 50, n).astype(np.int32),
        }
    )


@pytest.fixture(scope="module")
def fitted(table) -> Transformer:
    """Shared by the tests of this module, which only read it."""
    return Transformer(seed=0).fit(table)


# ------------------------------------------------------ validation up front
@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"columns": ["x", "zz"]}, r"\['zz'\] not found.*\['x', 's', 'i'\]"),
        ({"continuous": ["nope"]}, r"\['nope'\] not found"),
        ({"mixed": {"missing": [0.0]}}, r"\['missing'\] not found"),
        ({"log": ["ghost"]}, r"\['ghost'\] not found"),
        ({"continuous": ["s"]}, "'s' holds String values but was declared continuous"),
        ({"mixed": {"s": [0.0]}}, "'s' holds String values but was declared mixed"),
        ({"categorical": ["x"]}, "'x' of type Float64 cannot be categorical"),
        ({"continuous": ["x"], "categorical": ["x"]}, "'x' was declared both"),
        ({"mixed": {"i": [1.5]}}, "'i': special value 1.5 is not an integer"),
        ({"log": ["s"]}, "'s': the log option needs a number"),
    ],
)
def test_bad_options_are_refused_before_any_row_is_read(table, options, pattern):
    with pytest.raises(ColumnError, match=pattern):
        Transformer(**options).fit(UnreadableSource(table))


def test_all_null_column_is_refused_naming_it():
    frame = pl.DataFrame({"x": pl.Series([None] * 7, dtype=pl.Float64), "y": [1.0] * 7})
    with pytest.raises(ColumnError, match="'x': all 7 values are null"):
        Transformer().fit(frame)


def test_special_value_absent_from_the_data_is_refused(table):
    with pytest.raises(ColumnError, match="'x': special value -999.0 does not occur"):
        Transformer(mixed={"x": [-999.0]}).fit(table)


def test_transform_refuses_data_that_does_not_match_the_model(fitted, table):
    with pytest.raises(SchemaMismatchError, match=r"\['s'\].*missing from the data"):
        fitted.transform(UnreadableSource(table.drop("s")))
    cast = table.with_columns(pl.col("x").cast(pl.String))
    with pytest.raises(SchemaMismatchError, match="'x' has type String.*Float64"):
        fitted.transform(UnreadableSource(cast))
    with pytest.raises(SchemaMismatchError, match="'i' has type Float64.*Int32"):
        fitted.verify(UnreadableSource(table.with_columns(pl.col("i") * 0.5)))


def test_inverse_refuses_missing_blocks_and_wrong_widths(fitted, table):
    compact = fitted.transform(table)
    onehot = fitted.transform(table, layout="onehot")
    with pytest.raises(SchemaMismatchError, match=r"neither layout.*\['x.mode'\]"):
        fitted.inverse_transform(compact.drop("x.mode"))
    with pytest.raises(SchemaMismatchError, match="neither layout"):
        fitted.inverse_transform(onehot.drop("s.category.2"))
    width = len([c for c in onehot.columns if c.startswith("x.mode.")])
    wider = onehot.with_columns(pl.lit(0, dtype=pl.UInt8).alias(f"x.mode.{width}"))
    with pytest.raises(SchemaMismatchError, match=rf"'x'.*beyond the model's {width}"):
        fitted.inverse_transform(wider)
    matrix = onehot.drop([c for c in onehot.columns if c.endswith(".exact")])
    with pytest.raises(SchemaMismatchError, match=r"shape \(2000, 3\).*output_info"):
        fitted.inverse_transform(matrix.to_numpy()[:, :3])


@pytest.mark.parametrize(
    ("column", "value", "pattern"),
    [
        ("x.mode", pl.lit("a"), "'x.mode' holds String values, not numbers"),
        ("x.alpha", pl.lit(None, dtype=pl.Float64), "'x.alpha' has 2000 nulls"),
        ("s.category", pl.lit(0.5), "'s.category' holds 0.5 at row 0"),
        ("x.mode", pl.lit(100, dtype=pl.Int8), r"'x': 2000 rows have a mode outside"),
        ("s.category", pl.lit(-1, dtype=pl.Int8), "'s': category rank"),
        ("x.exact", pl.lit("1.5"), "'x.exact' holds String values"),
        ("i.exact", pl.lit(1.5), "'i.exact' holds Float64 values.*integer"),
    ],
)
def test_damaged_encoded_columns_give_clear_errors(
    fitted, table, column, value, pattern
):
    encoded = fitted.transform(table).with_columns(value.alias(column))
    with pytest.raises(SchemaMismatchError, match=pattern):
        fitted.inverse_transform(encoded)


def test_unfitted_transformer_says_so(table):
    with pytest.raises(ModenormError, match="not fitted yet"):
        Transformer().transform(table)


# ------------------------------------------------------- model file checks
def _damage(doc: dict, edit) -> dict:
    doc = copy.deepcopy(doc)
    edit(doc)
    return doc


def _x(doc):
    return next(c for c in doc["columns"] if c["name"] == "x")


def _s(doc):
    return next(c for c in doc["columns"] if c["name"] == "s")


def _i(doc):
    return next(c for c in doc["columns"] if c["name"] == "i")


DAMAGES = {
    "nan-std": (lambda d: _x(d)["modes"][0].update(std="nan"), "std.*finite"),
    "negative-std": (lambda d: _x(d)["modes"][0].update(std=-1.0), "std.*positive"),
    "zero-std": (lambda d: _x(d)["modes"][0].update(std=0.0), "std.*positive"),
    "text-std": (lambda d: _x(d)["modes"][0].update(std="big"), "std.*number"),
    "huge-int-mean": (
        lambda d: _x(d)["modes"][0].update(mean=10**400),
        "mean.*finite",
    ),
    "component-out-of-range": (
        lambda d: _x(d)["modes"][0].update(component=99),
        "component 99 is not one of",
    ),
    "component-negative": (
        lambda d: _x(d)["modes"][0].update(component=-1),
        "component -1",
    ),
    "mode-kind": (lambda d: _x(d)["modes"][0].update(kind="laplace"), "laplace"),
    "negative-count": (lambda d: _x(d)["modes"][0].update(count=-3), "count"),
    "mixture-not-object": (lambda d: _x(d).update(mixture=[1, 2]), "mixture"),
    "mixture-short": (
        lambda d: _x(d)["mixture"].update(resp_const=[0.0]),
        "'resp_const' has 1 entries",
    ),
    "mixture-missing": (
        lambda d: _x(d)["mixture"].pop("resp_prec"),
        "'resp_prec' is missing",
    ),
    "mixture-text": (
        lambda d: _x(d)["mixture"]["weights"].__setitem__(0, "w"),
        r"weights\[0\]",
    ),
    "mixture-nan": (
        lambda d: _x(d)["mixture"]["resp_const"].__setitem__(0, "nan"),
        r"resp_const\[0\].*finite",
    ),
    "mixture-valid": (lambda d: _x(d)["mixture"].update(valid=[1]), "'valid'"),
    "offset-overflow": (lambda d: _i(d).update(offset=2**64), "offset.*int64"),
    "decimals": (lambda d: _x(d).update(decimals=99), "decimals must be in"),
    "alpha-dtype": (lambda d: _x(d).update(alpha_dtype="float16"), "alpha_dtype"),
    "log-flag": (lambda d: _x(d).update(log="yes"), "'log' has a wrong type"),
    "dtype": (lambda d: _x(d).update(dtype={"name": "Complex"}), "unknown data type"),
    "stats": (lambda d: _i(d).update(stats=[1]), "stats must be an object"),
    "stats-min": (lambda d: _i(d)["stats"].update(min=2**70), "stats min.*int64"),
    "special-in-int": (
        lambda d: _i(d)["modes"].append({"kind": "special", "count": 1, "value": 0.5}),
        "must be an integer",
    ),
    "two-nulls": (
        lambda d: _x(d)["modes"].extend(
            [{"kind": "null", "count": 1}, {"kind": "null", "count": 1}]
        ),
        "more than one null mode",
    ),
    "duplicate-category": (
        lambda d: _s(d).update(categories=["a", "a", "b"]),
        "appears twice",
    ),
    "category-type": (
        lambda d: _s(d)["categories"].__setitem__(0, 5),
        "category 5 does not fit.*String",
    ),
    "category-counts": (
        lambda d: _s(d).update(counts=[1, -2, 3]),
        "non-negative integers",
    ),
    "category-lengths": (lambda d: _s(d).update(counts=[1]), "3 categories but 1"),
    "categorical-float": (
        lambda d: _s(d).update(dtype={"name": "Float64"}),
        "cannot have type 'Float64'",
    ),
    "duplicate-column": (
        lambda d: d["columns"].append(copy.deepcopy(d["columns"][0])),
        "appears twice",
    ),
    "no-columns": (lambda d: d.update(columns=[]), "has no columns"),
    "column-kind": (lambda d: _x(d).update(kind="fancy"), "unknown column kind"),
    "name-type": (lambda d: _x(d).update(name=7), "'name' has a wrong type"),
    "layout-option": (
        lambda d: d["options"].update(layout="wide"),
        "option 'layout'",
    ),
    "max-onehot-option": (
        lambda d: d["options"].update(max_onehot_categories="x"),
        "max_onehot_categories",
    ),
    "mode-choice": (lambda d: d.update(mode_choice="random"), "mode_choice"),
    "version": (lambda d: d.update(version=2), "version 2.*reads version 1"),
    "format": (lambda d: d.pop("format"), "not a modenorm model"),
}


@pytest.mark.parametrize("damage", list(DAMAGES), ids=list(DAMAGES))
def test_damaged_model_files_raise_model_file_error(fitted, tmp_path, damage):
    edit, pattern = DAMAGES[damage]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(_damage(fitted.model_.to_dict(), edit)))
    with pytest.raises(ModelFileError, match=pattern):
        Transformer.load(path)


def test_unreadable_model_files(tmp_path):
    cases = {
        "missing.json": None,
        "empty.json": b"",
        "truncated.json": b'{"format": "modenorm-model", "version": 1, "col',
        "pickle.json": pickle.dumps({"format": "modenorm-model"}),
        "binary.json": bytes(range(256)),
        "list.json": b"[1, 2, 3]",
        "deep.json": b"[" * 100_000 + b"]" * 100_000,
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(ModelFileError, match=name):
            Model.load(path)


def test_hand_edited_huge_numbers_do_not_crash_and_stay_lossless(fitted, table):
    def edit(doc):
        _x(doc)["modes"][0].update(mean=1e308, std=1e308)
        _i(doc)["modes"][0].update(mean=-1e300)
        _i(doc).update(offset=2**63 - 1)

    t = Transformer.from_model(Model.from_dict(_damage(fitted.model_.to_dict(), edit)))
    decoded = t.inverse_transform(t.transform(table))
    for name in table.columns:
        assert len(mismatched_rows(table[name], decoded[name])) == 0


def test_model_version_and_columns_checked_at_transform_and_inverse(
    fitted, table, tmp_path
):
    path = tmp_path / "m.json"
    fitted.save(path)
    other = Transformer(seed=0).fit(table.rename({"x": "y"}))
    with pytest.raises(SchemaMismatchError, match=r"\['y'\].*missing from the data"):
        other.transform(table)
    with pytest.raises(SchemaMismatchError, match="neither layout"):
        other.inverse_transform(fitted.transform(table))
    doc = json.loads(path.read_text())
    doc["version"] = 0
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="version 0"):
        Transformer.load(path)


# ------------------------------------------------------------ command line
def _parquet(frame: pl.DataFrame, path: Path) -> Path:
    frame.write_parquet(path)
    return path


def test_cli_exit_codes(fitted, table, tmp_path, capsys, monkeypatch):
    data = _parquet(table, tmp_path / "t.parquet")
    model = tmp_path / "m.json"
    fitted.save(model)
    base = ["-m", str(model), "--quiet"]

    assert cli_main(["verify", str(data), *base]) == EXIT_OK
    code = cli_main(["fit", str(data), "-m", str(tmp_path / "n.json"), "--quiet"])
    assert code == EXIT_OK
    capsys.readouterr()

    code = cli_main(["fit", str(data), "-m", str(model), "--columns", "zz", "--quiet"])
    err = capsys.readouterr().err
    assert code == EXIT_USER
    assert "exists already" in err and "Traceback" not in err

    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    code = cli_main(["transform", str(data), "-m", str(bad), "-o", "o.parquet"])
    err = capsys.readouterr().err
    assert code == EXIT_USER and "not a modenorm model" in err

    with pytest.raises(ModelFileError):
        cli_main(["verify", str(data), "-m", str(bad), "--debug"])

    def broken(self, *args, **kwargs):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(Transformer, "transform", broken)
    out = tmp_path / "enc.parquet"
    code = cli_main(["transform", str(data), *base, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == EXIT_BUG
    assert "internal error: RuntimeError: kernel exploded" in err and "--debug" in err

    def mismatching(self, source, **kwargs):
        return VerifyReport(rows=5, mismatches={"x": 2}, examples={"x": [1.0]})

    monkeypatch.setattr(Transformer, "verify", mismatching)
    assert cli_main(["verify", str(data), *base]) == EXIT_MISMATCH
    assert len({EXIT_OK, EXIT_MISMATCH, EXIT_USER, EXIT_BUG}) == 4


def test_cli_user_error_has_no_traceback_unless_debug(table, tmp_path):
    data = _parquet(table, tmp_path / "t.parquet")
    args = ["fit", str(data), "-m", str(tmp_path / "m.json"), "--continuous", "s"]
    plain = subprocess.run([*MODENORM, *args], capture_output=True, text=True)
    assert plain.returncode == EXIT_USER
    assert "column 's' holds String values" in plain.stderr
    assert "Traceback" not in plain.stderr
    debug = subprocess.run(
        [*MODENORM, *args, "--debug"], capture_output=True, text=True
    )
    assert debug.returncode != EXIT_OK
    assert "Traceback" in debug.stderr and "ColumnError" in debug.stderr
    assert not (tmp_path / "m.json").exists()


# ---------------------------------------------------------- atomic outputs
def test_existing_output_is_not_overwritten_without_overwrite(fitted, table, tmp_path):
    out = tmp_path / "enc.parquet"
    out.write_bytes(b"previous")
    with pytest.raises(OutputExistsError, match="exists already.*--overwrite"):
        fitted.transform(table, output=out)
    with pytest.raises(OutputExistsError):
        fitted.inverse_transform(fitted.transform(table), output=out)
    assert out.read_bytes() == b"previous"
    fitted.transform(table, output=out, overwrite=True)
    assert pq.read_metadata(out).num_rows == table.height
    with pytest.raises(SourceError, match="does not exist"):
        fitted.transform(table, output=tmp_path / "no" / "such" / "dir.parquet")


def test_failure_mid_run_leaves_previous_output_and_no_partial(fitted, table, tmp_path):
    out = tmp_path / "enc.parquet"
    fitted.transform(table, output=out)
    previous = out.read_bytes()
    bad = pl.concat([table, table.head(3).with_columns(pl.lit("zz").alias("s"))])
    t = Transformer.from_model(fitted.model_, chunk_rows=500, threads=2)
    with pytest.raises(ColumnError, match="'s'.*'zz'"):
        t.transform(bad, output=out, overwrite=True)
    assert out.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc.parquet"]


def _big_input(tmp_path: Path, rows: int) -> Path:
    rng = np.random.default_rng(1)
    path = tmp_path / "big.parquet"
    frame = pl.DataFrame({"a": rng.normal(0, 1, rows), "b": rng.normal(5, 2, rows)})
    frame.write_parquet(path, row_group_size=50_000, compression="uncompressed")
    return path


def _kill_mid_run(args: list[str], folder: Path, output: str) -> None:
    stale = set(folder.glob(f".{output}.partial-*"))
    proc = subprocess.Popen(
        [*MODENORM, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 50
    try:
        while time.monotonic() < deadline:
            partial = list(set(folder.glob(f".{output}.partial-*")) - stale)
            if partial and partial[0].stat().st_size > 0:
                break
            assert proc.poll() is None, f"the run ended early: {proc.stderr.read()}"
            time.sleep(0.005)
        else:
            pytest.fail("no partial output appeared within 50 s")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it was killed"


def _assert_no_complete_partial(folder: Path, output: str) -> None:
    for partial in folder.glob(f".{output}.partial-*"):
        assert partial.name.startswith(".")
        with pytest.raises(Exception, match="(?i)parquet|magic|footer|size"):
            pq.read_metadata(partial)


def test_sigkill_mid_transform_leaves_no_output_or_the_previous_one(tmp_path):
    data = _big_input(tmp_path, 2_000_000)
    sample = pl.read_parquet(data, n_rows=20_000)
    model = tmp_path / "m.json"
    t = Transformer(seed=0).fit(sample)
    t.save(model)
    args = [
        "transform",
        str(data),
        "-m",
        str(model),
        "--threads",
        "1",
        "--chunk-rows",
        "5000",
        "--quiet",
    ]

    out = tmp_path / "enc.parquet"
    _kill_mid_run([*args, "-o", str(out)], tmp_path, out.name)
    assert not out.exists()
    _assert_no_complete_partial(tmp_path, out.name)

    t.transform(sample, output=out)
    previous = out.read_bytes()
    _kill_mid_run([*args, "-o", str(out), "--overwrite"], tmp_path, out.name)
    assert out.read_bytes() == previous
    assert pq.read_metadata(out).num_rows == sample.height
    _assert_no_complete_partial(tmp_path, out.name)


# --------------------------------------------------------------- row counts
class LyingSource(FrameSource):
    """Claims more rows than it yields, as a file changed while being read."""

    def __init__(self, frame: pl.DataFrame, claimed: int) -> None:
        super().__init__(frame)
        self.num_rows = claimed


def test_row_counts_are_checked_end_to_end(fitted, table, tmp_path):
    out = tmp_path / "enc.parquet"
    with pytest.raises(ModenormError, match="wrote 2000 rows but the input has 2001"):
        fitted.transform(LyingSource(table, 2001), output=out)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(ModenormError, match="wrote 2000 rows but the input has 1999"):
        fitted.transform(LyingSource(table, 1999))
    written = fitted.transform(table, output=out, layout="onehot")
    assert pq.read_metadata(written).num_rows == table.height
    decoded = fitted.inverse_transform(written, output=tmp_path / "dec.parquet")
    assert pq.read_metadata(decoded).num_rows == table.height


def test_verify_compares_every_value(fitted, table, monkeypatch):
    report = fitted.verify(table)
    assert report.ok and report.rows == table.height
    assert report.mismatches == {"x": 0, "s": 0, "i": 0}
    original = Transformer.decode_chunk

    def off_by_one(self, chunk, layout, *, clip=False):
        decoded = original(self, chunk, layout, clip=clip)
        return decoded.with_columns(
            pl.when(pl.int_range(pl.len()) == 7)
            .then(pl.col("i") + 1)
            .otherwise(pl.col("i"))
            .alias("i")
        )

    monkeypatch.setattr(Transformer, "decode_chunk", off_by_one)
    report = fitted.verify(table)
    assert not report.ok
    assert report.mismatches == {"x": 0, "s": 0, "i": 1}
    assert report.examples["i"] == [table["i"][7]]


# ------------------------------------------------------------ damaged input
def test_damaged_sources_give_clear_errors(fitted, table, tmp_path):
    good = _parquet(table, tmp_path / "good.parquet")
    raw = good.read_bytes()
    files = {
        "truncated.parquet": raw[: len(raw) // 2],
        "no-footer.parquet": raw[:-8],
        "empty.parquet": b"",
        "garbage.parquet": bytes(range(256)) * 4,
        "empty.csv": b"",
        "ragged.csv": b"x,s,i\n1.5,a,3\n2.5,b,4,9\n3.5,c,5\n",
        "binary.csv": bytes(range(256)) * 4,
    }
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(SourceError, match=name):
            Transformer().fit(path)
        with pytest.raises(ModenormError):
            fitted.transform(path)
    with pytest.raises(SourceError, match="does not exist"):
        Transformer().fit(tmp_path / "absent.parquet")
    with pytest.raises(SourceError, match="no files match"):
        Transformer().fit(str(tmp_path / "*.nothing"))


def test_corrupted_parquet_pages_give_an_error_or_the_right_rows(
    fitted, table, tmp_path
):
    path = _parquet(table, tmp_path / "c.parquet")
    raw = bytearray(path.read_bytes())
    rng = np.random.default_rng(3)
    for offset in rng.integers(8, len(raw) // 2, 20):
        raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))
    try:
        decoded = fitted.inverse_transform(fitted.transform(path))
    except ModenormError as exc:
        assert "c.parquet" in str(exc) or "column" in str(exc)
    else:
        assert decoded.height == table.height


def test_zero_rows_and_one_row(fitted, table, tmp_path):
    empty = _parquet(table.head(0), tmp_path / "zero.parquet")
    with pytest.raises(ColumnError, match="has no rows; there is nothing to fit"):
        Transformer().fit(empty)
    for layout in ("compact", "onehot"):
        encoded = fitted.transform(empty, layout=layout)
        assert encoded.height == 0
        assert encoded.columns == fitted.output_columns(layout)
        decoded = fitted.inverse_transform(encoded)
        assert decoded.schema == table.schema and decoded.height == 0
    out = fitted.transform(empty, output=tmp_path / "enc0.parquet")
    assert pl.read_parquet(out).columns == fitted.output_columns("compact")
    back = fitted.inverse_transform(out, output=tmp_path / "dec0.parquet")
    assert pl.read_parquet(back).schema == table.schema

    one = tmp_path / "one.csv"
    one.write_text("x,s,i\n1.25,a,3\n")
    t = Transformer().fit(one)
    frame = pl.read_csv(one)
    decoded = t.inverse_transform(t.transform(one))
    assert decoded.equals(frame)


def test_csv_with_a_short_row_reads_missing_fields_as_null(tmp_path):
    """A known limit, written in README.md: short CSV rows give nulls."""
    path = tmp_path / "short.csv"
    path.write_text("x,s\n1.0,a\n2.0\n3.0,a\n")
    t = Transformer().fit(path)
    assert t.model_.column("s").categories == ["a", None]
    assert t.verify(path).ok


def test_os_errors_keep_their_message(tmp_path, table):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises((SourceError, OSError)):
        Transformer().fit(folder)
    assert os.path.isdir(folder)


@pytest.mark.parametrize("chunk_rows", [0, -5])
def test_bad_chunk_size_is_refused_naming_the_option(fitted, table, chunk_rows):
    t = Transformer.from_model(fitted.model_, chunk_rows=chunk_rows)
    pattern = (
        rf"chunk_rows \(--chunk-rows\) must be a positive integer, got {chunk_rows}"
    )
    with pytest.raises(ValueError, match=pattern):
        t.transform(table)
    with pytest.raises(ValueError, match=pattern):
        t.verify(table)
    with pytest.raises(ValueError, match=pattern):
        t.inverse_transform(fitted.transform(table))
