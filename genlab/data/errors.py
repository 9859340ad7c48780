"""The one exception type the data package raises for user-facing problems."""

from genlab.errors import UserError


class DataError(UserError):
  """A dataset cannot be provided: unknown name, not prepared, bad split.

  The message is a single line that says what to do about it, so that the
  trainer can print it as is instead of a traceback.
  """
