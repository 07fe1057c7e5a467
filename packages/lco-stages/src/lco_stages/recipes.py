"""Recipes: which stages each OBSTYPE goes through, in LCO's order, on one screen::

    amplifiers:  [single value] -> saturation -> overscan -> crosstalk -> gain -> mosaic -> trim
                 -> [saturation]
    bias:        amplifiers -> [pattern noise] -> own level (BIASLVL) -> [bias level]    -> stack
    dark:        amplifiers -> [bias level] -> [pattern noise] -> BPM -> bias -> Poisson
                 -> / EXPTIME                                                          -> stack
    sky flat:    amplifiers -> [bias level] -> BPM -> bias -> Poisson -> dark -> / FLATLVL -> stack
    science:     amplifiers -> [bias level] -> [pattern noise] -> BPM -> bias -> Poisson -> dark
                 -> flat -> cosmic rays -> sources -> astrometry -> [pointing]
                 -> photometric calibration -> depth (L1DEPTH)

[bracketed] stages are the quality tests (`lco_stages.quality`): they leave the pixels alone and
record a verdict. The bad pixel mask is applied after trimming because it lives on the product's
pixel grid; mask bits are ORed, so its place in the chain changes nothing else. Every recipe
takes the run's `~lco_core.parameters.Settings` and hands each stage its own declaration's record.
"""

from __future__ import annotations

import attrs

from lco_core.catalog import ReferenceCatalog
from lco_core.errors import LcoError
from lco_core.master import BadPixelMask, Master
from lco_core.meta import ObsType
from lco_core.parameters import Settings
from lco_core.pipeline import Stage, pipeline
from lco_instruments.geometry import Camera
from lco_instruments.mounting import mounting_for
from lco_stages.bias import BiasLevelSettings, subtract_bias, subtract_bias_level
from lco_stages.bpm import apply_bad_pixel_mask
from lco_stages.cosmic import CosmicRaySettings, mask_cosmic_rays
from lco_stages.crosstalk import correct_crosstalk
from lco_stages.dark import divide_by_exposure_time, subtract_dark
from lco_stages.depth import measure_depth
from lco_stages.flat import FlatLevelSettings, divide_flat, normalise_flat
from lco_stages.gain import apply_gain
from lco_stages.mosaic import assemble_amplifiers
from lco_stages.overscan import OverscanSettings, subtract_overscan
from lco_stages.poisson import add_poisson_uncertainty
from lco_stages.quality import (
    QualitySettings,
    check_bias_level,
    check_pattern_noise,
    check_pointing,
    check_saturation,
    check_single_value,
)
from lco_stages.saturation import flag_saturated
from lco_stages.settings import DEFAULT_SETTINGS
from lco_stages.sources import SourceSettings, detect_sources
from lco_stages.trim import trim
from lco_stages.wcs import AstrometrySearch, solve_wcs
from lco_stages.zeropoint import PhotometrySettings, calibrate_photometry


class MissingCalibrationError(LcoError):
    """A recipe needs a master the caller did not provide, or an OBSTYPE is not reduced."""


@attrs.frozen(eq=False)
class Calibrations:
    """The masters (and mask) a frame is calibrated with.

    Attributes
    ----------
    bias, dark, flat : Master or None
        Master bias, dark and flat.
    bpm : BadPixelMask or None
        The bad pixel mask (applied when given).
    """

    bias: Master | None = None
    dark: Master | None = None
    flat: Master | None = None
    bpm: BadPixelMask | None = None


def _needed(master: Master | None, kind: str, purpose: str) -> Master:
    if master is None:
        raise MissingCalibrationError(f"{purpose} needs a master {kind}")
    return master


def amplifier_stages(camera: Camera, *, settings: Settings = DEFAULT_SETTINGS) -> tuple[Stage, ...]:
    """Instrument signature removal, common to every OBSTYPE.

    Parameters
    ----------
    camera : Camera
        The frame's camera.
    settings : Settings
        The run's settings (``overscan.*``, `~lco_stages.overscan.subtract_overscan`;
        ``quality.*``, `~lco_stages.quality`).

    Returns
    -------
    tuple of Stage
        Single-value test, saturation, overscan, crosstalk, gain, mosaic, trim, saturation test.
    """
    quality = settings.of(QualitySettings)
    return (
        check_single_value(quality),
        flag_saturated(camera),
        subtract_overscan(camera, settings.of(OverscanSettings)),
        correct_crosstalk(camera),
        apply_gain(camera),
        assemble_amplifiers(camera),
        trim(camera),
        check_saturation(quality),
    )


