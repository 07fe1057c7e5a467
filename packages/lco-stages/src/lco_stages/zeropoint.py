"""calibrate_photometry: the frame's zero point against a reference catalogue, and CAT magnitudes."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import attrs
import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from lco_core._arrays import Float64Array
from lco_core.catalog import ReferenceCatalog
from lco_core.frame import Frame
from lco_core.parameters import StageSettings, documented, parameter
from lco_core.pipeline import Stage
from lco_core.provenance import ParamValue
from lco_core.sources import SourceFlag
from lco_core.stats import sigma_clipped_mean
from lco_instruments.filters import FilterBand, band_for
from lco_stages._checks import require_assembled
from lco_stages.masked_flux import MIN_PSF_STARS, MoffatPsf
from lco_stages.photometry import DEFAULT_FLOOR, ZeroPoint, calibrate_magnitudes, cross_match, fit_zero_point
from lco_stages.sources import APERTURE_DIAMETERS, MIN_STAR_FWHM_PX
from lco_stages.sources import STAGE as SOURCES

BoolArray = npt.NDArray[np.bool_]

STAGE = "calibrate_photometry"
#: Sources that do not calibrate while enough others do: saturated, non-linear, blended, at the
#: edge, or with more than 1% of their light restored over masked pixels (`SourceFlag`).
_UNFIT = SourceFlag.SATURATED | SourceFlag.NONLINEAR | SourceFlag.BLENDED | SourceFlag.EDGE
_UNFIT |= SourceFlag.BAD_PIXELS | SourceFlag.COSMIC_RAY
#: Sources that never calibrate: a saturated star's flux is a floor, a blend's is shared.
_NEVER = SourceFlag.SATURATED | SourceFlag.BLENDED


@documented
@attrs.frozen
class PhotometrySettings(StageSettings):
    """calibrate_photometry: the zero point (L1ZP) against a reference catalogue, and CAT magnitudes."""

    section: ClassVar[str] = "photometry"
    stage: ClassVar[str] = STAGE

    radius_arcsec: float = parameter(
        1.0, "largest source-to-star separation of a match", unit="arcsec", above=0.0, maximum=60.0
    )
    colour_term: bool = parameter(True, "fit a colour term when the catalogue has the filter's colour bands")
    min_snr: float = parameter(20.0, "fewest flux / fluxerr of a clean calibrator", minimum=0.0)
    nsigma: float = parameter(3.0, "clipping threshold of the zero-point fit", unit="sigma", above=0.0)
    maxiters: int = parameter(10, "most clip-and-refit iterations of the fit", minimum=1, maximum=100)
    min_stars: int = parameter(5, "fewest stars a zero point may rest on", minimum=2)
    floor: float = parameter(
        DEFAULT_FLOOR, "error floor added in quadrature to every star's magnitude", unit="mag", minimum=0.0
    )


#: Every photometric-calibration setting at its default.
PHOTOMETRY_DEFAULTS = PhotometrySettings()


def _failure(frame: Frame, settings: PhotometrySettings, facts: dict[str, ParamValue], reason: str) -> Frame:
    diagnostics: dict[str, ParamValue] = {
        "L1ZP": float("nan"),
        "L1ZPERR": float("nan"),
        "L1ZPNSTR": 0,
        "succeeded": False,
        "reason": reason,
    }
    return frame.with_step(settings.step(diagnostics, facts=facts))


def calibrate_photometry(
    reference: ReferenceCatalog, settings: PhotometrySettings = PHOTOMETRY_DEFAULTS
) -> Stage:
    """Fit L1ZP (``mag = L1ZP - 2.5 log10(flux / EXPTIME)``) and add ``mag``/``magerr`` to CAT.

    Sources are matched to ``reference`` within ``radius_arcsec`` using the CAT's ra/dec (the
    astrometry stage must have solved). The frame's filter picks the reference band
    (`lco_instruments.filters`); a catalogue with a single 'mag' column is used for any filter.
    A colour term is fitted when both colour bands are in the catalogue and ``colour_term``.
    Calibrators are, first, the clean matched sources: of signal-to-noise >= ``min_snr`` and
    no flag at all (fainter detections are biased bright: they are found more easily on upward
    noise). Masked pixels do not keep a star out: their light is restored in every flux, and
    BAD_PIXELS or COSMIC_RAY is set only when it was more than 1% of the flux. When the clean
    stars do not give a fit, every matched star with a positive flux that is neither saturated
    nor blended is used (the robust fit clips what is off), so a frame with 10 or more such
    stars always has a zero point; the step's ``calibrators`` parameter says which set was
    used, and L1ZPNSTR how many stars the fit kept. A frame that cannot be calibrated keeps
    going: the step records why (L1ZP = NaN, L1ZPNSTR = 0).

    Parameters
    ----------
    reference : ReferenceCatalog
        Reference stars with magnitudes.
    settings : PhotometrySettings
        ``radius_arcsec`` (largest separation of a match), ``colour_term``, ``min_snr`` (fewest
        ``flux / fluxerr`` of a clean calibrator) and the fit's ``nsigma``, ``maxiters``,
        ``min_stars`` and ``floor`` (`~lco_stages.photometry.fit_zero_point`); the
        ``photometry.*`` settings.

    Returns
    -------
    Stage
        Records the settings, the reference, band and calibrators used, L1ZP, L1ZPERR,
        L1ZPSCAT, L1ZPNSTR (and L1COLORU, L1COLOR with a colour term)
        and adds ``mag`` and ``magerr`` to the catalogue.

    Raises
    ------
    StageError
        When run on a frame that is not assembled.
    """

    def stage(frame: Frame) -> Frame:
        require_assembled(frame, STAGE)
        band = band_for(frame.meta.filter)
        radius_arcsec, min_snr = settings.radius_arcsec, settings.min_snr
        parameters: dict[str, ParamValue] = {"reference": reference.source}
        catalog = frame.sources
        if catalog is None or "ra" not in catalog:
            return _failure(frame, settings, parameters, "no source catalogue with sky positions")
        if frame.wcs is None or not frame.wcs.solved:
            return _failure(frame, settings, parameters, "no astrometric solution")
        if band is not None and band.band in reference.magnitudes:
            band_name = band.band
        elif "mag" in reference.magnitudes:
            band_name = "mag"
        else:
            return _failure(
                frame,
                settings,
                parameters,
                f"reference catalogue has no {band.band if band else frame.meta.filter} magnitudes",
            )
        parameters["band"] = band_name
        # Only catalogued stars set the aperture correction: on a frame whose mask misses its
        # hot pixels or cosmic rays, those outnumber the stars.
        real, _, _ = cross_match(
            catalog["ra"], catalog["dec"], reference.ra, reference.dec, radius_arcsec=radius_arcsec
        )
        stars = np.zeros(len(catalog), dtype=bool)
        stars[real] = True
        flux, flux_error, how = calibration_flux(frame, stars=stars)
        parameters |= how
        snr = flux / np.where(flux_error > 0, flux_error, np.inf)
        usable = np.isfinite(flux) & np.isfinite(flux_error)
        tiers = (
            ("clean", ((catalog["flag"] & int(_UNFIT)) == 0) & usable & (snr >= min_snr)),
            (
                "relaxed: every unsaturated, unblended star",
                ((catalog["flag"] & int(_NEVER)) == 0) & usable & (flux > 0),
            ),
        )
        notes: list[str] = []
        for label, fit_ok in tiers:
            fit = _fit_tier(frame, reference, band, band_name, settings, flux, flux_error, fit_ok)
            if fit.zero_point.succeeded:
                break
            notes.append(f"{label}: {fit.zero_point.reason} ({fit.matched} matched)")
        parameters["calibrators"] = label
        zp, source, colours = fit.zero_point, fit.source, fit.colours
        if not zp.succeeded:
            return _failure(frame, settings, parameters | {"matched": fit.matched}, "; ".join(notes))
        colour_values = np.full(len(catalog), np.nan)
        if colours is not None:
            colour_values[source] = colours
        mag, magerr = calibrate_magnitudes(
            catalog["flux"], catalog["fluxerr"], frame.meta.exptime, zp, colour_values
        )
        updated = catalog.with_columns(
            {"mag": mag, "magerr": magerr},
            units={"mag": "mag", "magerr": "mag"},
            descriptions={
                "mag": "Calibrated magnitude (L1ZP, colour term where the colour is known)",
                "magerr": "Error of mag",
            },
        )
        diagnostics = _diagnostics(zp, len(source))
        if notes:
            diagnostics["reason"] = "; ".join([*notes, zp.reason])
        return frame.with_step(settings.step(diagnostics, facts=parameters), sources=updated)

    return stage


@attrs.frozen(eq=False)
class _TierFit:
    zero_point: ZeroPoint
    source: npt.NDArray[np.intp]
    colours: Float64Array | None
    matched: int


def _fit_tier(
    frame: Frame,
    reference: ReferenceCatalog,
    band: FilterBand | None,
    band_name: str,
    settings: PhotometrySettings,
    flux: Float64Array,
    flux_error: Float64Array,
    fit_ok: npt.NDArray[np.bool_],
) -> _TierFit:
    """The zero point from the sources where ``fit_ok``, matched to the reference stars."""
    catalog = frame.sources
    assert catalog is not None
    candidates = np.flatnonzero(fit_ok)
    source, matched, _ = cross_match(
        catalog["ra"][candidates],
        catalog["dec"][candidates],
        reference.ra,
        reference.dec,
        radius_arcsec=settings.radius_arcsec,
    )
    source = candidates[source]
    errors = reference.magnitude_errors.get(band_name)
    colours = None
    colour_bands = band.colour if band is not None and settings.colour_term else None
    if colour_bands is not None and all(b in reference.magnitudes for b in colour_bands):
        colours = (
            reference.magnitudes[colour_bands[0]][matched] - reference.magnitudes[colour_bands[1]][matched]
        )
    else:
        colour_bands = None
    zp = fit_zero_point(
        flux[source], flux_error[source], frame.meta.exptime,
        reference.magnitudes[band_name][matched], None if errors is None else errors[matched],
        colour=colours, colour_bands=colour_bands, nsigma=settings.nsigma, maxiters=settings.maxiters,
        min_stars=settings.min_stars, floor=settings.floor,
    )  # fmt: skip
    return _TierFit(zp, source, colours, len(source))


def _diagnostics(zp: ZeroPoint, matched: int) -> dict[str, ParamValue]:
    diagnostics: dict[str, ParamValue] = {
        "L1ZP": zp.zero_point,
        "L1ZPERR": zp.error,
        "L1ZPSCAT": zp.scatter,
        "L1ZPNSTR": zp.n_stars,
        "matched": matched,
        "succeeded": True,
        "reason": zp.reason,
    }
    if zp.colour is not None and zp.colour_term is not None:
        diagnostics["L1COLORU"] = f"{zp.colour[0]}-{zp.colour[1]}"
        diagnostics["L1COLOR"] = zp.colour_term
    return diagnostics


#: Smallest gap (in frame FWHMs) to the nearest detected neighbour for a star to set the
#: aperture correction.
ISOLATION_FWHM = 5.0
#: A neighbour within that gap spoils a reference star only when brighter than this share of it.
NEIGHBOUR_SHARE = 0.01
#: Largest half-light radius of a star setting the aperture correction, in units of the
#: typical bright star's: a blend of two stars is broader.
STAR_SIZE_TOLERANCE = 1.15


def _fitted_psf(diagnostics: Mapping[str, ParamValue]) -> MoffatPsf | None:
    """The PSF `detect_sources` fitted to the frame's stars; None when it only assumed one."""
    fwhm, beta, n_stars = (diagnostics.get(k) for k in ("psf_fwhm", "psf_beta", "psf_stars"))
    if not (isinstance(fwhm, float) and isinstance(beta, float) and isinstance(n_stars, int)):
        return None
    if n_stars < MIN_PSF_STARS or not (math.isfinite(fwhm) and fwhm > 0 and beta > 1):
        return None
    return MoffatPsf.of_fwhm(fwhm, beta, n_stars)


