"""The command line as a user runs it: help examples, progress, --json, inspect."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from modenorm import Transformer
from modenorm.cli.main import EXAMPLES, build_parser, format_model, main
from modenorm.cli.render import TerminalRenderer, format_table
from modenorm.engines.progress import Progress

MODENORM = [sys.executable, "-m", "modenorm.cli.main"]


def make_flights(n: int = 6000, seed: int = 11) -> pl.DataFrame:
    """A small table shaped like nycflights13's flights (the help examples)."""
    rng = np.random.default_rng(seed)
    delay = np.round(rng.gamma(1.5, 12.0, n) - 8.0)
    delay[rng.random(n) < 0.2] = 0.0
    frame = pl.DataFrame(
        {
            "dep_delay": delay,
            "distance": rng.choice([187, 541, 719, 1089, 2475], n).astype(np.int64),
            "carrier": rng.choice(["UA", "B6", "EV", "DL"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )
    return frame.with_columns(
        pl.when(pl.int_range(n) % 37 == 0)
        .then(None)
        .otherwise(pl.col("dep_delay"))
        .alias("dep_delay")
    )


def run_cli(args, cwd, env_extra=None, check=True):
    env = dict(os.environ, **(env_extra or {}))
    proc = subprocess.run(
        [*MODENORM, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"modenorm {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


@pytest.fixture
def workdir(tmp_path) -> Path:
    make_flights().write_parquet(tmp_path / "flights.parquet", row_group_size=1000)
    return tmp_path


@pytest.fixture
def fitted(workdir, monkeypatch) -> Path:
    monkeypatch.chdir(workdir)
    argv = ["fit", "flights.parquet", "-m", "model.json", "--mixed", "dep_delay=0"]
    assert main([*argv, "--quiet"]) == 0
    return workdir


def run_main(argv, capsys) -> tuple[int, str, str]:
    """Run the CLI in this process; return the exit code, stdout and stderr."""
    capsys.readouterr()
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


# ------------------------------------------------------------------ help
def help_text(*command: str) -> str:
    parser = build_parser()
    if not command:
        return parser.format_help()
    return parser._subparsers._group_actions[0].choices[command[0]].format_help()


def examples_in(text: str) -> list[str]:
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip().startswith("modenorm ")
    ]


def test_every_command_help_shows_its_example():
    top = help_text()
    commands = build_parser()._subparsers._group_actions[0].choices
    assert set(commands) == set(EXAMPLES)
    for name in commands:
        text = help_text(name)
        assert "example:" in text
        assert examples_in(text) == [EXAMPLES[name]], name
        assert EXAMPLES[name] in examples_in(top)


def test_help_examples_run(workdir):
    """Every example printed by --help works, in order, on a small flights table."""
    examples = examples_in(run_cli(["--help"], workdir).stdout)
    assert len(examples) == len(EXAMPLES)
    for example in examples:
        argv = shlex.split(example)
        assert argv[0] == "modenorm"
        proc = run_cli(argv[1:], workdir, check=False)
        assert proc.returncode == 0, (example, proc.stderr[-3000:])
    for name in ("model.json", "encoded.parquet", "decoded.parquet", "report.html"):
        assert (workdir / name).stat().st_size > 0
    decoded = pl.read_parquet(workdir / "decoded.parquet")
    assert decoded.equals(pl.read_parquet(workdir / "flights.parquet"))
    assert (workdir / "modenorm-demo" / "model.json").exists()


def test_help_speaks_the_users_terms():
    fit = help_text("fit")
    for term in ("column", "mode", "mixture", "special values"):
        assert term in fit
    transform = help_text("transform")
    assert "alpha" in transform and "layout" in transform and "mode" in transform


# ------------------------------------------------------------- progress
def stage_lines(stderr: str, stage: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(stage + ":")]


def test_progress_lines_when_not_a_terminal(fitted):
    env = {"MODENORM_PROGRESS_SECONDS": "0"}
    steps = [
        (
            [
                "fit",
                "flights.parquet",
                "-m",
                "m2.json",
                "--chunk-rows",
                "500",
                "--threads",
                "1",
            ],
            ["summary pass", "histogram pass", "fit mixtures"],
        ),
        (
            [
                "transform",
                "flights.parquet",
                "-m",
                "model.json",
                "-o",
                "e.parquet",
                "--chunk-rows",
                "500",
                "--threads",
                "1",
            ],
            ["transform"],
        ),
        (
            [
                "inverse",
                "e.parquet",
                "-m",
                "model.json",
                "-o",
                "d.parquet",
                "--chunk-rows",
                "500",
                "--threads",
                "1",
            ],
            ["inverse"],
        ),
        (
            [
                "report",
                "flights.parquet",
                "-m",
                "model.json",
                "-o",
                "r.html",
                "--chunk-rows",
                "500",
                "--threads",
                "1",
            ],
            ["report pass", "verify"],
        ),
    ]
    for argv, stages in steps:
        stderr = run_cli(argv, fitted, env).stderr
        assert "\r" not in stderr and "\033[" not in stderr
        for stage in stages:
            lines = stage_lines(stderr, stage)
            assert lines, (stage, stderr)
            unit = "columns" if stage == "fit mixtures" else "rows"
            total = 3 if stage == "fit mixtures" else 6000
            assert lines[-1].startswith(f"{stage}: done, {total:,} {unit} in ")
            running = [ln for ln in lines[:-1] if "left" in ln]
            assert running, (stage, lines)
            match = re.match(
                rf"{stage}: ([\d,]+) / {total:,} {unit} \((\d+)%\), \S+ {unit}/s, "
                r"(\d+:\d\d|\?) left, \d+:\d\d elapsed$",
                running[-1],
            )
            assert match, running[-1]
            done = int(match.group(1).replace(",", ""))
            assert int(match.group(2)) == int(100 * done / total + 0.5) or (
                abs(int(match.group(2)) - 100 * done / total) <= 1
            )


def test_quiet_shows_no_progress(fitted):
    proc = run_cli(
        ["verify", "flights.parquet", "-m", "model.json", "--quiet"],
        fitted,
        {"MODENORM_PROGRESS_SECONDS": "0"},
    )
    assert proc.stderr == ""
    assert proc.stdout == ""


def read_pty(argv, cwd, env_extra) -> str:
    """Run the CLI with stdout and stderr on a pseudo-terminal; return all output."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the CLI
        os.chdir(cwd)
        os.environ.update(env_extra)
        os.execv(sys.executable, [*MODENORM, *argv])
    chunks = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_on_a_terminal(fitted):
    out = read_pty(
        [
            "verify",
            "flights.parquet",
            "-m",
            "model.json",
            "--chunk-rows",
            "300",
            "--threads",
            "1",
        ],
        fitted,
        {"MODENORM_PROGRESS_SECONDS": "0"},
    )
    frames = out.split("\r\x1b[K")
    bars = [f for f in frames if f.startswith("[")]
    assert len(bars) >= 3, out[:2000]
    partial = [b for b in bars if "left" in b]
    assert partial, bars[:5]
    match = re.match(r"\[(#*)(\.*)\] verify: ([\d,]+) / 6,000 rows", partial[-1])
    assert match and len(match.group(1)) + len(match.group(2)) == 24
    rows_done = int(match.group(3).replace(",", ""))
    assert len(match.group(1)) == int(24 * rows_done / 6000)
    assert any(f.startswith("verify: done, 6,000 rows in ") for f in frames)
    assert "verdict: LOSSLESS" in out


def test_log_lines_never_share_a_line_with_the_bar(fitted):
    out = read_pty(
        [
            "fit",
            "flights.parquet",
            "-m",
            "m3.json",
            "--chunk-rows",
            "300",
            "--threads",
            "1",
            "--max-modes",
            "3",
            "--weight-threshold",
            "0.4",
        ],
        fitted,
        {"MODENORM_PROGRESS_SECONDS": "0"},
    )
    for line in out.replace("\r\n", "\n").split("\n"):
        for frame in line.split("\r\x1b[K"):
            if "INFO " in frame or "WARNING " in frame:
                assert frame.startswith(("INFO ", "WARNING ")), frame


def fake_stage(progress, name, total, rows, elapsed):
    stage = progress.stage(name, total)
    stage.rows = rows
    stage.start = time.perf_counter() - elapsed
    return stage


def test_renderer_line_shows_rate_and_time_left():
    renderer = TerminalRenderer(io.StringIO(), line_interval=5.0)
    progress = Progress(render=None)
    stage = fake_stage(progress, "transform", 1_000_000, 250_000, 10.0)
    assert renderer.line(stage) == (
        "transform: 250,000 / 1,000,000 rows (25%), 25.0k rows/s, 0:30 left, "
        "0:10 elapsed"
    )
    stage = fake_stage(progress, "transform", None, 3_000_000, 2.0)
    assert renderer.line(stage) == (
        "transform: 3,000,000 rows, 1.5M rows/s, 0:02 elapsed"
    )
    stage = fake_stage(progress, "fit mixtures", 4, 4, 2.0)
    assert renderer.done_line(stage).startswith(
        "fit mixtures: done, 4 columns in 2.00 s (2 columns/s)"
    )


def test_renderer_waits_between_plain_lines():
    stream = io.StringIO()
    renderer = TerminalRenderer(stream, line_interval=5.0)
    progress = Progress(render=renderer, interval=0.0)
    stage = progress.stage("summary pass", 100)
    for _ in range(10):
        stage.advance(5)  # fast: no line before 5 s have passed
    stage.start -= 6.0
    stage.advance(5)
    stage.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("summary pass: 55 / 100 rows (55%)")
    assert lines[1].startswith("summary pass: done, 55 rows in 6.")


def test_progress_interval_env_is_checked(fitted, capsys, monkeypatch):
    monkeypatch.setenv("MODENORM_PROGRESS_SECONDS", "soon")
    code, _, err = run_main(["verify", "flights.parquet", "-m", "model.json"], capsys)
    assert code == 2
    assert "MODENORM_PROGRESS_SECONDS must be a number of seconds >= 0" in err


# ------------------------------------------------------------------ json
def test_json_summary_for_every_command(fitted, capsys):
    def as_json(argv):
        code, out, _ = run_main([*argv, "--json"], capsys)
        assert code == 0
        return json.loads(out)

    fit = as_json(["fit", "flights.parquet", "-m", "j.json", "--mixed", "dep_delay=0"])
    assert [s["stage"] for s in fit["stages"]] == [
        "summary pass",
        "histogram pass",
        "fit mixtures",
    ]
    assert fit["stages"][0]["rows"] == 6000 and fit["stages"][2]["rows"] == 3
    kinds = {c["name"]: c["kind"] for c in fit["columns"]}
    assert kinds == {
        "dep_delay": "mixed",
        "distance": "continuous",
        "carrier": "categorical",
    }

    tr = as_json(["transform", "flights.parquet", "-m", "j.json", "-o", "e.parquet"])
    assert tr["output"] == "e.parquet" and tr["stages"][0]["stage"] == "transform"
    assert tr["stages"][0]["rows"] == 6000

    inv = as_json(["inverse", "e.parquet", "-m", "j.json", "-o", "d.parquet"])
    assert [s["stage"] for s in inv["stages"]] == ["inverse"]

    ver = as_json(["verify", "flights.parquet", "-m", "j.json"])
    assert ver["ok"] is True and ver["rows"] == 6000
    assert ver["mismatches"] == {"dep_delay": 0, "distance": 0, "carrier": 0}

    ins = as_json(["inspect", "-m", "j.json"])
    assert ins["command"] == "inspect" and ins["stages"] == []
    assert {c["name"]: c.get("categories") for c in ins["columns"]}["carrier"] == 4

    rep = as_json(["report", "flights.parquet", "-m", "j.json", "-o", "r.html"])
    assert rep["ok"] is True and rep["columns"] == 3 and rep["rows"] == 6000
    assert [s["stage"] for s in rep["stages"]] == ["report pass", "verify"]
    assert rep["bytes"] == (fitted / "r.html").stat().st_size


def test_json_reports_errors_too(workdir, capsys, monkeypatch):
    monkeypatch.chdir(workdir)
    code, out, err = run_main(["inspect", "-m", "missing.json", "--json"], capsys)
    assert code == 2
    doc = json.loads(out)
    assert doc["ok"] is False and doc["exit_code"] == 2
    assert "model file 'missing.json' does not exist" in doc["error"]
    assert "inspect: error: model file 'missing.json' does not exist" in err


def test_user_errors_name_the_column(workdir, capsys, monkeypatch):
    monkeypatch.chdir(workdir)
    argv = ["fit", "flights.parquet", "-m", "m.json", "--continuous", "dep_dealy"]
    code, _, err = run_main([*argv, "--quiet"], capsys)
    assert code == 2
    assert "'dep_dealy'" in err and "Traceback" not in err


def test_inspect_survives_a_closed_pipe(fitted):
    proc = subprocess.run(
        f"{shlex.join(MODENORM)} inspect -m model.json | head -n 1",
        shell=True,
        cwd=fitted,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout.startswith("3 columns (2 numeric, 1 categorical)")
    assert "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------- inspect
def test_format_table_aligns_numbers_right():
    text = format_table(["name", "rows"], [["a", "1,234"], ["bbb", "5"]])
    assert text.splitlines() == ["name   rows", "a     1,234", "bbb       5"]


def test_inspect_prints_modes_in_the_columns_units():
    rng = np.random.default_rng(5)
    n = 4000
    base = 2013 + np.where(rng.random(n) < 0.75, 0, 40)
    frame = pl.DataFrame(
        {
            "year": (base + np.round(rng.normal(0, 1.5, n))).astype(np.int64),
            "label": np.repeat(["x", "y", "z"], [2000, 1500, 500]),
        }
    )
    t = Transformer(max_modes=2, mode_choice="argmax", seed=0).fit(frame)
    text = format_model(t.model_)
    lines = text.splitlines()
    assert lines[0] == (
        "2 columns (1 numeric, 1 categorical); seed 0, mode choice argmax, "
        "mixture bayesian, layout compact"
    )
    year = t.model_.column("year")
    offset = int(frame["year"].min())
    assert year.offset == offset
    overview = next(ln for ln in lines if ln.startswith("year "))
    assert re.search(
        r"continuous\s+Int64\s+4,000\s+0\s+2\s+bayesian: 2 of 2 "
        r"components kept, (not )?converged in \d+ iterations",
        overview,
    )
    assert f"fitted on x - {offset}" in text
    assert "side channel year.exact (int64)" in text
    rows = [ln.split() for ln in lines if re.match(r"\s+[01]\s+gaussian", ln)]
    assert len(rows) == 2
    for rank, row in enumerate(rows):
        mode = year.modes[rank]
        weight = year.mixture["weights"][mode.component]
        assert row[2] == f"{weight:.4f}"
        assert float(row[3]) == pytest.approx(mode.mean + offset, rel=1e-5)
        assert float(row[4]) == pytest.approx(mode.std, rel=1e-3)
        assert row[5] == f"{mode.count:,.0f}"
    # the two clusters, 40 years apart, in the column's own units
    means = sorted(float(r[3]) for r in rows)
    assert means[0] == pytest.approx(2013, abs=0.2)
    assert means[1] == pytest.approx(2053, abs=0.3)
    assert int(rows[0][5].replace(",", "")) == pytest.approx(3000, abs=120)
    cats = [ln.split() for ln in lines if re.match(r"\s+\d\s+'[xyz]'", ln)]
    assert cats == [
        ["0", "'x'", "2,000", "50.00%"],
        ["1", "'y'", "1,500", "37.50%"],
        ["2", "'z'", "500", "12.50%"],
    ]


def test_inspect_lists_special_and_null_modes(fitted):
    out = run_cli(["inspect", "-m", "model.json"], fitted).stdout
    section = out[out.index("dep_delay: mixed") :]
    section = section[: section.index("\n\n")]
    assert re.search(r"\n\s+\d+\s+special 0\.0\s+[\d,]+\s+\d+\.\d\d%", section)
    assert re.search(r"\n\s+\d+\s+null\s+163\s+2\.72%", section)
    assert "fitted on x;" in section
