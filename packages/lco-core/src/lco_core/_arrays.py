"""Array type aliases and the read-only converter every record uses."""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

FloatImage: TypeAlias = npt.NDArray[np.float32]
MaskImage: TypeAlias = npt.NDArray[np.uint8]
Float64Array: TypeAlias = npt.NDArray[np.float64]
AnyArray: TypeAlias = npt.NDArray[Any]


def read_only(array: npt.ArrayLike) -> AnyArray:
    """Return ``array`` as an ndarray nobody can write through, the record's from now on.

    Records take ownership of what they are given, without copying what need not be copied:

    * memory nobody can write any more (a read-only array whose bases are all read-only, such
      as another record's plane) is shared as it is;
    * an array that owns its memory is frozen in place: the caller's array becomes read-only
      too, so a later write by the caller raises instead of changing the record;
    * anything else (a writeable view of another array, a memory map, a buffer) is copied.

    Parameters
    ----------
    array : array_like
        The values.

    Returns
    -------
    numpy.ndarray
        Not writeable, and no writeable array shares its memory.
    """
    values = np.asarray(array)
    if _may_change(values):
        if values.flags.owndata and values.flags.writeable:
            values.flags.writeable = False
        else:
            values = values.copy()
            values.flags.writeable = False
    view = values.view()
    view.flags.writeable = False
    return view


def _may_change(array: AnyArray) -> bool:
    """Whether some object can still write into ``array``'s memory."""
    owner: object = array
    while isinstance(owner, np.ndarray):
        if owner.flags.writeable:
            return True
        owner = owner.base
    return owner is not None and not isinstance(owner, bytes)


def read_only_float32(array: npt.ArrayLike) -> FloatImage:
    """Converter for float planes: float32 (copied only when the dtype differs), read-only."""
    converted: FloatImage = np.asarray(array, dtype=np.float32)
    return read_only(converted)


def read_only_mask(array: npt.ArrayLike) -> MaskImage:
    """Converter for mask planes: uint8 bit flags (copied only when the dtype differs), read-only."""
    converted: MaskImage = np.asarray(array, dtype=np.uint8)
    return read_only(converted)
