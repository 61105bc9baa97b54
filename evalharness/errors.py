"""Errors a user can cause. The CLI prints them without a traceback and exits 2."""


class EvalHarnessError(Exception):
    """Base class: bad input or environment, never a bug in evalharness."""


class ConfigError(EvalHarnessError):
    """A YAML file or CLI option is malformed (names the file and field)."""


class DataError(EvalHarnessError):
    """A dataset file is missing or a row lacks a field (names the file and row)."""


class ModelError(EvalHarnessError):
    """A model cannot be loaded or cannot serve a request type."""


class StoreError(EvalHarnessError):
    """The store has no such run, or cannot be opened."""
