"""add_poisson_uncertainty: shot noise of the collected charge, once the bias is gone."""

from __future__ import annotations

import numpy as np

from lco_core.frame import Frame
from lco_core.provenance import ProcessingStep
from lco_stages._checks import require_assembled

STAGE = "add_poisson_uncertainty"


def add_poisson_uncertainty(frame: Frame) -> Frame:
    """Add ``sqrt(max(data, 0))`` (electrons) in quadrature to the uncertainty.

    Runs after bias subtraction, when the data are the collected photo- and dark electrons.

    Parameters
    ----------
    frame : Frame
        An assembled, bias-subtracted frame in electrons.

    Returns
    -------
    Frame
        Uncertainty ``sqrt(sigma**2 + max(data, 0))``; data and mask unchanged.

    Raises
    ------
    StageError
        The frame is not assembled.
    """
    require_assembled(frame, STAGE)
    variance = frame.uncertainty.astype(np.float32) ** 2 + np.maximum(frame.data, 0, dtype=np.float32)
    return frame.with_step(ProcessingStep(STAGE), uncertainty=np.sqrt(variance))
