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

__version__ = "0.1.0"

_LAZY = {"Transformer", "VerifyReport"}


def __getattr__(name: str):
    # The estimator pulls in scikit-learn and numba; import it on first use so
    # that ``modenorm --help`` and model inspection start quickly.
    if name in _LAZY:
        from modenorm import transformer

        return getattr(transformer, name)
    raise AttributeError(f"module 'modenorm' has no attribute {name!r}")


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
