"""Per-frame quality tests as pure stages, with their verdicts (issue 15).

Each test leaves the pixels untouched and records one history entry named
``STAGE_PREFIX + test`` with its figure and a verdict: `quality_results` reads them back and
`worst_verdict` sums them up. The thresholds and actions are `QualitySettings` (section
``quality``). The tests, in the order a frame meets them:

- `check_single_value` (``quality_single_value``): a raw readout stuck at one value (FRAC1000);
- `check_saturation` (``quality_saturation``): saturated pixel fraction after trimming (SATFRAC);
- `check_bias_level` (``quality_bias_level``): the raw bias level against the camera family's
  usual window (BIASDEV);
- `check_pattern_noise` (``quality_pattern_noise``): periodic readout noise (PATNOISE);
- `check_pointing` (``quality_pointing``): the solved centre against the header's RA/DEC (PNTOFST).
"""

from lco_stages.quality.bias_level import check_bias_level, measured_bias_levels
from lco_stages.quality.pattern_noise import SpectralPeak, check_pattern_noise, spectral_peak
from lco_stages.quality.pointing import angular_separation, check_pointing, pointing_offset
from lco_stages.quality.results import (
    BIAS_LEVEL_STAGE,
    PATTERN_NOISE_STAGE,
    POINTING_STAGE,
    QUALITY_STAGES,
    SATURATION_STAGE,
    SINGLE_VALUE_STAGE,
    STAGE_PREFIX,
    QualityResult,
    Verdict,
    quality_results,
    worst_verdict,
)
from lco_stages.quality.saturation import check_saturation, saturated_fraction
from lco_stages.quality.settings import QUALITY_DEFAULTS, QualitySettings
from lco_stages.quality.single_value import check_single_value, single_value_fractions

__all__ = [
    "BIAS_LEVEL_STAGE",
    "PATTERN_NOISE_STAGE",
    "POINTING_STAGE",
    "QUALITY_DEFAULTS",
    "QUALITY_STAGES",
    "SATURATION_STAGE",
    "SINGLE_VALUE_STAGE",
    "STAGE_PREFIX",
    "QualityResult",
    "QualitySettings",
    "SpectralPeak",
    "Verdict",
    "angular_separation",
    "check_bias_level",
    "check_pattern_noise",
    "check_pointing",
    "check_saturation",
    "check_single_value",
    "measured_bias_levels",
    "pointing_offset",
    "quality_results",
    "saturated_fraction",
    "single_value_fractions",
    "spectral_peak",
    "worst_verdict",
]
