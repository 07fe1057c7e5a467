"""FrameMeta and ObsType: the typed facts of a frame, parsed once from its header."""

from __future__ import annotations

import datetime as dt
import enum

import attrs

from lco_core.orientation import HeaderWcs
from lco_core.section import Binning


class ObsType(enum.Enum):
    """LCO's OBSTYPE values.

    Parameters
    ----------
    value : str
        The header's OBSTYPE, upper case (``ObsType("SKYFLAT")``).
    """

    BIAS = "BIAS"
    DARK = "DARK"
    SKYFLAT = "SKYFLAT"
    LAMPFLAT = "LAMPFLAT"
    EXPOSE = "EXPOSE"
    STANDARD = "STANDARD"
    GUIDE = "GUIDE"
    TRAILED = "TRAILED"
    EXPERIMENTAL = "EXPERIMENTAL"
    ARC = "ARC"
    SPECTRUM = "SPECTRUM"
    TARGET = "TARGET"

    @property
    def is_calibration(self) -> bool:
        """True for the frames masters are made of: BIAS, DARK, SKYFLAT, LAMPFLAT."""
        return self in (ObsType.BIAS, ObsType.DARK, ObsType.SKYFLAT, ObsType.LAMPFLAT)

    @property
    def is_science(self) -> bool:
        """True for exposures of the sky: EXPOSE, STANDARD, TRAILED, EXPERIMENTAL."""
        return self in (ObsType.EXPOSE, ObsType.STANDARD, ObsType.TRAILED, ObsType.EXPERIMENTAL)


#: CONFMODE of frames whose header says 'N/A' or has none: LCO's full-frame readout.
DEFAULT_CONFIGURATION_MODE = "full_frame"


@attrs.frozen
class FrameMeta:
    """Facts about a frame, parsed once from its primary header by `lco_core.io.meta`.

    Units: ``exptime`` seconds; ``gain`` electrons/ADU (one value, or one per amplifier when
    the header gives a list); ``read_noise`` electrons; ``saturate`` and ``maxlin`` ADU as the
    header states them; temperatures degrees Celsius; ``ra``/``dec`` degrees (ICRS);
    ``pixel_scale`` arcsec per (binned) pixel, as LCO's PIXSCALE gives it.
    Optional facts are ``None`` when the header holds no usable value ('UNKNOWN', 'N/A', 0 for
    a gain): never a guessed default.

    Attributes
    ----------
    filename : str
        The file's name (no folder).
    obstype : ObsType
        OBSTYPE.
    site, telescope, camera : str
        SITEID (lower case, e.g. 'cpt'), TELESCOP (e.g. '1m0-10') and INSTRUME (lower case,
        e.g. 'fa05').
    day_obs : datetime.date
        DAY-OBS: the date at the start of the local night.
    date_obs : datetime.datetime
        DATE-OBS, start of the exposure, UTC (time-zone aware).
    exptime : float
        EXPTIME, seconds (>= 0).
    binning : Binning
        CCDSUM.
    filter : str or None
        FILTER.
    configuration_mode : str
        CONFMODE ('full_frame' when absent or 'N/A').
    gain : tuple of float or None
        GAIN, electrons per ADU (one value, or one per amplifier).
    read_noise : float or None
        RDNOISE, electrons.
    saturate, maxlin : float or None
        SATURATE and MAXLIN, ADU.
    ccd_set_temperature, ccd_temperature : float or None
        CCDSTEMP and CCDATEMP, degrees Celsius.
    ra, dec : float or None
        RA and DEC of the pointing, degrees (ICRS).
    pixel_scale : float or None
        PIXSCALE, arcsec per binned pixel.
    nsubread : int
        NSUBREAD, reads summed in the frame (1 when absent).
    object_name : str or None
        OBJECT.
    header_wcs : HeaderWcs or None
        The celestial WCS the header states (CRVAL, CRPIX and a CD matrix, from CDi_j, PCi_j
        with CDELTi, or CDELTi with CROTA2); None when absent, not celestial or unusable.
    """

    filename: str
    obstype: ObsType
    site: str
    telescope: str
    camera: str
    day_obs: dt.date
    date_obs: dt.datetime
    exptime: float
    binning: Binning
    filter: str | None = None
    configuration_mode: str = DEFAULT_CONFIGURATION_MODE
    gain: tuple[float, ...] | None = None
    read_noise: float | None = None
    saturate: float | None = None
    maxlin: float | None = None
    ccd_set_temperature: float | None = None
    ccd_temperature: float | None = None
    ra: float | None = None
    dec: float | None = None
    pixel_scale: float | None = None
    nsubread: int = 1
    object_name: str | None = None
    header_wcs: HeaderWcs | None = None

    @property
    def pointing(self) -> tuple[float, float] | None:
        """Where the image centre points, (RA, Dec) in degrees: RA/DEC (the telescope's own
        statement), else the header WCS's reference point; None when the header says neither."""
        if self.ra is not None and self.dec is not None:
            return (self.ra, self.dec)
        return None if self.header_wcs is None else self.header_wcs.crval

    @property
    def telescope_code(self) -> str:
        """The telescope part of LCO file names: '1m0-12' -> '1m012'."""
        return self.telescope.replace("-", "")

    @property
    def camera_family(self) -> str:
        """The two-letter prefix of INSTRUME ('fa', 'kb', ...) that names the camera family."""
        return self.camera[:2]

    @property
    def stem(self) -> str:
        """File name without '.fits' / '.fits.fz'."""
        name = self.filename
        for suffix in (".fz", ".fits", ".fit"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        return name
