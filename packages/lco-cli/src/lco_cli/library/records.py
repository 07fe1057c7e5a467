"""What the calibration library hands out: masters and processed frames as plain typed records."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from lco_cli.results import Shortfall
from lco_core.master import MasterKind

#: The outcomes `~lco_cli.library.library.CalibrationLibrary.record_frame` accepts for a processed frame.
FRAME_STATUSES = ("ok", "degraded", "failed", "skipped")


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
    shortfalls : tuple of Shortfall
        A degraded frame's steps that did not succeed, each with the input it lacked.
    details : dict
        The rest of the outcome as recorded (OBSTYPE, camera, masters, figures, thumbnail,
        seconds), JSON values; empty for records of schema 1.
    run : datetime.datetime or None
        When the run that recorded it started, UTC (None for records of schema 1).
    """

    path: str
    checksum: str
    status: str
    tries: int
    reason: str
    products: tuple[str, ...]
    product_checksums: tuple[str | None, ...]
    updated: dt.datetime
    shortfalls: tuple[Shortfall, ...] = ()
    details: dict[str, Any] = attrs.field(factory=dict)
    run: dt.datetime | None = None

    @property
    def needs(self) -> frozenset[str]:
        """The inputs whose absence degraded the frame (e.g. `~lco_cli.results.NEED_CATALOG`)."""
        return frozenset(shortfall.needs for shortfall in self.shortfalls if shortfall.needs)
