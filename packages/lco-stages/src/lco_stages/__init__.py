"""lco_stages: pure reduction stages, master-making functions and per-OBSTYPE recipes."""

from lco_stages.crosstalk import correct_crosstalk
from lco_stages.gain import apply_gain
from lco_stages.mosaic import assemble_amplifiers
from lco_stages.overscan import subtract_overscan
from lco_stages.saturation import flag_saturated
from lco_stages.trim import trim

__all__ = [
    "apply_gain",
    "assemble_amplifiers",
    "correct_crosstalk",
    "flag_saturated",
    "subtract_overscan",
    "trim",
]
