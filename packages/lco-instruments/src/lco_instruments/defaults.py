"""Per-family and per-camera defaults, used only where a header gives no value.

Values in ADU are as a raw frame records them; electrons follow from the gain. Sources: LCO
headers of real frames (shared/data/real) and LCO's published camera descriptions; each value a
frame uses from here is named in that frame's provenance as "default".
"""

from __future__ import annotations

import attrs

from lco_core.section import Binning
from lco_instruments.families import CameraFamily
from lco_instruments.geometry import CrosstalkMatrix


@attrs.frozen
class FamilyDefaults:
    """Typical values of a camera family.

    ``gain`` is None where cameras of the family differ too much for a family-wide value to be
    honest: a frame of such a camera without GAIN is an error unless `CAMERA_GAINS` knows it.

    Attributes
    ----------
    family : CameraFamily
        The family.
    amplifiers : int
        Amplifiers a frame of the family has.
    read_noise : float
        Read noise, electrons.
    saturation : float
        Saturation level, ADU.
    gain : float or None
        Gain, electrons per ADU.
    """

    family: CameraFamily
    amplifiers: int
    read_noise: float  # electrons
    saturation: float  # ADU
    gain: float | None = None  # electrons / ADU


#: Typical values of each camera family (used only where a header gives none).
FAMILY_DEFAULTS: dict[CameraFamily, FamilyDefaults] = {
    # 2015 Sinistro frames with SATURATE = 0 were given 47500 ADU by LCO's pipeline.
    CameraFamily.SINISTRO: FamilyDefaults(
        CameraFamily.SINISTRO, amplifiers=4, read_noise=7.5, saturation=47500.0
    ),
    # 1 m SBIG STX-16803: 46000 ADU at gain ~1.4 (headers of kb70, kb78).
    CameraFamily.SBIG: FamilyDefaults(CameraFamily.SBIG, amplifiers=1, read_noise=13.5, saturation=46000.0),
    # Spectral: 16-bit converter limit; full well exceeds it at the usual gains.
    CameraFamily.SPECTRAL: FamilyDefaults(
        CameraFamily.SPECTRAL, amplifiers=1, read_noise=9.0, saturation=65000.0
    ),
    CameraFamily.QHY600: FamilyDefaults(
        CameraFamily.QHY600, amplifiers=1, read_noise=3.5, saturation=65000.0
    ),
    CameraFamily.MUSCAT: FamilyDefaults(
        CameraFamily.MUSCAT, amplifiers=1, read_noise=9.0, saturation=65000.0
    ),
}

#: Cameras whose gain is known where a frame lacks GAIN (electrons/ADU, per amplifier).
CAMERA_GAINS: dict[str, tuple[float, ...]] = {}

#: Crosstalk coefficients per camera, ``[i][j]`` = fraction of amplifier i+1's signal that
#: appears in amplifier j+1 (LCO's CRSTLK{i}{j}). LCO measured fl10/fa10 to have none.
CAMERA_CROSSTALK: dict[str, CrosstalkMatrix] = {
    "fl10": ((0.0,) * 4,) * 4,
    "fa10": ((0.0,) * 4,) * 4,
}


#: Dark-current temperature coefficients (DRKTCOEF, 1/K) where known: a dark scales by
#: exp(DRKTCOEF x (T_frame - T_master)). Thermoelectrically cooled SBIGs drift by tenths of a
#: degree; the cryogenic Sinistros and Spectrals do not need it.
CAMERA_DARK_COEFFICIENTS: dict[str, float] = {}


@attrs.frozen
class BinningRule:
    """Binnings a family allows in one readout mode (and, optionally, one file format era).

    Attributes
    ----------
    family : CameraFamily
        The family.
    configuration_mode : str
        CONFMODE.
    binnings : frozenset of Binning
        The binnings allowed.
    legacy_cube_only : bool
        The rule holds only for the 2015 data-cube Sinistro format.
    note : str
        Why, in words.
    """

    family: CameraFamily
    configuration_mode: str
    binnings: frozenset[Binning]
    legacy_cube_only: bool = False
    note: str = ""


_ONE = Binning(1, 1)
_TWO = Binning(2, 2)
_THREE = Binning(3, 3)

#: The binnings each family allows per readout mode; anything else is refused.
BINNING_RULES: tuple[BinningRule, ...] = (
    BinningRule(
        CameraFamily.SINISTRO, "full_frame", frozenset({_ONE}), note="current Sinistros: full frame 1x1 only"
    ),
    BinningRule(
        CameraFamily.SINISTRO, "central_2k_2x2", frozenset({_TWO}), note="central 2k x 2k, binned 2x2"
    ),
    BinningRule(
        CameraFamily.SINISTRO,
        "full_frame",
        frozenset({_ONE, _TWO}),
        legacy_cube_only=True,
        note="2015 data-cube Sinistros also read full frames binned 2x2",
    ),
    BinningRule(CameraFamily.SBIG, "full_frame", frozenset({_ONE, _TWO, _THREE})),
    BinningRule(CameraFamily.SPECTRAL, "full_frame", frozenset({_ONE, _TWO})),
    BinningRule(CameraFamily.QHY600, "full_frame", frozenset({_ONE, _TWO})),
    BinningRule(CameraFamily.QHY600, "central30x30", frozenset({_ONE, _TWO})),
    BinningRule(CameraFamily.MUSCAT, "full_frame", frozenset({_ONE, _TWO})),
)


def allowed_binnings(family: CameraFamily, mode: str, *, legacy_cube: bool) -> frozenset[Binning]:
    """Binnings allowed for a family in a readout mode (empty when the mode is unknown).

    Parameters
    ----------
    family : CameraFamily
        The camera family.
    mode : str
        CONFMODE.
    legacy_cube : bool
        The frame is a 2015 Sinistro data cube.

    Returns
    -------
    frozenset of Binning
    """
    allowed: set[Binning] = set()
    for rule in BINNING_RULES:
        if (
            rule.family is family
            and rule.configuration_mode == mode
            and (legacy_cube or not rule.legacy_cube_only)
        ):
            allowed |= rule.binnings
    return frozenset(allowed)
