"""Master calibrations: pure functions from prepared frames to a master (Sequence[Frame] -> Master).

Each ``make_master_*`` takes frames already through their recipe (see `lco_stages.recipes`),
decides which frames to keep (temperature, signal-to-noise, agreement with the previous
master) and stacks the rest with the memory-bounded sigma-clipped stack. Every decision is
data in the returned `MasterResult`, not a log line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import attrs
import numpy as np
import numpy.typing as npt

from lco_core.errors import LcoError
from lco_core.frame import Frame
from lco_core.masks import MaskBit
from lco_core.master import Master, MasterKind, master_filename
from lco_core.provenance import ProcessingStep
from lco_core.stats import median, stack
from lco_stages.bias import bias_level
from lco_stages.flat import flat_level
from lco_stages.qc import QcDecision, compare_with_master

#: Frames a master needs unless told otherwise.
MIN_FRAMES = 5
#: Darks whose CCDATEMP is this far (deg C) from CCDSTEMP are not used.
TEMPERATURE_TOLERANCE = 0.5
#: Sky flats whose median signal-to-noise is below this are not used.
MIN_FLAT_SNR = 50.0
#: Master flat pixels below this response are flagged LOW_FLAT and set to 1.
LOW_FLAT_LEVEL = 0.2


class TooFewFramesError(LcoError):
    """Fewer usable frames than a master needs."""

    def __init__(self, group: str, usable: int, needed: int, rejected: Sequence[Rejection]) -> None:
        self.group = group
        self.usable = usable
        self.needed = needed
        self.rejected = tuple(rejected)
        why = (
            f" ({len(rejected)} rejected: {rejected[0].reason}{', ...' if len(rejected) > 1 else ''})"
            if rejected
            else ""
        )
        super().__init__(f"{group}: {usable} usable frames, a master needs at least {needed}{why}")


@attrs.frozen
class Rejection:
    filename: str
    reason: str


@attrs.frozen(eq=False)
class MasterResult:
    master: Master
    used: tuple[str, ...]
    rejected: tuple[Rejection, ...]
    qc: tuple[QcDecision, ...]


def group_name(frame: Frame, kind: MasterKind) -> str:
    meta = frame.meta
    text = f"{meta.camera} {kind.value} binning {meta.binning} mode {meta.configuration_mode}"
    return text + (f" filter {meta.filter}" if kind is MasterKind.SKYFLAT else "")


def _check_group(frames: Sequence[Frame], kind: MasterKind) -> None:
    if not frames:
        raise TooFewFramesError(f"master {kind.value}", 0, 1, ())
    keys = {
        (
            f.meta.camera,
            f.meta.binning,
            f.meta.configuration_mode,
            f.shape,
            f.meta.filter if kind is MasterKind.SKYFLAT else None,
        )
        for f in frames
    }
    if len(keys) > 1:
        raise ValueError(
            f"frames of different groups cannot make one master {kind.value}: {sorted(map(str, keys))}"
        )
    for frame in frames:
        if frame.meta.obstype is not kind.obstype:
            raise ValueError(f"{frame.meta.filename} is {frame.meta.obstype.value}, not {kind.obstype.value}")
        if frame.header.get("ISMASTER") is True:
            raise ValueError(
                f"{frame.meta.filename} is itself a master; masters are built from raw frames only"
            )


def _select(
    frames: Sequence[Frame],
    kind: MasterKind,
    previous: Master | None,
    min_frames: int,
    reject: Callable[[Frame], str | None],
) -> tuple[list[Frame], list[Rejection], list[QcDecision]]:
    _check_group(frames, kind)
    kept, rejected, decisions = [], [], []
    for frame in frames:
        reason = reject(frame)
        if reason is not None:
            rejected.append(Rejection(frame.meta.filename, reason))
            continue
        decision = compare_with_master(frame, previous)
        decisions.append(decision)
        if decision.accepted:
            kept.append(frame)
        else:
            rejected.append(Rejection(frame.meta.filename, decision.reason))
    if len(kept) < min_frames:
        raise TooFewFramesError(group_name(frames[0], kind), len(kept), min_frames, rejected)
    return kept, rejected, decisions


def _master_frame(
    frames: list[Frame],
    kind: MasterKind,
    nsigma: float,
    parameters: dict[str, float | str],
    common: list[npt.NDArray[np.float32]] | None = None,
) -> Frame:
    """Stack frames into a master frame.

    ``common`` is, per frame, the part of its uncertainty that every frame shares (the master
    bias a dark was corrected with, say). The stack treats inputs as independent, so that part
    is taken out before stacking and added back in full afterwards: averaging N frames does not
    average away an error they all carry.
    """
    sigmas = [f.uncertainty for f in frames]
    if common is not None:
        sigmas = [
            np.sqrt(np.maximum(s.astype(np.float32) ** 2 - c**2, 0))
            for s, c in zip(sigmas, common, strict=True)
        ]
    result = stack(
        [f.data for f in frames], nsigma=nsigma, masks=[f.mask != 0 for f in frames], uncertainties=sigmas
    )
    uncertainty = result.uncertainty
    if common is not None:
        shared = np.mean(common, axis=0)
        uncertainty = np.sqrt(uncertainty.astype(np.float32) ** 2 + shared**2)
    first = frames[0]
    mean_time = dt.datetime.fromtimestamp(
        float(np.mean([f.meta.date_obs.timestamp() for f in frames])), tz=dt.UTC
    )
    latest_night = max(f.meta.day_obs for f in frames)
    meta = attrs.evolve(first.meta, date_obs=mean_time, day_obs=latest_night)
    meta = attrs.evolve(meta, filename=master_filename(meta, kind))
    # A pixel flagged in most inputs stays flagged (saturated or bad in the inputs themselves).
    flagged = np.mean([(f.mask & ~np.uint8(MaskBit.COSMIC)) != 0 for f in frames], axis=0) > 0.5
    inherited = np.bitwise_or.reduce([f.mask for f in frames], axis=0) * flagged
    step = ProcessingStep(
        f"make_master_{kind.value}",
        {**parameters, "nsigma": nsigma},
        {"n_frames": len(frames), "no_data_pixels": int((result.mask != 0).sum())},
        tuple(f.meta.filename for f in frames),
    )
    return first.with_step(
        step,
        meta=meta,
        data=result.data,
        uncertainty=uncertainty,
        mask=result.mask | inherited.astype(np.uint8),
    )


def _shared_error(
    frame: Frame, bias: Master | None, dark: Master | None, scale: float
) -> npt.NDArray[np.float32]:
    """The uncertainty a frame inherited from masters applied to it, in its current units."""
    variance = np.zeros(frame.shape, dtype=np.float32)
    if bias is not None:
        variance += (bias.frame.uncertainty * np.float32(frame.meta.nsubread)) ** 2
    if dark is not None:
        variance += (dark.frame.uncertainty * np.float32(frame.meta.exptime)) ** 2
    return np.sqrt(variance) * np.float32(scale)


def make_master_bias(
    frames: Sequence[Frame],
    *,
    previous: Master | None = None,
    min_frames: int = MIN_FRAMES,
    nsigma: float = 3.0,
) -> MasterResult:
    """Stack bias frames (after `subtract_bias_level`) into a master bias per read.

    The master keeps BIASLVL, the mean of its frames' levels, so subtracting it restores the
    level as well as the structure.
    """
    kept, rejected, decisions = _select(frames, MasterKind.BIAS, previous, min_frames, lambda f: None)
    frame = _master_frame(kept, MasterKind.BIAS, nsigma, {})
    level = float(np.mean([bias_level(f) for f in kept]))
    master = Master(MasterKind.BIAS, frame, [f.meta.filename for f in kept], bias_level=level)
    return MasterResult(master, tuple(f.meta.filename for f in kept), tuple(rejected), tuple(decisions))


def _temperature_problem(frame: Frame, tolerance: float) -> str | None:
    actual, wanted = frame.meta.ccd_temperature, frame.meta.ccd_set_temperature
    if actual is None or wanted is None:
        return None
    if abs(actual - wanted) >= tolerance:
        return f"CCD at {actual:.2f} C, set point {wanted:.2f} C (difference >= {tolerance} C)"
    return None


def make_master_dark(
    frames: Sequence[Frame],
    *,
    previous: Master | None = None,
    min_frames: int = MIN_FRAMES,
    nsigma: float = 3.0,
    temperature_tolerance: float = TEMPERATURE_TOLERANCE,
    temperature_coefficient: float | None = None,
    bias: Master | None = None,
) -> MasterResult:
    """Stack dark frames (electrons per second, after bias and Poisson noise) into a master dark.

    Frames whose CCD temperature is ``temperature_tolerance`` or more from the set point are not
    used; the master's temperature is the mean CCDATEMP of the frames used. ``bias`` is the
    master bias the frames were corrected with: its error is common to all of them.
    """
    kept, rejected, decisions = _select(
        frames,
        MasterKind.DARK,
        previous,
        min_frames,
        lambda f: _temperature_problem(f, temperature_tolerance),
    )
    common = [_shared_error(f, bias, None, 1.0 / f.meta.exptime) for f in kept] if bias is not None else None
    frame = _master_frame(
        kept, MasterKind.DARK, nsigma, {"temperature_tolerance": temperature_tolerance}, common
    )
    temperatures = [f.meta.ccd_temperature for f in kept if f.meta.ccd_temperature is not None]
    master = Master(
        MasterKind.DARK,
        frame,
        [f.meta.filename for f in kept],
        temperature=float(np.mean(temperatures)) if temperatures else None,
        dark_temperature_coefficient=temperature_coefficient or 0.0,
    )
    return MasterResult(master, tuple(f.meta.filename for f in kept), tuple(rejected), tuple(decisions))


def _snr_problem(frame: Frame, minimum: float) -> str | None:
    good = (frame.mask == 0) & (frame.uncertainty > 0)
    if not good.any():
        return "no unmasked pixel"
    snr = median(frame.data / np.where(good, frame.uncertainty, 1), mask=~good)
    if not snr >= minimum:
        return f"median signal-to-noise {snr:.1f} < {minimum:g}"
    return None


def make_master_flat(
    frames: Sequence[Frame],
    *,
    previous: Master | None = None,
    min_frames: int = MIN_FRAMES,
    nsigma: float = 3.0,
    min_snr: float = MIN_FLAT_SNR,
    low_level: float = LOW_FLAT_LEVEL,
    bias: Master | None = None,
    dark: Master | None = None,
) -> MasterResult:
    """Stack normalised sky flats into a master flat.

    Frames with a median signal-to-noise below ``min_snr`` are not used. Stars in dithered
    flats move between frames and are rejected pixel by pixel by the clipped stack. Pixels
    below ``low_level`` get LOW_FLAT and are set to 1, so dividing by the flat never amplifies
    a dead pixel into nonsense. ``bias`` and ``dark`` are the masters the frames were
    corrected with: their errors are common to all frames.
    """
    kept, rejected, decisions = _select(
        frames, MasterKind.SKYFLAT, previous, min_frames, lambda f: _snr_problem(f, min_snr)
    )
    common = (
        [_shared_error(f, bias, dark, 1.0 / flat_level(f)) for f in kept]
        if bias is not None or dark is not None
        else None
    )
    frame = _master_frame(
        kept, MasterKind.SKYFLAT, nsigma, {"min_snr": min_snr, "low_level": low_level}, common
    )
    low = frame.data < low_level
    data = np.where(low, np.float32(1.0), frame.data)
    mask = frame.mask | (low * np.uint8(MaskBit.LOW_FLAT)).astype(np.uint8)
    frame = attrs.evolve(frame, data=data, mask=mask)
    level = float(np.mean([flat_level(f) for f in kept]))
    master = Master(MasterKind.SKYFLAT, frame, [f.meta.filename for f in kept], flat_level=level)
    return MasterResult(master, tuple(f.meta.filename for f in kept), tuple(rejected), tuple(decisions))
