"""Master calibrations: pure functions from prepared frames to a master (Sequence[Frame] -> Master).

Making a master has two halves, kept apart so the command line can run the first in worker
processes and stack from files (bounded memory) in between:

* `assess_frame`: may this prepared frame go into the master? (temperature, signal-to-noise,
  agreement with the previous master); a small, picklable `Assessment`;
* `master_from_stack`: the master from the sigma-clipped stack of the accepted frames.

`make_master_bias`, `make_master_dark` and `make_master_flat` do both in memory. Every decision
is data in the returned `MasterResult`, not a log line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from lco_core.calibration_rules import rule_for
from lco_core.errors import LcoError
from lco_core.frame import Frame
from lco_core.masks import MaskBit
from lco_core.master import Master, MasterKind, master_filename
from lco_core.meta import FrameMeta
from lco_core.parameters import StageSettings, documented, parameter
from lco_core.stacking import StackResult
from lco_core.stats import median, stack
from lco_stages.bias import LEVEL_STAGE
from lco_stages.flat import NORMALISE_STAGE
from lco_stages.qc import QC_DEFAULTS, QcDecision, QcSettings, compare_with_master
from lco_stages.quality import Verdict, quality_results


@documented
@attrs.frozen
class StackSettings(StageSettings):
    """make_master_bias, make_master_dark, make_master_flat: accepted frames stacked into a master."""

    section: ClassVar[str] = "stack"
    stage: ClassVar[str] = "make_master"

    nsigma: float = parameter(
        3.0, "rejection threshold of the per-pixel sigma-clipped mean", unit="sigma", above=0.0
    )
    maxiters: int = parameter(1, "clipping passes of the per-pixel mean", minimum=1, maximum=20)
    min_frames: int = parameter(5, "fewest accepted frames a master is made of", minimum=1)
    low_flat_level: float = parameter(
        0.2, "master flat pixels below this response are flagged LOW_FLAT and set to 1", minimum=0.0,
        maximum=1.0,
    )  # fmt: skip


#: Every stacking setting at its default.
STACK_DEFAULTS = StackSettings()


@attrs.frozen
class Rejection:
    """A frame left out of a master, and why.

    Attributes
    ----------
    filename : str
        The raw file's name.
    reason : str
        One line.
    """

    filename: str
    reason: str


class TooFewFramesError(LcoError):
    """Fewer usable frames than a master needs.

    Parameters
    ----------
    group : str
        The group of frames (camera, kind, binning, mode, filter).
    usable : int
        Frames accepted.
    needed : int
        Frames a master needs.
    rejected : sequence of Rejection
        The frames left out, with reasons.
    """

    def __init__(self, group: str, usable: int, needed: int, rejected: Sequence[Rejection]) -> None:
        self.group = group
        self.usable = usable
        self.needed = needed
        self.rejected = tuple(rejected)
        why = ""
        if rejected:
            why = f" ({len(rejected)} rejected: {rejected[0].reason}{', ...' if len(rejected) > 1 else ''})"
        super().__init__(f"{group}: {usable} usable frames, a master needs at least {needed}{why}")


@attrs.frozen
class Assessment:
    """Whether one prepared frame goes into a master, and the figures the master needs from it.

    Attributes
    ----------
    meta : FrameMeta
        The frame's metadata.
    accepted : bool
        It goes into the master.
    reason : str
        Why (one line).
    qc : QcDecision or None
        The comparison with the previous master, when one was made.
    level : float or None
        BIASLVL (bias, electrons per read) or FLATLVL (flat, electrons) of the frame.
    settings : QcSettings
        The quality-control settings it was judged with (the master records them).
    """

    meta: FrameMeta
    accepted: bool
    reason: str
    qc: QcDecision | None = None
    level: float | None = None  # BIASLVL (bias) or FLATLVL (flat) of the frame
    settings: QcSettings = QC_DEFAULTS

    @property
    def filename(self) -> str:
        """The frame's file name."""
        return self.meta.filename


