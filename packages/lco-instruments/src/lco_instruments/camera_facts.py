"""What LCO knows of each camera beyond its headers: crosstalk, saturation and section facts.

Each record names where its numbers come from (``source``). The resolver
(`lco_instruments.describe.camera_for`) uses a record only where the header has no value:
header first, then the camera's fact, then the family default
(`lco_instruments.defaults.FAMILY_DEFAULTS`).

The numbers are LCO's measurements as LCO's own pipeline, BANZAI (GPL), carries them in
``banzai/lco.py``; they are facts and are carried over here as numbers, nothing else.

* `CROSSTALK_FACTS`: one matrix per Sinistro, used when a frame has no CRSTLKij cards (the
  2014-2016 data-cube frames have none).
* `SATURATION_FACTS`: one saturation level per camera class, in *unbinned electrons*, turned
  into the ADU level of a frame by `SaturationFact.adu` (level x binned pixels / gain). The
  class of an SBIG is its telescope's aperture, read from TELESCOP (``1m0-10`` -> ``1m0``) or,
  failing that, TELID (``0m8a`` -> ``0m8``): see `aperture_class`.
* `SECTION_FIXES`: a camera whose headers write sections that do not hold its light, fixed only
  when a frame's header holds exactly the known wrong values.
"""

from __future__ import annotations

import re

import attrs

from lco_core.section import Binning
from lco_instruments.families import CameraFamily
from lco_instruments.geometry import CrosstalkMatrix

#: Where LCO's pipeline keeps these facts (file and commit read; numbers only were taken).
BANZAI_LCO = "LCOGT/banzai banzai/lco.py @ 00e21581"

#: The largest value a 16-bit raw readout holds, ADU.
RAW_FULL_SCALE = 65535.0


@attrs.frozen
class CrosstalkFact:
    """A camera's crosstalk coefficients.

    Attributes
    ----------
    camera : str
        INSTRUME, e.g. 'fl08'.
    matrix : tuple of tuple of float
        ``matrix[i][j]``: fraction of amplifier i+1's signal (ADU) appearing in amplifier j+1,
        LCO's CRSTLK{i+1}{j+1}; zero on the diagonal.
    source : str
        Where the numbers come from.
    """

    camera: str
    matrix: CrosstalkMatrix
    source: str


_CROSSTALK_SOURCE = f"{BANZAI_LCO}, DEFAULT_CROSSTALK_COEFFICIENTS (measured by LCO)"


def _crosstalk_table(rows: dict[str, tuple[tuple[float, ...], ...]]) -> dict[str, CrosstalkFact]:
    return {camera: CrosstalkFact(camera, matrix, _CROSSTALK_SOURCE) for camera, matrix in rows.items()}


# Rows: signal from amplifier i+1; columns: onto amplifier j+1 (BANZAI writes CRSTLK{i+1}{j+1}
# from element [i, j]). LCO's table gives each faNN ("Archon-controlled imagers as of fall 2018")
# the numbers of flNN, and fa19 those of fl16; fl10 and fa10 are all zero.
_FL01 = ((0.0, 0.00074, 0.00081, 0.00115), (0.00070, 0.0, 0.00118, 0.00085),
         (0.00076, 0.00115, 0.0, 0.00088), (0.00107, 0.00075, 0.00080, 0.0))  # fmt: skip
_FL02 = ((0.0, 0.00084, 0.00088, 0.00125), (0.00083, 0.0, 0.00124, 0.00096),
         (0.00086, 0.00121, 0.0, 0.00098), (0.00116, 0.00085, 0.00092, 0.0))  # fmt: skip
_FL03 = ((0.0, 0.00076, 0.00079, 0.00115), (0.00073, 0.0, 0.00117, 0.00084),
         (0.00074, 0.00113, 0.0, 0.00084), (0.00105, 0.00075, 0.00080, 0.0))  # fmt: skip
_FL04 = ((0.0, 0.00088, 0.00096, 0.00131), (0.00087, 0.0, 0.00132, 0.00099),
         (0.00087, 0.00127, 0.0, 0.00103), (0.00123, 0.00089, 0.00094, 0.0))  # fmt: skip
_FL05 = ((0.0, 0.00084, 0.00090, 0.00126), (0.00089, 0.0, 0.00133, 0.00095),
         (0.00097, 0.00155, 0.0, 0.00108), (0.00134, 0.00096, 0.00095, 0.0))  # fmt: skip
_FL06 = ((0.0, 0.00076, 0.00068, 0.00129), (0.00082, 0.0, 0.00141, 0.00090),
         (0.00095, 0.00124, 0.0, 0.00107), (0.00110, 0.00076, 0.00106, 0.0))  # fmt: skip
