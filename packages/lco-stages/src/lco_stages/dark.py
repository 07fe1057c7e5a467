"""Dark current: frames to electrons per second, and subtraction of a master dark."""

from __future__ import annotations

import math

import numpy as np

from lco_core.errors import StageError
from lco_core.frame import Frame
from lco_core.master import Master, MasterKind
from lco_core.pipeline import Stage
from lco_core.provenance import ProcessingStep
from lco_stages._checks import require_assembled
from lco_stages._match import require_kind, require_match, subtract_scaled

RATE_STAGE = "divide_by_exposure_time"
STAGE = "subtract_dark"


def divide_by_exposure_time(frame: Frame) -> Frame:
    """Data and uncertainty divided by EXPTIME: electrons per second (for master darks).

    Parameters
    ----------
    frame : Frame
        An assembled dark frame, electrons.

    Returns
    -------
    Frame
        Electrons per second.

    Raises
    ------
    StageError
        The frame is not assembled, or EXPTIME is not positive.
    """
    require_assembled(frame, RATE_STAGE)
    if frame.meta.exptime <= 0:
        raise StageError(RATE_STAGE, frame.meta.filename, "EXPTIME must be positive for a dark")
    scale = np.float32(1.0 / frame.meta.exptime)
    step = ProcessingStep(RATE_STAGE, {"exptime": frame.meta.exptime})
    return frame.with_step(step, data=frame.data * scale, uncertainty=frame.uncertainty * scale)


def dark_scale(frame: Frame, master: Master) -> float:
    """EXPTIME x exp(DRKTCOEF x (CCDATEMP_frame - CCDATEMP_master)), or EXPTIME where either
    temperature or the coefficient is unknown.

    Parameters
    ----------
    frame : Frame
        The frame (EXPTIME, CCDATEMP).
    master : Master
        The master dark (its mean CCDATEMP and DRKTCOEF).

    Returns
    -------
    float
        Seconds (DRKTSCAL): multiply the master (electrons per second) by it.
    """
    temperature = frame.meta.ccd_temperature
    if master.dark_temperature_coefficient and temperature is not None and master.temperature is not None:
        return frame.meta.exptime * math.exp(
            master.dark_temperature_coefficient * (temperature - master.temperature)
        )
    return frame.meta.exptime


def subtract_dark(master: Master) -> Stage:
    """Subtract a master dark (electrons per second) scaled by `dark_scale`.

    Parameters
    ----------
    master : Master
        A master dark, electrons per second.

    Returns
    -------
    Stage
        Data ``data - s x master``, uncertainty ``hypot(sigma, s x sigma_master)``, mask
        ``mask | master mask``, with ``s = dark_scale(frame, master)`` recorded as DRKTSCAL.

    Raises
    ------
    ValueError
        ``master`` is not a dark (when the stage is built).
    StageError
        When run: the frame is not assembled, or the master's camera, binning or shape differ.
    """
    require_kind(master, MasterKind.DARK, "dark")

    def stage(frame: Frame) -> Frame:
        require_match(frame, master, STAGE)
        scale = dark_scale(frame, master)
        step = ProcessingStep(STAGE, {"exptime": frame.meta.exptime}, {"DRKTSCAL": scale}, (master.filename,))
        return subtract_scaled(frame, master, step, np.float32(scale))

    return stage
