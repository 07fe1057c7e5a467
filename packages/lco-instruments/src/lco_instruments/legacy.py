"""Named fixes for known problems of LCO file formats.

Each fix is applied only where its condition holds, and is named in the frame's provenance.

* ``legacy_sinistro_cube``: 2015 Sinistro frames are a 3-D primary image (one plane per
  amplifier) with BIASSEC and DETSEC 'UNKNOWN' and a nonsensical DATASEC; the sections below
  are the layout of those readouts. Each plane is 2048 (1x1) or 1024 (2x2) light-sensitive
  columns followed by 32 / 16 serial-overscan columns; the first 6 / 3 overscan columns still
  carry charge trailing from the image (visible in the real fl10 flat) and are not used.
  Amplifiers 3 and 4 have one light-sensitive row more than 1 and 2; it is their first row read
  (the detector's top edge) and is discarded. Readouts of 2048 rows (before January 2016) stop
  one row short of the detector's centre for amplifiers 3 and 4: that row was never read and
  stays uncovered (NO_DATA) in the mosaic. Readouts of 2049+ rows (January 2016 on, when
  amplifiers 1 and 2 also read extra parallel-overscan rows) cover it.
* ``partial_legacy_cube``: a cube holding fewer than four planes (test files trimmed by their
  authors keep one): the planes present are taken as amplifiers 1..n and the mosaic covers only
  their detector sections.
* ``fs01_sections``: the Spectral fs01 writes DATASEC ``[1:2048,1:2048]`` with TRIMSEC
  ``[11:2055,19:2031]``, which do not agree (the TRIMSEC reaches past the DATASEC); its light
  really lies at DATASEC ``[10:2056,16:2032]``, and the header's TRIMSEC is then, counted from
  that DATASEC, ``[2:2046,4:2016]``: a 2045 x 2013 product. Applied only when a frame of that
  camera holds exactly that pair (`lco_instruments.camera_facts.SECTION_FIXES`).
"""

from __future__ import annotations

import attrs

from lco_core.errors import CameraError
from lco_core.section import Binning, Section
from lco_instruments.camera_facts import SECTION_FIXES, SectionFix

LEGACY_CUBE_FIX = "legacy_sinistro_cube"
PARTIAL_CUBE_FIX = "partial_legacy_cube"
FS01_SECTIONS_FIX = SECTION_FIXES["fs01"].name

_HALF = 2048  # unbinned pixels per amplifier along each axis
_FULL = 4096


@attrs.frozen
class LegacySections:
    """The sections of one plane of a 2015 Sinistro data cube.

    Attributes
    ----------
    data, bias, detector : Section
        DATASEC and BIASSEC (readout coordinates), DETSEC (unbinned detector coordinates).
    note : str
        Which era of the format the plane belongs to.
    """

    data: Section
    bias: Section
    detector: Section
    note: str


def legacy_sinistro_sections(
    amplifier: int, readout_shape: tuple[int, int], binning: Binning, *, filename: str
) -> LegacySections:
    """Sections of one plane of a 2015 Sinistro data cube (see the module docstring).

    Parameters
    ----------
    amplifier : int
        1-based amplifier (plane) number.
    readout_shape : (int, int)
        The plane's shape (ny, nx).
    binning : Binning
        1x1 or 2x2.
    filename : str
        The frame's file name (for errors).

    Returns
    -------
    LegacySections

    Raises
    ------
    CameraError
        Another binning, or a plane that does not match the known layout.
    """
    ny, nx = readout_shape
    if binning not in (Binning(1, 1), Binning(2, 2)):
        raise CameraError(filename, f"a legacy Sinistro cube binned {binning} has no known layout")
    light = _HALF // binning.x
    serial = {1: 32, 2: 16}[binning.x]
    skipped = {1: 6, 2: 3}[binning.x]
    if nx != light + serial or ny < light:
        raise CameraError(
            filename,
            f"legacy Sinistro plane of {nx}x{ny} does not match the "
            f"{light + serial}x{light}+ layout at {binning}",
        )
    bias = Section(light + skipped + 1, nx, 1, ny)
    top = amplifier in (3, 4)
    if binning.x == 1 and top:
        last = min(ny, light + 1)
        data = Section(1, light, 2, last)
        rows_covered = last - 1
        era = "2049+ rows (2016 on)" if ny > light else "2048 rows (2015): the centre row was not read"
    else:
        data = Section(1, light, 1, light)
        rows_covered = light * binning.y
        era = f"{ny} rows"
    x_range = {1: (1, _HALF), 2: (_FULL, _HALF + 1), 3: (_FULL, _HALF + 1), 4: (1, _HALF)}[amplifier]
    y_range = (_FULL, _FULL - rows_covered + 1) if top else (1, rows_covered)
    detector = Section(x_range[0], x_range[1], y_range[0], y_range[1])
    return LegacySections(data, bias, detector, f"amplifier {amplifier}: {era}")


def section_fix_for(camera: str, datasec: Section | None, trimsec: Section | None) -> SectionFix | None:
    """The section fix of ``camera`` when its header holds exactly the fix's known wrong pair.

    Parameters
    ----------
    camera : str
        INSTRUME.
    datasec, trimsec : Section or None
        DATASEC and TRIMSEC as the header writes them.

    Returns
    -------
    SectionFix or None
        None for any other camera, or any other pair of values (the header is then believed).
    """
    fix = SECTION_FIXES.get(camera)
    if fix is None or datasec is None or trimsec is None:
        return None
    if datasec != Section.parse(fix.written_datasec) or trimsec != Section.parse(fix.written_trimsec):
        return None
    return fix
