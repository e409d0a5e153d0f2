"""Errors nasjax raises for problems a user can fix.

Each carries one sentence that names the problem and the fix. Entry points
catch :class:`NasjaxError` and print that sentence instead of a traceback.
"""


class NasjaxError(Exception):
  """Base class: a problem with the user's input, with a message saying how to fix it."""


class ConfigError(NasjaxError, ValueError):
  """A config field is unknown, of the wrong type, or has an impossible value."""


class DataNotFoundError(NasjaxError, FileNotFoundError):
  """A dataset or benchmark file is not where the config says it is."""
