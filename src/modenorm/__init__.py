"""modenorm: lossless mode-specific normalization for very large tables.

Fit a variational Bayesian Gaussian mixture per continuous column, encode each
value as a scalar ``alpha`` and a mode, one-hot encode categorical columns,
and decode everything back exactly.
"""

from modenorm.engines.progress import Progress
from modenorm.errors import (
    ColumnError,
    ModelFileError,
    ModenormError,
    OutputExistsError,
    SchemaMismatchError,
    SourceError,
    UnseenCategoryError,
)
from modenorm.model.schema import Model
from modenorm.transformer import Transformer, VerifyReport

__version__ = "0.1.0"

__all__ = [
    "Transformer",
    "VerifyReport",
    "Model",
    "Progress",
    "ModenormError",
    "ColumnError",
    "SchemaMismatchError",
    "UnseenCategoryError",
    "ModelFileError",
    "SourceError",
    "OutputExistsError",
]
