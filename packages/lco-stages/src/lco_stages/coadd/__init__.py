"""Coadds: reduced science frames of one target and filter resampled onto one grid and combined.

`coadd` resamples each input (a `CoaddSource`: `frame_source` adapts an in-memory frame) onto
`common_grid` with ``reproject``'s bilinear interpolation, band by band, scales it to the first
input's zero point, weights it by its inverse sky variance, clips per pixel and averages; the
result is a `~lco_core.frame.Frame` the science stages run on.
"""

from lco_stages.coadd.build import coadd, flux_scales
from lco_stages.coadd.grid import common_grid
from lco_stages.coadd.inputs import CoaddInputError, CoaddSource, FrameSource, frame_source, zero_point_of
from lco_stages.coadd.settings import (
    COADD_DEFAULTS,
    NOISE_CORRELATION,
    STAGE,
    CoaddSettings,
    noise_correlation,
)

__all__ = [
    "COADD_DEFAULTS",
    "NOISE_CORRELATION",
    "STAGE",
    "CoaddInputError",
    "CoaddSettings",
    "CoaddSource",
    "FrameSource",
    "coadd",
    "common_grid",
    "flux_scales",
    "frame_source",
    "noise_correlation",
    "zero_point_of",
]
