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
    """Return ``array`` as an ndarray that cannot be written through.

    A view is made first, so the caller's own array stays writeable; the view shares memory,
    which is why stages must build new arrays rather than write into inputs.
    """
    view = np.asarray(array).view()
    view.flags.writeable = False
    return view


def read_only_float32(array: npt.ArrayLike) -> FloatImage:
    """Converter for float planes: float32 (copied only when the dtype differs), read-only."""
    converted: FloatImage = np.asarray(array, dtype=np.float32)
    return read_only(converted)


def read_only_mask(array: npt.ArrayLike) -> MaskImage:
    """Converter for mask planes: uint8 bit flags (copied only when the dtype differs), read-only."""
    converted: MaskImage = np.asarray(array, dtype=np.uint8)
    return read_only(converted)
