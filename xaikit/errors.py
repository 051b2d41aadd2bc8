"""Exceptions raised by xaikit.

Every error names what was wrong *and* what to do about it. The classes subclass the
matching built-in exception so ``except ValueError`` keeps working for callers that do
not know about xaikit.
"""

from __future__ import annotations

__all__ = [
    "XaikitError",
    "InputError",
    "LayerError",
    "ModelError",
    "UnknownNameError",
    "MissingDependencyError",
    "FileFormatError",
    "DegenerateMapWarning",
]


class XaikitError(Exception):
    """Base class of every error raised on purpose by xaikit."""


class InputError(XaikitError, ValueError):
    """Images, targets or parameters that cannot be used as given."""


class UnknownNameError(InputError, KeyError):
    """An unknown method, backend or other name; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class FileFormatError(InputError):
    """A file that cannot be read as what it should be (damaged, truncated, tampered with or of another kind).

    The message names the file and what is wrong with it.
    """


class LayerError(InputError):
    """A layer that does not exist or cannot serve the requested method."""


class ModelError(XaikitError, TypeError):
    """A model the backend cannot explain (wrong type, not built, several inputs...)."""


class MissingDependencyError(XaikitError, ImportError):
    """An optional dependency is not installed; the message says which extra to install."""


class DegenerateMapWarning(UserWarning):
    """Every map of an explanation is constant (all zero included): it shows nothing; the message says why it may be."""
