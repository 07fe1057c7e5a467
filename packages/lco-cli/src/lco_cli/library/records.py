"""What the calibration library hands out: masters and processed frames as plain typed records."""

from __future__ import annotations

import datetime as dt

import attrs

from lco_core.master import MasterKind

#: The outcomes `CalibrationLibrary.record_frame` accepts for a processed frame.
FRAME_STATUSES = ("ok", "failed", "skipped")


@attrs.frozen
class MasterEntry:
    """One registered master.

    ``binning`` is ``str(Binning)`` ('1x1', '2x2'); ``filter`` matters for sky flats only and
    ``set_temperature`` (deg C) for darks only, though both are stored as registered.
    ``date_obs`` is the mean DATE-OBS of the master's inputs; ``created`` is when this file was
    registered (both UTC, time-zone aware). ``good`` is False once the master is marked bad.
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

    ``status`` is one of `FRAME_STATUSES`; ``tries`` counts every recorded attempt;
    ``checksum`` is the SHA-256 of the file that was processed; ``updated`` is UTC, time-zone aware.
    """

    path: str
    checksum: str
    status: str
    tries: int
    reason: str
    products: tuple[str, ...]
    updated: dt.datetime
