"""FrozenMapping: a read-only mapping that pickles (types.MappingProxyType does not).

Records cross process boundaries (worker pools, Dask), so their immutable mappings must pickle.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")


class FrozenMapping(Mapping[Key, Value]):
    """A dict copy behind the read-only `Mapping` interface."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[Key, Value] | None = None) -> None:
        self._data: dict[Key, Value] = dict(data or {})

    def __getitem__(self, key: Key) -> Value:
        return self._data[key]

    def __iter__(self) -> Iterator[Key]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"FrozenMapping({self._data!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMapping, (self._data,))
