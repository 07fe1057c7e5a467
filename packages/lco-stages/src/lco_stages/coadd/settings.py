"""The coadd's settings (``coadd.*``), its stage name, and the noise-correlation factor it records."""

from __future__ import annotations

import math
from typing import ClassVar

import attrs

from lco_core.frame import Frame
from lco_core.parameters import StageSettings, documented, parameter

__all__ = ["COADD_DEFAULTS", "NOISE_CORRELATION", "STAGE", "CoaddSettings", "noise_correlation"]

#: The stage name of a coadd's `~lco_core.provenance.ProcessingStep`.
STAGE = "coadd_frames"
#: The coadd step's diagnostic: variance of a large aperture sum over (area x mean per-pixel
#: variance), >= 1 because interpolation correlates neighbouring pixels.
NOISE_CORRELATION = "noise_correlation"


@documented
@attrs.frozen
class CoaddSettings(StageSettings):
    """coadd_frames: reduced science frames of one target and filter resampled onto one grid and combined.

    Each input is resampled (bilinear, ``reproject``) onto a common north-up TAN grid, scaled to
    the first input's zero point, weighted by the inverse of its scaled sky variance, clipped
    per pixel across inputs (``nsigma`` robust standard deviations, 1.4826 x MAD, strict ``>``,
    as the masters' stack, plus ``clip_ampfrac`` times the pixel's height above the sky) and
    averaged. The grouping settings say which frames make one coadd.
    """

    section: ClassVar[str] = "coadd"
    stage: ClassVar[str] = STAGE

    nsigma: float = parameter(3.0, "per-pixel rejection threshold across the inputs", unit="sigma", above=0.0)
    maxiters: int = parameter(1, "clipping passes of the per-pixel mean", minimum=1, maximum=20)
    clip_ampfrac: float = parameter(
        2.0, "share of the pixel's height above the sky added to the clip's threshold (SWarp's CLIP_AMPFRAC)",
        minimum=0.0,
    )  # fmt: skip
    band_rows: int = parameter(
        128, "output rows resampled and combined at once (peak memory grows with it)", minimum=1
    )
    max_separation_arcsec: float = parameter(
        60.0, "largest pointing distance of frames of one target (when no request keys say)",
        unit="arcsec", above=0.0,
    )  # fmt: skip
    max_gap_minutes: float = parameter(
        60.0, "largest time between consecutive frames of one coadd", unit="min", above=0.0
    )
    min_frames: int = parameter(2, "fewest frames a coadd is made of", minimum=2)


#: Every coadd setting at its default.
COADD_DEFAULTS = CoaddSettings()


def noise_correlation(frame: Frame) -> float:
    """The noise-correlation factor of a coadd (1 for any frame that is no coadd).

    The variance of a sum over a large aperture is this factor times the sum of the pixels'
    ERR squared: resampling spreads each input pixel's noise over neighbouring output pixels.

    Parameters
    ----------
    frame : Frame
        Any frame.

    Returns
    -------
    float
        The last `~lco_stages.coadd.settings.STAGE` step's
        `~lco_stages.coadd.settings.NOISE_CORRELATION` diagnostic; 1.0 when there is none.
    """
    steps = frame.steps(STAGE)
    value = steps[-1].diagnostics.get(NOISE_CORRELATION) if steps else None
    if isinstance(value, float) and math.isfinite(value) and value > 0:
        return value
    return 1.0
