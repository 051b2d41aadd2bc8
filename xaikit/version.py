"""xaikit's version, in a module of its own so that core modules can record it without importing the package."""

__version__ = "0.1.0"
