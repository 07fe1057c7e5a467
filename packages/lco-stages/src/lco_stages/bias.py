"""Bias: a bias frame's own level, and subtraction of a master bias (electrons)."""

from __future__ import annotations

from typing import ClassVar

import attrs
import numpy as np

from lco_core.frame import Frame
from lco_core.master import Master, MasterKind
from lco_core.parameters import StageSettings, documented, parameter
from lco_core.pipeline import Stage
from lco_core.provenance import ProcessingStep
from lco_core.stats import FRAME_LEVEL_NSIGMA, sigma_clipped_mean
from lco_stages._checks import require_assembled
from lco_stages._match import require_kind, require_match, subtract_scaled

LEVEL_STAGE = "subtract_bias_level"
STAGE = "subtract_bias"


@documented
@attrs.frozen
class BiasLevelSettings(StageSettings):
    """subtract_bias_level: a bias frame's own level (BIASLVL), removed before it is stacked."""

    section: ClassVar[str] = "bias"
    stage: ClassVar[str] = LEVEL_STAGE

    nsigma: float = parameter(
        FRAME_LEVEL_NSIGMA, "rejection threshold of the clipped mean", unit="sigma", above=0.0
    )


#: Every bias-level setting at its default.
BIAS_LEVEL_DEFAULTS = BiasLevelSettings()


def subtract_bias_level(settings: BiasLevelSettings = BIAS_LEVEL_DEFAULTS) -> Stage:
    """Remove a bias frame's own level and scale it to one read.

    The level is the ``settings.nsigma``-clipped mean of the unmasked pixels (electrons). A frame of
    NSUBREAD reads holds NSUBREAD biases, so both the level (BIASLVL) and the remaining structure
    are divided by NSUBREAD: every bias then describes a single read.

    Parameters
    ----------
    settings : BiasLevelSettings
        ``nsigma``: rejection threshold of the clipped mean, robust standard deviations (the
        ``bias.nsigma`` setting).

    Returns
    -------
    Stage
        Data ``(data - level) / NSUBREAD`` and uncertainty ``sigma / NSUBREAD`` (electrons per
        read); records the setting, NSUBREAD and BIASLVL = ``level / NSUBREAD``.

    Raises
    ------
    StageError
        When run on a frame that is not assembled.
    """

    def stage(frame: Frame) -> Frame:
        require_assembled(frame, LEVEL_STAGE)
        reads = frame.meta.nsubread
        level = sigma_clipped_mean(frame.data, settings.nsigma, mask=frame.mask != 0)
        data = (frame.data - np.float32(level)) / np.float32(reads)
        step = settings.step({"BIASLVL": level / reads}, facts={"nsubread": reads})
        return frame.with_step(step, data=data, uncertainty=frame.uncertainty / np.float32(reads))

    return stage


def bias_level(frame: Frame) -> float:
    """BIASLVL (electrons per read) a frame's `subtract_bias_level` step recorded.

    Parameters
    ----------
    frame : Frame
        A bias frame after `subtract_bias_level`.

    Returns
    -------
    float
        Electrons per read.

    Raises
    ------
    ValueError
        No bias level was measured on the frame.
    """
    steps = frame.steps(LEVEL_STAGE)
    if not steps:
        raise ValueError(f"{frame.meta.filename}: no bias level was measured")
    value = steps[-1].diagnostics["BIASLVL"]
    assert isinstance(value, float)
    return value


def subtract_bias(master: Master) -> Stage:
    """Subtract a master bias: ``NSUBREAD x (master + BIASLVL)``, uncertainties in quadrature, masks OR.

    Parameters
    ----------
    master : Master
        A master bias: structure per read in electrons, its level kept as BIASLVL.

    Returns
    -------
    Stage
        Data ``data - NSUBREAD x (master + BIASLVL)``, uncertainty
        ``hypot(sigma, NSUBREAD x sigma_master)``, mask ``mask | master mask``.

    Raises
    ------
    ValueError
        ``master`` is not a bias (when the stage is built).
    StageError
        When run: the frame is not assembled, or the master's camera, binning or shape differ.
    """
    require_kind(master, MasterKind.BIAS, "bias")

    def stage(frame: Frame) -> Frame:
        require_match(frame, master, STAGE)
        reads = np.float32(frame.meta.nsubread)
        level = np.float32(master.bias_level)
        step = ProcessingStep(
            STAGE, {"nsubread": frame.meta.nsubread}, {"BIASLVL": master.bias_level}, (master.filename,)
        )
        return subtract_scaled(frame, master, step, reads, offset=level)

    return stage
