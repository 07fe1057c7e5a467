"""Camera families, recognised by the prefix of INSTRUME."""

from __future__ import annotations

import enum

from lco_core.errors import CameraError


class CameraFamily(enum.Enum):
    """LCO's imaging camera families (the value is the family's name).

    Parameters
    ----------
    value : str
        'SBIG', 'Spectral', 'Sinistro', 'QHY600' or 'MuSCAT3'.
    """

    SBIG = "SBIG"  # kb: 1 m and 0.4 m imagers, one amplifier, no overscan
    SPECTRAL = "Spectral"  # fs: 2 m imagers, one amplifier with overscan
    SINISTRO = "Sinistro"  # fl (2015 data-cube era) / fa (current): four amplifiers
    QHY600 = "QHY600"  # sq: CMOS, one readout, no overscan
    MUSCAT = "MuSCAT3"  # ep: one camera per channel, one amplifier with overscan


#: INSTRUME prefix -> family. Anything else is refused rather than guessed.
PREFIXES: dict[str, CameraFamily] = {
    "kb": CameraFamily.SBIG,
    "fs": CameraFamily.SPECTRAL,
    "fl": CameraFamily.SINISTRO,
    "fa": CameraFamily.SINISTRO,
    "sq": CameraFamily.QHY600,
    "ep": CameraFamily.MUSCAT,
}


def family_of(camera: str, *, filename: str) -> CameraFamily:
    """The family of an INSTRUME value such as 'fa05', from its two-letter prefix (`PREFIXES`).

    Parameters
    ----------
    camera : str
        INSTRUME.
    filename : str
        The frame's file name (for the error message).

    Returns
    -------
    CameraFamily

    Raises
    ------
    CameraError
        An unknown prefix: a camera is never guessed.
    """
    family = PREFIXES.get(camera[:2].lower())
    if family is None:
        known = ", ".join(f"{prefix} ({family.value})" for prefix, family in PREFIXES.items())
        raise CameraError(filename, f"unknown camera {camera!r}: INSTRUME must start with one of {known}")
    return family
