"""Conditional vectors for CTGAN-style training, from the fitted category counts.

CTGAN's "training by sampling" (Xu et al., 2019, *Modeling Tabular Data using
Conditional GAN*, section 4.3) conditions the generator on one category of one
categorical column per row: the column is picked uniformly, the category with
probability proportional to the logarithm of its frequency, so rare
categories are seen often enough to be learned. The frequencies come from the
model (``CategoricalColumn.counts``), not from another pass over the data.
"""

from __future__ import annotations

import numpy as np

from modenorm.errors import ModenormError, SchemaMismatchError
from modenorm.feed._kernels import pick_matching
from modenorm.feed.batches import batch_blocks

__all__ = ["ConditionalSampler"]


def _cumulative(probabilities: list[np.ndarray]) -> np.ndarray:
    """Per-column cumulative probabilities, shifted by the column index.

    Column ``c`` occupies the values ``c + P(rank <= r)``, ending at exactly
    ``c + 1``, so one sorted search finds the rank of ``c + u`` in column ``c``.
    """
    parts = []
    for c, p in enumerate(probabilities):
        cum = np.cumsum(p)
        cum[-1] = 1.0
        parts.append(c + cum)
    return np.concatenate(parts) if parts else np.zeros(0)


class ConditionalSampler:
    """Draw CTGAN conditional vectors over the categorical columns of a model.

    Parameters
    ----------
    codecs : list of NumericCodec or CategoricalCodec
        The fitted columns (``Transformer.codecs``); only categorical ones
        take part.
    seed : int, optional
        Seed of the draws; the sampler keeps one generator, so successive
        calls continue its stream.

    Attributes
    ----------
    columns : list of str
        The categorical columns; a *column index* refers to this list.
    widths : ndarray of int64
        Categories per column.
    offsets : ndarray of int64, shape (len(columns) + 1,)
        Start of each column in the conditional vector; ``offsets[-1]`` is its
        width.
    spans : list of (int, int)
        ``(start, width)`` of each column's one-hot block in the onehot layout
        of the whole table (the batches of :class:`BatchReader` and the
        generator's output), for a loss on the conditioned block.
    log_probabilities : list of ndarray
        Per column, ``log(count + 1)`` normalized: the training distribution.
    frequencies : list of ndarray
        Per column, ``count`` normalized: the data's own distribution.
    """

    def __init__(self, codecs, *, seed: int | None = None) -> None:
        blocks = [b for b in batch_blocks(codecs) if b.kind == "categorical"]
        counts = {
            c.name: c.col.counts for c in codecs if c.name in {b.name for b in blocks}
        }
        self.columns = [b.name for b in blocks]
        self.spans = [(b.start, b.width) for b in blocks]
        self.widths = np.array([b.width for b in blocks], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.widths)]).astype(np.int64)
        self.width = int(self.offsets[-1])
        freq = [np.asarray(counts[name], dtype=np.float64) for name in self.columns]
        self.log_probabilities = [np.log1p(f) / np.log1p(f).sum() for f in freq]
        self.frequencies = [f / f.sum() for f in freq]
        self._cum = {
            True: _cumulative(self.log_probabilities),
            False: _cumulative(self.frequencies),
        }
        self._starts = np.array([s for s, _ in self.spans], dtype=np.int64)
        self._rng = np.random.default_rng(seed)

    def sample(
        self, batch_size: int, *, log_frequency: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw ``batch_size`` conditions.

        Parameters
        ----------
        batch_size : int
        log_frequency : bool, default True
            Pick the category by ``log(count + 1)`` (training, as CTGAN);
            False picks it by the count itself (CTGAN's generation time).

        Returns
        -------
        cond : ndarray of float32, shape (batch_size, width)
            One 1 per row, at ``offsets[column] + rank``.
        column : ndarray of int64, shape (batch_size,)
            Index into :attr:`columns`, uniform.
        rank : ndarray of int64, shape (batch_size,)
            Category rank within the column.

        Raises
        ------
        ModenormError
            The model has no categorical column.
        """
        if self.width == 0:
            raise ModenormError(
                "the model has no categorical column, so there is no conditional "
                "vector to draw; check sampler.width and train without one"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise ValueError(f"batch_size must be an integer, got {batch_size!r}")
        column = self._rng.integers(0, len(self.columns), size=batch_size)
        u = self._rng.random(batch_size)
        flat = np.searchsorted(self._cum[bool(log_frequency)], column + u, "right")
        rank = np.minimum(flat - self.offsets[column], self.widths[column] - 1)
        cond = np.zeros((batch_size, self.width), dtype=np.float32)
        cond[np.arange(batch_size), self.offsets[column] + rank] = 1.0
        return cond, column, rank

    def _block(self, batch: np.ndarray, column: int) -> np.ndarray:
        start, width = self.spans[column]
        return batch[:, start : start + width]

    def matching(self, batch: np.ndarray, column: int, rank: int) -> np.ndarray:
        """Rows of a onehot batch whose category in ``column`` is ``rank``.

        Returns
        -------
        ndarray of bool, shape (rows,)
            The arg-max of the column's block (lowest rank on ties) equals
            ``rank``.
        """
        self._check_batch(batch)
        return np.argmax(self._block(batch, column), axis=1) == rank

    def pick_rows(
        self, batch: np.ndarray, column: np.ndarray, rank: np.ndarray
    ) -> np.ndarray:
        """For each condition, a random row of ``batch`` that satisfies it.

        Pairs drawn conditions with real rows, as CTGAN's sampler does, but
        within one batch instead of the whole table: read batches larger than
        the training batch to find a match for rare categories.

        Parameters
        ----------
        batch : ndarray of float32 or float64, shape (rows, onehot width)
        column, rank : ndarray of int, shape (n,)
            Conditions, as returned by :meth:`sample`.

        Returns
        -------
        ndarray of int64, shape (n,)
            Row indices into ``batch``; -1 where no row has that category.
        """
        self._check_batch(batch)
        column = np.asarray(column, dtype=np.int64)
        rank = np.asarray(rank, dtype=np.int64)
        if len(column) and (column.min() < 0 or column.max() >= len(self.columns)):
            raise ValueError(
                f"column indices must be in 0..{len(self.columns) - 1}, got "
                f"{int(column.min())}..{int(column.max())}"
            )
        if np.any((rank < 0) | (rank >= self.widths[column])):
            raise ValueError("a category rank is outside its column's categories")
        out = np.empty(len(column), dtype=np.int64)
        u = self._rng.random(len(column))
        batch = np.ascontiguousarray(batch)
        pick_matching(
            batch, self._starts, self.widths, self.offsets, column, rank, u, out
        )
        return out

    def _check_batch(self, batch: np.ndarray) -> None:
        stop = max((s + w for s, w in self.spans), default=0)
        if batch.ndim != 2 or batch.shape[1] < stop:
            raise SchemaMismatchError(
                f"the batch has shape {batch.shape}, but the categorical blocks "
                f"of this model end at column {stop}; pass a matrix in the "
                "onehot layout of the whole table"
            )