def amplifier_recipe(camera: Camera, *, settings: Settings = DEFAULT_SETTINGS) -> Stage:
    """The amplifier stages composed into one stage: raw ADU readouts to a trimmed image in electrons.

    Parameters
    ----------
    camera : Camera
        The frame's camera.
    settings : Settings
        The run's settings.

    Returns
    -------
    Stage
    """
    return pipeline(*amplifier_stages(camera, settings=settings))


def _mask(cal: Calibrations) -> tuple[Stage, ...]:
    return () if cal.bpm is None else (apply_bad_pixel_mask(cal.bpm),)


def bias_recipe(camera: Camera, *, settings: Settings = DEFAULT_SETTINGS) -> Stage:
    """A bias frame's recipe: amplifier stages, pattern-noise test, its own level removed (BIASLVL,
    per read), bias-level test (on that level where the camera has no overscan).

    Parameters
    ----------
    camera : Camera
        The frame's camera.
    settings : Settings
        The run's settings.

    Returns
    -------
    Stage
    """
    quality = settings.of(QualitySettings)
    return pipeline(
        *amplifier_stages(camera, settings=settings),
        check_pattern_noise(quality),
        subtract_bias_level(settings.of(BiasLevelSettings)),
        check_bias_level(quality),
    )


def dark_recipe(camera: Camera, cal: Calibrations, *, settings: Settings = DEFAULT_SETTINGS) -> Stage:
    """A dark frame's recipe: amplifier stages, bias-level and pattern-noise tests, BPM, bias, Poisson
    noise, / EXPTIME (e-/s).

    Parameters
    ----------
    camera : Camera
        The frame's camera.
    cal : Calibrations
        Needs ``bias``; ``bpm`` is applied when given.
    settings : Settings
        The run's settings.

    Returns
    -------
    Stage

    Raises
    ------
    MissingCalibrationError
        No master bias.
    """
    bias = _needed(cal.bias, "bias", "a dark")
    quality = settings.of(QualitySettings)
    return pipeline(
        *amplifier_stages(camera, settings=settings),
        check_bias_level(quality),
        check_pattern_noise(quality),
        *_mask(cal),
        subtract_bias(bias),
        add_poisson_uncertainty,
        divide_by_exposure_time,
    )


def flat_recipe(camera: Camera, cal: Calibrations, *, settings: Settings = DEFAULT_SETTINGS) -> Stage:
    """A sky flat's recipe: amplifier stages, bias-level test, BPM, bias, Poisson noise, dark, / FLATLVL.

    Parameters
    ----------
    camera : Camera
        The frame's camera.
    cal : Calibrations
        Needs ``bias`` and ``dark``; ``bpm`` is applied when given.
    settings : Settings
        The run's settings.

    Returns
    -------
    Stage

    Raises
    ------
    MissingCalibrationError
        No master bias or dark.
    """
    bias = _needed(cal.bias, "bias", "a sky flat")
    dark = _needed(cal.dark, "dark", "a sky flat")
    return pipeline(
        *amplifier_stages(camera, settings=settings),
        check_bias_level(settings.of(QualitySettings)),
        *_mask(cal),
        subtract_bias(bias),
        add_poisson_uncertainty,
        subtract_dark(dark),
        normalise_flat(settings.of(FlatLevelSettings)),
    )


def calibration_stages(
    camera: Camera, cal: Calibrations, *, settings: Settings = DEFAULT_SETTINGS
) -> tuple[Stage, ...]:
    """Everything a science frame goes through before the science stages.

    Parameters
    ----------
    camera : Camera
        The frame's camera.
    cal : Calibrations
        Needs ``bias``, ``dark`` and ``flat``; ``bpm`` is applied when given.
    settings : Settings
        The run's settings.

    Returns
    -------
    tuple of Stage
        Amplifier stages, bias-level and pattern-noise tests, BPM, bias, Poisson noise, dark, flat.

    Raises
    ------
    MissingCalibrationError
        A master is missing.
    """
    purpose = "a science frame"
    quality = settings.of(QualitySettings)
    return (
        *amplifier_stages(camera, settings=settings),
        check_bias_level(quality),
        check_pattern_noise(quality),
        *_mask(cal),
        subtract_bias(_needed(cal.bias, "bias", purpose)),
        add_poisson_uncertainty,
        subtract_dark(_needed(cal.dark, "dark", purpose)),
        divide_flat(_needed(cal.flat, "flat", purpose)),
    )


