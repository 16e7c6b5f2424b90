"""Values that are legal Python but break whoever uses them: for the checks' tests.

Each raises from the methods a careless check would call: iteration, item
access, comparison, hashing, ``str()`` and ``repr()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn


class Hostile(Exception):
    """What every hostile method raises."""


def _raise(*args: object, **kwargs: object) -> NoReturn:
    raise Hostile("a method of a settings value was called")


class RaisingMapping(Mapping[Any, Any]):
    """A mapping whose iteration, lookup and length raise."""

    __getitem__ = __iter__ = __len__ = _raise
    __str__ = __repr__ = _raise


class LyingMapping(Mapping[Any, Any]):
    """A mapping that lists keys it then fails to give."""

    def __getitem__(self, key: Any) -> NoReturn:
        _raise()

    def __iter__(self) -> Iterator[Any]:
        return iter(["TIMEOUT", "HEADERS"])

    def __len__(self) -> int:
        return 2


class RaisingFloat(float):
    """A number whose comparisons, arithmetic and text raise."""

    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _raise
    __add__ = __sub__ = __mul__ = __truediv__ = __abs__ = __neg__ = _raise
    __float__ = __int__ = __round__ = __bool__ = _raise
    __str__ = __repr__ = __format__ = __hash__ = _raise


class RaisingInt(int):
    """An int whose comparisons, arithmetic and text raise."""

    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _raise
    __add__ = __sub__ = __mul__ = __abs__ = __neg__ = _raise
    __float__ = __int__ = __index__ = __bool__ = _raise
    __str__ = __repr__ = __format__ = __hash__ = _raise


class RaisingStr(str):
    """A str whose comparisons, methods and text raise (hashable, to be a key)."""

    __eq__ = __ne__ = __lt__ = __contains__ = __iter__ = __len__ = _raise
    __getitem__ = upper = lower = encode = split = startswith = endswith = _raise
    __str__ = __repr__ = __format__ = _raise
    __hash__ = str.__hash__


class RaisingList(list[Any]):
    """A list whose iteration, length and text raise."""

    __iter__ = __len__ = __getitem__ = __bool__ = __contains__ = _raise
    __str__ = __repr__ = _raise


class RaisingClass:
    """An object whose ``__class__`` raises, which makes ``isinstance`` raise."""

    @property  # type: ignore[misc]
    def __class__(self) -> NoReturn:  # type: ignore[override]
        _raise()

    __str__ = __repr__ = _raise


# Name -> a fresh one. Tests take names: pytest itself would trip over the values.
HOSTILE: dict[str, Callable[[], Any]] = {
    "mapping": RaisingMapping,
    "lying mapping": LyingMapping,
    "float": lambda: RaisingFloat(1.0),
    "int": lambda: RaisingInt(1),
    "str": lambda: RaisingStr("https://api.example.com/"),
    "list": lambda: RaisingList(["*"]),
    "class": RaisingClass,
}


@dataclass(frozen=True)
class Token:
    """Where a hostile value goes, in a value that a property test generates.

    Hypothesis compares and hashes what it generates: it gets tokens, which the
    test turns into hostile values with ``materialize``.
    """

    name: str


def materialize(value: Any) -> Any:
    """``value`` with each ``Token`` replaced by a fresh hostile value."""
    if isinstance(value, Token):
        return HOSTILE[value.name]()
    if type(value) is list:
        return [materialize(item) for item in value]
    if type(value) is tuple:
        return tuple(materialize(item) for item in value)
    if type(value) is not dict:
        return value
    made: dict[Any, Any] = {}
    for key, item in value.items():
        # A hostile key equal to one already there raises when dict compares them.
        with contextlib.suppress(Hostile):
            made[materialize(key)] = materialize(item)
    return made
