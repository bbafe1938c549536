"""The public estimator: fit, transform, inverse_transform, save and load."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from threadpoolctl import threadpool_limits

from modenorm.encode.columns import CategoricalCodec, NumericCodec, codec_for
from modenorm.encode.layout import (
    assemble,
    block_names,
    check_layout,
    detect_layout,
    encoded_columns,
    output_info,
    split_encoded,
)
from modenorm.engines.local import LocalEngine, summarize_local
from modenorm.engines.progress import Progress
from modenorm.errors import ColumnError, ModenormError, SchemaMismatchError
from modenorm.fit.columns import FitOptions, fit_categorical_column, fit_numeric_column
from modenorm.fit.mixture import predict_log_proba
from modenorm.fit.plan import plan_columns
from modenorm.io.sinks import MODEL_KEY, ParquetSink, parquet_model_fingerprint
from modenorm.io.sources import Source, open_source
from modenorm.model.dtypes import dtype_from_json, physical_kind
from modenorm.model.schema import CategoricalColumn, Model, NumericColumn
from modenorm.summarize.refine import plan_zoom, refine_grid

__all__ = ["Transformer", "VerifyReport"]

logger = logging.getLogger(__name__)

MIXTURES = ("bayesian", "em")
MODE_CHOICES = ("sample", "argmax")
UNSEEN_POLICIES = ("error", "most_frequent")


@dataclass
class VerifyReport:
    """Result of :meth:`Transformer.verify`: a value-by-value round trip.

    Attributes
    ----------
    rows : int
        Rows read.
    mismatches : dict of str to int
        Per column, the values that did not come back bit for bit (0 when the
        column is lossless).
    exact_rows : dict of str to int
        Per numeric column, the rows kept by the exact side channel
        (``<col>.exact``) because no mode could hold them exactly.
    examples : dict of str to list
        Per column with mismatches, a few of the original values that failed.
    """

    rows: int = 0
    mismatches: dict[str, int] = field(default_factory=dict)
    exact_rows: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every value of every column came back exactly."""
        return not any(self.mismatches.values())


