"""Telling raw frames from everything else an input folder holds, from file names and headers alone.

A folder of LCO data often holds more than raw frames: products of LCO's pipelines (ORAC-DR's
``-e90``/``-e10``, BANZAI's ``-e91``, this tool's own), master calibrations, source catalogues,
and frames of cameras or OBSTYPEs this pipeline does not reduce. Each is *skipped* with a one-line
reason saying what it is, never *failed* for not parsing as a raw frame. The rules read only the
name and the headers of every HDU (`lco_core.io.raw.read_hdu_headers`); nothing here touches a
file. A supported camera's raw frame with a broken header is not recognised as anything else, so
it still fails with the header's own error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lco_core.header import Header, HeaderValue
from lco_core.io.meta import PLACEHOLDERS
from lco_core.io.raw import HduHeader
from lco_core.meta import ObsType
from lco_instruments.families import PREFIXES
from lco_stages.recipes import REDUCED

#: INSTRUME prefixes of LCO cameras that are not imagers this pipeline reduces, and what they are.
#: Any other prefix outside `lco_instruments.families.PREFIXES` is an unknown camera: a header
#: error (it fails), since a camera is never guessed.
UNSUPPORTED_CAMERAS: dict[str, str] = {
    "ak": "an acquisition or guide camera",
    "en": "a FLOYDS spectrograph camera",
    "nr": "an NRES spectrograph",
}

#: Keywords only a pipeline writes (ORAC-DR, BANZAI and lco-reduce alike); raw frames carry
#: PCRECIPE and PPRECIPE as 'N/A' at most.
PROCESSING_KEYWORDS = ("PIPEVER", "PCRECIPE")

#: Prefixes of the keywords that record processing steps: L1STATxx (status flags) and L1IDxx
#: (the masters used). L1PUBDAT, the archive's publication date, is on raw frames too.
PROCESSING_PREFIXES = ("L1STAT", "L1ID")

# LCO's frame name: {site}{telescope}-{camera}-{YYYYMMDD}-{number}-{type}{level}; level 00 is raw.
_LCO_NAME = re.compile(r"^[a-z]{3}[a-z0-9]+-[a-z]{2}\d{2}-\d{8}-\d{4}-[a-z](?P<level>\d{2})(?:[-_.]|$)")
# Masters: ORAC-DR's bias_kb70_20151221_bin2x2 / flat_kb70_..._SKYFLAT_... / bpm-kb70_bin2x2, and
# BANZAI's and lco-reduce's {site}{telescope}-{camera}-{YYYYMMDD}-{kind}-bin{x}x{y}[-{filter}]
# (`lco_core.master.master_filename`).
_ORACDR_MASTER = re.compile(r"^(?:bias|dark|flat|bpm)[_-][a-z]{2}\d{2}_", re.IGNORECASE)
_MASTER = re.compile(r"-\d{8}-(?:bias|dark|skyflat|flat|bpm)-bin\d+x\d+(?:[-.]|$)", re.IGNORECASE)
# Source catalogues: ORAC-DR's ..._cat.fits, BANZAI's ...-matched-cat.fits.
_CATALOGUE = re.compile(r"[-_]cat$", re.IGNORECASE)
_SUFFIXES = (".gz", ".fz", ".fits", ".fit", ".fts")


def _stem(filename: str) -> str:
    stem = filename
    for suffix in _SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem


def _text(value: HeaderValue) -> str:
    return value.strip() if isinstance(value, str) else ""


def _present(value: HeaderValue) -> bool:
    """A value a pipeline wrote: not absent, not a placeholder such as 'N/A'."""
    if value is None:
        return False
    return not isinstance(value, str) or value.strip().upper() not in PLACEHOLDERS


def _level(value: HeaderValue) -> int:
    """RLEVEL as a number (0 when absent or not a number)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return int(value)
    text = _text(value)
    return int(text) if text.isdigit() else 0


def frame_header(hdus: Sequence[HduHeader]) -> Header:
    """The header that describes the frame: the first with INSTRUME (fpack puts it in HDU 1).

    Parameters
    ----------
    hdus : sequence of HduHeader
        Every HDU of a file.

    Returns
    -------
    Header
        The first header holding INSTRUME, else the primary's (empty for no HDU).
    """
    for hdu in hdus:
        if hdu.header.get("INSTRUME") is not None:
            return hdu.header
    return hdus[0].header if hdus else Header()


def header_labels(hdus: Sequence[HduHeader]) -> tuple[str, str]:
    """OBSTYPE (upper case) and INSTRUME (lower case) as the headers write them, '' when absent.

    Parameters
    ----------
    hdus : sequence of HduHeader
        Every HDU of a file.

    Returns
    -------
    obstype, camera : str
    """
    header = frame_header(hdus)
    return _text(header.get("OBSTYPE")).upper(), _text(header.get("INSTRUME")).lower()


def _master(filename: str, hdus: Sequence[HduHeader]) -> str:
    if any(hdu.header.get("ISMASTER") is True for hdu in hdus):
        return "a master calibration (ISMASTER = T)"
    if _ORACDR_MASTER.match(filename) or _MASTER.search(_stem(filename)):
        return "a master calibration (by its name)"
    return ""


