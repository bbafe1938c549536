"""Feed a synthesizer: training batches and conditional vectors.

:class:`BatchReader` turns compact-layout encoded data into float32 matrices
in the onehot layout; :class:`ConditionalSampler` draws CTGAN's conditional
vectors from the fitted category counts. Neither needs a deep-learning
framework: both hand out plain C-contiguous NumPy arrays.
"""

from modenorm.feed.batches import BatchReader, Block, batch_blocks
from modenorm.feed.conditional import ConditionalSampler

__all__ = ["BatchReader", "Block", "ConditionalSampler", "batch_blocks"]