@attrs.frozen(eq=False)
class MasterResult:
    """A master and the decisions behind it.

    Attributes
    ----------
    master : Master
        The master.
    used : tuple of str
        File names of the frames stacked.
    rejected : tuple of Rejection
        Frames left out, with reasons.
    qc : tuple of QcDecision
        Every comparison with the previous master.
    """

    master: Master
    used: tuple[str, ...]
    rejected: tuple[Rejection, ...]
    qc: tuple[QcDecision, ...]


def group_name(meta: FrameMeta, kind: MasterKind) -> str:
    """The frames' group in words: camera, kind, binning, mode (and filter for flats).

    Parameters
    ----------
    meta : FrameMeta
        Any frame of the group.
    kind : MasterKind
        The master's kind.

    Returns
    -------
    str
    """
    text = f"{meta.camera} {kind.value} binning {meta.binning} mode {meta.configuration_mode}"
    return text + (f" filter {meta.filter}" if kind is MasterKind.SKYFLAT else "")


def _level(frame: Frame, stage: str, key: str) -> float | None:
    steps = frame.steps(stage)
    value = steps[-1].diagnostics.get(key) if steps else None
    return float(value) if isinstance(value, int | float) else None


def _temperature_problem(meta: FrameMeta, tolerance: float) -> str | None:
    actual, wanted = meta.ccd_temperature, meta.ccd_set_temperature
    if actual is None or wanted is None:
        return None
    if abs(actual - wanted) >= tolerance:
        return f"CCD at {actual:.2f} C, set point {wanted:.2f} C (difference >= {tolerance} C)"
    return None


def _snr_problem(frame: Frame, minimum: float) -> str | None:
    good = (frame.mask == 0) & (frame.uncertainty > 0)
    if not good.any():
        return "no unmasked pixel"
    snr = median(frame.data / np.where(good, frame.uncertainty, 1), mask=~good)
    if not snr >= minimum:
        return f"median signal-to-noise {snr:.1f} < {minimum:g}"
    return None


def assess_frame(
    frame: Frame,
    kind: MasterKind,
    *,
    previous: Master | None = None,
    settings: QcSettings = QC_DEFAULTS,
) -> Assessment:
    """Decide whether a prepared calibration frame may go into a master of ``kind``.

    A frame a quality test rejected (`lco_stages.quality`: a saturated flat, a corrupt readout,
    a broken bias level) is rejected first, then darks off their set temperature and flats of
    too little signal; every other frame is compared with the previous master
    (`compare_with_master`).

    Parameters
    ----------
    frame : Frame
        The frame after its recipe (`~lco_stages.recipes.recipe_for`), in the master's units.
    kind : MasterKind
        The master it is meant for.
    previous : Master, optional
        The master of its kind the library would use now.
    settings : QcSettings
        Darks with ``|CCDATEMP - CCDSTEMP| >= temperature_tolerance`` (degrees Celsius) and
        flats of median signal-to-noise below ``min_flat_snr`` are rejected; the comparison's
        thresholds (the ``qc.*`` settings).

    Returns
    -------
    Assessment

    Raises
    ------
    ValueError
        The frame's OBSTYPE is not the kind's, or the frame is itself a master.
    """
    if frame.meta.obstype is not kind.obstype:
        raise ValueError(f"{frame.meta.filename} is {frame.meta.obstype.value}, not {kind.obstype.value}")
    if frame.header.get("ISMASTER") is True:
        raise ValueError(f"{frame.meta.filename} is itself a master; masters are built from raw frames only")
    level = {
        MasterKind.BIAS: _level(frame, LEVEL_STAGE, "BIASLVL"),
        MasterKind.SKYFLAT: _level(frame, NORMALISE_STAGE, "FLATLVL"),
        MasterKind.DARK: None,
    }[kind]
    problem = _quality_problem(frame)
    if problem is None and kind is MasterKind.DARK:
        problem = _temperature_problem(frame.meta, settings.temperature_tolerance)
    elif problem is None and kind is MasterKind.SKYFLAT:
        problem = _snr_problem(frame, settings.min_flat_snr)
    if problem is not None:
        return Assessment(frame.meta, False, problem, None, level, settings)
    decision = compare_with_master(frame, previous, settings)
    return Assessment(frame.meta, decision.accepted, decision.reason, decision, level, settings)