_FL07 = ((0.0, 0.00075, 0.00077, 0.00113), (0.00071, 0.0, 0.00113, 0.00082),
         (0.00070, 0.00108, 0.0, 0.00086), (0.00095, 0.00067, 0.00077, 0.0))  # fmt: skip
_FL08 = ((0.0, 0.00057, 0.00078, 0.00130), (0.00112, 0.0, 0.00163, 0.00123),
         (0.00104, 0.00113, 0.0, 0.00113), (0.00108, 0.00048, 0.00065, 0.0))  # fmt: skip
_NONE = ((0.0,) * 4,) * 4
_FL11 = ((0.0, 0.00075, 0.00078, 0.00113), (0.00065, 0.0, 0.00114, 0.00096),
         (0.00070, 0.00101, 0.0, 0.00086), (0.00098, 0.00073, 0.00082, 0.0))  # fmt: skip
_FL12 = ((0.0, 0.00083, 0.00089, 0.00127), (0.00079, 0.0, 0.00117, 0.00091),
         (0.00081, 0.00113, 0.0, 0.00094), (0.00105, 0.00081, 0.00087, 0.0))  # fmt: skip
_FL14 = ((0.0, 0.00084, 0.00086, 0.00121), (0.00094, 0.0, 0.00134, 0.00103),
         (0.00094, 0.00129, 0.0, 0.00105), (0.00097, 0.00092, 0.00099, 0.0))  # fmt: skip
_FL15 = ((0.0, 0.00071, 0.00083, 0.00110), (0.00069, 0.0, 0.00107, 0.00081),
         (0.00071, 0.00098, 0.0, 0.00083), (0.00091, 0.00071, 0.00078, 0.0))  # fmt: skip
_FL16 = ((0.0, 0.00080, 0.00084, 0.00125), (0.00071, 0.0, 0.00122, 0.00088),
         (0.00071, 0.00121, 0.0, 0.00090), (0.00116, 0.00084, 0.00089, 0.0))  # fmt: skip

#: Crosstalk of every Sinistro LCO publishes coefficients for (fl09, fl13, fa09, fa13, fa17,
#: fa18 and fa20 are not in LCO's table: their frames need CRSTLKij cards).
CROSSTALK_FACTS: dict[str, CrosstalkFact] = _crosstalk_table(
    {
        "fl01": _FL01, "fl02": _FL02, "fl03": _FL03, "fl04": _FL04, "fl05": _FL05, "fl06": _FL06,
        "fl07": _FL07, "fl08": _FL08, "fl10": _NONE, "fl11": _FL11, "fl12": _FL12, "fl14": _FL14,
        "fl15": _FL15, "fl16": _FL16,
        "fa01": _FL01, "fa02": _FL02, "fa03": _FL03, "fa04": _FL04, "fa05": _FL05, "fa06": _FL06,
        "fa07": _FL07, "fa08": _FL08, "fa10": _NONE, "fa11": _FL11, "fa12": _FL12, "fa14": _FL14,
        "fa15": _FL15, "fa16": _FL16, "fa19": _FL16,
    }
)  # fmt: skip


@attrs.frozen
class SaturationFact:
    """The saturation level of a camera class, in unbinned electrons.

    Attributes
    ----------
    name : str
        The class, in words ('1 m SBIG').
    family : CameraFamily
        The family it belongs to.
    aperture : str or None
        The telescope class it is mounted on ('1m0', '0m8', '0m4'); None: every camera of the
        family.
    electrons : float
        Saturation of one unbinned pixel, electrons.
    source : str
        Where the number comes from.
    """

    name: str
    family: CameraFamily
    aperture: str | None
    electrons: float
    source: str

    def adu(self, binning: Binning, gain: float) -> float:
        """The level in ADU of a frame: ``electrons x binned pixels / gain``.

        Parameters
        ----------
        binning : Binning
            The frame's binning (``x * y`` detector pixels per pixel).
        gain : float
            The amplifier's gain, electrons per ADU.

        Returns
        -------
        float
            ADU (not capped; see `saturation_adu`).
        """
        return self.electrons * binning.x * binning.y / gain


_SATURATE = f"{BANZAI_LCO}, LCOFrameFactory._init_saturate"

