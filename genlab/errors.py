"""The one exception type for mistakes a user can fix from the message alone.

Entry points print a `UserError` as one line and exit with status 2 (`--debug` shows
its traceback too); every other exception is a bug and keeps its traceback. It
subclasses ValueError so that callers catching bad values keep working.
"""


class UserError(ValueError):
  """A bad config value, unknown name, missing data or unusable workdir: one line."""
