"""Small explicit name registries that fail with a clear message on unknown names."""

from typing import Callable, Generic, TypeVar

from genlab.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
  """A name -> object table filled explicitly in each package's `__init__`.

  Registration is explicit (no import side effects): a test walks every config
  and checks that each name it uses resolves.
  """

  def __init__(self, kind: str):
    self.kind = kind
    self._items: dict[str, T] = {}

  def register(self, name: str, item: T) -> T:
    if name in self._items:
      raise ValueError(f"{self.kind} {name!r} is registered twice")
    self._items[name] = item
    return item

  def get(self, name: str) -> T:
    """Returns the item called `name`, or raises a one-line `KeyError`."""
    if name not in self._items:
      raise UnknownNameError(
          f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._items))}")
    return self._items[name]

  def names(self) -> list[str]:
    return sorted(self._items)

  def __contains__(self, name: str) -> bool:
    return name in self._items


class UnknownNameError(UserError):
  """Raised for a name that no registry knows (a typo in a config, usually)."""


def decorator(registry: Registry, name: str) -> Callable[[T], T]:
  return lambda item: registry.register(name, item)
