"""The HTML report: its numbers, its figures, and the page in a real browser."""

from __future__ import annotations

import base64
import html
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from modenorm import Transformer
from modenorm.errors import ModenormError, OutputExistsError
from modenorm.report import render_report, write_report
from modenorm.report.collect import (
    CategoricalSummary,
    NumericSummary,
    collect_report_data,
    histogram_edges,
)
from modenorm.report.units import display_units

pytest.importorskip("matplotlib", reason="the report needs matplotlib")

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium); "
    "the report page cannot be rendered in a browser",
)


def make_table(n: int = 8000, seed: int = 3) -> pl.DataFrame:
    """Every kind the report draws: mixed, integer, log, min-max, date, category."""
    rng = np.random.default_rng(seed)
    balance = np.round(rng.normal(500, 120, n), 2)
    balance[rng.random(n) < 0.25] = 0.0
    days = rng.normal(400, 60, n).astype(np.int64)
    frame = pl.DataFrame(
        {
            "balance": balance,
            "year": (2013 + rng.choice([0, 1, 2], n, p=[0.5, 0.3, 0.2])).astype(
                np.int64
            ),
            "income": np.round(np.exp(rng.normal(10, 0.8, n)), 2),
            "score": rng.uniform(-5, 5, n),
            "day": pl.Series(np.datetime64("2020-01-01") + days.astype("m8[D]")),
            "city": rng.choice([f"city {i}" for i in range(45)], n),
        }
    )
    return frame.with_columns(
        pl.when(pl.int_range(n) % 50 == 0)
        .then(None)
        .otherwise(pl.col("balance"))
        .alias("balance")
    )


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return make_table()


@pytest.fixture(scope="module")
def transformer(table) -> Transformer:
    return Transformer(
        mixed={"balance": [0.0]}, log=["income"], minmax=["score"], seed=0
    ).fit(table)


@pytest.fixture(scope="module")
def report_file(table, transformer, tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("report")
    source = folder / "table.parquet"
    table.write_parquet(source, row_group_size=1500)
    output = folder / "report.html"
    summary = write_report(source, transformer, output, chunk_rows=1000, top=30)
    return output, summary


# ------------------------------------------------------------ the numbers
def test_collect_counts_match_the_encoded_table(table, transformer):
    summaries = collect_report_data(transformer, table, chunk_rows=700)
    encoded = transformer.transform(table)
    by_name = {s.column.name: s for s in summaries}
    for name in ("balance", "year", "income", "score", "day"):
        summary = by_name[name]
        assert isinstance(summary, NumericSummary)
        modes = encoded[f"{name}.mode"].to_numpy().astype(np.int64)
        expected = np.bincount(modes, minlength=len(summary.column.modes))
        np.testing.assert_array_equal(summary.mode_rows, expected)
        assert summary.rows == table.height
        exact = encoded.get_column(f"{name}.exact", default=None)
        assert summary.exact_rows == (0 if exact is None else exact.count())
    city = by_name["city"]
    assert isinstance(city, CategoricalSummary)
    ranks = encoded["city.category"].to_numpy().astype(np.int64)
    np.testing.assert_array_equal(city.counts, np.bincount(ranks, minlength=45))
    assert city.unseen == 0


def test_histogram_holds_every_fitted_value(table, transformer):
    summaries = {s.column.name: s for s in collect_report_data(transformer, table)}
    balance = summaries["balance"]
    values = table["balance"].drop_nulls()
    # nulls (every 50th row) and the special value 0 are not in the fitted domain
    assert balance.n_fitted == int((values != 0).sum())
    income = summaries["income"]
    assert income.n_fitted == table.height
    col = transformer.model_.column("income")
    logs = np.log1p(table["income"].to_numpy() - col.log_lower)
    inside = (logs >= income.edges[0]) & (logs <= income.edges[-1])
    assert int(income.counts.sum()) == int(inside.sum())
    expected, _ = np.histogram(logs[inside], bins=income.edges)
    np.testing.assert_array_equal(income.counts, expected)


def test_streaming_gives_the_same_numbers_whatever_the_chunks(table, transformer):
    one = collect_report_data(transformer, table, chunk_rows=1 << 20, threads=1)
    many = collect_report_data(transformer, table, chunk_rows=333, threads=2)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a.counts, b.counts)
        if isinstance(a, NumericSummary):
            np.testing.assert_array_equal(a.mode_rows, b.mode_rows)
            np.testing.assert_array_equal(a.alpha_counts, b.alpha_counts)
            assert (a.below, a.above) == (b.below, b.above)


def test_histogram_bins_follow_the_data_grid(transformer):
    year = transformer.model_.column("year")
    edges = histogram_edges(year, 100)
    # integers 0, 1, 2 after the offset 2013: one bar per value, centred on it
    np.testing.assert_allclose(edges, [-0.5, 0.5, 1.5, 2.5])
    balance = transformer.model_.column("balance")
    edges = histogram_edges(balance, 100)
    widths = np.diff(edges)
    np.testing.assert_allclose(widths, widths[0])
    cents = widths[0] / 0.01
    assert cents == pytest.approx(round(cents)) and round(cents) >= 1
    assert len(edges) - 1 <= 100
    # bar edges sit half a cent off the grid, so no value lies on an edge
    offsets = (edges / 0.01) % 1
    np.testing.assert_allclose(np.minimum(offsets, 1 - offsets), 0.5, atol=1e-6)


