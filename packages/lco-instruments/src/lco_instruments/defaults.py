"""Per-family and per-camera defaults, used only where a header gives no value.

Values in ADU are as a raw frame records them; electrons follow from the gain. Sources: LCO
headers of real frames (shared/data/real) and LCO's published camera descriptions; each value a
frame uses from here is named in that frame's provenance as "default". Per-camera crosstalk,
per-class saturation and section fixes, each with its source, are in
`lco_instruments.camera_facts`.
"""

from __future__ import annotations

import attrs

from lco_core.section import Binning
from lco_instruments.families import CameraFamily


@attrs.frozen
class FamilyDefaults:
    """Typical values of a camera family, the last resort after the header and the camera's facts.

    ``gain`` is None where cameras of the family differ too much for a family-wide value to be
    honest: a frame of such a camera without GAIN is an error unless `CAMERA_GAINS` knows it.
    Saturation is first taken from the camera class's fact
    (`lco_instruments.camera_facts.SATURATION_FACTS`, unbinned electrons converted per frame);
    ``saturation`` here is used only for a camera no class covers.

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
    source : str
        Where the values come from.
    """

    family: CameraFamily
    amplifiers: int
    read_noise: float  # electrons
    saturation: float  # ADU
    gain: float | None = None  # electrons / ADU
    source: str = ""


#: Typical values of each camera family (used only where a header and the camera's facts give none).
FAMILY_DEFAULTS: dict[CameraFamily, FamilyDefaults] = {
    CameraFamily.SINISTRO: FamilyDefaults(
        CameraFamily.SINISTRO, amplifiers=4, read_noise=7.5, saturation=47500.0,
        source="2015 Sinistro frames with SATURATE = 0 were given 47500 ADU by LCO's pipeline "
        "(LCOGT/banzai banzai/lco.py); read noise a typical value (RDNOISE 7.0 on the real fa05, "
        "14.8-14.9 on the 2015 fl08/fl10)",
    ),
    CameraFamily.SBIG: FamilyDefaults(
        CameraFamily.SBIG, amplifiers=1, read_noise=13.5, saturation=46000.0,
        source="1 m SBIG STX-16803 headers (kb70, kb78 in shared/data/real): SATURATE 46000 at gain 1.4, "
        "RDNOISE 13.5",
    ),
    CameraFamily.SPECTRAL: FamilyDefaults(
        CameraFamily.SPECTRAL, amplifiers=1, read_noise=9.0, saturation=65000.0,
        source="16-bit converter limit (full well exceeds it at the usual gains); read noise a typical value",
    ),
    CameraFamily.QHY600: FamilyDefaults(
        CameraFamily.QHY600, amplifiers=1, read_noise=3.5, saturation=65000.0,
        source="16-bit converter limit; read noise a typical value for a CMOS readout (not measured here)",
    ),
    CameraFamily.MUSCAT: FamilyDefaults(
        CameraFamily.MUSCAT, amplifiers=1, read_noise=9.0, saturation=65000.0,
        source="16-bit converter limit; read noise a typical value",
    ),
}  # fmt: skip

#: Cameras whose gain is known where a frame lacks GAIN (electrons/ADU, per amplifier).
CAMERA_GAINS: dict[str, tuple[float, ...]] = {}

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