class Transformer:
    """Fit Gaussian mixtures per column and encode tables reversibly.

    Parameters
    ----------
    continuous, categorical : iterable of str, optional
        Columns to treat as continuous or categorical. Columns not named are
        inferred: numbers, dates, datetimes and durations are continuous,
        strings and booleans categorical.
    mixed : mapping of str to list of numbers, optional
        Continuous columns with special values (such as 0) that get modes of
        their own. Nulls always get a mode of their own.
    minmax : iterable of str, optional
        Numeric columns scaled to [-0.99, 0.99] by their range, with no mixture.
    log : iterable of str, optional
        Numeric columns fitted on ``log1p(x - min)``, for heavy tails.
    columns : list of str, optional
        Columns to encode (default: all).
    max_modes : int, default 10
        Components of each mixture.
    weight_threshold : float, default 0.005
        Components at or below this weight are not valid modes.
    mode_choice : {"sample", "argmax"}, default "sample"
        Draw each row's mode from the posterior (seeded) or take the most
        likely one.
    mixture : {"bayesian", "em"}, default "bayesian"
        Variational Bayesian mixture with a Dirichlet-process prior (as
        scikit-learn's BayesianGaussianMixture), or maximum-likelihood EM (as
        Spark ML's GaussianMixture).
    seed : int, default 0
        Seed of the k-means initialisation and of the mode draws.
    layout : {"compact", "onehot"}, default "compact"
        Default layout of :meth:`transform`.
    engine : {"local", "spark"}, default "local"
        The local engine streams chunks through a thread pool in this process;
        the Spark engine runs the same kernels in Spark's Python workers.
    threads : int, optional
        Worker threads of the local engine (default: all cores).
    chunk_rows : int, default 1_048_576
        Rows per chunk; memory grows with ``chunk_rows * threads``.
    bins : int, default 262_144
        Moment-histogram bins of the fit summary.
    max_onehot_categories : int, default 1000
        The onehot layout refuses categorical columns with more categories.
    unseen : {"error", "most_frequent"}, default "error"
        What to do with a category not seen at fit time.
    progress : Progress, optional
        Receives progress of long stages.
    spark_master : str, optional
        Spark master URL, such as ``local[2]`` (Spark engine only).
    partitions : int, optional
        Spark partitions (default: from the data size and the cores).
    n_init : int, default 10
        k-means starts of each mixture fit; the fit with the highest plug-in
        log-likelihood is kept. Each start runs scikit-learn's variational
        iterations on the summary, so extra starts cost no pass over the data.

    Attributes
    ----------
    model_ : Model
        The fitted model (after :meth:`fit`).

    Notes
    -----
    A value ``x`` of a continuous column is encoded as its mode's rank and
    ``alpha = (x - mean) / (4 * std)`` of that mode, in the fitted domain
    (``x - offset`` for integer-like columns, ``log1p(x - lower)`` for log
    columns); decoding computes ``mean + 4 * std * alpha``, rounds it to the
    column's grid, and takes the exact side channel where that would not give
    ``x`` back bit for bit (docs/algorithms.md, section 4).

    Examples
    --------
    >>> from modenorm import Transformer
    >>> t = Transformer(mixed={"dep_delay": [0.0]}, seed=0).fit("flights.parquet")
    >>> encoded = t.transform("flights.parquet")
    >>> decoded = t.inverse_transform(encoded)
    >>> t.verify("flights.parquet").ok
    True
    """

    def __init__(
        self,
        *,
        continuous: Iterable[str] = (),
        categorical: Iterable[str] = (),
        mixed: Mapping[str, Iterable[float]] | None = None,
        minmax: Iterable[str] = (),
        log: Iterable[str] = (),
        columns: list[str] | None = None,
        max_modes: int = 10,
        weight_threshold: float = 0.005,
        mode_choice: str = "sample",
        mixture: str = "bayesian",
        seed: int = 0,
        layout: str = "compact",
        engine: str = "local",
        threads: int | None = None,
        chunk_rows: int = 1 << 20,
        bins: int = 1 << 18,
        max_onehot_categories: int = 1000,
        unseen: str = "error",
        progress: Progress | None = None,
        spark_master: str | None = None,
        partitions: int | None = None,
        n_init: int = 10,
    ) -> None:
        self.n_init = n_init
        self.continuous = _names("continuous", continuous)
        self.categorical = _names("categorical", categorical)
        self.mixed = _special_lists(mixed)
        self.minmax = _names("minmax", minmax)
        self.log = _names("log", log)
        self.columns = None if columns is None else _names("columns", columns)
        self.max_modes = max_modes
        self.weight_threshold = weight_threshold
        self.mode_choice = mode_choice
        self.mixture_method = mixture
        self.seed = seed
        self.layout = layout
        self.engine = engine
        self.threads = threads
        self.chunk_rows = chunk_rows
        self.bins = bins
        self.max_onehot_categories = max_onehot_categories
        self.unseen = unseen
        self.progress = progress or Progress(enabled=False)
        self.spark_master = spark_master
        self.partitions = partitions
        self.model_: Model | None = None
        self._codecs = None

    # ------------------------------------------------------------------ checks
    def _check_options(self) -> None:
        checks = [
            ("mode_choice", self.mode_choice, MODE_CHOICES),
            ("mixture", self.mixture_method, MIXTURES + ("spark-ml",)),
            ("unseen", self.unseen, UNSEEN_POLICIES),
            ("engine", self.engine, ("local", "spark")),
        ]
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if self.mixture_method == "spark-ml" and self.engine != "spark":
            raise ValueError(
                "mixture='spark-ml' fits with Spark ML and needs engine='spark' "
                f"(--engine spark), got engine={self.engine!r}"
            )
        check_layout(self.layout)
        if not (isinstance(self.max_modes, int) and 1 <= self.max_modes <= 100):
            raise ValueError(
                f"max_modes must be an integer in 1..100, got {self.max_modes!r}"
            )
        if not 0 <= self.weight_threshold < 1:
            raise ValueError(
                f"weight_threshold must be in [0, 1), got {self.weight_threshold!r}"
            )
        if not (isinstance(self.chunk_rows, int) and self.chunk_rows >= 1):
            raise ValueError(
                f"chunk_rows must be a positive integer, got {self.chunk_rows!r}"
            )
        if not (isinstance(self.bins, int) and 16 <= self.bins <= 1 << 24):
            raise ValueError(f"bins must be an integer in 16..2**24, got {self.bins!r}")

    def _engine(self):
        if self.engine == "spark":
            from modenorm.engines.spark import SparkEngine

            return SparkEngine(
                master=self.spark_master,
                partitions=self.partitions,
                progress=self.progress,
            )
        return LocalEngine(
            threads=self.threads, chunk_rows=self.chunk_rows, progress=self.progress
        )

    def _open(self, source: Any) -> Source:
        if self.engine == "spark":
            from modenorm.engines.spark import open_spark_source

            return open_spark_source(source, self._engine())
        return open_source(source)

    @property
    def fitted(self) -> bool:
        """True once the transformer has a model."""
        return self.model_ is not None

    def _require_fitted(self) -> Model:
        if self.model_ is None:
            raise ModenormError("the transformer is not fitted yet; call fit() first")
        return self.model_

    # --------------------------------------------------------------------- fit
    def fit(self, source: Any) -> Transformer:
        """Fit every column from one streaming summary of ``source``.

        Parameters
        ----------
        source : path, glob, DataFrame, LazyFrame, pandas DataFrame or Arrow table

        Returns
        -------
        Transformer
            ``self``, fitted.

        Raises
        ------
        ColumnError
            A column is missing, or its data does not fit its kind.
        SourceError
            The source cannot be read.
        """
        self._check_options()
        src = self._open(source)
        specs = plan_columns(
            src.schema,
            columns=self.columns,
            continuous=self.continuous,
            categorical=self.categorical,
            mixed=self.mixed,
            minmax=self.minmax,
            log=self.log,
        )
        engine = self._engine()
        if self.engine == "spark":
            scans, hists, cats = engine.summarize(
                src, specs, bins=self.bins, grid_cells=1 << 21
            )
        else:
            scans, hists, cats = summarize_local(
                engine, src, specs, bins=self.bins, grid_cells=1 << 21
            )
        opts = FitOptions(
            max_modes=self.max_modes,
            weight_threshold=self.weight_threshold,
            mode_choice=self.mode_choice,
            mixture=self.mixture_method,
            seed=self.seed,
            n_init=self.n_init,
        )
        self._check_has_rows(src, scans, cats)
        if self.mixture_method == "spark-ml":
            columns = engine.fit_spark_ml(src, specs, scans, hists, cats, opts)
        else:
            columns = self._fit_columns(specs, scans, hists, cats, opts)
            columns = self._refine_columns(
                src, engine, specs, scans, hists, columns, opts
            )
        self.model_ = Model(
            columns=columns,
            seed=self.seed,
            mode_choice=self.mode_choice,
            options=self._options_doc(),
        )
        self._codecs = None
        return self

    @staticmethod
    def _check_has_rows(src: Source, scans, cats) -> None:
        if any(scan.n_rows for scan in scans.values()):
            return
        if not any(sum(counts.ranked()[1]) for counts in cats.values()):
            raise ColumnError(
                f"{src.description} has no rows; there is nothing to fit; pass a "
                "table with at least one row"
            )

    def _fit_columns(self, specs, scans, hists, cats, opts):
        task = self.progress.stage("fit mixtures", len(specs))

        def fit_one(spec):
            if spec.kind == "categorical":
                col = fit_categorical_column(cats[spec.name])
            else:
                col = fit_numeric_column(spec, scans[spec.name], hists[spec.name], opts)
            task.advance(1)
            return col

        try:
            threads = self.threads or os.cpu_count() or 1
            workers = max(1, min(threads, len(specs)))
            with threadpool_limits(limits=1), ThreadPoolExecutor(workers) as pool:
                columns = list(pool.map(fit_one, specs))
        finally:
            task.close()
        for col in columns:
            if isinstance(col, NumericColumn):
                kept = sum(m.kind == "gaussian" for m in col.modes)
                logger.info(
                    "column %r: %d valid modes, %d modes in all",
                    col.name,
                    kept,
                    len(col.modes),
                )
        return columns

    def _refine_columns(self, src, engine, specs, scans, hists, columns, opts):
        """Refit columns whose summary was too coarse, from a finer one.

        Grid summaries are refined in memory; moment histograms take one more
        pass over the data, for the affected columns only.
        """
        by_name = {s.name: s for s in specs}
        finer, zooms = {}, {}
        for col in columns:
            state = getattr(col, "_refine_state", None)
            if state is None:
                continue
            atoms, ratio, fit = state
            hist = hists[col.name]
            if hist.mode == "grid":
                new = refine_grid(hist, atoms, ratio, fit.variances, opts.max_atoms)
                if new is not None:
                    finer[col.name] = (new, fit)
            else:
                zoom = plan_zoom(hist, atoms, ratio, fit.variances)
                if zoom is not None:
                    zooms[col.name] = (zoom, fit)
        fresh = None
        if zooms:
            fresh = self._zoom_pass(src, engine, {n: z for n, (z, _) in zooms.items()})
        if fresh is not None:
            for name, (_, fit) in zooms.items():
                finer[name] = (fresh[name].atoms(opts.max_atoms), fit)
        out = []
        for col in columns:
            if col.name not in finer:
                out.append(col)
                continue
            atoms, fit = finer[col.name]
            labels = predict_labels(fit, atoms.means)
            spec = by_name[col.name]
            new = fit_numeric_column(
                spec,
                scans[col.name],
                hists[col.name],
                opts,
                atoms=atoms,
                init_labels=labels,
            )
            logger.info(
                "column %r: summary refined (%d atoms); resolution %.3g -> %.3g",
                col.name,
                len(atoms.counts),
                col.stats.get("resolution", 0.0),
                new.stats.get("resolution", 0.0),
            )
            out.append(new)
        for col in out:
            resolution = (
                col.stats.get("resolution", 0.0) if col.kind != "categorical" else 0.0
            )
            if resolution > 0.01:
                logger.warning(
                    "column %r: summary bins still span %.2g of the narrowest "
                    "mode's deviation after refinement; the fit may differ from a "
                    "full-data fit by about %.2g relative; raise bins (--bins) for "
                    "a closer fit",
                    col.name,
                    resolution,
                    2 * resolution**2,
                )
        return out

    def _zoom_pass(self, src, engine, zooms):
        if self.engine == "spark":
            if not hasattr(engine, "refine"):
                logger.info("the spark engine does not refine summaries yet")
                return None
            return engine.refine(src, zooms)

        def add(acc, item):
            for name, zoom in acc.items():
                zoom.add(item[1][name])

        accs = engine.accumulate(
            "refine pass",
            src,
            list(zooms),
            lambda: {n: z.empty_like() for n, z in zooms.items()},
            add,
        )
        for acc in accs:
            for name, zoom in acc.items():
                zooms[name].merge(zoom)
        return zooms

    def _options_doc(self) -> dict[str, Any]:
        return {
            "max_modes": self.max_modes,
            "n_init": self.n_init,
            "weight_threshold": self.weight_threshold,
            "mixture": self.mixture_method,
            "layout": self.layout,
            "bins": self.bins,
            "max_onehot_categories": self.max_onehot_categories,
            "unseen": self.unseen,
            "mixed": {k: [float(v) for v in vals] for k, vals in self.mixed.items()},
            "log": self.log,
            "minmax": self.minmax,
        }

    # ------------------------------------------------------------- transform
    @property
    def codecs(self) -> list[NumericCodec | CategoricalCodec]:
        """One codec per fitted column, in model order."""
        model = self._require_fitted()
        if self._codecs is None:
            self._codecs = [
                codec_for(
                    c,
                    seed=model.seed,
                    mode_choice=model.mode_choice,
                    unseen=self.unseen,
                )
                for c in model.columns
            ]
        return self._codecs

    @property
    def output_info(self) -> list[tuple[int, str]]:
        """``(width, activation)`` spans of the onehot layout."""
        return output_info(self.codecs)

    def output_columns(self, layout: str | None = None) -> list[str]:
        """Names of the encoded columns of a layout (side channel last).

        Parameters
        ----------
        layout : {"compact", "onehot"}, optional
            Default: the transformer's ``layout``.

        Returns
        -------
        list of str
            ``<col>.alpha`` and ``<col>.mode`` (compact) or ``<col>.mode.<rank>``
            (onehot) per numeric column, ``<col>.category`` or
            ``<col>.category.<rank>`` per categorical column, then the
            ``<col>.exact`` side channel of every numeric column.
        """
        return encoded_columns(self.codecs, check_layout(layout or self.layout))

    # ------------------------------------------------------------------ feed
    def batches(
        self,
        source: Any,
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int | None = None,
        drop_last: bool = False,
        buffer_rows: int = 1 << 20,
    ):
        """Read compact-layout encoded data as float32 batches in the onehot layout.

        Returns a :class:`~modenorm.feed.BatchReader`: iterate over it for one
        epoch of ``(batch_size, width)`` C-contiguous float32 matrices whose
        columns follow :attr:`output_info`. See that class for the parameters
        and for exactly what kind of shuffle ``shuffle=True`` is.
        """
        from modenorm.feed import BatchReader

        self._require_fitted()
        self._check_onehot()
        return BatchReader(
            self.codecs,
            source,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            buffer_rows=buffer_rows,
        )

    def conditional_sampler(self, *, seed: int | None = None):
        """CTGAN conditional vectors from the fitted category counts.

        Returns a :class:`~modenorm.feed.ConditionalSampler`.
        """
        from modenorm.feed import ConditionalSampler

        self._require_fitted()
        self._check_onehot()
        return ConditionalSampler(self.codecs, seed=seed)

    def _check_source_columns(self, src: Source) -> None:
        model = self._require_fitted()
        names = [c.name for c in model.columns]
        missing = [n for n in names if n not in src.schema]
        if missing:
            raise SchemaMismatchError(
                f"column(s) {missing} of the model are missing from the data; the "
                f"data has {src.columns}; pass the table the model was fitted for"
            )
        for col in model.columns:
            expected = dtype_from_json(col.dtype)
            seen = src.schema[col.name]
            if seen == expected:
                continue
            if (
                isinstance(col, CategoricalColumn)
                and _is_text(seen)
                and _is_text(expected)
            ):
                continue
            if isinstance(col, NumericColumn) and physical_kind(seen) == col.physical:
                continue
            raise SchemaMismatchError(
                f"column {col.name!r} has type {seen}, but the model was fitted on "
                f"{expected}; cast the column or refit the model"
            )

    def _check_onehot(self) -> None:
        for codec in self.codecs:
            if isinstance(codec, CategoricalCodec):
                if codec.n_categories > self.max_onehot_categories:
                    raise ColumnError(
                        f"column {codec.name!r} has {codec.n_categories} categories, "
                        f"above the onehot limit of {self.max_onehot_categories}; use "
                        "the compact layout, raise max_onehot_categories "
                        "(--max-onehot-categories), or drop the column"
                    )

    def encode_chunk(self, chunk: pl.DataFrame, row0: int, layout: str) -> pl.DataFrame:
        """Encode one chunk whose first row has index ``row0`` in the table.

        Parameters
        ----------
        chunk : polars.DataFrame
            Rows of the original columns.
        row0 : int
            Index of the chunk's first row in the whole table; the seeded mode
            draw of a row depends on its index, so any chunking gives the same
            encoding.
        layout : {"compact", "onehot"}

        Returns
        -------
        polars.DataFrame
            The encoded rows, with the columns of :meth:`output_columns`.
        """
        parts = [c.encode(chunk[c.name], row0) for c in self.codecs]
        return assemble(self.codecs, parts, layout)

    def transform(
        self,
        source: Any,
        *,
        layout: str | None = None,
        output: str | os.PathLike | None = None,
        overwrite: bool = False,
        compression: str = "zstd",
        part_rows: int | None = None,
    ) -> pl.DataFrame | Path:
        """Encode a table.

        Parameters
        ----------
        source : path, glob, DataFrame, LazyFrame, pandas DataFrame or Arrow table
        layout : {"compact", "onehot"}, optional
            Default: the transformer's ``layout``.
        output : path, optional
            Write Parquet there (atomically) instead of returning a DataFrame.
        overwrite : bool, default False
            Replace an existing output.
        compression : str, default "zstd"
            Parquet compression: zstd, snappy, lz4, gzip or none.
        part_rows : int, optional
            Write a folder of part files of about this many rows each.

        Returns
        -------
        polars.DataFrame or Path
            The encoded table, or the path written.

        Raises
        ------
        SchemaMismatchError
            A column of the model is missing from ``source`` or has another
            type.
        ColumnError
            The onehot layout meets a categorical column with more than
            ``max_onehot_categories`` categories, or a numeric column holds
            nulls but had none at fit time.
        UnseenCategoryError
            A categorical value was not seen at fit time (``unseen="error"``).
        OutputExistsError
            ``output`` exists and ``overwrite`` is False.
        """
        self._require_fitted()
        layout = check_layout(layout or self.layout)
        if layout == "onehot":
            self._check_onehot()
        src = self._open(source)
        self._check_source_columns(src)
        names = [c.name for c in self.codecs]
        engine = self._engine()
        if self.engine == "spark":
            return engine.transform(
                self,
                src,
                layout=layout,
                output=output,
                overwrite=overwrite,
                compression=compression,
            )
        chunks = engine.map_chunks(
            "transform",
            src,
            names,
            lambda item: self.encode_chunk(item[1], item[0], layout),
        )
        empty = pl.DataFrame(schema={n: src.schema[n] for n in names})
        return self._collect_or_write(
            chunks,
            output,
            overwrite,
            compression,
            part_rows,
            src.num_rows,
            lambda: self.encode_chunk(empty, 0, layout),
            metadata={MODEL_KEY: self.model_.fingerprint()},
        )

    def _collect_or_write(
        self,
        chunks,
        output,
        overwrite,
        compression,
        part_rows,
        expected_rows,
        empty,
        metadata=None,
    ):
        if output is None:
            parts = list(chunks)
            frame = pl.concat(parts) if parts else empty()
            self._check_rows(frame.height, expected_rows)
            return frame
        with ParquetSink(
            output,
            compression=compression,
            part_rows=part_rows,
            overwrite=overwrite,
            metadata=metadata,
        ) as sink:
            for chunk in chunks:
                sink.write(chunk)
            if sink.rows_written == 0:
                sink.write(empty())
            self._check_rows(sink.rows_written, expected_rows)
            return sink.commit()

    def _check_fingerprint(self, src) -> None:
        """Refuse Parquet encoded by another model (when it says which)."""
        paths = getattr(src, "paths", None)
        if not paths:
            return
        seen = parquet_model_fingerprint(paths[0])
        expected = self.model_.fingerprint()
        if seen is not None and seen != expected:
            raise SchemaMismatchError(
                f"{src.description} was encoded with another model (fingerprint "
                f"{seen}, this model's is {expected}); decode it with the model "
                "that encoded it"
            )

    @staticmethod
    def _check_rows(rows: int, expected: int | None) -> None:
        if expected is not None and rows != expected:
            raise ModenormError(
                f"wrote {rows} rows but the input has {expected}; nothing was "
                "committed; the input changed while it was read, or it is damaged"
            )

    def fit_transform(self, source: Any, **kwargs) -> pl.DataFrame | Path:
        """Fit on ``source``, then encode it.

        Parameters
        ----------
        source : path, glob, DataFrame, LazyFrame, pandas DataFrame or Arrow table
        **kwargs
            Options of :meth:`transform` (``layout``, ``output``, ...).

        Returns
        -------
        polars.DataFrame or Path
            As :meth:`transform`.
        """
        return self.fit(source).transform(source, **kwargs)

    # ---------------------------------------------------------------- inverse
    def decode_chunk(self, chunk: pl.DataFrame, layout: str, *, clip: bool = False):
        """Decode one encoded chunk back to the original columns.

        Parameters
        ----------
        chunk : polars.DataFrame
            Encoded rows in ``layout``.
        layout : {"compact", "onehot"}
        clip : bool, default False
            Treat the rows as generator output: clip ``alpha`` to [-1, 1] and
            keep decoded values within the fitted range.

        Returns
        -------
        polars.DataFrame
            The original columns, in model order and with their original types.
        """
        parts = split_encoded(chunk, self.codecs, layout)
        series = []
        for codec, part in zip(self.codecs, parts, strict=True):
            if isinstance(codec, NumericCodec):
                series.append(
                    codec.decode(
                        part["alpha"],
                        part["mode"],
                        part.get("exact"),
                        part.get("exact_flag"),
                        clip=clip,
                    )
                )
            else:
                series.append(codec.decode(part["rank"]))
        return pl.DataFrame(series)

    def _matrix_frame(self, matrix: np.ndarray) -> pl.DataFrame:
        names = [n for c in self.codecs for n in block_names(c, "onehot")]
        matrix = np.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[1] != len(names):
            raise SchemaMismatchError(
                f"the generated matrix has shape {matrix.shape}, but the onehot "
                f"layout of this model has {len(names)} columns (output_info "
                f"{self.output_info}); pass one row per sample in that layout"
            )
        nan = np.isnan(matrix).sum(axis=0) if matrix.dtype.kind == "f" else []
        if np.any(nan):
            i = int(np.flatnonzero(nan)[0])
            raise SchemaMismatchError(
                f"the generated matrix holds {int(nan.sum())} NaN values, "
                f"{int(nan[i])} in column {i} ({names[i]!r}); NaN has no "
                "decoding; check the generator's training for divergence"
            )
        return pl.DataFrame({n: matrix[:, i] for i, n in enumerate(names)})

    def inverse_transform(
        self,
        encoded: Any,
        *,
        output: str | os.PathLike | None = None,
        overwrite: bool = False,
        compression: str = "zstd",
        generated: bool | None = None,
        part_rows: int | None = None,
    ) -> pl.DataFrame | Path:
        """Decode an encoded table (either layout) back to the original columns.

        ``part_rows`` writes a folder of part files of that many rows each.

        Parameters
        ----------
        encoded : DataFrame, path, or 2-D array in the onehot layout
            A NumPy matrix is taken as generator output (float scores, such as
            tanh and softmax outputs): each one-hot block decodes to its
            arg-max (the lowest rank on ties), scalars are clipped to
            [-1, 1], and the values of Gaussian modes are rounded to the
            column's decimals and clamped to its fitted [min, max]. Special
            values and nulls come back as they are.
        output : path, optional
            Write Parquet there (atomically) instead of returning a DataFrame.
        overwrite : bool, default False
            Replace an existing output.
        compression : str, default "zstd"
            Parquet compression: zstd, snappy, lz4, gzip or none.
        generated : bool, optional
            Treat the input as generator output (default: only for arrays).

        Returns
        -------
        polars.DataFrame or Path
            The decoded table, or the path written.

        Raises
        ------
        SchemaMismatchError
            The input is in neither layout of this model, a mode or category
            rank lies outside the model, or a matrix has the wrong width or
            holds NaN.
        OutputExistsError
            ``output`` exists and ``overwrite`` is False.
        """
        self._require_fitted()
        if isinstance(encoded, np.ndarray):
            encoded = self._matrix_frame(encoded)
            generated = True if generated is None else generated
        src = open_source(encoded) if self.engine != "spark" else self._open(encoded)
        self._check_fingerprint(src)
        layout = detect_layout(src.columns, self.codecs)
        clip = bool(generated)
        engine = self._engine()
        if self.engine == "spark":
            return engine.inverse(
                self,
                src,
                layout=layout,
                output=output,
                overwrite=overwrite,
                compression=compression,
                clip=clip,
            )
        names = [n for n in src.columns if n in set(self.output_columns(layout))]
        chunks = engine.map_chunks(
            "inverse",
            src,
            names,
            lambda item: self.decode_chunk(item[1], layout, clip=clip),
        )
        empty = pl.DataFrame(schema={n: src.schema[n] for n in names})
        return self._collect_or_write(
            chunks,
            output,
            overwrite,
            compression,
            part_rows,
            src.num_rows,
            lambda: self.decode_chunk(empty, layout, clip=clip),
        )

    # ----------------------------------------------------------------- verify
    def verify(self, source: Any, *, layout: str | None = None) -> VerifyReport:
        """Encode and decode ``source`` chunk by chunk and compare every value.

        Floats are compared bit for bit (so ``-0.0`` differs from ``0.0``),
        nulls as nulls. Nothing is written; memory stays one chunk per thread.

        Parameters
        ----------
        source : path, glob, DataFrame, LazyFrame, pandas DataFrame or Arrow table
        layout : {"compact", "onehot"}, optional
            Layout to round-trip through (default: the transformer's).

        Returns
        -------
        VerifyReport
            Rows read, mismatches and side-channel rows per column; ``ok`` is
            True when every value came back.

        Raises
        ------
        SchemaMismatchError
            A column of the model is missing from ``source`` or has another
            type.
        """
        self._require_fitted()
        layout = check_layout(layout or self.layout)
        src = open_source(source)
        self._check_source_columns(src)
        names = [c.name for c in self.codecs]
        engine = LocalEngine(
            threads=self.threads, chunk_rows=self.chunk_rows, progress=self.progress
        )

        def check(item):
            row0, chunk = item
            encoded = self.encode_chunk(chunk, row0, layout)
            decoded = self.decode_chunk(encoded, layout)
            result = {}
            for name in names:
                bad = mismatched_rows(chunk[name], decoded[name])
                exact = encoded.get_column(f"{name}.exact", default=None)
                result[name] = (
                    bad,
                    0 if exact is None else exact.count(),
                    chunk[name].gather(bad[:3]).to_list(),
                )
            return chunk.height, result

        report = VerifyReport(
            mismatches=dict.fromkeys(names, 0), exact_rows=dict.fromkeys(names, 0)
        )
        for rows, result in engine.map_chunks("verify", src, names, check):
            report.rows += rows
            for name, (bad, exact, examples) in result.items():
                report.mismatches[name] += len(bad)
                report.exact_rows[name] += exact
                if examples:
                    report.examples.setdefault(name, []).extend(examples)
        return report

    # --------------------------------------------------------------- inspect
    def mixture(self, column: str) -> dict[str, Any]:
        """Fitted mixture of one continuous or mixed column.

        Parameters
        ----------
        column : str
            Name of a continuous or mixed column of the model.

        Returns
        -------
        dict
            ``weights``, ``means``, ``stds`` (NumPy arrays over all components),
            ``valid`` (bool array), ``converged``, ``n_iter`` and ``method``.
            Values are in the fitted domain (after ``log1p`` for log columns and
            relative to ``offset`` for integer-like columns).

        Raises
        ------
        ColumnError
            The column is not in the model, is categorical, or is a min-max
            column (which has no mixture).
        """
        col = self._numeric_column(column)
        if col.mixture is None:
            raise ColumnError(f"column {column!r} is {col.kind}; it has no mixture")
        mix = col.mixture
        return {
            "method": mix["method"],
            "weights": np.array(mix["weights"]),
            "means": np.array(mix["means"]),
            "stds": np.sqrt(np.array(mix["variances"])),
            "valid": np.array(mix["valid"], dtype=bool),
            "converged": mix["converged"],
            "n_iter": mix["n_iter"],
        }

    def _numeric_column(self, column: str) -> NumericColumn:
        model = self._require_fitted()
        try:
            col = model.column(column)
        except KeyError:
            raise ColumnError(f"column {column!r} is not in the model") from None
        if not isinstance(col, NumericColumn):
            raise ColumnError(f"column {column!r} is categorical; it has no mixture")
        return col

    def score(self, source: Any) -> dict[str, float]:
        """Mean log-likelihood per row of each fitted mixture on ``source``.

        Uses the plug-in density (fitted weights, means, deviations) over the
        rows that are neither null nor special values, in the fitted domain.

        Parameters
        ----------
        source : path, glob, DataFrame, LazyFrame, pandas DataFrame or Arrow table

        Returns
        -------
        dict of str to float
            Per continuous or mixed column, the mean log density in nats (NaN
            for a column with no such rows). Compare it with scikit-learn's
            ``BayesianGaussianMixture.score`` on the same values.
        """
        from modenorm.fit.scoring import column_log_likelihood

        model = self._require_fitted()
        cols = [
            c
            for c in model.columns
            if isinstance(c, NumericColumn) and c.mixture is not None
        ]
        src = open_source(source)
        totals = {c.name: [0.0, 0] for c in cols}
        engine = LocalEngine(threads=self.threads, chunk_rows=self.chunk_rows)
        for part in engine.map_chunks(
            "score",
            src,
            [c.name for c in cols],
            lambda item: {
                c.name: column_log_likelihood(c, item[1][c.name]) for c in cols
            },
        ):
            for name, (ll, n) in part.items():
                totals[name][0] += ll
                totals[name][1] += n
        return {name: ll / n if n else float("nan") for name, (ll, n) in totals.items()}

    # ------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model as a JSON document (atomically).

        Parameters
        ----------
        path : path
            The file to write; an existing file is replaced.
        """
        self._require_fitted().save(path)

    @classmethod
    def load(cls, path: str | os.PathLike, **options) -> Transformer:
        """Load a model written by :meth:`save`.

        Parameters
        ----------
        path : path
            A model JSON file. It is parsed and checked field by field, never
            executed, so a file from a stranger is safe to load.
        **options
            Constructor options that do not change the model: ``engine``,
            ``threads``, ``chunk_rows``, ``progress``, ``unseen``, ...

        Returns
        -------
        Transformer
            A fitted transformer.

        Raises
        ------
        ModelFileError
            The file is missing, damaged, or of another format version.
        """
        model = Model.load(path)
        return cls.from_model(model, **options)

    @classmethod
    def from_model(cls, model: Model, **options) -> Transformer:
        """Wrap an existing model.

        Parameters
        ----------
        model : Model
            A fitted model, such as ``Model.load(path)``.
        **options
            Constructor options, as for :meth:`load`.

        Returns
        -------
        Transformer
            A fitted transformer whose options follow the model's.
        """
        saved = model.options
        kwargs = {
            "seed": model.seed,
            "mode_choice": model.mode_choice,
            "max_modes": saved.get("max_modes", 10),
            "n_init": saved.get("n_init", 10),
            "weight_threshold": saved.get("weight_threshold", 0.005),
            "mixture": saved.get("mixture", "bayesian"),
            "layout": saved.get("layout", "compact"),
            "bins": saved.get("bins", 1 << 18),
            "max_onehot_categories": saved.get("max_onehot_categories", 1000),
            "unseen": saved.get("unseen", "error"),
        }
        kwargs.update(options)
        t = cls(**kwargs)
        t.model_ = model
        return t


def _is_text(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.String | pl.Categorical | pl.Enum)


def _names(option: str, names) -> list[str]:
    """A list of column names; a lone string is refused, not split into letters."""
    if isinstance(names, str):
        raise ColumnError(
            f"{option} must be a list of column names, got the string {names!r}; "
            f"write {option}=[{names!r}]"
        )
    return list(names)


def _special_lists(mixed) -> dict[str, list]:
    """The special values of mixed columns, each a list of numbers."""
    out = {}
    for name, values in (mixed or {}).items():
        if isinstance(values, str) or not isinstance(values, Iterable):
            raise ColumnError(
                f"mixed column {name!r}: special values must be a list of "
                f"numbers, got {values!r}; write mixed={{{name!r}: [{values!r}]}}"
            )
        out[name] = list(values)
    return out


def predict_labels(fit, x: np.ndarray) -> np.ndarray:
    """Most likely component of each value under a fitted mixture."""
    return predict_log_proba(fit, x).argmax(axis=1)


def mismatched_rows(original: pl.Series, decoded: pl.Series) -> np.ndarray:
    """Row indices where two Series differ (floats compared bit for bit)."""
    if original.dtype in (pl.Float32, pl.Float64) and decoded.dtype == original.dtype:
        null_a = original.is_null().to_numpy()
        null_b = decoded.is_null().to_numpy()
        width = np.int32 if original.dtype == pl.Float32 else np.int64
        a = original.fill_null(0).to_numpy().view(width)
        b = decoded.fill_null(0).to_numpy().view(width)
        bad = (null_a != null_b) | (~null_a & (a != b))
        return np.flatnonzero(bad)
    if original.dtype != decoded.dtype:
        return np.arange(len(original))
    same = original.eq_missing(decoded).to_numpy()
    return np.flatnonzero(~same)
