"""What the calibration library hands out: masters and processed frames as plain typed records."""

from __future__ import annotations

import datetime as dt

import attrs

from lco_core.master import MasterKind

#: The outcomes `~lco_cli.library.library.CalibrationLibrary.record_frame` accepts for a processed frame.
FRAME_STATUSES = ("ok", "failed", "skipped")


@attrs.frozen
class MasterEntry:
    """One registered master.

    Attributes
    ----------
    id : int
        Row id.
    kind : MasterKind
        Bias, dark or sky flat.
    site, telescope, camera : str
        SITEID, TELESCOP and INSTRUME.
    binning : str
        ``str(Binning)``: '1x1', '2x2'.
    configuration_mode : str
        CONFMODE.
    filter : str or None
        Matters for sky flats only (stored as registered).
    set_temperature : float or None
        CCDSTEMP, degrees Celsius; matters for darks only.
    date_obs : datetime.datetime
        Mean DATE-OBS of the master's inputs, UTC, time-zone aware.
    path : str
        The master file (its identity).
    checksum : str
        SHA-256 of the file.
    good : bool
        False once the master is marked bad.
    created : datetime.datetime
        When this file was registered, UTC.
    """

    id: int
    kind: MasterKind
    site: str
    telescope: str
    camera: str
    binning: str
    configuration_mode: str
    filter: str | None
    set_temperature: float | None
    date_obs: dt.datetime
    path: str
    checksum: str
    good: bool
    created: dt.datetime


@attrs.frozen
class FrameRecord:
    """The last outcome of processing one input file.

    Attributes
    ----------
    path : str
        The raw file.
    checksum : str
        SHA-256 of the file that was processed.
    status : str
        One of `FRAME_STATUSES`.
    tries : int
        Every recorded attempt.
    reason : str
        Why it was not ok.
    products : tuple of str
        The files written.
    product_checksums : tuple of str or None
        SHA-256 of each of ``products`` (same order) when it was recorded; None for a file that
        did not exist then, and for every product of a record written before checksums were kept.
    updated : datetime.datetime
        UTC, time-zone aware.
    """

    path: str
    checksum: str
    status: str
    tries: int
    reason: str
    products: tuple[str, ...]
    product_checksums: tuple[str | None, ...]
    updated: dt.datetime
