"""coadd: resample every input onto the common grid band by band, scale, weight, clip and average."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from lco_core.frame import Frame
from lco_core.masks import MaskBit
from lco_core.meta import FrameMeta
from lco_core.orientation import HeaderWcs
from lco_core.provenance import ParamValue
from lco_core.sources import WcsSolution
from lco_stages.coadd.combine import combine
from lco_stages.coadd.grid import Grid, common_grid, pixel_scale_arcsec
from lco_stages.coadd.inputs import CoaddInputError, CoaddSource
from lco_stages.coadd.resample import KERNEL, resample_band
from lco_stages.coadd.settings import COADD_DEFAULTS, NOISE_CORRELATION, CoaddSettings

__all__ = ["SKY_ROWS", "coadd", "flux_scales", "sky_level"]


def flux_scales(sources: Sequence[CoaddSource]) -> npt.NDArray[np.float64]:
    """The factor that puts each input's electrons on the coadd's photometric system.

    The coadd's system is the first input's zero point ``ZP_ref`` over the total exposure time
    ``T`` (EXPTIME of the coadd): ``s_i = 10^(0.4 (ZP_ref - ZP_i)) T / t_i``, since L1ZP means
    ``mag = L1ZP - 2.5 log10(flux / EXPTIME)``. Equal inputs get ``s_i = N``: the coadd is in
    electrons of the summed exposure, as BANZAI's stacks are.

    Parameters
    ----------
    sources : sequence of CoaddSource
        Inputs with a zero point and a positive exposure time.

    Returns
    -------
    ndarray of float64, shape (N,)

    Raises
    ------
    CoaddInputError
        An input without a zero point or exposure time (the first one found, by name).
    """
    for source in sources:
        if source.zero_point is None or not math.isfinite(source.zero_point):
            raise CoaddInputError(source.name, "no zero point (L1ZP): its flux scale is unknown")
        if not (math.isfinite(source.exptime) and source.exptime > 0):
            raise CoaddInputError(source.name, f"exposure time {source.exptime} s is not positive")
    points = np.array([source.zero_point for source in sources], dtype=np.float64)
    times = np.array([source.exptime for source in sources], dtype=np.float64)
    scales: npt.NDArray[np.float64] = 10.0 ** (0.4 * (points[0] - points)) * times.sum() / times
    return scales


def _weights(sources: Sequence[CoaddSource], scales: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    for source in sources:
        if not (math.isfinite(source.sky_noise) and source.sky_noise > 0):
            raise CoaddInputError(source.name, f"sky noise {source.sky_noise} e- is not positive")
    noise = np.array([source.sky_noise for source in sources], dtype=np.float64)
    weights: npt.NDArray[np.float64] = 1.0 / (scales * noise) ** 2
    return weights


#: Rows around each input's middle whose median SCI is its sky level (for the clip's CLIP_AMPFRAC).
SKY_ROWS = 64


def sky_level(
    sources: Sequence[CoaddSource], scales: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]
) -> float:
    """The sky level on the coadd's scale: the weighted mean of the inputs' scaled sky levels.

    Each input's sky is the median of the unmasked SCI of `SKY_ROWS` rows around its middle (one
    read per input, before the bands: the level must not depend on how the output is banded).

    Parameters
    ----------
    sources : sequence of CoaddSource
        The inputs.
    scales, weights : ndarray of float64
        Their flux scales and weights.

    Returns
    -------
    float
        Units of the coadd's SCI; 0 when no input has an unmasked finite pixel there.
    """
    levels, used = [], []
    for source, scale, weight in zip(sources, scales, weights, strict=True):
        ny = source.shape[0]
        start = max(0, ny // 2 - SKY_ROWS // 2)
        sci, _, bpm = source.read_rows(start, min(ny, start + SKY_ROWS))
        good = np.isfinite(sci) & (np.asarray(bpm) == 0)
        if good.any():
            levels.append(float(np.median(np.asarray(sci)[good])) * float(scale))
            used.append(float(weight))
    return float(np.average(levels, weights=used)) if levels else 0.0


def _meta(
    sources: Sequence[CoaddSource], meta: FrameMeta | None, grid: Any, shape: tuple[int, int]
) -> FrameMeta:
    metas = [m for m in (getattr(source, "meta", None) for source in sources) if isinstance(m, FrameMeta)]
    base = meta if meta is not None else (metas[0] if metas else None)
    if base is None:
        raise ValueError("coadd: give meta= when the first input carries no FrameMeta")
    ny, nx = shape
    centre = grid.all_pix2world([[(nx - 1) / 2.0, (ny - 1) / 2.0]], 0)[0]
    cd = grid.pixel_scale_matrix
    header_wcs = HeaderWcs(
        (float(grid.wcs.crval[0]), float(grid.wcs.crval[1])),
        (float(grid.wcs.crpix[0]), float(grid.wcs.crpix[1])),
        ((float(cd[0, 0]), float(cd[0, 1])), (float(cd[1, 0]), float(cd[1, 1]))),
    )
    start = min([base.date_obs, *(m.date_obs for m in metas)])
    return attrs.evolve(
        base,
        exptime=float(sum(source.exptime for source in sources)),
        date_obs=start,
        ra=float(centre[0]) % 360.0,
        dec=float(centre[1]),
        pixel_scale=pixel_scale_arcsec(grid),
        header_wcs=header_wcs,
    )


def _grid_solution(grid: Any) -> WcsSolution:
    from lco_stages.wcs import wcs_to_header

    return WcsSolution(wcs_to_header(grid), 0, math.nan, 0, "")


def coadd(
    sources: Sequence[CoaddSource],
    *,
    settings: CoaddSettings = COADD_DEFAULTS,
    grid: Grid | None = None,
    meta: FrameMeta | None = None,
) -> Frame:
    """Resample, scale, weight, clip and average reduced science frames into one deeper frame.

    Every input is resampled onto ``grid`` (by default `common_grid`) with bilinear interpolation
    (`lco_stages.coadd.resample`), scaled by `flux_scales` and weighted by ``1 / (s_i sigma_i)^2``,
    ``sigma_i`` its sky noise: one weight per input, as SWarp's background weighting, so a star's
    bright pixels weigh what the sky around it weighs and fluxes are not biased. Per output pixel
    the usable values are sigma-clipped (``settings.nsigma``, robust standard deviation 1.4826 x
    MAD floored at the values' own ERR, plus ``settings.clip_ampfrac`` times the pixel's height
    above `~lco_stages.coadd.build.sky_level`; `lco_stages.coadd.combine.clip_mask`) and the
    kept ones averaged with those weights. The output is built ``settings.band_rows`` rows at a
    time, reading from each input only the rows that band needs.

    Planes
        SCI: the weighted mean, electrons of the summed exposure on the first input's zero point.
        ERR: ``sqrt(sum w_i^2 s_i^2 K_i var_i) / sum w_i`` over the kept inputs, ``var_i`` the input's
        interpolated ERR^2 and ``K_i`` the bilinear kernel's sum of squared weights at that pixel.
        BPM: 0 where some input was kept; elsewhere NO_DATA plus the bits of the nearest input pixel
        of every input covering it (SATURATED, COSMIC...); value and ERR 0 there, never NaN.

    Memory
        Peak about ``N x band_rows x nx x 40`` bytes for the band (values, variances and
        uncorrelated variances, 12 bytes, and the clip's noise, sorted copies and flags, 25
        bytes measured) plus one input's rows of that band (five float64 planes) and the
        output's three planes (``ny x nx x 9`` bytes): for 50 inputs of 4096 x 4096 and 128 rows,
        about 1.2 GiB besides what the inputs themselves hold.

    Parameters
    ----------
    sources : sequence of CoaddSource
        The inputs, first the reference (its zero point and metadata);
        `~lco_stages.coadd.inputs.frame_source` adapts frames.
    settings : CoaddSettings
        ``nsigma``, ``maxiters`` and ``band_rows`` (the ``coadd.*`` settings).
    grid : (astropy.wcs.WCS, (int, int)), optional
        The output grid and its shape ``(ny, nx)``; default `common_grid` of the inputs.
    meta : FrameMeta, optional
        The coadd's metadata before its changes; default the first input's ``meta`` (a
        `~lco_stages.coadd.inputs.FrameSource` has one). The coadd's EXPTIME is the inputs'
        total, DATE-OBS the earliest input's start, RA/DEC the grid's centre, the header WCS and
        pixel scale the grid's.

    Returns
    -------
    Frame
        With ``wcs`` the grid's (WCSERR 0: the pixels were placed by it; the science stages solve
        it again) and one `~lco_core.provenance.ProcessingStep` ``coadd_frames``: parameters the
        settings plus ``inputs``, ``scales`` (``s_i``), ``weights`` (normalised to sum 1),
        ``zero_point_ref``, ``exptime_total`` and ``kernel``; diagnostics ``noise_correlation`` (see
        `~lco_stages.coadd.settings.noise_correlation`), ``sky_level`` (the clip's sky), ``n_inputs``
        and ``coverage`` (share of pixels with data).

    Raises
    ------
    CoaddInputError
        An input without a zero point, exposure time or sky noise (named).
    ValueError
        No input, or no metadata to start from.
    """
    if not sources:
        raise ValueError("a coadd needs at least one input")
    scales = flux_scales(sources)
    weights = _weights(sources, scales)
    wcs, shape = grid if grid is not None else common_grid(sources)
    coadd_meta = _meta(sources, meta, wcs, shape)
    sky = sky_level(sources, scales, weights)
    ny, nx = shape
    n = len(sources)
    data = np.zeros(shape, dtype=np.float32)
    error = np.zeros(shape, dtype=np.float32)
    mask = np.zeros(shape, dtype=np.uint8)
    per_pixel = 0.0
    aperture = 0.0
    for start in range(0, ny, settings.band_rows):
        stop = min(ny, start + settings.band_rows)
        rows = stop - start
        values = np.empty((n, rows, nx), dtype=np.float32)
        variances = np.empty((n, rows, nx), dtype=np.float32)
        uncorrelated = np.empty((n, rows, nx), dtype=np.float32)
        bits = np.zeros((rows, nx), dtype=np.uint8)
        for index, (source, scale) in enumerate(zip(sources, scales, strict=True)):
            band = resample_band(source, wcs, start, stop, nx)
            values[index] = band.value * np.float32(scale)
            variances[index] = band.variance * np.float32(scale * scale)
            uncorrelated[index] = band.uncorrelated * np.float32(scale * scale)
            bits |= band.bits
        combined = combine(
            values, variances, uncorrelated, weights, nsigma=settings.nsigma, maxiters=settings.maxiters,
            ampfrac=settings.clip_ampfrac, sky=sky,
        )  # fmt: skip
        del values, variances, uncorrelated
        empty = combined.n_kept == 0
        data[start:stop] = combined.data
        error[start:stop] = np.sqrt(combined.variance)
        mask[start:stop] = np.where(empty, bits | np.uint8(MaskBit.NO_DATA), np.uint8(0))
        per_pixel += float(combined.variance[~empty].sum(dtype=np.float64))
        aperture += float(combined.uncorrelated[~empty].sum(dtype=np.float64))
    correlation = aperture / per_pixel if per_pixel > 0 else 1.0
    facts: dict[str, ParamValue] = {
        "inputs": tuple(source.name for source in sources),
        "scales": tuple(round(float(s), 6) for s in scales),
        "weights": tuple(round(float(w), 6) for w in weights / weights.sum()),
        "zero_point_ref": sources[0].zero_point,
        "exptime_total": coadd_meta.exptime,
        "kernel": KERNEL,
    }
    diagnostics: dict[str, ParamValue] = {
        NOISE_CORRELATION: round(correlation, 4),
        "sky_level": round(sky, 3),
        "n_inputs": n,
        "coverage": round(float((mask & MaskBit.NO_DATA == 0).mean()), 4),
    }
    step = settings.step(diagnostics, facts=facts)
    return Frame(
        coadd_meta, data=data, mask=mask, uncertainty=error, history=(step,), wcs=_grid_solution(wcs)
    )
