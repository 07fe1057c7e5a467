"""Recipes: which stages each OBSTYPE goes through, in LCO's order, on one screen."""

from __future__ import annotations

from lco_core.meta import ObsType
from lco_core.pipeline import Stage, pipeline
from lco_instruments.geometry import Camera
from lco_stages.crosstalk import correct_crosstalk
from lco_stages.gain import apply_gain
from lco_stages.mosaic import assemble_amplifiers
from lco_stages.overscan import Method, subtract_overscan
from lco_stages.saturation import flag_saturated
from lco_stages.trim import trim


def amplifier_stages(camera: Camera, *, overscan: Method = "mean") -> tuple[Stage, ...]:
    """Instrument signature removal, common to every OBSTYPE."""
    return (
        flag_saturated(camera),
        subtract_overscan(camera, method=overscan),
        correct_crosstalk(camera),
        apply_gain(camera),
        assemble_amplifiers(camera),
        trim(camera),
    )


def amplifier_recipe(camera: Camera, *, overscan: Method = "mean") -> Stage:
    return pipeline(*amplifier_stages(camera, overscan=overscan))


#: OBSTYPEs the pipeline reduces; everything else (guide, arc, spectrum...) is reported as skipped.
REDUCED = frozenset({ObsType.BIAS, ObsType.DARK, ObsType.SKYFLAT, ObsType.EXPOSE, ObsType.STANDARD})
