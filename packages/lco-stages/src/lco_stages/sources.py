"""detect_sources: background, extraction and photometry with sep; the CAT table and image quality.

The catalogue follows LCO's CAT convention: 1-based pixel positions, Kron-like ``flux`` (in
electrons, written with the FITS unit 'ct' as LCO does, since FITS has no unit for electrons),
circular apertures of 1 to 6 arcsec diameter (``fluxaper1``..``fluxaper6``), ``fwhm`` in pixels,
``theta`` in degrees, and a ``flag`` column of `SourceFlag` bits.
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt
import sep

from lco_core.errors import StageError
from lco_core.frame import Frame
from lco_core.masks import MaskBit
from lco_core.pipeline import Stage
from lco_core.provenance import ProcessingStep
from lco_core.sources import SourceCatalog, SourceFlag
from lco_core.stats import robust_std, sigma_clipped_mean
from lco_stages._checks import require_assembled
from lco_stages.psf import moffat_fwhm

STAGE = "detect_sources"
#: Diameters of the fixed circular apertures (fluxaper1..6), arcsec.
APERTURE_DIAMETERS = (1, 2, 3, 4, 5, 6)  # arcsec
#: Pixels that must not be detected or measured as sky: unusable or not astrophysical.
_EXCLUDED = MaskBit.BAD | MaskBit.NO_DATA | MaskBit.LOW_FLAT | MaskBit.COSMIC | MaskBit.SATURATED
#: Mask bits that flag a source when they fall in its aperture.
_APERTURE_FLAGS = (
    (MaskBit.SATURATED, SourceFlag.SATURATED),
    (MaskBit.BAD | MaskBit.NO_DATA | MaskBit.LOW_FLAT, SourceFlag.BAD_PIXELS),
    (MaskBit.COSMIC, SourceFlag.COSMIC_RAY),
    (MaskBit.NONLINEAR, SourceFlag.NONLINEAR),
)

Array = npt.NDArray[np.float64]

#: FITS unit of each CAT column ('ct' for electrons, as LCO writes it).
UNITS = {
    "x": "pix", "y": "pix", "xwin": "pix", "ywin": "pix", "xpeak": "pix", "ypeak": "pix",
    "flux": "ct", "fluxerr": "ct", "peak": "ct", "background": "ct",
    "fwhm": "pix", "a": "pix", "b": "pix", "theta": "deg", "kronrad": "", "fluxrad25": "pix",
    "fluxrad50": "pix", "fluxrad75": "pix", "x2": "pix2", "y2": "pix2", "xy": "pix2",
    **{f"fluxaper{d}": "ct" for d in APERTURE_DIAMETERS},
    **{f"fluxerr{d}": "ct" for d in APERTURE_DIAMETERS},
}  # fmt: skip
#: One-line description of each CAT column (written as the column's description).
DESCRIPTIONS = {
    "x": "X coordinate (1-based, isophotal barycentre)",
    "y": "Y coordinate (1-based, isophotal barycentre)",
    "xwin": "Windowed X coordinate (1-based)",
    "ywin": "Windowed Y coordinate (1-based)",
    "xpeak": "X of the brightest pixel (1-based)",
    "ypeak": "Y of the brightest pixel (1-based)",
    "flux": "Flux in 2.5 Kron radii, at least a circle of 3.5 x the frame FWHM",
    "fluxerr": "Error of the Kron flux",
    "peak": "Peak pixel value above the background",
    "background": "Background level at the source",
    "fwhm": "FWHM from a circular Moffat fit (pix)",
    "a": "Semi-major axis rms (pix)",
    "b": "Semi-minor axis rms (pix)",
    "theta": "Position angle of the major axis, counter-clockwise from +x (deg)",
    "kronrad": "Kron radius in units of a and b",
    "ellipticity": "1 - b/a",
    "fluxrad25": "Radius containing 25% of the flux",
    "fluxrad50": "Radius containing 50% of the flux",
    "fluxrad75": "Radius containing 75% of the flux",
    "x2": "Second moment in x", "y2": "Second moment in y", "xy": "Second moment xy",
    "flag": "SourceFlag bits: 1 deblended, 2 edge, 4 saturated, 8 bad pixels, 16 cosmic ray, 32 non-linear",
    **{f"fluxaper{d}": f'Flux in a circular aperture of {d}" diameter' for d in APERTURE_DIAMETERS},
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


def detect_sources(
    *,
    pixel_scale: float,
    threshold: float = 3.0,
    minarea: int = 5,
    deblend_cont: float = 0.005,
    background_box: int = 64,
) -> Stage:
    """Detect and measure sources on a calibrated frame (electrons) with its mask and ERR plane.

    ``pixel_scale`` (arcsec per pixel) turns the fixed aperture diameters into pixels and the
    FWHM into arcsec. ``threshold`` is in units of the ERR plane. Masked pixels (bad, saturated,
    cosmic rays, uncovered) are neither detected nor used for the background; a source whose
    aperture contains them carries the matching `SourceFlag`.

    Parameters
    ----------
    pixel_scale : float
        Arcsec per pixel.
    threshold : float
        Detection threshold, in units of the 1-sigma ERR plane.
    minarea : int
        Fewest connected pixels above the threshold, pixels.
    deblend_cont : float
        sep's minimum contrast ratio for deblending.
    background_box : int
        Background mesh size, pixels (at most half the image).

    Returns
    -------
    Stage
        Attaches the CAT table (`measure_sources`) and records L1MEAN, L1MEDIAN, L1SIGMA,
        L1FWHM, L1ELLIP and L1ELLIPA.

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
        catalog, quality = measure_sources(
            frame, pixel_scale=pixel_scale, threshold=threshold, minarea=minarea,
            deblend_cont=deblend_cont, background_box=background_box,
        )  # fmt: skip
        step = ProcessingStep(
            STAGE,
            {"threshold": threshold, "minarea": minarea, "pixel_scale": pixel_scale},
            {
                "n_sources": len(catalog),
                "L1MEAN": quality.mean_background,
                "L1MEDIAN": quality.median_background,
                "L1SIGMA": quality.background_sigma,
                "L1FWHM": quality.fwhm_arcsec,
                "L1ELLIP": quality.ellipticity,
                "L1ELLIPA": quality.position_angle,
            },
        )
        return frame.with_step(step, sources=catalog)

    return stage


