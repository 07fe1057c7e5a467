"""Checks that a master calibration fits the frame it is applied to, and how a scaled master is
subtracted (one rule for the bias and the dark)."""

from __future__ import annotations

import numpy as np

from lco_core.errors import StageError
from lco_core.frame import Frame
from lco_core.master import BadPixelMask, Master, MasterKind
from lco_core.provenance import ProcessingStep
from lco_stages._checks import require_assembled


def require_kind(master: Master, kind: MasterKind, what: str) -> None:
    """A ValueError (when a stage is built) for a master of another kind than ``kind`` (``what``)."""
    if master.kind is not kind:
        raise ValueError(f"{master.filename} is a master {master.kind.value}, not a {what}")


def subtract_scaled(
    frame: Frame, master: Master, step: ProcessingStep, scale: np.float32, offset: np.float32 | None = None
) -> Frame:
    """``data - scale x (master + offset)``; uncertainty ``hypot(sigma, scale x sigma_master)``; masks OR."""
    scaled = master.frame.data if offset is None else master.frame.data + offset
    return frame.with_step(
        step,
        data=frame.data - scale * scaled,
        uncertainty=np.hypot(frame.uncertainty, scale * master.frame.uncertainty),
        mask=frame.mask | master.frame.mask,
    )


def require_match(frame: Frame, master: Master, stage: str) -> None:
    """Same camera, binning and shape; a typed error naming both files otherwise."""
    require_assembled(frame, stage)
    meta, other = frame.meta, master.frame.meta
    problems = []
    if meta.camera != other.camera:
        problems.append(f"camera {meta.camera} != {other.camera}")
    if meta.binning != other.binning:
        problems.append(f"binning {meta.binning} != {other.binning}")
    if frame.shape != master.frame.shape:
        problems.append(f"shape {frame.shape} != {master.frame.shape}")
    if problems:
        raise StageError(
            stage, meta.filename, f"master {master.filename} does not fit: {', '.join(problems)}"
        )


def require_mask_match(frame: Frame, bpm: BadPixelMask, stage: str) -> None:
    require_assembled(frame, stage)
    problems = []
    if bpm.camera is not None and bpm.camera != frame.meta.camera:
        problems.append(f"camera {frame.meta.camera} != {bpm.camera}")
    if bpm.binning is not None and bpm.binning != frame.meta.binning:
        problems.append(f"binning {frame.meta.binning} != {bpm.binning}")
    if bpm.mask.shape != frame.shape:
        problems.append(f"shape {frame.shape} != {bpm.mask.shape}")
    if problems:
        raise StageError(
            stage, frame.meta.filename, f"bad pixel mask {bpm.filename} does not fit: {', '.join(problems)}"
        )
