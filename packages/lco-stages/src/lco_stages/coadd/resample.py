"""Bilinear resampling of one input onto one band of the output grid, its ERR and mask carried along.

``reproject.reproject_interp`` (order ``'bilinear'``) resamples five planes of the input's rows in
one pass, sharing one coordinate transformation:

* SCI with masked pixels set to 0,
* ERR squared, masked pixels 0,
* the mask indicator (1 where BPM != 0 or SCI/ERR not finite): an output pixel whose bilinear
  support touches a masked input pixel (indicator > `MASK_TOLERANCE`) takes nothing from this
  input, so no bad, saturated or cosmic-ray pixel leaks into the coadd;
* the input's column and row numbers: bilinear interpolation reproduces a linear function
  exactly, so these give the fractional input position ``(fx, fy)`` of every output pixel.

Interpolation weights ``k`` make a value's variance ``sum k^2 var``: for locally even noise the
interpolated variance times the kernel's sum of squared weights
``K = ((1 - fx)^2 + fx^2) ((1 - fy)^2 + fy^2)`` (1 at a pixel centre, 1/4 half way between four).
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from lco_stages.coadd.grid import input_rows
from lco_stages.coadd.inputs import CoaddSource

__all__ = ["KERNEL", "MASK_TOLERANCE", "ResampledBand", "resample_band"]

#: The resampling kernel (reproject's ``order``).
KERNEL = "bilinear"
#: An output pixel whose interpolated mask indicator exceeds this takes nothing from the input
#: (a masked pixel with a larger bilinear weight than this is in its support).
MASK_TOLERANCE = 1e-6

Floats = npt.NDArray[np.float32]


@attrs.frozen(eq=False)
class ResampledBand:
    """One input on rows ``[start, stop)`` of the output grid, in the input's electrons per output pixel.

    Interpolation samples the input's electrons per *input* pixel; times ``a``, the output-to-input
    pixel-area ratio, they are electrons per output pixel, so a star keeps its flux on a grid of
    another scale.

    Attributes
    ----------
    value : ndarray of float32, shape (rows, nx)
        Resampled SCI times ``a``; NaN where the input gives nothing (outside it, or masked in
        the support).
    variance : ndarray of float32
        Variance of ``value``: interpolated ERR^2 times the kernel's ``K`` times ``a^2``.
    uncorrelated : ndarray of float32
        Interpolated ERR^2 times ``a``: the variance per output pixel of a large aperture sum
        (each input pixel's weights over the output pixels sum to ``1 / a``; interpolation moves
        noise between pixels, never removes it). Exact for output pixels no larger than the
        input's (``a <= 1``; `~lco_stages.coadd.grid.common_grid` takes the inputs' mean scale,
        so ``a`` is 1 to a part in 10^4 for one camera); on a coarser grid bilinear sampling
        uses some input pixels more than others and this underestimates the noise.
    bits : ndarray of uint8
        The BPM bits of the nearest input pixel (0 outside the input).
    """

    value: Floats
    variance: Floats
    uncorrelated: Floats
    bits: npt.NDArray[np.uint8]


def _empty(rows: int, width: int) -> ResampledBand:
    nan = np.full((rows, width), np.nan, dtype=np.float32)
    return ResampledBand(nan, nan, nan, np.zeros((rows, width), dtype=np.uint8))


def resample_band(source: CoaddSource, grid: Any, start: int, stop: int, width: int) -> ResampledBand:
    """Resample one input onto output rows ``[start, stop)``, reading only the input rows needed.

    Parameters
    ----------
    source : CoaddSource
        The input.
    grid : astropy.wcs.WCS
        The output grid's WCS.
    start, stop : int
        0-based output rows.
    width : int
        Output columns.

    Returns
    -------
    ResampledBand
    """
    from reproject import reproject_interp

    rows = stop - start
    needed = input_rows(source, grid, start, stop, width)
    if needed is None:
        return _empty(rows, width)
    first, last = needed
    sci, err, bpm = source.read_rows(first, last)
    sci64 = np.asarray(sci, dtype=np.float64)
    var64 = np.square(np.asarray(err, dtype=np.float64))
    masked = (np.asarray(bpm) != 0) | ~np.isfinite(sci64) | ~np.isfinite(var64)
    n_in, nx_in = sci64.shape
    planes = np.empty((5, n_in, nx_in), dtype=np.float64)
    planes[0] = np.where(masked, 0.0, sci64)
    planes[1] = np.where(masked, 0.0, var64)
    planes[2] = masked
    planes[3] = np.arange(nx_in, dtype=np.float64)[np.newaxis, :]
    planes[4] = np.arange(first, last, dtype=np.float64)[:, np.newaxis]
    del sci64, var64
    # Round-trip checks guard all-sky projections' discontinuities; TAN fields have none.
    out = reproject_interp(
        (planes, source.wcs.celestial[first:last, :]),
        grid.celestial[start:stop, :],
        shape_out=(5, rows, width),
        order=KERNEL,
        return_footprint=False,
        roundtrip_coords=False,
    )
    del planes
    value, variance, indicator, x, y = out
    usable = np.isfinite(value) & (indicator <= MASK_TOLERANCE)
    fx = x - np.floor(x)
    fy = y - np.floor(y)
    kernel = ((1.0 - fx) ** 2 + fx**2) * ((1.0 - fy) ** 2 + fy**2)
    area = pixel_area(grid) / pixel_area(source.wcs)
    nan = np.float32(np.nan)
    bits = np.zeros((rows, width), dtype=np.uint8)
    covered = np.isfinite(x) & np.isfinite(y)
    ix = np.clip(np.rint(np.where(covered, x, 0.0)).astype(np.intp), 0, nx_in - 1)
    iy = np.clip(np.rint(np.where(covered, y, first)).astype(np.intp) - first, 0, n_in - 1)
    bits[covered] = np.asarray(bpm)[iy[covered], ix[covered]]
    return ResampledBand(
        np.where(usable, value * area, nan).astype(np.float32),
        np.where(usable, variance * kernel * area**2, nan).astype(np.float32),
        np.where(usable, variance * area, nan).astype(np.float32),
        bits,
    )


def pixel_area(wcs: Any) -> float:
    """Sky area of one pixel at the reference pixel, square degrees.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        A celestial WCS.

    Returns
    -------
    float
    """
    from astropy.wcs.utils import proj_plane_pixel_area

    return float(proj_plane_pixel_area(wcs.celestial))
