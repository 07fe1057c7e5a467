"""Flat field: normalising sky flats, and division by a master flat."""

from __future__ import annotations

from typing import ClassVar

import attrs
import numpy as np

from lco_core.errors import StageError
from lco_core.frame import Frame
from lco_core.master import Master, MasterKind
from lco_core.parameters import StageSettings, documented, parameter
from lco_core.pipeline import Stage
from lco_core.provenance import ProcessingStep
from lco_core.stats import FRAME_LEVEL_NSIGMA, sigma_clipped_mean
from lco_stages._checks import require_assembled
from lco_stages._match import require_kind, require_match

NORMALISE_STAGE = "normalise_flat"
STAGE = "divide_flat"


@documented
@attrs.frozen
class FlatLevelSettings(StageSettings):
    """normalise_flat: a sky flat divided by the clipped mean of its central half (FLATLVL)."""

    section: ClassVar[str] = "flat"
    stage: ClassVar[str] = NORMALISE_STAGE

    nsigma: float = parameter(
        FRAME_LEVEL_NSIGMA, "rejection threshold of the clipped mean", unit="sigma", above=0.0
    )


#: Every flat-level setting at its default.
FLAT_LEVEL_DEFAULTS = FlatLevelSettings()


def central_half(shape: tuple[int, int]) -> tuple[slice, slice]:
    """The central half of an image along each axis, where flats are normalised.

    Parameters
    ----------
    shape : (int, int)
        Image shape (ny, nx).

    Returns
    -------
    (slice, slice)
        Rows ``ny//4 : ny - ny//4`` and columns ``nx//4 : nx - nx//4``.
    """
    ny, nx = shape
    return (slice(ny // 4, ny - ny // 4), slice(nx // 4, nx - nx // 4))


def normalise_flat(settings: FlatLevelSettings = FLAT_LEVEL_DEFAULTS) -> Stage:
    """Divide a sky flat by the ``settings.nsigma``-clipped mean of its central half (FLATLVL, electrons).

    Parameters
    ----------
    settings : FlatLevelSettings
        ``nsigma``: rejection threshold, robust standard deviations (the ``flat.nsigma``
        setting); masked pixels are not used.

    Returns
    -------
    Stage
        Data and uncertainty divided by FLATLVL (dimensionless); records the setting and FLATLVL.

    Raises
    ------
    StageError
        When run on a frame that is not assembled.
    """

    def stage(frame: Frame) -> Frame:
        require_assembled(frame, NORMALISE_STAGE)
        region = central_half(frame.shape)
        level = sigma_clipped_mean(frame.data[region], settings.nsigma, mask=frame.mask[region] != 0)
        scale = np.float32(1.0 / level)
        step = settings.step({"FLATLVL": level})
        return frame.with_step(step, data=frame.data * scale, uncertainty=frame.uncertainty * scale)

    return stage


def flat_level(frame: Frame) -> float:
    """FLATLVL (electrons) a frame's `normalise_flat` step recorded.

    Parameters
    ----------
    frame : Frame
        A sky flat after `normalise_flat`.

    Returns
    -------
    float
        Electrons.

    Raises
    ------
    ValueError
        The flat was not normalised.
    """
    steps = frame.steps(NORMALISE_STAGE)
    if not steps:
        raise ValueError(f"{frame.meta.filename}: flat was not normalised")
    value = steps[-1].diagnostics["FLATLVL"]
    assert isinstance(value, float)
    return value


def divide_flat(master: Master) -> Stage:
    """Divide by a master flat; relative uncertainties add in quadrature, masks OR.

    Parameters
    ----------
    master : Master
        A master flat: relative response, clipped mean 1 over the central half, LOW_FLAT
        pixels set to 1.

    Returns
    -------
    Stage
        Data ``data / flat``; uncertainty ``hypot(sigma / flat, data' x sigma_flat / flat)``
        with ``data'`` the divided data; mask ``mask | master mask``.

    Raises
    ------
    ValueError
        ``master`` is not a flat (when the stage is built).
    StageError
        When run: the frame is not assembled, the master's camera, binning or shape differ,
        or its filter is not the frame's.
    """
    require_kind(master, MasterKind.SKYFLAT, "flat")

    def stage(frame: Frame) -> Frame:
        require_match(frame, master, STAGE)
        if frame.meta.filter != master.frame.meta.filter:
            raise StageError(
                STAGE,
                frame.meta.filename,
                f"master flat {master.filename} is for filter {master.frame.meta.filter!r}, "
                f"the frame for {frame.meta.filter!r}",
            )
        flat = master.frame.data
        data = frame.data / flat
        uncertainty = np.hypot(frame.uncertainty / flat, data * master.frame.uncertainty / flat)
        step = ProcessingStep(STAGE, {"filter": frame.meta.filter}, {}, (master.filename,))
        return frame.with_step(step, data=data, uncertainty=uncertainty, mask=frame.mask | master.frame.mask)

    return stage