#: Saturation per camera class, unbinned electrons (used where SATURATE is absent or 0).
SATURATION_FACTS: tuple[SaturationFact, ...] = (
    SaturationFact(
        "Sinistro", CameraFamily.SINISTRO, None, 47500.0 * 2.0,
        f"{_SATURATE}: 47500 x 2.0 e- (1m0-SciCam-Sinistro)",
    ),
    SaturationFact(
        "1 m SBIG", CameraFamily.SBIG, "1m0", 46000.0 / 4 * 1.4,
        f"{_SATURATE}: 46000 / 4 x 1.4 e- (1m0-SciCam-SBIG), from ORAC, LCO's earlier pipeline",
    ),
    SaturationFact(
        "0.8 m SBIG", CameraFamily.SBIG, "0m8", 64000.0 / 4 * 0.851,
        f"{_SATURATE}: 64000 / 4 x 0.851 e- (0m8), measured by Daniel Harbeck (LCO)",
    ),
    SaturationFact(
        "0.4 m SBIG", CameraFamily.SBIG, "0m4", 64000.0 / 4,
        f"{_SATURATE}: 64000 / 4 e- (0m4), measured by Daniel Harbeck (LCO)",
    ),
    SaturationFact(
        "Spectral", CameraFamily.SPECTRAL, None, 125000.0,
        f"{_SATURATE}: 125000 e- (spectral), given by Joe Tufts on 2016-06-07",
    ),
)  # fmt: skip

_APERTURE = re.compile(r"^\s*(\d+m\d)")


def aperture_class(telescope: str | None, telescope_id: str | None = None) -> str | None:
    """The telescope class ('1m0', '0m8', '0m4', '2m0') of TELESCOP, else of TELID.

    Parameters
    ----------
    telescope : str or None
        TELESCOP, e.g. '1m0-10' or '0m4-14'.
    telescope_id : str or None
        TELID, e.g. '1m0a' or '0m8a'.

    Returns
    -------
    str or None
        None when neither starts with a class.
    """
    for value in (telescope, telescope_id):
        match = _APERTURE.match(value or "")
        if match is not None:
            return match.group(1).lower()
    return None


def saturation_fact(family: CameraFamily, aperture: str | None) -> SaturationFact | None:
    """The saturation fact of a camera of ``family`` on a telescope of class ``aperture``.

    Parameters
    ----------
    family : CameraFamily
        The camera's family.
    aperture : str or None
        Its telescope class (`aperture_class`).

    Returns
    -------
    SaturationFact or None
        None when no class matches (the family default then applies).
    """
    for fact in SATURATION_FACTS:
        if fact.family is family and fact.aperture in (None, aperture):
            return fact
    return None


def saturation_adu(fact: SaturationFact, binning: Binning, gain: float) -> tuple[float, bool]:
    """The level a frame uses from ``fact``: `SaturationFact.adu`, capped at `RAW_FULL_SCALE`.

    A binned Sinistro's converted level (about 190 000 ADU at 2x2) is more than a 16-bit
    readout can record, so a pixel could never reach it; the cap keeps clipped pixels flagged.

    Parameters
    ----------
    fact : SaturationFact
        The camera class's fact.
    binning : Binning
        The frame's binning.
    gain : float
        The amplifier's gain, electrons per ADU.

    Returns
    -------
    level : float
        ADU.
    capped : bool
        The converted level was above `RAW_FULL_SCALE`.
    """
    level = fact.adu(binning, gain)
    return (RAW_FULL_SCALE, True) if level > RAW_FULL_SCALE else (level, False)


@attrs.frozen
class SectionFix:
    """A camera whose headers write a known wrong pair of DATASEC and TRIMSEC.

    Attributes
    ----------
    name : str
        The fix's name, recorded in a frame's provenance.
    camera : str
        INSTRUME.
    written_datasec, written_trimsec : str
        The values the headers hold; the fix applies only when both are exactly these.
    datasec : str
        Where the light really lies, readout pixels.
    trimsec : str
        The useful part, counted from the corrected DATASEC (the header's TRIMSEC is the same
        region counted from the readout's first pixel).
    source : str
        Where the numbers come from.
    """

    name: str
    camera: str
    written_datasec: str
    written_trimsec: str
    datasec: str
    trimsec: str
    source: str


#: Section fixes per camera (found by `lco_instruments.legacy.section_fix_for`).
SECTION_FIXES: dict[str, SectionFix] = {
    "fs01": SectionFix(
        name="fs01_sections",
        camera="fs01",
        written_datasec="[1:2048,1:2048]",
        written_trimsec="[11:2055,19:2031]",
        datasec="[10:2056,16:2032]",
        trimsec="[2:2046,4:2016]",
        source=f"{BANZAI_LCO}, LCOFrameFactory._update_fs01_sections",
    ),
}