def _quality_problem(frame: Frame) -> str | None:
    rejected = [result for result in quality_results(frame) if result.verdict is Verdict.REJECT]
    if not rejected:
        return None
    return "quality test " + "; ".join(f"{result.test}: {result.reason}" for result in rejected)


def _check_group(assessments: Sequence[Assessment], kind: MasterKind) -> None:
    if not assessments:
        raise TooFewFramesError(f"master {kind.value}", 0, 1, ())
    # What a master must match exactly is what its frames must share (lco_core.calibration_rules);
    # the night's own grouping (one DAY-OBS, one telescope) is the planner's, not a master's.
    rule = rule_for(kind)
    shared = [m.fact for m in rule.match if m.tolerance is None]
    keys = {tuple(fact.of(a.meta) for fact in shared) for a in assessments}
    if len(keys) > 1:
        raise ValueError(
            f"frames of different groups cannot make one master {kind.value}: {sorted(map(str, keys))}"
        )


def choose_frames(
    assessments: Sequence[Assessment], kind: MasterKind, *, settings: StackSettings = STACK_DEFAULTS
) -> list[Assessment]:
    """The accepted frames of one group.

    Parameters
    ----------
    assessments : sequence of Assessment
        One per frame of the group.
    kind : MasterKind
        The master's kind.
    settings : StackSettings
        ``min_frames``: fewest frames a master may be made of.

    Returns
    -------
    list of Assessment
        The accepted ones.

    Raises
    ------
    TooFewFramesError
        Fewer than ``min_frames`` accepted (or none assessed).
    ValueError
        Frames of different groups (camera, binning, mode, or filter for flats).
    """
    _check_group(assessments, kind)
    accepted = [a for a in assessments if a.accepted]
    if len(accepted) < settings.min_frames:
        rejected = [Rejection(a.filename, a.reason) for a in assessments if not a.accepted]
        raise TooFewFramesError(
            group_name(assessments[0].meta, kind), len(accepted), settings.min_frames, rejected
        )
    return accepted


def shared_error(
    meta: FrameMeta, shape: tuple[int, int], *, bias: Master | None, dark: Master | None, scale: float
) -> npt.NDArray[np.float32]:
    """The uncertainty a frame inherited from the masters applied to it, in its current units.

    Parameters
    ----------
    meta : FrameMeta
        The frame (NSUBREAD, EXPTIME).
    shape : (int, int)
        Image shape.
    bias, dark : Master or None
        The masters it was corrected with.
    scale : float
        Factor to the frame's current units (``1 / EXPTIME`` for a dark, ``1 / FLATLVL`` for a
        flat).

    Returns
    -------
    ndarray of float32
        ``scale x sqrt((NSUBREAD x sigma_bias)**2 + (EXPTIME x sigma_dark)**2)``.
    """
    variance = np.zeros(shape, dtype=np.float32)
    if bias is not None:
        variance += (bias.frame.uncertainty * np.float32(meta.nsubread)) ** 2
    if dark is not None:
        variance += (dark.frame.uncertainty * np.float32(meta.exptime)) ** 2
    return np.sqrt(variance) * np.float32(scale)