def science_stages(
    camera: Camera,
    cal: Calibrations,
    *,
    reference: ReferenceCatalog | None,
    pixel_scale: float,
    settings: Settings = DEFAULT_SETTINGS,
) -> tuple[Stage, ...]:
    """Calibration, then cosmic rays, sources, astrometry, pointing test and photometric calibration.

    Parameters
    ----------
    camera : Camera
        The frame's camera.
    cal : Calibrations
        Needs ``bias``, ``dark`` and ``flat``.
    reference : ReferenceCatalog or None
        Reference stars for astrometry and photometry (None: both record why they failed).
    pixel_scale : float
        Arcsec per pixel.
    settings : Settings
        The run's settings: each stage gets its own declaration's record (``cosmic.*``,
        ``sources.*``, ``astrometry.*`` (how far the astrometric solution is searched from the
        header's pointing and orientation), ``photometry.*``, and the calibration stages').

    Returns
    -------
    tuple of Stage

    Raises
    ------
    MissingCalibrationError
        A master is missing.
    """
    return (
        *calibration_stages(camera, cal, settings=settings),
        mask_cosmic_rays(camera, settings.of(CosmicRaySettings)),
        detect_sources(pixel_scale=pixel_scale, settings=settings.of(SourceSettings)),
        solve_wcs(
            reference,
            pixel_scale=pixel_scale,
            search=settings.of(AstrometrySearch),
            mounting=mounting_for(camera.name),
        ),
        check_pointing(settings.of(QualitySettings)),
        calibrate_photometry(
            reference if reference is not None else ReferenceCatalog([], []), settings.of(PhotometrySettings)
        ),
        measure_depth(),
    )


def science_recipe(
    camera: Camera,
    cal: Calibrations,
    *,
    reference: ReferenceCatalog | None,
    pixel_scale: float,
    settings: Settings = DEFAULT_SETTINGS,
) -> Stage:
    """`science_stages` composed into one stage: a raw science frame to a product.

    Parameters
    ----------
    camera : Camera
        The frame's camera.
    cal : Calibrations
        Needs ``bias``, ``dark`` and ``flat``.
    reference : ReferenceCatalog or None
        Reference stars.
    pixel_scale : float
        Arcsec per pixel.
    settings : Settings
        The run's settings.

    Returns
    -------
    Stage

    Raises
    ------
    MissingCalibrationError
        A master is missing.
    """
    stages = science_stages(camera, cal, reference=reference, pixel_scale=pixel_scale, settings=settings)
    return pipeline(*stages)


#: OBSTYPEs the pipeline reduces; everything else (guide, arc, spectrum...) is reported as skipped.
REDUCED = frozenset({ObsType.BIAS, ObsType.DARK, ObsType.SKYFLAT, ObsType.EXPOSE, ObsType.STANDARD})


def recipe_for(
    obstype: ObsType, camera: Camera, cal: Calibrations, *, settings: Settings = DEFAULT_SETTINGS
) -> Stage:
    """The recipe of an OBSTYPE: what the masters are stacked from, or the calibrated science frame.

    Parameters
    ----------
    obstype : ObsType
        BIAS, DARK, SKYFLAT, EXPOSE or STANDARD.
    camera : Camera
        The frame's camera.
    cal : Calibrations
        The masters the recipe needs.
    settings : Settings
        The run's settings.

    Returns
    -------
    Stage
        For EXPOSE and STANDARD, the calibration stages only (no science stages).

    Raises
    ------
    MissingCalibrationError
        Another OBSTYPE, or a master the recipe needs is missing.
    """
    if obstype is ObsType.BIAS:
        return bias_recipe(camera, settings=settings)
    if obstype is ObsType.DARK:
        return dark_recipe(camera, cal, settings=settings)
    if obstype is ObsType.SKYFLAT:
        return flat_recipe(camera, cal, settings=settings)
    if obstype in (ObsType.EXPOSE, ObsType.STANDARD):
        return pipeline(*calibration_stages(camera, cal, settings=settings))
    raise MissingCalibrationError(f"OBSTYPE {obstype.value} is not reduced by this pipeline")
