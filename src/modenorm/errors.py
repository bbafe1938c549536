"""Exceptions raised by modenorm.

Every error a user can cause derives from :class:`ModenormError`, and from the
built-in exception that matches it, so callers may catch either.
"""

from __future__ import annotations

__all__ = [
    "ModenormError",
    "ColumnError",
    "SchemaMismatchError",
    "UnseenCategoryError",
    "ModelFileError",
    "SourceError",
    "OutputExistsError",
]


class ModenormError(Exception):
    """Base class of every error modenorm raises on purpose."""


class ColumnError(ModenormError, ValueError):
    """A column's data does not fit the kind or options chosen for it."""


class SchemaMismatchError(ModenormError, ValueError):
    """The data does not match the fitted model (columns, dtypes or widths)."""


class UnseenCategoryError(ColumnError):
    """A categorical column holds a value that was not seen at fit time."""


class ModelFileError(ModenormError, ValueError):
    """A model file is damaged, hand-edited or from an unsupported version."""


class SourceError(ModenormError, OSError):
    """A data source cannot be found or read."""


class OutputExistsError(ModenormError, FileExistsError):
    """An output exists already and overwriting was not asked for."""
