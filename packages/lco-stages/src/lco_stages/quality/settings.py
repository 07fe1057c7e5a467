"""QualitySettings: the thresholds and actions of every per-frame quality test, in one record.

Defaults follow LCO's BANZAI where it has the test (``banzai/qc/*.py``): SaturationTest rejects at
5% saturated pixels (SATFRAC), PointingTest warns above 30 arcsec and calls 300 arcsec severe
(PNTOFST), ThousandsTest rejects a frame with more than 20% of its pixels at exactly 1000 ADU
(FRAC1000), and PatternNoiseDetector only records (no rejection).
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from lco_core.parameters import StageSettings, documented, parameter
from lco_stages.quality.results import SATURATION_STAGE

_ACTIONS = ("warn", "reject")


@documented
@attrs.frozen
class QualitySettings(StageSettings):
    """quality_saturation and the other quality tests (single value, bias level, pattern noise, pointing).

    Each test records its figure and a verdict (pass, warn or reject); a frame rejected by any
    is kept out of masters, a rejected science frame is marked degraded with the reason.
    """

    section: ClassVar[str] = "quality"
    stage: ClassVar[str] = SATURATION_STAGE

    saturation_fraction: float = parameter(
        0.05, "a frame with at least this fraction of its trimmed pixels saturated fails "
        "(BANZAI SaturationTest: 0.05)", unit="fraction", above=0.0, maximum=1.0,
    )  # fmt: skip
    saturation_action: str = parameter(
        "reject", "what a failed saturation test does (BANZAI: reject)", choices=_ACTIONS
    )
    single_value: float = parameter(
        1000.0, "the value a corrupt readout is stuck at (BANZAI ThousandsTest: 1000)", unit="adu",
        minimum=0.0,
    )  # fmt: skip
    single_value_fraction: float = parameter(
        0.2, "a frame fails when more than this fraction of one amplifier's raw pixels equal "
        "single_value (BANZAI ThousandsTest: 0.2)", unit="fraction", above=0.0, maximum=1.0,
    )  # fmt: skip
    single_value_action: str = parameter(
        "reject", "what a failed single-value test does (BANZAI: reject)", choices=_ACTIONS
    )
    bias_level_action: str = parameter(
        "reject", "what a bias level outside the camera family's usual window does", choices=_ACTIONS
    )
    pattern_noise_snr: float = parameter(
        10.0, "a peak in the rows' mean power spectrum this many robust sigma above the continuum "
        "is periodic noise (BANZAI PatternNoiseDetector: SNR 10)", unit="sigma", above=0.0,
    )  # fmt: skip
    pattern_noise_amplitude: float = parameter(
        0.2, "and only when its amplitude is at least this many times the read noise",
        unit="read noise", minimum=0.0,
    )  # fmt: skip
    pattern_noise_action: str = parameter(
        "warn", "what periodic noise does (BANZAI: records only)", choices=_ACTIONS
    )
    pointing_warn: float = parameter(
        30.0, "solved centre farther than this from the header's RA/DEC warns (BANZAI PointingTest: 30)",
        unit="arcsec", above=0.0,
    )  # fmt: skip
    pointing_reject: float = parameter(
        300.0, "farther than this rejects (BANZAI PointingTest's severe offset: 300)", unit="arcsec",
        above=0.0,
    )  # fmt: skip


#: Every quality setting at its default.
QUALITY_DEFAULTS = QualitySettings()
