"""Memory-bounded per-pixel sigma-clipped stacking of N equally shaped 2-D frames."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeAlias

import attrs
import numpy as np
import numpy.typing as npt

from lco_core import _stack_kernel
from lco_core._arrays import FloatImage, MaskImage, read_only
from lco_core.errors import ShapeMismatchError
from lco_core.masks import MaskBit

CubeLike: TypeAlias = npt.NDArray[np.generic] | Sequence[npt.NDArray[np.generic]]
CountImage: TypeAlias = npt.NDArray[np.uint16]

#: Bytes of one band copy when inputs must be copied (sequences, other dtypes).
BAND_BYTES = 32 * 1024 * 1024

_NO_MASKS = np.zeros((1, 1, 1), dtype=np.uint8)
_NO_SIGMAS = np.zeros((1, 1, 1), dtype=np.float32)


@attrs.frozen(eq=False)
class StackResult:
    """A stacked image and what it rests on.

    Attributes
    ----------
    data : float32 (H, W)
        Sigma-clipped mean per pixel.
    uncertainty : float32 (H, W)
        ``sqrt(sum of kept variances) / n_kept`` when input uncertainties were given, else the
        standard error of the kept values (0 where only one value was kept).
    mask : uint8 (H, W)
        `~lco_core.masks.MaskBit.NO_DATA` where no value survived; those pixels hold the plain mean of all
        finite inputs (0 where there were none).
    n_used : uint16 (H, W)
        Number of input values kept per pixel.
    nsigma : float or None
        The rejection threshold the stack ran with (None: not stated by its maker).
    maxiters : int or None
        The clipping passes it ran with.
    """

    data: FloatImage = attrs.field(converter=read_only)
    uncertainty: FloatImage = attrs.field(converter=read_only)
    mask: MaskImage = attrs.field(converter=read_only)
    n_used: CountImage = attrs.field(converter=read_only)
    nsigma: float | None = None
    maxiters: int | None = None


@attrs.frozen
class Band:
    """Rows ``[start, stop)`` of every input plane, shaped (N, stop - start, W).

    Attributes
    ----------
    start, stop : int
        0-based first row and one past the last row of the band.
    data : ndarray of float32, shape (N, rows, W)
        The frames' values.
    masks : ndarray of uint8 or None
        Non-zero where a value must not be used.
    uncertainties : ndarray of float32 or None
        1-sigma uncertainties, units of ``data``.
    """

    start: int
    stop: int
    data: npt.NDArray[np.float32]
    masks: npt.NDArray[np.uint8] | None = None
    uncertainties: npt.NDArray[np.float32] | None = None


def stack(
    data: CubeLike,
    *,
    nsigma: float = 3.0,
    masks: CubeLike | None = None,
    uncertainties: CubeLike | None = None,
    maxiters: int = 1,
    band_rows: int | None = None,
) -> StackResult:
    """Per-pixel sigma-clipped mean of N equally shaped 2-D frames.

    Parameters
    ----------
    data : (N, H, W) array or sequence of N (H, W) arrays
        The frames. NaN and infinite values count as masked.
    nsigma : float
        Rejection threshold in robust standard deviations (1.4826 x MAD), strict ``>``.
    masks : like ``data``, optional
        Non-zero where a value must not be used.
    uncertainties : like ``data``, optional
        1-sigma uncertainty of each value, in the units of ``data``.
    maxiters : int
        Clipping passes; rejected values stay rejected; stops early when nothing changes.
    band_rows : int, optional
        Rows per band. Sequences and non-float32 inputs are copied one band at a time (about
        32 MiB per plane set by default); a float32 (N, H, W) array is used in place.

    Returns
    -------
    StackResult

    Raises
    ------
    ShapeMismatchError
        Frames of different shapes, not 2-D, none at all, or masks/uncertainties that do not
        match ``data``.
    ValueError
        ``nsigma <= 0``, ``maxiters < 1`` or ``band_rows < 1``.
    """
    n_frames, shape = _cube_shape(data, "data")
    for name, extra in (("masks", masks), ("uncertainties", uncertainties)):
        if extra is not None and _cube_shape(extra, name) != (n_frames, shape):
            raise ShapeMismatchError(f"{name} must match data: {n_frames} frames of {shape}")
    if band_rows is None:
        in_place = _usable_in_place(data, np.float32) and all(
            extra is None or _usable_in_place(extra, dtype)
            for extra, dtype in ((masks, np.uint8), (uncertainties, np.float32))
        )
        band_rows = shape[0] if in_place else _default_band_rows(n_frames, shape[1])
    return stack_bands(
        _bands(data, masks, uncertainties, shape[0], band_rows),
        shape=shape,
        nsigma=nsigma,
        maxiters=maxiters,
    )


def stack_bands(
    bands: Iterable[Band], *, shape: tuple[int, int], nsigma: float = 3.0, maxiters: int = 1
) -> StackResult:
    """Stack from an iterable of row bands that together cover ``shape`` (used for files).

    Parameters
    ----------
    bands : iterable of Band
        Row bands of the N inputs; each may be read just before it is stacked.
    shape : (int, int)
        Shape ``(H, W)`` of the output.
    nsigma : float
        Rejection threshold in robust standard deviations, strict ``>``.
    maxiters : int
        Clipping passes.

    Returns
    -------
    StackResult

    Raises
    ------
    ShapeMismatchError
        The bands do not cover every row.
    ValueError
        ``nsigma <= 0`` or ``maxiters < 1``.
    """
    if maxiters < 1:
        raise ValueError(f"maxiters must be >= 1, got {maxiters}")
    if not nsigma > 0:
        raise ValueError(f"nsigma must be positive, got {nsigma}")
    out_data = np.empty(shape, dtype=np.float32)
    out_uncertainty = np.empty(shape, dtype=np.float32)
    out_mask = np.empty(shape, dtype=np.uint8)
    out_n = np.empty(shape, dtype=np.uint16)
    covered = np.zeros(shape[0], dtype=bool)
    for band in bands:
        lows, highs = _network(band.data.shape[0])
        rows = slice(band.start, band.stop)
        _stack_kernel.clip_rows(
            band.data,
            _NO_MASKS if band.masks is None else band.masks,
            _NO_SIGMAS if band.uncertainties is None else band.uncertainties,
            band.masks is not None,
            band.uncertainties is not None,
            float(nsigma),
            int(maxiters),
            lows,
            highs,
            np.uint8(MaskBit.NO_DATA),
            out_data[rows],
            out_uncertainty[rows],
            out_mask[rows],
            out_n[rows],
        )
        covered[rows] = True
    if not covered.all():
        raise ShapeMismatchError(f"bands cover only {int(covered.sum())} of {shape[0]} rows")
    return StackResult(out_data, out_uncertainty, out_mask, out_n, float(nsigma), int(maxiters))


@functools.lru_cache(maxsize=32)
def _network(n_frames: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    return _stack_kernel.sorting_network(n_frames)


def _cube_shape(cube: CubeLike, name: str) -> tuple[int, tuple[int, int]]:
    if isinstance(cube, np.ndarray):
        if cube.ndim != 3:
            raise ShapeMismatchError(
                f"{name} must be (N, H, W) or a sequence of 2-D arrays, got {cube.shape}"
            )
        return cube.shape[0], (cube.shape[1], cube.shape[2])
    shapes = {np.shape(plane) for plane in cube}
    if len(cube) == 0:
        raise ShapeMismatchError(f"{name}: nothing to stack")
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ShapeMismatchError(f"{name}: frames must be 2-D and share one shape, got {sorted(shapes)}")
    ny, nx = next(iter(shapes))
    return len(cube), (ny, nx)


def _usable_in_place(cube: CubeLike, dtype: type[np.generic]) -> bool:
    return isinstance(cube, np.ndarray) and (
        cube.dtype == dtype or (dtype is np.uint8 and cube.dtype == np.bool_)
    )


def _default_band_rows(n_frames: int, width: int) -> int:
    return max(1, BAND_BYTES // max(1, n_frames * width * 4))


def _float_rows(cube: CubeLike, start: int, stop: int) -> npt.NDArray[np.float32]:
    if isinstance(cube, np.ndarray):
        return np.asarray(cube[:, start:stop], dtype=np.float32)
    out = np.empty((len(cube), stop - start, np.shape(cube[0])[1]), dtype=np.float32)
    for index, plane in enumerate(cube):
        out[index] = np.asarray(plane)[start:stop]
    return out


def _mask_rows(cube: CubeLike, start: int, stop: int) -> npt.NDArray[np.uint8]:
    """uint8 rows, 1 (or the input's own bits) where masked; any non-zero input counts."""
    if isinstance(cube, np.ndarray):
        band = cube[:, start:stop]
        if band.dtype == np.uint8:
            return np.asarray(band, dtype=np.uint8)
        return np.asarray(band != 0).view(np.uint8)
    out = np.empty((len(cube), stop - start, np.shape(cube[0])[1]), dtype=np.uint8)
    for index, plane in enumerate(cube):
        out[index] = np.asarray(plane)[start:stop] != 0
    return out


def _bands(
    data: CubeLike,
    masks: CubeLike | None,
    uncertainties: CubeLike | None,
    n_rows: int,
    band_rows: int,
) -> Iterator[Band]:
    if band_rows < 1:
        raise ValueError(f"band_rows must be >= 1, got {band_rows}")
    for start in range(0, n_rows, band_rows):
        stop = min(n_rows, start + band_rows)
        yield Band(
            start,
            stop,
            _float_rows(data, start, stop),
            None if masks is None else _mask_rows(masks, start, stop),
            None if uncertainties is None else _float_rows(uncertainties, start, stop),
        )