def _table(hdus: Sequence[HduHeader]) -> str:
    kinds = {hdu.kind for hdu in hdus}
    if "table" in kinds and "image" not in kinds:
        names = ", ".join(hdu.name for hdu in hdus if hdu.kind == "table" and hdu.name)
        return f"a table with no image, a source catalogue{f' ({names})' if names else ''}"
    return ""


def _product_layout(hdus: Sequence[HduHeader]) -> str:
    extras = [hdu.name for hdu in hdus if hdu.name in ("CAT", "BPM", "ERR")]
    if extras and any(hdu.kind == "image" for hdu in hdus):
        names = ", ".join(dict.fromkeys(hdu.name for hdu in hdus if hdu.kind != "empty" and hdu.name))
        return f"a processed product (extensions {names})"
    return ""


def _processed_header(hdus: Sequence[HduHeader]) -> str:
    for hdu in hdus:
        header = hdu.header
        level = _level(header.get("RLEVEL"))
        if level > 0:
            return f"already processed (RLEVEL = {level})"
        for keyword in PROCESSING_KEYWORDS:
            value = header.get(keyword)
            if _present(value):
                return f"already processed ({keyword} = {value!r})"
        for card in header.cards:
            if card.keyword.startswith(PROCESSING_PREFIXES):
                return f"already processed (it has {card.keyword})"
    return ""


def _processed_name(filename: str) -> str:
    stem = _stem(filename)
    match = _LCO_NAME.match(stem.lower())
    if match is not None and match.group("level") != "00":
        return f"already processed (reduction level {match.group('level')} in its name)"
    if _CATALOGUE.search(stem):
        return "a source catalogue (by its name)"
    return ""


def not_a_raw_frame(filename: str, hdus: Sequence[HduHeader]) -> str:
    """Why a file is not a raw frame, or '' when it may be one.

    The rules, first match wins: a master calibration (ISMASTER = T, or a master's name: ORAC-DR's
    ``bias_kb70_...``, BANZAI's and `lco_core.master.master_filename`'s ``...-bias-bin2x2``); a
    file with tables and no image (a catalogue, LDAC included); a product's layout (an image
    beside a CAT, BPM or ERR extension); a processed header (RLEVEL > 0, PIPEVER or PCRECIPE
    with a value, any L1STATxx or L1IDxx); a processed name (LCO's name with a reduction level
    other than 00, e.g. ``-e91``, or a catalogue's ``_cat`` / ``-cat``). Compressed and plain
    forms (``.fits``, ``.fits.fz``, ``.fits.gz``) are named alike.

    Parameters
    ----------
    filename : str
        The file's name (no folder).
    hdus : sequence of HduHeader
        Every HDU of the file.

    Returns
    -------
    str
        ``'<file>: not a raw frame: <what> (<evidence>)'``, one line; '' for a possible raw frame.
    """
    what = (
        _master(filename, hdus)
        or _table(hdus)
        or _product_layout(hdus)
        or _processed_header(hdus)
        or _processed_name(filename)
    )
    return f"{filename}: not a raw frame: {what}" if what else ""


def unsupported_camera(camera: str) -> str:
    """Why a camera's frames are not reduced, or '' for a supported (or unknown) camera.

    Parameters
    ----------
    camera : str
        INSTRUME, e.g. 'ak01'.

    Returns
    -------
    str
        One line for a camera in `UNSUPPORTED_CAMERAS`; '' otherwise (an unknown prefix is
        refused later, as a header error, by `lco_instruments.families.family_of`).
    """
    prefix = camera[:2].lower()
    if prefix in PREFIXES or prefix not in UNSUPPORTED_CAMERAS:
        return ""
    supported = ", ".join(sorted(PREFIXES))
    return (
        f"camera {camera} is not a supported imager ({UNSUPPORTED_CAMERAS[prefix]}; "
        f"lco-reduce reduces cameras {supported})"
    )


def unreduced_obstype(obstype: str) -> str:
    """Why frames of an OBSTYPE are not reduced, or '' for one that is (or an unknown value).

    Parameters
    ----------
    obstype : str
        OBSTYPE as the header writes it.

    Returns
    -------
    str
        One line for a known OBSTYPE outside `lco_stages.recipes.REDUCED` (guide, trailed,
        experimental, arc, ...); '' otherwise (an unknown value is a header error, refused
        when the frame is read).
    """
    try:
        kind = ObsType(obstype.strip().upper())
    except ValueError:
        return ""
    return "" if kind in REDUCED else f"OBSTYPE {kind.value} is not reduced"


def reason_to_skip(filename: str, hdus: Sequence[HduHeader]) -> str:
    """Why a file is skipped without being read as a raw frame, or '' to read it as one.

    Not a raw frame (`not_a_raw_frame`), a camera this pipeline does not reduce
    (`unsupported_camera`), or an OBSTYPE it does not reduce (`unreduced_obstype`), in that
    order: each is what the file *is*, so it is decided before its header is parsed, and a
    header that would not parse does not turn it into a failure.

    Parameters
    ----------
    filename : str
        The file's name (no folder).
    hdus : sequence of HduHeader
        Every HDU of the file.

    Returns
    -------
    str
        One line, or ''.
    """
    obstype, camera = header_labels(hdus)
    return not_a_raw_frame(filename, hdus) or unsupported_camera(camera) or unreduced_obstype(obstype)