def _aperture_flags(mask: npt.NDArray[np.uint8], x: Array, y: Array, radius: Array) -> npt.NDArray[np.int64]:
    flags = np.zeros(len(x), dtype=np.int64)
    for bits, flag in _APERTURE_FLAGS:
        plane = ((mask & np.uint8(bits)) != 0).astype(np.float32)
        if not plane.any():
            continue
        touched, _, _ = sep.sum_circle(plane, x, y, radius, subpix=1)
        flags[np.asarray(touched) > 0] |= int(flag)
    return flags


def measure_sources(
    frame: Frame,
    *,
    pixel_scale: float,
    threshold: float = 3.0,
    minarea: int = 5,
    deblend_cont: float = 0.005,
    background_box: int = 64,
) -> tuple[SourceCatalog, ImageQuality]:
    """The CAT table and image-quality figures of a calibrated frame (see `detect_sources`).

    Parameters
    ----------
    frame : Frame
        A calibrated, assembled frame (electrons) with its mask and ERR plane.
    pixel_scale : float
        Arcsec per pixel.
    threshold : float
        Detection threshold, units of the ERR plane.
    minarea : int
        Fewest connected pixels.
    deblend_cont : float
        sep's deblending contrast.
    background_box : int
        Background mesh size, pixels.

    Returns
    -------
    catalog : SourceCatalog
        One row per source, brightest first, with the columns, units and descriptions of
        `UNITS` and `DESCRIPTIONS`.
    quality : ImageQuality
        The frame's background and image quality.

    Raises
    ------
    StageError
        Every pixel is masked.
    """
    data = np.array(frame.data, dtype=np.float32, order="C")
    error = np.ascontiguousarray(frame.uncertainty, dtype=np.float32)
    excluded = (frame.mask & np.uint8(_EXCLUDED)) != 0
    ny, nx = data.shape
    if excluded.all():
        raise StageError(STAGE, frame.meta.filename, "every pixel is masked: nothing to detect")
    box = max(8, min(background_box, ny // 2, nx // 2))
    usable_error = np.where(excluded | (error <= 0), np.float32(np.inf), error).astype(np.float32)
    sep.set_extract_pixstack(max(300000, int(nx * ny * 0.05)))
    sep.set_sub_object_limit(4096)
    # Two passes: the wings of the sources detected on a first background would otherwise raise
    # the background meshes (biasing every flux low in crowded fields), so the background is
    # measured again with the sources masked, and everything is measured on that.
    first_sky = sep.Background(data, mask=excluded, bw=box, bh=box, fw=3, fh=3).back()
    found = sep.extract(data - first_sky, threshold, err=usable_error, mask=excluded, minarea=minarea)
    sources_mask = np.zeros(data.shape, dtype=bool)
    good = np.isfinite(found["a"]) & (found["a"] > 0) & (found["b"] > 0)
    sep.mask_ellipse(
        sources_mask,
        found["x"][good],
        found["y"][good],
        found["a"][good],
        found["b"][good],
        found["theta"][good],
        r=6.0,
    )
    sky = sep.Background(data, mask=excluded | sources_mask, bw=box, bh=box, fw=3, fh=3).back()
    data -= sky
    data[excluded] = 0.0
    objects = sep.extract(
        data, threshold, err=usable_error, mask=excluded, minarea=minarea, deblend_cont=deblend_cont
    )
    objects = objects[
        np.isfinite(objects["x"]) & np.isfinite(objects["y"]) & (objects["a"] > 0) & (objects["b"] > 0)
    ]
    x = objects["x"].astype(np.float64)
    y = objects["y"].astype(np.float64)
    a = objects["a"].astype(np.float64)
    b = objects["b"].astype(np.float64)
    theta = np.clip(objects["theta"].astype(np.float64), -np.pi / 2, np.pi / 2)
    flags = np.zeros(len(objects), dtype=np.int64)
    flags[(objects["flag"] & sep.OBJ_MERGED) != 0] |= int(SourceFlag.DEBLENDED)
    flags[(objects["flag"] & sep.OBJ_TRUNC) != 0] |= int(SourceFlag.TRUNCATED)

    kron, _ = sep.kron_radius(data, x, y, a, b, theta, 6.0, mask=excluded)
    kron = np.where(np.isfinite(kron) & (kron > 0), kron, 2.5)
    # A first Kron flux (SExtractor's 2.5 Kron radii, at least 3.5) normalises the flux radii,
    # whose half-light radius sets the window of the windowed centroid.
    first, _, _ = sep.sum_ellipse(
        data, x, y, a, b, theta, np.maximum(2.5 * kron, 3.5), mask=excluded, subpix=1
    )
    radii, _ = sep.flux_radius(data, x, y, 6.0 * a, [0.25, 0.5, 0.75], normflux=first, subpix=5)
    sigma = np.where(np.isfinite(radii[:, 1]) & (radii[:, 1] > 0), 2.0 / 2.35 * radii[:, 1], 1.0)
    xwin, ywin, win_flag = sep.winpos(data, x, y, sigma, mask=excluded)
    bad_win = (win_flag != 0) | ~np.isfinite(xwin) | ~np.isfinite(ywin) | (np.hypot(xwin - x, ywin - y) > 2.0)
    xwin = np.where(bad_win, x, xwin)
    ywin = np.where(bad_win, y, ywin)
    fwhm = moffat_fwhm(data, xwin, ywin, guess=2.0 * np.sqrt(np.log(2) * (a**2 + b**2)))
    # The Kron aperture, but never smaller than a circle of 3.5 x the frame's FWHM: a Moffat-like
    # stellar profile keeps about 5% of its light beyond 2.5 Kron radii, under 1% beyond 3.5 FWHM.
    seeing = _typical(fwhm, first, objects["flag"])
    minimum = 3.5 * seeing / np.sqrt(a * b) if np.isfinite(seeing) else 3.5
    scale = np.maximum(2.5 * kron, minimum)
    flux, fluxerr, flux_flag = sep.sum_ellipse(
        data, x, y, a, b, theta, scale, err=usable_error, mask=excluded, subpix=1
    )
    flags[(flux_flag & sep.APER_TRUNC) != 0] |= int(SourceFlag.TRUNCATED)

    columns: dict[str, npt.ArrayLike] = {
        "x": x + 1.0, "y": y + 1.0, "xwin": xwin + 1.0, "ywin": ywin + 1.0,
        "xpeak": objects["xpeak"] + 1, "ypeak": objects["ypeak"] + 1,
        "flux": flux, "fluxerr": fluxerr, "peak": objects["peak"],
    }  # fmt: skip
    for diameter in APERTURE_DIAMETERS:
        radius = diameter / 2.0 / pixel_scale
        aper, aper_err, aper_flag = sep.sum_circle(
            data, xwin, ywin, radius, err=usable_error, mask=excluded, subpix=5
        )
        flags[(aper_flag & sep.APER_TRUNC) != 0] |= int(SourceFlag.TRUNCATED)
        columns[f"fluxaper{diameter}"] = aper
        columns[f"fluxerr{diameter}"] = aper_err
    local_sky, _, _ = sep.sum_circle(sky, xwin, ywin, 3.0, subpix=1)
    columns |= {
        "background": np.asarray(local_sky) / (np.pi * 9.0),
        "fwhm": fwhm,
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
    aperture = np.maximum(scale * np.sqrt(a * b), 3.0)
    flags |= _aperture_flags(frame.mask, xwin, ywin, aperture)
    columns["flag"] = flags.astype(np.int16)
    order = np.argsort(-np.nan_to_num(flux, nan=-np.inf), kind="stable")
    catalog = SourceCatalog(
        {name: np.asarray(values)[order] for name, values in columns.items()}, UNITS, DESCRIPTIONS
    )
    return catalog, _quality(catalog, sky, excluded, pixel_scale)


def _typical(fwhm: Array, flux: Array, sep_flags: npt.NDArray[np.integer]) -> float:
    """The frame's typical FWHM (pixels): the clipped mean over the brighter clean sources."""
    usable = np.isfinite(fwhm) & (flux > 0) & (sep_flags == 0)
    if usable.sum() < 3:
        return float("nan")
    bright = usable & (flux >= np.percentile(flux[usable], 50))
    return sigma_clipped_mean(fwhm[bright], 3.0)


def _quality(
    catalog: SourceCatalog, sky: npt.NDArray[np.float32], excluded: npt.NDArray[np.bool_], pixel_scale: float
) -> ImageQuality:
    good = (catalog["flag"] == 0) & np.isfinite(catalog["fwhm"]) & (catalog["flux"] > 0)
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
