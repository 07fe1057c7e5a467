"""Quality control of calibration frames against the current master of their kind."""

from __future__ import annotations

from typing import ClassVar

import attrs
import numpy as np

from lco_core.frame import Frame
from lco_core.master import Master
from lco_core.parameters import StageSettings, documented, parameter


@documented
@attrs.frozen
class QcSettings(StageSettings):
    """assess_frame: which prepared calibration frames may go into a master (recorded with the master)."""

    section: ClassVar[str] = "qc"
    stage: ClassVar[str] = "assess_frame"

    max_deviation: float = parameter(
        6.0, "a pixel disagrees with the previous master beyond this many sigma of the combined noise",
        unit="sigma", above=0.0,
    )  # fmt: skip
    max_fraction: float = parameter(
        0.05, "a frame is rejected when more than this fraction of its pixels disagree", minimum=0.0,
        maximum=1.0,
    )  # fmt: skip
    temperature_tolerance: float = parameter(
        0.5, "darks whose CCD temperature is this far or more from the set point are not used",
        unit="deg C", above=0.0,
    )  # fmt: skip
    min_flat_snr: float = parameter(
        50.0, "sky flats whose median signal-to-noise is below this are not used", minimum=0.0
    )


#: Every quality-control setting at its default.
QC_DEFAULTS = QcSettings()


@attrs.frozen
class QcDecision:
    """Whether a calibration frame agrees with the previous master, with the figures.

    Attributes
    ----------
    filename : str
        The frame's file name.
    accepted : bool
        It agrees (or there was nothing to compare with).
    fraction_beyond : float or None
        Fraction of compared pixels beyond the threshold; None when nothing was compared.
    reason : str
        One line.
    """

    filename: str
    accepted: bool
    fraction_beyond: float | None  # None when there was no previous master
    reason: str


def compare_with_master(
    frame: Frame, previous: Master | None, settings: QcSettings = QC_DEFAULTS
) -> QcDecision:
    """Compare a prepared calibration frame with the previous master of its kind.

    ``frame`` must be in the master's units (a level-subtracted bias per read, a dark in
    electrons per second, a normalised flat). Pixels masked in either are ignored.

    Parameters
    ----------
    frame : Frame
        The prepared calibration frame.
    previous : Master or None
        The previous master of its kind.
    settings : QcSettings
        A pixel disagrees when ``|frame - master| > max_deviation x hypot(sigma, sigma_master)``;
        the frame is rejected when more than ``max_fraction`` of its pixels disagree.

    Returns
    -------
    QcDecision
        Accepted without comparison when there is no previous master, its shape differs, or
        no pixel can be compared.
    """
    name = frame.meta.filename
    nsigma, max_fraction = settings.max_deviation, settings.max_fraction
    if previous is None:
        return QcDecision(name, True, None, "no previous master: accepted")
    if previous.frame.shape != frame.shape:
        return QcDecision(
            name, True, None, f"previous master {previous.filename} has another shape: accepted"
        )
    good = (frame.mask == 0) & (previous.frame.mask == 0)
    sigma = np.hypot(frame.uncertainty, previous.frame.uncertainty)
    good &= sigma > 0
    if not good.any():
        return QcDecision(name, True, None, "no pixel to compare: accepted")
    beyond = np.abs(frame.data - previous.frame.data)[good] > nsigma * sigma[good]
    fraction = float(beyond.mean())
    accepted = fraction <= max_fraction
    verdict = "accepted" if accepted else "rejected"
    reason = (
        f"{fraction:.1%} of pixels beyond {nsigma:g} sigma of {previous.filename} "
        f"(limit {max_fraction:.0%}): {verdict}"
    )
    return QcDecision(name, accepted, fraction, reason)
