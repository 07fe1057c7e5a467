"""FrameMeta and ObsType: the typed facts of a frame, parsed once from its header."""

from __future__ import annotations

import datetime as dt
import enum

import attrs

from lco_core.section import Binning


class ObsType(enum.Enum):
    """LCO's OBSTYPE values."""

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
        return self in (ObsType.BIAS, ObsType.DARK, ObsType.SKYFLAT, ObsType.LAMPFLAT)

    @property
    def is_science(self) -> bool:
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