def test_display_units_undo_the_fitted_domain(transformer):
    year = transformer.model_.column("year")
    units = display_units(year)
    assert year.offset == 2013
    assert units.value_text(1.0) == "2014"
    day = transformer.model_.column("day")
    units = display_units(day)
    first = np.datetime64(day.offset, "D")
    assert str(first) == str(make_table()["day"].min())
    assert units.value_text(0.0) == str(first)
    assert units.value_text(31.0) == str(first + np.timedelta64(31, "D"))
    income = display_units(transformer.model_.column("income"))
    assert income.kind == "log" and income.label.startswith("income: log1p(x - ")


# --------------------------------------------------------------- the page
def decode_images(page: str) -> list[bytes]:
    sources = re.findall(r'<img alt="[^"]*" src="([^"]+)"', page)
    prefix = "data:image/png;base64,"
    assert all(s.startswith(prefix) for s in sources)
    return [base64.b64decode(s[len(prefix) :]) for s in sources]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_page_is_self_contained(report_file):
    output, summary = report_file
    page = output.read_text(encoding="utf-8")
    images = decode_images(page)
    assert len(images) == 6  # one figure per column
    for data in images:
        width, height = png_size(data)
        assert width == 1100 and 300 <= height <= 1200
    assert not re.search(r'(src|href)="(?!data:|#)', page)
    assert "http://" not in page and "https://" not in page
    assert summary["ok"] is True and summary["rows"] == 8000
    assert summary["columns"] == 6 and summary["bytes"] == output.stat().st_size


def test_page_shows_modes_usage_and_verdict(report_file, transformer):
    page = report_file[0].read_text(encoding="utf-8")
    assert page.count("round trip lossless") == 2 * 6  # index and section
    col = transformer.model_.column("balance")
    section = page[page.index("<h2>balance</h2>") :]
    section = section[: section.index("</section>")]
    body = section[section.index("<tbody>") :]
    rows = re.findall(r"<tr>(.*?)</tr>", body)
    assert len(rows) == len(col.modes)
    encoded = transformer.transform(make_table())["balance.mode"].to_numpy()
    usage = np.bincount(encoded.astype(np.int64), minlength=len(col.modes))
    for rank, (row, mode) in enumerate(zip(rows, col.modes, strict=True)):
        cells = [
            html.unescape(re.sub("<[^>]+>", "", c))
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row)
        ]
        assert cells[0] == str(rank)
        assert cells[6] == f"{usage[rank]:,}"
        assert cells[5] == f"{mode.count:,.0f}"
        if mode.kind == "gaussian":
            weight = col.mixture["weights"][mode.component]
            assert cells[1] == "gaussian" and cells[2] == f"{weight:.4f}"
            assert float(cells[3]) == pytest.approx(mode.mean, rel=1e-5)
            assert float(cells[4]) == pytest.approx(mode.std, rel=1e-3)
        elif mode.kind == "special":
            assert cells[1] == "special 0.0"
            assert usage[rank] == int((make_table()["balance"] == 0).sum())
        else:
            assert cells[1] == "null" and usage[rank] == 160
    assert "fitted on</dt><dd>log1p(x - " in page
    assert "45 (top 30 drawn)" in page


def test_report_refuses_to_overwrite(report_file, transformer):
    output, _ = report_file
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_report(make_table(100), transformer, output)


def test_report_names_a_missing_column(transformer):
    with pytest.raises(ModenormError, match=r"\['city'\]"):
        render_report(make_table(200).drop("city"), transformer, verify=False)


def test_report_without_matplotlib_says_what_to_install(transformer, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ModenormError, match=r"pip install 'modenorm\[report\]'"):
        render_report(make_table(300), transformer, verify=False)


def test_report_without_round_trip_says_so(transformer):
    page, summary = render_report(make_table(500), transformer, verify=False)
    assert "ok" not in summary
    assert page.count("round trip not checked") == 2 * 6


# ------------------------------------------------------------ the browser
CHECK_SCRIPT = """<script>
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const bad = imgs.filter((i) => !(i.complete && i.naturalWidth > 0));
  const out = document.createElement("pre");
  out.id = "img-check";
  out.textContent = "images=" + imgs.length + " broken=" + bad.length +
    " widths=" + imgs.map((i) => i.naturalWidth).join(",");
  document.body.appendChild(out);
});
</script>"""


def chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )


@needs_chromium
def test_images_load_in_headless_chromium(report_file, tmp_path):
    page = report_file[0].read_text(encoding="utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", CHECK_SCRIPT + "</body>"), "utf-8")
    proc = chromium("--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    match = re.search(r'<pre id="img-check">([^<]*)</pre>', proc.stdout)
    assert match, proc.stderr[-2000:]
    assert match.group(1).startswith("images=6 broken=0 widths=")
    assert match.group(1).split("widths=")[1] == ",".join(["1100"] * 6)


@needs_chromium
def test_page_renders_to_a_screenshot(report_file, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    proc = chromium(
        f"--screenshot={shot}", "--window-size=1200,3000", report_file[0].as_uri()
    )
    assert shot.exists(), proc.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 3000)
    # the page is drawn, not blank: many colours from the figures and text
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 500
