"""Quality control of calibration frames against the current master of their kind."""

from __future__ import annotations

import attrs
import numpy as np

from lco_core.frame import Frame
from lco_core.master import Master

#: A pixel disagrees when it lies beyond this many sigma of the combined noise ...
QC_NSIGMA = 6.0
#: ... and a frame is bad when more than this fraction of its pixels disagree.
QC_MAX_FRACTION = 0.05


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
    frame: Frame, previous: Master | None, *, nsigma: float = QC_NSIGMA, max_fraction: float = QC_MAX_FRACTION
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
    nsigma : float
        A pixel disagrees when ``|frame - master| > nsigma x hypot(sigma, sigma_master)``.
    max_fraction : float
        The frame is rejected when more than this fraction of pixels disagree.

    Returns
    -------
    QcDecision
        Accepted without comparison when there is no previous master, its shape differs, or
        no pixel can be compared.
    """
    name = frame.meta.filename
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
