"""measure_depth: the 5-sigma point-source limiting magnitude of a science frame (L1DEPTH).

The depth is the limit of the photometry the zero point is fitted with
(`lco_stages.zeropoint.calibration_flux`): the flux in the fixed aperture of diameter closest to
2 FWHM, times the aperture correction L1ZP was fitted with. A point source of ``F`` electrons in
total puts ``F_ap = F / c`` in that aperture (``c`` the aperture correction) and is measured there
with the noise ``sqrt(F_ap + A sigma^2)``: its own shot noise plus ``A`` pixels of noise ``sigma`` each,
``sigma`` the typical ERR of the frame's sky pixels (sky, dark current, read noise and the
masters' noise, electrons), times the square root of a coadd's noise-correlation factor
(`lco_stages.coadd.noise_correlation`; 1 for any other frame): resampling correlates
neighbouring pixels, so an aperture sum is noisier than its pixels' ERR says. It is at the limit
when ``F_ap / noise = n`` (``n = 5``)::

    F_ap = (n^2 + sqrt(n^4 + 4 n^2 A sigma^2)) / 2
    L1DEPTH = L1ZP - 2.5 log10(c F_ap / EXPTIME)

A user reproduces it from the product: ``fluxaperD / fluxerrD`` of the CAT is the same
signal-to-noise, and a source of that S/N of 5 has the magnitude L1DEPTH on L1ZP's scale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs
import numpy as np
import sep

from lco_core.frame import Frame
from lco_core.pipeline import Stage
from lco_core.provenance import ParamValue, ProcessingStep
from lco_stages._checks import require_assembled
from lco_stages.coadd.settings import noise_correlation
from lco_stages.masked_flux import MIN_PSF_STARS, MoffatPsf
from lco_stages.sources import APERTURE_DIAMETERS
from lco_stages.sources import STAGE as SOURCES
from lco_stages.zeropoint import STAGE as ZERO_POINT

__all__ = [
    "NSIGMA",
    "SOURCE_CLEARANCE",
    "STAGE",
    "Depth",
    "frame_depth",
    "limiting_aperture_flux",
    "measure_depth",
    "sky_noise",
]

STAGE = "measure_depth"
#: Pixels within this many times a catalogued source's Kron aperture (its 2.5 Kron-radius
#: ellipse, never smaller than a circle of 2 FWHM radius) are no sky pixels for the noise: the
#: source's own shot noise raises the ERR there.
SOURCE_CLEARANCE = 1.5


#: Signal-to-noise of a source at the limit: L1DEPTH is a 5-sigma limit by name (its card says so),
#: so it is no run setting.
NSIGMA = 5.0


@attrs.frozen
class Depth:
    """A frame's limiting magnitude and what it was computed from.

    Attributes
    ----------
    magnitude : float
        L1DEPTH, mag; NaN when the frame has no zero point or no aperture to compute it in.
    flux : float
        Total flux of a source at the limit (the aperture flux times the correction), electrons.
    aperture_flux : float
        Its flux in the aperture, electrons.
    noise_per_pixel : float
        Median ERR of the sky pixels, electrons; for a coadd times the square root of its
        noise-correlation factor (the noise per pixel of an aperture sum).
    aperture : str
        The CAT column of the aperture (``'fluxaper4'``); '' when none.
    radius : float
        The aperture's radius, pixels.
    area : float
        The aperture's area, ``pi radius^2``, pixels.
    correction : float
        Total flux / aperture flux of a point source.
    correction_from : str
        Where the correction comes from: the zero point's own, or the fitted PSF's curve of growth.
    reason : str
        Why there is no magnitude ('' when there is one).
    """

    magnitude: float
    flux: float
    aperture_flux: float
    noise_per_pixel: float
    aperture: str
    radius: float
    area: float
    correction: float
    correction_from: str
    reason: str = ""

    def diagnostics(self) -> dict[str, ParamValue]:
        """The step's diagnostics: L1DEPTH and the figures it rests on.

        Returns
        -------
        dict
            ``L1DEPTH`` (mag), ``flux_limit`` and ``aperture_flux_limit`` (electrons),
            ``noise_per_pixel`` (electrons), ``aperture``, ``aperture_radius`` and
            ``aperture_area`` (pixels), ``aperture_correction``, ``correction_from``,
            ``succeeded`` and ``reason``.
        """
        return {
            "L1DEPTH": self.magnitude,
            "flux_limit": self.flux,
            "aperture_flux_limit": self.aperture_flux,
            "noise_per_pixel": self.noise_per_pixel,
            "aperture": self.aperture,
            "aperture_radius": self.radius,
            "aperture_area": self.area,
            "aperture_correction": self.correction,
            "correction_from": self.correction_from,
            "succeeded": math.isfinite(self.magnitude),
            "reason": self.reason,
        }


def limiting_aperture_flux(noise_per_pixel: float, area: float, nsigma: float = 5.0) -> float:
    """The aperture flux whose signal-to-noise is ``nsigma``, its own shot noise included.

    Solves ``F / sqrt(F + area x noise_per_pixel^2) = nsigma`` for ``F`` (electrons; gain 1):
    ``F = (n^2 + sqrt(n^4 + 4 n^2 area sigma^2)) / 2``.

    Parameters
    ----------
    noise_per_pixel : float
        1-sigma noise of one pixel without the source, electrons (>= 0).
    area : float
        Pixels in the aperture (>= 0).
    nsigma : float
        Signal-to-noise (> 0).

    Returns
    -------
    float
        Electrons in the aperture.

    Raises
    ------
    ValueError
        A negative noise or area, or ``nsigma <= 0``.
    """
    if not (noise_per_pixel >= 0 and area >= 0 and nsigma > 0):
        raise ValueError(f"need noise >= 0, area >= 0, nsigma > 0; got {noise_per_pixel}, {area}, {nsigma}")
    n2 = nsigma * nsigma
    return 0.5 * (n2 + math.sqrt(n2 * n2 + 4.0 * n2 * area * noise_per_pixel**2))


def sky_noise(frame: Frame) -> float:
    """The median ERR of the frame's sky pixels: unmasked and clear of every catalogued source.

    A source's pixels are those within `SOURCE_CLEARANCE` times its Kron ellipse, the ellipse
    never smaller than a circle of 2 FWHM (the frame's fitted PSF) radius.

    Parameters
    ----------
    frame : Frame
        A frame with its ERR plane (electrons), mask and, optionally, a source catalogue.

    Returns
    -------
    float
        Electrons; NaN when no pixel is left.
    """
    sky = np.ascontiguousarray(frame.mask == 0)
    error = np.asarray(frame.uncertainty)
    sky &= np.isfinite(error) & (error > 0)
    catalog = frame.sources
    if catalog is not None and len(catalog):
        covered = np.zeros(sky.shape, dtype=np.bool_)
        # sep gives every extracted source positive axes; a floor keeps a degenerate row finite
        a = np.maximum(np.nan_to_num(np.asarray(catalog["a"], dtype=np.float64)), 0.1)
        b = np.maximum(np.nan_to_num(np.asarray(catalog["b"], dtype=np.float64)), 0.1)
        kron = np.asarray(catalog["kronrad"], dtype=np.float64)
        psf = _psf(frame)
        widths = np.asarray(catalog["fwhm"], dtype=np.float64)
        widths = widths[np.isfinite(widths) & (widths > 0)]
        fwhm = psf.fwhm if psf is not None else float(np.median(widths)) if widths.size else 3.0
        floor = 2.0 * fwhm
        # sep's Kron aperture is 2.5 kronrad (a, b); it is stretched to at least the floor circle.
        scale = np.maximum(2.5 * np.where(np.isfinite(kron), kron, 2.5), floor / np.sqrt(a * b))
        sep.mask_ellipse(
            covered,
            np.asarray(catalog["x"], dtype=np.float64) - 1.0,
            np.asarray(catalog["y"], dtype=np.float64) - 1.0,
            SOURCE_CLEARANCE * scale * a,
            SOURCE_CLEARANCE * scale * b,
            np.radians(np.asarray(catalog["theta"], dtype=np.float64)),
            r=1.0,
        )
        sky &= ~covered
    if not sky.any():
        return math.nan
    return float(np.median(error[sky]))


def _psf(frame: Frame) -> MoffatPsf | None:
    """The PSF `detect_sources` fitted to the frame's stars; None when it only assumed one."""
    steps = frame.steps(SOURCES)
    if not steps:
        return None
    diagnostics = steps[-1].diagnostics
    fwhm, beta, n_stars = (diagnostics.get(k) for k in ("psf_fwhm", "psf_beta", "psf_stars"))
    if not (isinstance(fwhm, float) and isinstance(beta, float) and isinstance(n_stars, int)):
        return None
    if n_stars < MIN_PSF_STARS or not (math.isfinite(fwhm) and fwhm > 0 and beta > 1):
        return None
    return MoffatPsf.of_fwhm(fwhm, beta, n_stars)


def _pixel_scale(frame: Frame) -> float | None:
    steps = frame.steps(SOURCES)
    scale = steps[-1].parameters.get("pixel_scale") if steps else None
    return scale if isinstance(scale, float) and scale > 0 else None


def _aperture(frame: Frame, zero_point: Mapping[str, ParamValue]) -> tuple[str, float, float, str] | str:
    """(CAT column, radius in pixels, correction, where from), or why there is none.

    The zero point's own aperture and correction when it fitted with one; otherwise the
    aperture closest to 2 FWHM of the fitted PSF, corrected by the PSF's curve of growth.
    """
    scale = _pixel_scale(frame)
    if scale is None:
        return "no source detection (no pixel scale)"
    column, correction = zero_point.get("flux"), zero_point.get("aperture_correction")
    if isinstance(column, str) and column.startswith("fluxaper") and isinstance(correction, float):
        diameter = float(column.removeprefix("fluxaper"))
        origin = zero_point.get("correction_from")
        return column, diameter / 2.0 / scale, correction, f"{ZERO_POINT} ({origin})"
    psf = _psf(frame)
    if psf is None:
        return "no PSF fitted to the frame's stars: no aperture correction"
    diameter_px = min(APERTURE_DIAMETERS, key=lambda d: abs(d / scale - 2.0 * psf.fwhm))
    radius = diameter_px / 2.0 / scale
    return f"fluxaper{diameter_px}", radius, 1.0 / psf.enclosed_fraction(radius), "PSF model"


def frame_depth(frame: Frame, *, nsigma: float = NSIGMA) -> Depth:
    """The limiting magnitude of a frame after `~lco_stages.zeropoint.calibrate_photometry`.

    See the module's description for the definition.

    Parameters
    ----------
    frame : Frame
        A science frame with its sources detected and (ideally) a zero point fitted.
    nsigma : float
        Signal-to-noise of a source at the limit.

    Returns
    -------
    Depth
        The magnitude is NaN, with the reason, when the frame has no zero point, no PSF or no
        sky pixel; the flux limit is given whenever the aperture and the noise are known.
    """
    nan = math.nan
    steps = frame.steps(ZERO_POINT)
    zero_point = steps[-1] if steps else None
    facts: Mapping[str, ParamValue] = {} if zero_point is None else {**zero_point.parameters}
    chosen = _aperture(frame, facts)
    noise = sky_noise(frame) * math.sqrt(noise_correlation(frame))
    if isinstance(chosen, str):
        return Depth(nan, nan, nan, noise, "", nan, nan, nan, "", chosen)
    column, radius, correction, origin = chosen
    area = math.pi * radius**2
    if not math.isfinite(noise):
        return Depth(nan, nan, nan, noise, column, radius, area, correction, origin, "no unmasked sky pixel")
    aperture_flux = limiting_aperture_flux(noise, area, nsigma)
    flux = correction * aperture_flux
    exptime = frame.meta.exptime
    level = zero_point.diagnostics.get("L1ZP") if zero_point is not None else None
    reason = ""
    if zero_point is None:
        reason = "no zero point: photometric calibration did not run"
    elif not (
        zero_point.diagnostics.get("succeeded") is True and isinstance(level, float) and math.isfinite(level)
    ):
        reason = f"no zero point: {zero_point.diagnostics.get('reason') or 'not fitted'}"
    elif not exptime > 0:
        reason = "no exposure time"
    magnitude = nan
    if not reason and isinstance(level, float):
        magnitude = level - 2.5 * math.log10(flux / exptime)
    return Depth(magnitude, flux, aperture_flux, noise, column, radius, area, correction, origin, reason)


def measure_depth(*, nsigma: float = NSIGMA) -> Stage:
    """The frame's 5-sigma point-source limiting magnitude, L1DEPTH (see `frame_depth`).

    Runs after `~lco_stages.zeropoint.calibrate_photometry`. A frame without a zero point or
    without a fitted PSF gets no magnitude and the reason; that is no failure of the frame.

    Parameters
    ----------
    nsigma : float
        The signal-to-noise of a source at the limit. The recipes use `NSIGMA` (5): the
        L1DEPTH card is a 5-sigma limit by its table entry; another value is for studies only.

    Returns
    -------
    Stage
        Appends a step with ``nsigma`` as its parameter and `Depth.diagnostics`; the pixels are
        unchanged.

    Raises
    ------
    ValueError
        ``nsigma <= 0`` (when the stage is built).
    StageError
        When run on a frame that is not assembled.
    """
    if not nsigma > 0:
        raise ValueError(f"nsigma must be positive, got {nsigma}")

    def stage(frame: Frame) -> Frame:
        require_assembled(frame, STAGE)
        depth = frame_depth(frame, nsigma=nsigma)
        return frame.with_step(ProcessingStep(STAGE, {"nsigma": nsigma}, depth.diagnostics()))

    return stage