def _isolated(x: Float64Array, y: Float64Array, flux: Float64Array, radius: float) -> BoolArray:
    """Sources with no detected neighbour within ``radius`` px brighter than NEIGHBOUR_SHARE of them.

    A much fainter neighbour adds at most that share to the larger aperture's flux; counting it
    as a spoiler would leave a crowded field with no reference stars at all.
    """
    positions = np.column_stack([x, y])
    pairs = cKDTree(positions).query_pairs(radius, output_type="ndarray")
    isolated = np.ones(len(positions), dtype=bool)
    if len(pairs) == 0:
        return isolated
    first, second = pairs[:, 0], pairs[:, 1]
    brightness = np.where(np.isfinite(flux) & (flux > 0), flux, 0.0)
    isolated[first[brightness[second] > NEIGHBOUR_SHARE * brightness[first]]] = False
    isolated[second[brightness[first] > NEIGHBOUR_SHARE * brightness[second]]] = False
    return isolated


def calibration_flux(
    frame: Frame, *, stars: BoolArray | None = None
) -> tuple[Float64Array, Float64Array, dict[str, ParamValue]]:
    """The fluxes the zero point is fitted with: aperture-corrected fixed-aperture fluxes.

    The Kron aperture of the catalogue's ``flux`` spans 3.5 FWHM or more, and in a crowded
    field it collects the light of neighbours: fitted with it, the zero point comes out too
    bright. The fixed aperture of diameter closest to 2 FWHM holds a twelfth of the area; the
    light it misses is the same fraction for every star, measured as the 3-sigma clipped mean
    ratio of ``flux`` to the aperture flux over the unflagged stars of S/N >= 50 with no
    detected neighbour within ``ISOLATION_FWHM`` FWHMs brighter than ``NEIGHBOUR_SHARE`` of
    them, and a half-light radius within
    ``STAR_SIZE_TOLERANCE`` of the typical star's (the brighter half of them when there are
    10 or more); stars flagged only for masked pixels count, their light restored in both
    fluxes. With fewer than 5 such stars the correction is the fitted PSF's own curve of growth
    (`lco_stages.masked_flux.MoffatPsf.enclosed_fraction`), and without a fitted PSF ``flux``
    itself is used (the choice is recorded in the step's parameters).

    Parameters
    ----------
    frame : Frame
        A frame with a source catalogue from `lco_stages.sources.detect_sources` (whose pixel
        scale it reads).
    stars : ndarray of bool, optional
        The sources known to be stars (matched to a reference catalogue): only they set the
        typical FWHM and the correction. By default, every source of a star's width.

    Returns
    -------
    flux, flux_error : ndarray of float64
        Per source, electrons in the exposure.
    how : dict
        ``flux`` (the column used), ``aperture_correction`` (when one was applied) and
        ``correction_from`` (how many stars measured it, or 'PSF model').
    """
    catalog = frame.sources
    assert catalog is not None
    kron = np.asarray(catalog["flux"], dtype=np.float64)
    kron_error = np.asarray(catalog["fluxerr"], dtype=np.float64)
    steps = frame.steps(SOURCES)
    scale = steps[-1].parameters.get("pixel_scale") if steps else None
    # Masked pixels' light is restored in both fluxes from the same PSF, so a star flagged for
    # them still measures the ratio; deblended, truncated, saturated or non-linear ones do not.
    measurable = (catalog["flag"] & int(~(SourceFlag.BAD_PIXELS | SourceFlag.COSMIC_RAY))) == 0
    clean = measurable & (catalog["fwhm"] >= MIN_STAR_FWHM_PX) & (kron > 0)
    if stars is not None:
        clean &= stars
    if not isinstance(scale, float) or clean.sum() < 5:
        return kron, kron_error, {"flux": "flux (Kron)"}
    fwhm = float(np.median(catalog["fwhm"][clean]))
    diameters = [d for d in APERTURE_DIAMETERS if f"fluxaper{d}" in catalog]
    diameter = min(diameters, key=lambda d: abs(d / scale - 2.0 * fwhm))
    aperture = np.asarray(catalog[f"fluxaper{diameter}"], dtype=np.float64)
    aperture_error = np.asarray(catalog[f"fluxerr{diameter}"], dtype=np.float64)
    isolated = _isolated(catalog["xwin"], catalog["ywin"], kron, ISOLATION_FWHM * fwhm)
    snr = kron / np.where(kron_error > 0, kron_error, np.inf)
    # Stars only: a pair too close to deblend has no detected neighbour, yet its Kron flux holds
    # both stars; among a handful of references one such pair moved the correction by 20 %.
    # The half-light radius, unlike sep's isophotal a and b, does not grow with brightness.
    half_light = (
        np.asarray(catalog["fluxrad50"], dtype=np.float64)
        if "fluxrad50" in catalog
        else np.full(len(kron), np.nan)
    )
    bright_clean = clean & (snr >= 50) & np.isfinite(half_light)
    typical = float(np.median(half_light[bright_clean])) if bright_clean.any() else math.nan
    star_like = np.isfinite(half_light) & (half_light <= STAR_SIZE_TOLERANCE * typical)
    reference = clean & isolated & star_like & (snr >= 50) & (aperture > 0)
    if reference.sum() < 5:
        psf = _fitted_psf(steps[-1].diagnostics)
        if psf is None:
            return (
                kron,
                kron_error,
                {"flux": "flux (Kron): too few isolated stars for an aperture correction"},
            )
        # The fitted PSF's own curve of growth: in a field too crowded for 5 reference stars,
        # better than Kron apertures, which there hold the light of neighbours.
        modelled = 1.0 / psf.enclosed_fraction(diameter / 2.0 / scale)
        from_model: dict[str, ParamValue] = {
            "flux": f"fluxaper{diameter}",
            "aperture_correction": modelled,
            "correction_from": "PSF model",
        }
        return aperture * modelled, aperture_error * modelled, from_model
    # The brighter half when there are enough: faint undetected neighbours inside the Kron
    # aperture matter least there.
    if reference.sum() >= 10:
        reference &= kron >= np.median(kron[reference])
    correction = sigma_clipped_mean(kron[reference] / aperture[reference], 3.0)
    how: dict[str, ParamValue] = {
        "flux": f"fluxaper{diameter}",
        "aperture_correction": correction,
        "correction_from": f"{int(reference.sum())} stars",
    }
    return aperture * correction, aperture_error * correction, how