def _stack_settings_applied(stacked: StackResult, settings: StackSettings) -> None:
    """A master records its settings: a stack made with other ones would be recorded wrongly."""
    for name, ran in (("nsigma", stacked.nsigma), ("maxiters", stacked.maxiters)):
        wanted = getattr(settings, name)
        if ran is not None and ran != wanted:
            raise ValueError(f"the stack ran with {name}={ran}; the settings say stack.{name}={wanted}")


def _qc_settings(accepted: Sequence[Assessment]) -> QcSettings:
    judged = {a.settings for a in accepted}
    if len(judged) > 1:
        raise ValueError("the frames of one master were judged with different quality-control settings")
    return judged.pop() if judged else QC_DEFAULTS


def master_from_stack(
    kind: MasterKind,
    stacked: StackResult,
    accepted: Sequence[Assessment],
    template: Frame,
    *,
    settings: StackSettings = STACK_DEFAULTS,
    shared: npt.NDArray[np.float32] | None = None,
    temperature_coefficient: float | None = None,
) -> Master:
    """The master of ``kind`` from the stack of its ``accepted`` frames.

    ``template`` is one of the prepared frames (its header and history head the master's).
    ``shared`` is the error every input carries alike (the master bias a dark was corrected
    with): the stack treats inputs as independent and would divide it by sqrt(N), so the part it
    averaged away is added back, ``sigma^2 += shared^2 (1 - 1/n_used)``.

    Parameters
    ----------
    kind : MasterKind
        The master's kind.
    stacked : StackResult
        The stack of the accepted frames, made with ``settings.nsigma`` and ``settings.maxiters``.
    accepted : sequence of Assessment
        Their assessments (levels, temperatures, times, and the quality-control settings they
        were judged with).
    template : Frame
        One of the prepared frames.
    settings : StackSettings
        The stack's settings (recorded) and ``low_flat_level``: flat pixels below this response
        get LOW_FLAT and are set to 1.
    shared : ndarray of float32, optional
        The error common to every input, in the master's units.
    temperature_coefficient : float, optional
        DRKTCOEF, 1/K (darks).

    Returns
    -------
    Master
        DATE-OBS the mean of the inputs', DAY-OBS the latest, named by
        `~lco_core.master.master_filename`; BIASLVL, CCDATEMP or FLATLVL the mean of the inputs'.
        Its ``make_master_{kind}`` step records the ``stack.*`` and ``qc.*`` settings.

    Raises
    ------
    ValueError
        The stack states an ``nsigma`` or ``maxiters`` other than ``settings``', or the frames
        were judged with different quality-control settings.
    """
    _stack_settings_applied(stacked, settings)
    qc = _qc_settings(accepted)
    uncertainty = stacked.uncertainty.astype(np.float32)
    if shared is not None:
        used = np.maximum(stacked.n_used, 1).astype(np.float32)
        uncertainty = np.sqrt(uncertainty**2 + shared.astype(np.float32) ** 2 * (1 - 1 / used))
    metas = [a.meta for a in accepted]
    mean_time = dt.datetime.fromtimestamp(float(np.mean([m.date_obs.timestamp() for m in metas])), tz=dt.UTC)
    meta = attrs.evolve(template.meta, date_obs=mean_time, day_obs=max(m.day_obs for m in metas))
    meta = attrs.evolve(meta, filename=master_filename(meta, kind))
    data, mask = stacked.data, stacked.mask
    if kind is MasterKind.SKYFLAT:
        low = data < settings.low_flat_level
        data = np.where(low, np.float32(1.0), data)
        mask = mask | (low * np.uint8(MaskBit.LOW_FLAT)).astype(np.uint8)
    step = settings.step(
        {"n_frames": len(accepted), "no_data_pixels": int((stacked.mask != 0).sum())},
        tuple(m.filename for m in metas),
        stage=f"make_master_{kind.value}",
        also=(qc,),
    )
    frame = template.with_step(
        step, meta=meta, data=data, uncertainty=uncertainty, mask=mask, sources=None, wcs=None
    )
    levels = [a.level for a in accepted if a.level is not None]
    temperatures = [m.ccd_temperature for m in metas if m.ccd_temperature is not None]
    return Master(
        kind,
        frame,
        [m.filename for m in metas],
        bias_level=float(np.mean(levels)) if kind is MasterKind.BIAS and levels else 0.0,
        temperature=float(np.mean(temperatures)) if kind is MasterKind.DARK and temperatures else None,
        dark_temperature_coefficient=(temperature_coefficient or 0.0) if kind is MasterKind.DARK else 0.0,
        flat_level=float(np.mean(levels)) if kind is MasterKind.SKYFLAT and levels else None,
    )


