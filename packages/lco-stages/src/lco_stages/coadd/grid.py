"""The common output grid of a coadd, and which input rows one band of it needs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from lco_stages.coadd.inputs import CoaddSource

__all__ = ["ROW_MARGIN", "Grid", "common_grid", "input_rows", "pixel_scale_arcsec"]

Grid = tuple[WCS, tuple[int, int]]
#: Input rows read beyond those the band's edges project onto: bilinear interpolation needs
#: the next row, and the band's interior may bulge past its edges by a fraction of a pixel.
ROW_MARGIN = 2
#: Points per band edge projected into an input to find its rows.
_EDGE_SAMPLES = 33


def pixel_scale_arcsec(wcs: Any) -> float:
    """The geometric-mean pixel scale of a celestial WCS at its reference pixel, arcsec.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        A celestial WCS.

    Returns
    -------
    float
    """
    x_scale, y_scale = proj_plane_pixel_scales(wcs.celestial)
    return float(math.sqrt(x_scale * y_scale) * 3600.0)


def common_grid(sources: Sequence[CoaddSource]) -> Grid:
    """One north-up, east-left TAN grid that covers every input.

    Made by ``reproject.mosaicking.find_optimal_celestial_wcs`` (no rotation) at the inputs' mean
    pixel scale: the inputs' footprints decide the extent, the grid's centre its reference point.

    Parameters
    ----------
    sources : sequence of CoaddSource
        The inputs (their WCS and shape).

    Returns
    -------
    (astropy.wcs.WCS, (int, int))
        The grid's WCS (``pixel_shape`` set) and its numpy shape ``(ny, nx)``.

    Raises
    ------
    ValueError
        No input.
    """
    import astropy.units as u
    from reproject.mosaicking import find_optimal_celestial_wcs

    if not sources:
        raise ValueError("a coadd needs at least one input")
    scale = float(np.mean([pixel_scale_arcsec(source.wcs) for source in sources]))
    wcs, shape = find_optimal_celestial_wcs(
        [(source.shape, source.wcs.celestial) for source in sources],
        projection="TAN",
        resolution=scale * u.arcsec,
        auto_rotate=False,
    )
    ny, nx = (int(n) for n in shape)
    wcs.pixel_shape = (nx, ny)
    return wcs, (ny, nx)


def input_rows(source: CoaddSource, grid: Any, start: int, stop: int, width: int) -> tuple[int, int] | None:
    """The rows ``[first, last)`` of an input that output rows ``[start, stop)`` of the grid need.

    The band's four edges (pixel borders, ``_EDGE_SAMPLES`` points each) are projected into the
    input; the rows they reach, widened by `ROW_MARGIN`, are read. TAN grids of a few degrees map
    rows to nearly straight lines, so the edges bound the interior.

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
    (int, int) or None
        None when the band falls wholly outside the input.
    """
    edge = np.linspace(-0.5, width - 0.5, _EDGE_SAMPLES)
    side = np.linspace(start - 0.5, stop - 0.5, _EDGE_SAMPLES)
    x = np.concatenate([edge, edge, np.full_like(side, -0.5), np.full_like(side, width - 0.5)])
    y = np.concatenate([np.full_like(edge, start - 0.5), np.full_like(edge, stop - 0.5), side, side])
    ra, dec = grid.all_pix2world(x, y, 0)
    ix, iy = source.wcs.all_world2pix(ra, dec, 0)
    ny, nx = source.shape
    inside = np.isfinite(ix) & np.isfinite(iy)
    if not inside.any():
        return None
    if iy[inside].max() < -0.5 or iy[inside].min() > ny - 0.5:
        return None
    if ix[inside].max() < -0.5 or ix[inside].min() > nx - 0.5:
        return None
    first = max(0, math.floor(float(iy[inside].min())) - ROW_MARGIN)
    last = min(ny, math.ceil(float(iy[inside].max())) + ROW_MARGIN + 1)
    return (first, last) if last > first else None
