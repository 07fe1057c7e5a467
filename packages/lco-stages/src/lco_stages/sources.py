"""detect_sources: background, extraction and photometry with sep; the CAT table and image quality.

The catalogue follows BANZAI's CAT: its column names where the quantity is the same, 1-based
pixel positions, Kron-like ``flux`` and circular apertures of 1 to 6 arcsec diameter
(``fluxaper1``..``fluxaper6``) in electrons (FITS unit 'electron'; BANZAI writes 'count' for the
same electrons), ``fwhm`` and ``fwtm`` in pixels, ``theta`` in degrees, and a ``flag`` column of
`SourceFlag` bits, BANZAI's 1 to 16 and ours above. Masked pixels are left out of every sum and
their light restored from the frame's PSF (`lco_stages.masked_flux`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import attrs
import numpy as np
import numpy.typing as npt
import sep
from scipy.spatial import cKDTree

from lco_core.errors import StageError
from lco_core.frame import Frame
from lco_core.masks import MaskBit
from lco_core.parameters import StageSettings, documented, parameter
from lco_core.pipeline import Stage
from lco_core.sources import SourceCatalog, SourceFlag
from lco_core.stats import robust_std, sigma_clipped_mean
from lco_stages._checks import require_assembled
from lco_stages.coadd.settings import noise_correlation
from lco_stages.masked_flux import (
    MIN_PSF_STARS,
    Apertures,
    MoffatPsf,
    correct_masked_flux,
    fit_moffat_psf,
    masked_shares,
)
from lco_stages.psf import moffat_widths

STAGE = "detect_sources"
#: Sources narrower than this (FWHM, pixels) are no stars: sharper than any seeing an LCO camera
#: samples, they are hot pixels or cosmic rays a missing or incomplete mask left in the image,
#: and on a frame without a bad pixel mask they outnumber the stars.
MIN_STAR_FWHM_PX = 1.0
#: Diameters of the fixed circular apertures (fluxaper1..6), arcsec.
APERTURE_DIAMETERS = (1, 2, 3, 4, 5, 6)  # arcsec
#: Pixels that must not be detected or measured as sky: unusable or not astrophysical.
_EXCLUDED = MaskBit.BAD | MaskBit.NO_DATA | MaskBit.LOW_FLAT | MaskBit.COSMIC | MaskBit.SATURATED
#: Mask bits whose share of a source's light sets BAD_PIXELS.
_BAD = MaskBit.BAD | MaskBit.NO_DATA | MaskBit.LOW_FLAT
#: Groups of masked pixels whose light is measured: all (the correction), bad, cosmic rays.
_SHARE_GROUPS = (int(_EXCLUDED), int(_BAD), int(MaskBit.COSMIC))
#: Share of an aperture's light on masked pixels above which BAD_PIXELS (or COSMIC_RAY) is set:
#: the restored light then rests on the PSF model for more than 1% of the flux, where the
#: model's own error (`~lco_stages.masked_flux.MODEL_SHARE_ERROR`) passes 0.1%.
MATERIAL_SHARE = 0.01
#: Largest share of the frame one first-pass detection may mask, grown, for the second background.
MAX_GROWN_SHARE = 0.02

Array = npt.NDArray[np.float64]

#: FITS unit of each CAT column ('' for none). The image is in electrons: fluxes are electrons
#: in the aperture, ``peak`` and ``background`` electrons per pixel. 'electron' is not among the
#: FITS standard's units (astropy warns when it reads or writes it) but says what the numbers are;
#: BANZAI writes 'count' for the same electrons.
UNITS = {
    "x": "pix", "y": "pix", "xwin": "pix", "ywin": "pix", "xpeak": "pix", "ypeak": "pix",
    "flux": "electron", "fluxerr": "electron", "peak": "electron", "background": "electron",
    "fwhm": "pix", "fwtm": "pix", "a": "pix", "b": "pix", "theta": "deg", "kronrad": "",
    "fluxrad25": "pix", "fluxrad50": "pix", "fluxrad75": "pix", "x2": "pix2", "y2": "pix2", "xy": "pix2",
    **{f"fluxaper{d}": "electron" for d in APERTURE_DIAMETERS},
    **{f"fluxerr{d}": "electron" for d in APERTURE_DIAMETERS},
}  # fmt: skip
#: One-line description of each CAT column (written as the column's description).
DESCRIPTIONS = {
    "x": "X coordinate (1-based, isophotal barycentre)",
    "y": "Y coordinate (1-based, isophotal barycentre)",
    "xwin": "Windowed X coordinate (1-based)",
    "ywin": "Windowed Y coordinate (1-based)",
    "xpeak": "X of the brightest pixel (1-based)",
    "ypeak": "Y of the brightest pixel (1-based)",
    "flux": "Flux in 2.5 Kron radii, at least a circle of 3.5 x the frame FWHM, masked pixels restored",
    "fluxerr": "Error of the Kron flux",
    "peak": "Peak pixel value above the background (per pixel)",
    "background": "Background per pixel at the source (mean of the background map within 3 pix)",
    "fwhm": "Full width at half maximum, from a circular Moffat fit (pix)",
    "fwtm": "Full width at tenth maximum, from the same Moffat fit (pix)",
    "a": "Semi-major axis rms (pix)",
    "b": "Semi-minor axis rms (pix)",
    "theta": "Position angle of the major axis, counter-clockwise from +x (deg)",
    "kronrad": "Kron radius in units of a and b",
    "ellipticity": "1 - b/a",
    "fluxrad25": "Radius containing 25% of the flux",
    "fluxrad50": "Radius containing 50% of the flux",
    "fluxrad75": "Radius containing 75% of the flux",
    "x2": "Second moment in x", "y2": "Second moment in y", "xy": "Second moment xy",
    "flag": "SourceFlag bits (BANZAI's 1-16): 1 bad pixels (>1% of the light), 2 blended, 4 saturated, "
    "8 edge, 16 cosmic ray (>1%); ours: 32 non-linear",
    **{f"fluxaper{d}": f'Flux in a circular aperture of {d}" diameter, masked pixels restored'
       for d in APERTURE_DIAMETERS},
    **{f"fluxerr{d}": f'Error of the flux in a {d}" aperture' for d in APERTURE_DIAMETERS},
}  # fmt: skip


@attrs.frozen
class ImageQuality:
    """Frame-level figures for the header.

    Attributes
    ----------
    mean_background : float
        L1MEAN: 5-sigma clipped mean of the background map, electrons.
    median_background : float
        L1MEDIAN: median of the background map, electrons.
    background_sigma : float
        L1SIGMA: robust standard deviation of the background map, electrons.
    fwhm_arcsec : float
        L1FWHM: clipped mean FWHM of well-measured stars, arcsec.
    ellipticity : float
        L1ELLIP: their clipped mean ``1 - b/a``.
    position_angle : float
        L1ELLIPA: their clipped mean position angle, degrees.
    """

    mean_background: float
    median_background: float
    background_sigma: float
    fwhm_arcsec: float
    ellipticity: float
    position_angle: float


@documented
@attrs.frozen
class SourceSettings(StageSettings):
    """detect_sources: sep background, detection and photometry; the CAT table and image quality."""

    section: ClassVar[str] = "sources"
    stage: ClassVar[str] = STAGE

    threshold: float = parameter(
        3.0, "detection threshold, in units of the ERR plane", unit="sigma", above=0.0
    )
    minarea: int = parameter(5, "fewest connected pixels above the threshold", unit="pixel", minimum=1)
    deblend_cont: float = parameter(
        0.005, "sep's least contrast ratio of a deblended component", minimum=0.0, maximum=1.0
    )
    background_box: int = parameter(
        64, "background mesh size (at most half the image is used)", unit="pixel", minimum=8
    )


#: Every source-detection setting at its default.
SOURCE_DEFAULTS = SourceSettings()


def detect_sources(*, pixel_scale: float, settings: SourceSettings = SOURCE_DEFAULTS) -> Stage:
    """Detect and measure sources on a calibrated frame (electrons) with its mask and ERR plane.

    ``pixel_scale`` (arcsec per pixel) turns the fixed aperture diameters into pixels and the
    FWHM into arcsec. ``threshold`` is in units of the ERR plane. Masked pixels (bad, saturated,
    cosmic rays, uncovered) are neither detected nor used for the background; the light they
    would have held is restored to every flux from the frame's PSF, and BAD_PIXELS or
    COSMIC_RAY says it was more than `MATERIAL_SHARE` of a flux (see `measure_sources`).
    When sep's extraction fails (its buffers overflow on a frame no background describes) the
    frame keeps going with an empty catalogue and the reason recorded.

    Parameters
    ----------
    pixel_scale : float
        Arcsec per pixel.
    settings : SourceSettings
        ``threshold`` (units of the 1-sigma ERR plane), ``minarea`` (pixels), ``deblend_cont``
        (sep's deblending contrast) and ``background_box`` (mesh size, pixels, at most half the
        image); the ``sources.*`` settings.

    Returns
    -------
    Stage
        Attaches the CAT table (`measure_sources`) and records the settings, the pixel scale,
        L1MEAN, L1MEDIAN, L1SIGMA, L1FWHM, L1ELLIP and L1ELLIPA, the PSF used for masked pixels
        (``psf_fwhm`` in pixels, ``psf_beta``, ``psf_stars`` fitted, 0 if assumed), ``succeeded``
        and ``reason``.

    Raises
    ------
    ValueError
        ``pixel_scale <= 0`` (when the stage is built).
    StageError
        When run: the frame is not assembled, or every pixel is masked.
    """
    if pixel_scale <= 0:
        raise ValueError(f"pixel_scale must be positive, got {pixel_scale}")

    def stage(frame: Frame) -> Frame:
        require_assembled(frame, STAGE)
        measured = measure_sources(frame, pixel_scale=pixel_scale, settings=settings)
        catalog, quality, psf = measured.catalog, measured.quality, measured.psf
        step = settings.step(
            {
                "n_sources": len(catalog),
                "L1MEAN": quality.mean_background,
                "L1MEDIAN": quality.median_background,
                "L1SIGMA": quality.background_sigma,
                "L1FWHM": quality.fwhm_arcsec,
                "L1ELLIP": quality.ellipticity,
                "L1ELLIPA": quality.position_angle,
                "psf_fwhm": psf.fwhm,
                "psf_beta": psf.beta,
                "psf_stars": psf.n_stars,
                "succeeded": not measured.failure,
                "reason": measured.failure,
            },
            facts={"pixel_scale": pixel_scale},
        )
        return frame.with_step(step, sources=catalog)

    return stage


def _touched(
    mask: npt.NDArray[np.uint8], bits: int, x: Array, y: Array, radius: Array
) -> npt.NDArray[np.bool_]:
    """Whether any pixel with one of ``bits`` lies within ``radius`` of each position."""
    plane = ((mask & np.uint8(bits)) != 0).astype(np.float32)
    if not plane.any() or len(x) == 0:
        return np.zeros(len(x), dtype=bool)
    touched, _, _ = sep.sum_circle(plane, x, y, radius, subpix=1)
    result: npt.NDArray[np.bool_] = np.asarray(touched) > 0
    return result


def _set_sep_limits(n_pixels: int) -> None:
    """sep's buffers, sized from the image (sep's defaults suit 1k x 1k frames)."""
    # Active pixels above the threshold at once: a tenth of the frame (28 bytes each: 47 MB on a
    # 4k x 4k frame) is far more than any real source, so only a failed background fills it.
    sep.set_extract_pixstack(max(300_000, n_pixels // 10))
    # Sub-objects of one deblended blend: a dense cluster on a 4k x 4k frame needs thousands.
    sep.set_sub_object_limit(max(4096, n_pixels // 1000))


def _sources_mask(found: npt.NDArray[np.void], segmap: npt.NDArray[np.int32]) -> npt.NDArray[np.bool_]:
    """Pixels to leave out of the second background: first-pass detections and their wings."""
    mask: npt.NDArray[np.bool_] = segmap > 0
    a, b = found["a"], found["b"]
    good = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    # Each detection grows to an ellipse of 6 times its rms size, which holds a star's wings. A
    # region whose ellipse would cover more than a sane share of the frame (an edge glow, a
    # gradient the first background missed) keeps only its own pixels: grown, it would mask the
    # whole frame and leave no sky for the background, then everything would be "detected".
    area = np.pi * 36.0 * np.where(good, a * b, 0.0)
    sane = good & (area <= MAX_GROWN_SHARE * mask.size)
    sep.mask_ellipse(mask, found["x"][sane], found["y"][sane], a[sane], b[sane], found["theta"][sane], r=6.0)
    return mask


def _psf_stars(
    objects: npt.NDArray[np.void],
    mask: npt.NDArray[np.uint8],
    x: Array,
    y: Array,
    fwhm: Array,
    flux: Array,
    flux_error: Array,
    seeing: float,
) -> npt.NDArray[np.intp]:
    """Indices of up to 50 bright, isolated, unsaturated point sources to fit the PSF to."""
    if not np.isfinite(seeing) or len(x) < MIN_PSF_STARS:
        return np.empty(0, dtype=np.intp)
    reach = np.full(len(x), 2.0 * seeing + 2.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        point_like = np.abs(fwhm / seeing - 1.0) < 0.3
        bright = flux / np.where(flux_error > 0, flux_error, np.inf) > 50.0
    candidate = (objects["flag"] == 0) & point_like & bright
    candidate &= ~_touched(mask, int(MaskBit.SATURATED | MaskBit.NONLINEAR), x, y, reach)
    distances, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)
    candidate &= np.asarray(distances, dtype=np.float64).reshape(len(x), 2)[:, 1] > 2.0 * reach
    chosen = np.flatnonzero(candidate)
    return chosen[np.argsort(-flux[chosen], kind="stable")][:50]


@attrs.frozen(eq=False)
class SourceMeasurement:
    """What `measure_sources` found on a frame.

    Attributes
    ----------
    catalog : SourceCatalog
        The CAT table (no rows when extraction failed).
    quality : ImageQuality
        Background and image quality.
    psf : MoffatPsf
        The PSF the masked-pixel corrections used (``n_stars == 0``: assumed, not fitted).
    failure : str
        Why extraction failed ('' when it did not): the catalogue is then empty.
    """

    catalog: SourceCatalog
    quality: ImageQuality
    psf: MoffatPsf
    failure: str = ""


def measure_sources(
    frame: Frame, *, pixel_scale: float, settings: SourceSettings = SOURCE_DEFAULTS
) -> SourceMeasurement:
    """The CAT table and image-quality figures of a calibrated frame (see `detect_sources`).

    Masked pixels (`_EXCLUDED` bits) are neither detected nor summed: every flux is the sum of
    the unmasked pixels of its aperture divided by ``1 - s``, ``s`` the share of the aperture's
    light the frame's PSF puts on its masked pixels (`lco_stages.masked_flux`). BAD_PIXELS
    (bad, uncovered or low-flat pixels) and COSMIC_RAY say that those pixels held more than
    `MATERIAL_SHARE` of the light of the Kron or of a fixed aperture; SATURATED and NONLINEAR
    that any such pixel lies in the Kron aperture.

    Parameters
    ----------
    frame : Frame
        A calibrated, assembled frame (electrons) with its mask and ERR plane.
    pixel_scale : float
        Arcsec per pixel.
    settings : SourceSettings
        Detection threshold (units of the ERR plane), fewest connected pixels, sep's deblending
        contrast and the background mesh size (pixels).

    Returns
    -------
    SourceMeasurement
        The catalogue (one row per source, brightest first, with the columns, units and
        descriptions of `UNITS` and `DESCRIPTIONS`), the frame's background and image quality,
        the PSF, and why extraction failed if it did (sep's buffers overflowed): then the
        catalogue has every column and no rows.

    Raises
    ------
    StageError
        Every pixel is masked.
    """
    threshold, minarea, deblend_cont = settings.threshold, settings.minarea, settings.deblend_cont
    data = np.array(frame.data, dtype=np.float32, order="C")
    error = np.ascontiguousarray(frame.uncertainty, dtype=np.float32)
    excluded = (frame.mask & np.uint8(_EXCLUDED)) != 0
    ny, nx = data.shape
    if excluded.all():
        raise StageError(STAGE, frame.meta.filename, "every pixel is masked: nothing to detect")
    box = max(8, min(settings.background_box, ny // 2, nx // 2))
    usable_error = np.where(excluded | (error <= 0), np.float32(np.inf), error).astype(np.float32)
    _set_sep_limits(nx * ny)
    sky: npt.NDArray[np.float32] | None = None
    try:
        # Two passes: the wings of the sources detected on a first background would otherwise
        # raise the background meshes (biasing every flux low in crowded fields), so the
        # background is measured again with the sources masked, and everything on that.
        sky = sep.Background(data, mask=excluded, bw=box, bh=box, fw=3, fh=3).back()
        found, segmap = sep.extract(
            data - sky, threshold, err=usable_error, mask=excluded, minarea=minarea, segmentation_map=True
        )
        sky = sep.Background(
            data, mask=excluded | _sources_mask(found, segmap), bw=box, bh=box, fw=3, fh=3
        ).back()
        data -= sky
        data[excluded] = 0.0
        objects = sep.extract(
            data, threshold, err=usable_error, mask=excluded, minarea=minarea, deblend_cont=deblend_cont
        )
    except Exception as failure:  # sep raises bare Exceptions (buffer full, deblending overflow)
        return _failed(frame, sky, excluded, pixel_scale, f"source extraction failed: {failure}")
    objects = objects[
        np.isfinite(objects["x"]) & np.isfinite(objects["y"]) & (objects["a"] > 0) & (objects["b"] > 0)
    ]
    x = objects["x"].astype(np.float64)
    y = objects["y"].astype(np.float64)
    a = objects["a"].astype(np.float64)
    b = objects["b"].astype(np.float64)
    theta = np.clip(objects["theta"].astype(np.float64), -np.pi / 2, np.pi / 2)
    flags = np.zeros(len(objects), dtype=np.int64)
    flags[(objects["flag"] & sep.OBJ_MERGED) != 0] |= int(SourceFlag.BLENDED)
    flags[(objects["flag"] & sep.OBJ_TRUNC) != 0] |= int(SourceFlag.EDGE)

    kron, _ = sep.kron_radius(data, x, y, a, b, theta, 6.0, mask=excluded)
    kron = np.where(np.isfinite(kron) & (kron > 0), kron, 2.5)
    # A first Kron flux (SExtractor's 2.5 Kron radii, at least 3.5) normalises the flux radii,
    # whose half-light radius sets the window of the windowed centroid.
    first, first_error, _ = sep.sum_ellipse(
        data, x, y, a, b, theta, np.maximum(2.5 * kron, 3.5), err=usable_error, mask=excluded, subpix=1
    )
    radii, _ = sep.flux_radius(data, x, y, 6.0 * a, [0.25, 0.5, 0.75], normflux=first, subpix=5)
    sigma = np.where(np.isfinite(radii[:, 1]) & (radii[:, 1] > 0), 2.0 / 2.35 * radii[:, 1], 1.0)
    xwin, ywin, win_flag = sep.winpos(data, x, y, sigma, mask=excluded)
    bad_win = (win_flag != 0) | ~np.isfinite(xwin) | ~np.isfinite(ywin) | (np.hypot(xwin - x, ywin - y) > 2.0)
    xwin = np.where(bad_win, x, xwin)
    ywin = np.where(bad_win, y, ywin)
    fwhm, fwtm = moffat_widths(data, xwin, ywin, guess=2.0 * np.sqrt(np.log(2) * (a**2 + b**2)))
    # The Kron aperture, but never smaller than a circle of 3.5 x the frame's FWHM: a Moffat-like
    # stellar profile keeps about 5% of its light beyond 2.5 Kron radii, under 1% beyond 3.5 FWHM.
    seeing = _typical(fwhm, first, objects["flag"])
    minimum = 3.5 * seeing / np.sqrt(a * b) if np.isfinite(seeing) else 3.5
    scale = np.maximum(2.5 * kron, minimum)

    psf = _frame_psf(data, error, frame.mask, objects, xwin, ywin, fwhm, first, first_error, seeing, a, b)
    radii_px = np.array([d / 2.0 / pixel_scale for d in APERTURE_DIAMETERS])
    apertures = Apertures(
        x=np.column_stack([x, np.broadcast_to(xwin[:, None], (len(x), radii_px.size))]),
        y=np.column_stack([y, np.broadcast_to(ywin[:, None], (len(y), radii_px.size))]),
        semi_major=np.column_stack([scale * a, np.broadcast_to(radii_px, (len(x), radii_px.size))]),
        semi_minor=np.column_stack([scale * b, np.broadcast_to(radii_px, (len(x), radii_px.size))]),
        theta=np.column_stack([theta, np.zeros((len(x), radii_px.size))]),
    )
    shares = masked_shares(psf, frame.mask, _SHARE_GROUPS, xwin, ywin, apertures)
    # Masked pixels hold 0 in ``data`` and in ``photometry_error`` and are summed as such (no sep
    # mask: sep would scale each sum by the aperture's area over its unmasked area); the light
    # they would have held is restored from the PSF by `correct_masked_flux`.
    photometry_error = np.where(excluded | ~np.isfinite(error), np.float32(0.0), error).astype(np.float32)
    # A coadd's resampling correlates neighbouring pixels: an aperture sum's variance is its
    # pixels' summed ERR^2 times the recorded factor (1 for any other frame).
    photometry_error *= np.float32(math.sqrt(noise_correlation(frame)))
    unmasked, unmasked_error, flux_flag = sep.sum_ellipse(
        data, x, y, a, b, theta, scale, err=photometry_error, subpix=1
    )
    flux, fluxerr = correct_masked_flux(unmasked, unmasked_error, shares[0, :, 0])
    flags[(flux_flag & sep.APER_TRUNC) != 0] |= int(SourceFlag.EDGE)

    columns: dict[str, npt.ArrayLike] = {
        "x": x + 1.0, "y": y + 1.0, "xwin": xwin + 1.0, "ywin": ywin + 1.0,
        "xpeak": objects["xpeak"] + 1, "ypeak": objects["ypeak"] + 1,
        "flux": flux, "fluxerr": fluxerr, "peak": objects["peak"],
    }  # fmt: skip
    for index, (diameter, radius) in enumerate(zip(APERTURE_DIAMETERS, radii_px, strict=True), start=1):
        aper, aper_err, aper_flag = sep.sum_circle(data, xwin, ywin, radius, err=photometry_error, subpix=5)
        flags[(aper_flag & sep.APER_TRUNC) != 0] |= int(SourceFlag.EDGE)
        columns[f"fluxaper{diameter}"], columns[f"fluxerr{diameter}"] = correct_masked_flux(
            aper, aper_err, shares[0, :, index]
        )
    local_sky, _, _ = sep.sum_circle(sky, xwin, ywin, 3.0, subpix=1)
    columns |= {
        "background": np.asarray(local_sky) / (np.pi * 9.0),
        "fwhm": fwhm,
        "fwtm": fwtm,
        "a": a,
        "b": b,
        "theta": np.degrees(theta),
        "kronrad": kron,
        "ellipticity": 1.0 - b / a,
        "fluxrad25": radii[:, 0],
        "fluxrad50": radii[:, 1],
        "fluxrad75": radii[:, 2],
        "x2": objects["x2"],
        "y2": objects["y2"],
        "xy": objects["xy"],
    }
    flags[np.max(shares[1], axis=1) > MATERIAL_SHARE] |= int(SourceFlag.BAD_PIXELS)
    flags[np.max(shares[2], axis=1) > MATERIAL_SHARE] |= int(SourceFlag.COSMIC_RAY)
    aperture = np.maximum(scale * np.sqrt(a * b), 3.0)
    flags[_touched(frame.mask, int(MaskBit.SATURATED), xwin, ywin, aperture)] |= int(SourceFlag.SATURATED)
    flags[_touched(frame.mask, int(MaskBit.NONLINEAR), xwin, ywin, aperture)] |= int(SourceFlag.NONLINEAR)
    columns["flag"] = flags.astype(np.int16)
    order = np.argsort(-np.nan_to_num(flux, nan=-np.inf), kind="stable")
    catalog = SourceCatalog(
        {name: np.asarray(values)[order] for name, values in columns.items()}, UNITS, DESCRIPTIONS
    )
    return SourceMeasurement(catalog, _quality(catalog, sky, excluded, pixel_scale), psf)


def _frame_psf(
    data: npt.NDArray[np.float32],
    error: npt.NDArray[np.float32],
    mask: npt.NDArray[np.uint8],
    objects: npt.NDArray[np.void],
    x: Array,
    y: Array,
    fwhm: Array,
    flux: Array,
    flux_error: Array,
    seeing: float,
    a: Array,
    b: Array,
) -> MoffatPsf:
    """The frame's PSF: fitted to its bright isolated stars, else assumed from their FWHM."""
    stars = _psf_stars(objects, mask, x, y, fwhm, flux, flux_error, seeing)
    usable = (mask & np.uint8(_EXCLUDED | MaskBit.NONLINEAR)) == 0
    fitted = (
        fit_moffat_psf(data, error, usable, x[stars], y[stars], fwhm_guess=seeing)
        if stars.size >= MIN_PSF_STARS
        else None
    )
    if fitted is not None:
        return fitted
    if np.isfinite(seeing):
        return MoffatPsf.assumed(seeing)
    rough = 2.0 * np.sqrt(np.log(2) * (a**2 + b**2))
    rough = rough[np.isfinite(rough)]
    return MoffatPsf.assumed(float(np.median(rough)) if rough.size else 3.0)


def empty_catalog() -> SourceCatalog:
    """A CAT table with every column (units and descriptions) and no rows.

    Returns
    -------
    SourceCatalog
    """
    columns: dict[str, npt.ArrayLike] = {name: np.empty(0, dtype=np.float64) for name in DESCRIPTIONS}
    columns |= {
        "xpeak": np.empty(0, dtype=np.int64),
        "ypeak": np.empty(0, dtype=np.int64),
        "flag": np.empty(0, dtype=np.int16),
    }
    return SourceCatalog(columns, UNITS, DESCRIPTIONS)


def _failed(
    frame: Frame,
    sky: npt.NDArray[np.float32] | None,
    excluded: npt.NDArray[np.bool_],
    pixel_scale: float,
    reason: str,
) -> SourceMeasurement:
    """The measurement of a frame whose extraction failed: no sources, the background if known."""
    nan = float("nan")
    if sky is None:
        # No background map: the frame's own clipped level is the best background figure left.
        sampled, sampled_excluded = np.asarray(frame.data)[::8, ::8], excluded[::8, ::8]
        quality = ImageQuality(
            sigma_clipped_mean(sampled, 5.0, mask=sampled_excluded),
            float(np.median(sampled[~sampled_excluded])),
            robust_std(sampled, mask=sampled_excluded),
            nan,
            nan,
            nan,
        )
    else:
        quality = _quality(empty_catalog(), sky, excluded, pixel_scale)
    return SourceMeasurement(empty_catalog(), quality, MoffatPsf.assumed(3.0), reason)


def _typical(fwhm: Array, flux: Array, sep_flags: npt.NDArray[np.integer]) -> float:
    """The frame's typical FWHM (pixels): the clipped mean over the brighter clean sources."""
    usable = np.isfinite(fwhm) & (fwhm >= MIN_STAR_FWHM_PX) & (flux > 0) & (sep_flags == 0)
    if usable.sum() < 3:
        return float("nan")
    bright = usable & (flux >= np.percentile(flux[usable], 50))
    return sigma_clipped_mean(fwhm[bright], 3.0)


def _quality(
    catalog: SourceCatalog, sky: npt.NDArray[np.float32], excluded: npt.NDArray[np.bool_], pixel_scale: float
) -> ImageQuality:
    good = (catalog["flag"] == 0) & (catalog["fwhm"] >= MIN_STAR_FWHM_PX) & (catalog["flux"] > 0)
    # Image quality from well-measured stars: bright, unflagged, and not the extended outliers.
    snr = catalog["flux"] / np.where(catalog["fluxerr"] > 0, catalog["fluxerr"], np.inf)
    stars = good & (snr > 20)
    if stars.sum() < 3:
        stars = good
    nan = float("nan")
    fwhm = sigma_clipped_mean(catalog["fwhm"][stars], 3.0) * pixel_scale if stars.any() else nan
    ellipticity = sigma_clipped_mean(catalog["ellipticity"][stars], 3.0) if stars.any() else nan
    angle = sigma_clipped_mean(catalog["theta"][stars], 3.0) if stars.any() else nan
    # The background map is smooth on the scale of its meshes: every 8th pixel describes it.
    sampled, sampled_excluded = sky[::8, ::8], excluded[::8, ::8]
    return ImageQuality(
        mean_background=sigma_clipped_mean(sampled, 5.0, mask=sampled_excluded),
        median_background=float(np.median(sampled[~sampled_excluded])),
        background_sigma=robust_std(sampled, mask=sampled_excluded),
        fwhm_arcsec=fwhm,
        ellipticity=ellipticity,
        position_angle=angle,
    )