def mean_shared_error(
    kind: MasterKind,
    accepted: Sequence[Assessment],
    shape: tuple[int, int],
    *,
    bias: Master | None,
    dark: Master | None,
) -> npt.NDArray[np.float32] | None:
    """The error a master's frames share through the bias and dark masters they were calibrated
    with, in the master's units, averaged over its frames (it does not average down).

    Parameters
    ----------
    kind : MasterKind
        The master's kind: a dark is per second of its frames, a flat per its frames' level.
    accepted : sequence of Assessment
        The frames stacked (their metadata and FLATLVL).
    shape : (int, int)
        The image shape.
    bias, dark : Master or None
        The masters the frames were calibrated with.

    Returns
    -------
    ndarray of float32 or None
        None when neither master was applied.
    """
    if bias is None and dark is None:
        return None
    scales = [1.0 / a.meta.exptime if kind is MasterKind.DARK else 1.0 / (a.level or 1.0) for a in accepted]
    shared: npt.NDArray[np.float32] = np.mean(
        [
            shared_error(a.meta, shape, bias=bias, dark=dark, scale=s)
            for a, s in zip(accepted, scales, strict=True)
        ],
        axis=0,
    ).astype(np.float32)
    return shared


def _make(
    frames: Sequence[Frame],
    kind: MasterKind,
    *,
    previous: Master | None,
    settings: StackSettings,
    qc: QcSettings,
    bias: Master | None = None,
    dark: Master | None = None,
    temperature_coefficient: float | None = None,
) -> MasterResult:
    assessments = [assess_frame(f, kind, previous=previous, settings=qc) for f in frames]
    accepted = choose_frames(assessments, kind, settings=settings)
    chosen = {a.filename for a in accepted}
    used = [f for f in frames if f.meta.filename in chosen]
    shapes = {f.shape for f in used}
    if len(shapes) > 1:
        raise ValueError(f"frames of different shapes cannot make one master {kind.value}: {sorted(shapes)}")
    stacked = stack(
        [f.data for f in used],
        nsigma=settings.nsigma,
        maxiters=settings.maxiters,
        masks=[f.mask != 0 for f in used],
        uncertainties=[f.uncertainty for f in used],
    )
    shared = mean_shared_error(kind, accepted, used[0].shape, bias=bias, dark=dark)
    master = master_from_stack(
        kind, stacked, accepted, used[0], settings=settings, shared=shared,
        temperature_coefficient=temperature_coefficient,
    )  # fmt: skip
    rejected = tuple(Rejection(a.filename, a.reason) for a in assessments if not a.accepted)
    decisions = tuple(a.qc for a in assessments if a.qc is not None)
    return MasterResult(master, tuple(a.filename for a in accepted), rejected, decisions)


def make_master_bias(
    frames: Sequence[Frame],
    *,
    previous: Master | None = None,
    settings: StackSettings = STACK_DEFAULTS,
    qc: QcSettings = QC_DEFAULTS,
) -> MasterResult:
    """Stack bias frames (after `~lco_stages.bias.subtract_bias_level`) into a master bias per read.

    The master keeps BIASLVL, the mean of its frames' levels, so subtracting it restores the
    level as well as the structure.

    Parameters
    ----------
    frames : sequence of Frame
        Bias frames after `~lco_stages.recipes.bias_recipe`, one group.
    previous : Master, optional
        The current master bias, for quality control.
    settings : StackSettings
        ``min_frames`` (fewest frames a master may be made of), the stack's ``nsigma`` (robust
        standard deviations) and ``maxiters``.
    qc : QcSettings
        How frames are judged against ``previous``.

    Returns
    -------
    MasterResult

    Raises
    ------
    TooFewFramesError
        Fewer than ``settings.min_frames`` usable frames.
    ValueError
        Frames of different groups or shapes.
    """
    return _make(frames, MasterKind.BIAS, previous=previous, settings=settings, qc=qc)


def make_master_dark(
    frames: Sequence[Frame],
    *,
    previous: Master | None = None,
    settings: StackSettings = STACK_DEFAULTS,
    qc: QcSettings = QC_DEFAULTS,
    temperature_coefficient: float | None = None,
    bias: Master | None = None,
) -> MasterResult:
    """Stack dark frames (electrons per second, after bias and Poisson noise) into a master dark.

    Frames whose CCD temperature is ``qc.temperature_tolerance`` or more from the set point are
    not used; the master's temperature is the mean CCDATEMP of the frames used. ``bias`` is the
    master bias the frames were corrected with: its error is common to all of them.

    Parameters
    ----------
    frames : sequence of Frame
        Dark frames after `~lco_stages.recipes.dark_recipe`, one group.
    previous : Master, optional
        The current master dark, for quality control.
    settings : StackSettings
        ``min_frames`` and the stack's ``nsigma`` and ``maxiters``.
    qc : QcSettings
        ``temperature_tolerance`` (degrees Celsius) and the comparison with ``previous``.
    temperature_coefficient : float, optional
        DRKTCOEF of the camera, 1/K (kept in the master).
    bias : Master, optional
        The master bias the frames were corrected with.

    Returns
    -------
    MasterResult

    Raises
    ------
    TooFewFramesError
        Fewer than ``settings.min_frames`` usable frames.
    ValueError
        Frames of different groups or shapes.
    """
    return _make(
        frames, MasterKind.DARK, previous=previous, settings=settings, qc=qc, bias=bias,
        temperature_coefficient=temperature_coefficient,
    )  # fmt: skip


def make_master_flat(
    frames: Sequence[Frame],
    *,
    previous: Master | None = None,
    settings: StackSettings = STACK_DEFAULTS,
    qc: QcSettings = QC_DEFAULTS,
    bias: Master | None = None,
    dark: Master | None = None,
) -> MasterResult:
    """Stack normalised sky flats into a master flat.

    Frames with a median signal-to-noise below ``qc.min_flat_snr`` are not used. Stars in
    dithered flats move between frames and are rejected pixel by pixel by the clipped stack.
    Pixels below ``settings.low_flat_level`` get LOW_FLAT and are set to 1, so dividing by the
    flat never amplifies a dead pixel into nonsense. ``bias`` and ``dark`` are the masters the
    frames were corrected with: their errors are common to all frames.

    Parameters
    ----------
    frames : sequence of Frame
        Sky flats after `~lco_stages.recipes.flat_recipe`, one group (one filter).
    previous : Master, optional
        The current master flat, for quality control.
    settings : StackSettings
        ``min_frames``, the stack's ``nsigma`` and ``maxiters``, and ``low_flat_level``.
    qc : QcSettings
        ``min_flat_snr`` and the comparison with ``previous``.
    bias, dark : Master, optional
        The masters the frames were corrected with.

    Returns
    -------
    MasterResult

    Raises
    ------
    TooFewFramesError
        Fewer than ``settings.min_frames`` usable frames.
    ValueError
        Frames of different groups (filters) or shapes.
    """
    return _make(
        frames, MasterKind.SKYFLAT, previous=previous, settings=settings, qc=qc, bias=bias, dark=dark
    )
