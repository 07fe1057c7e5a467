"""quality_bias_level: the raw bias level against its camera family's usual window."""

from __future__ import annotations

from lco_core.errors import CameraError
from lco_core.frame import Frame
from lco_core.keyword_table import GAIN_STAGE
from lco_core.pipeline import Stage
from lco_core.provenance import ParamValue
from lco_instruments.bias_levels import BiasLevelWindow, bias_level_window
from lco_instruments.families import family_of
from lco_stages.bias import LEVEL_STAGE as OWN_LEVEL_STAGE
from lco_stages.overscan import STAGE as OVERSCAN_STAGE
from lco_stages.quality.results import (
    BIAS_LEVEL_STAGE,
    STAGE_PREFIX,
    QualityResult,
    Verdict,
    decide,
    quality_step,
)
from lco_stages.quality.settings import QUALITY_DEFAULTS, QualitySettings

STAGE = BIAS_LEVEL_STAGE
TEST = STAGE.removeprefix(STAGE_PREFIX)


def measured_bias_levels(frame: Frame) -> dict[int, float]:
    """The raw bias level of each amplifier a frame's history records, ADU.

    From the overscan stage's ``overscan_ampN`` where the camera has an overscan; otherwise,
    for a bias frame, its own level (BIASLVL, electrons per read, x NSUBREAD / gain of the
    gain stage) as amplifier 1.

    Parameters
    ----------
    frame : Frame
        A frame after the overscan stage (a bias after `~lco_stages.bias.subtract_bias_level`).

    Returns
    -------
    dict of int to float
        Amplifier index to level; empty when neither is recorded.
    """
    levels: dict[int, float] = {}
    for step in frame.steps(OVERSCAN_STAGE)[-1:]:
        for key, value in step.diagnostics.items():
            index = key.removeprefix("overscan_amp")
            if index.isdigit() and isinstance(value, float | int):
                levels[int(index)] = float(value)
    if levels:
        return levels
    own = frame.steps(OWN_LEVEL_STAGE)
    gains = frame.steps(GAIN_STAGE)
    if own and gains:
        level = own[-1].diagnostics.get("BIASLVL")
        gain = gains[-1].parameters.get("gain_amp1")
        reads = own[-1].parameters.get("nsubread", 1)
        if (
            isinstance(level, float | int)
            and isinstance(gain, float | int)
            and isinstance(reads, int)
            and gain > 0
        ):
            levels[1] = float(level) * reads / float(gain)
    return levels


def _worst(levels: dict[int, float], window: BiasLevelWindow) -> tuple[int, float, float]:
    """The amplifier farthest outside (or nearest the edge of) the window, its level and that edge."""

    def excess(item: tuple[int, float]) -> float:
        return max(window.low - item[1], item[1] - window.high)

    index, level = max(levels.items(), key=excess)
    edge = window.low if level - window.low < window.high - level else window.high
    return index, level, edge


def check_bias_level(settings: QualitySettings = QUALITY_DEFAULTS) -> Stage:
    """The bias level test: a raw level outside its family's usual window fails.

    The window is `lco_instruments.bias_levels.BIAS_LEVEL_WINDOWS` (ADU). Measured from the
    overscan stage's per-amplifier levels; a camera without overscan (SBIG) is tested on its
    bias frames, from their own level (BIASLVL); any other frame of it passes with no value, as
    does a camera family without a window.

    Parameters
    ----------
    settings : QualitySettings
        ``bias_level_action``.

    Returns
    -------
    Stage
        Records the worst amplifier's level (value, ADU), the window's edge nearest to it
        (limit), the verdict, ``window_low``/``window_high`` and ``level_ampN``.
    """

    def stage(frame: Frame) -> Frame:
        levels = measured_bias_levels(frame)
        try:
            window = bias_level_window(family_of(frame.meta.camera, filename=frame.meta.filename))
        except CameraError:
            window = None
        extra: dict[str, ParamValue] = {f"level_amp{index}": level for index, level in levels.items()}
        if not levels or window is None:
            why = (
                "no bias level measured (no overscan, not a bias frame)"
                if not levels
                else (f"no usual bias level known for camera {frame.meta.camera}")
            )
            value = None if not levels else max(levels.values())
            result = QualityResult(TEST, Verdict.PASS, value, "adu", None, why)
            return frame.with_step(quality_step(result, settings.values(), extra))
        index, level, edge = _worst(levels, window)
        outside = not window.contains(level)
        verdict = decide(outside, settings.bias_level_action)
        where = "outside" if outside else "inside"
        reason = (
            f"amplifier {index} bias level {level:.0f} ADU {where} the usual "
            f"{window.low:.0f}-{window.high:.0f} ADU of {window.family.value} cameras"
        )
        extra |= {"window_low": window.low, "window_high": window.high}
        result = QualityResult(TEST, verdict, level, "adu", edge, reason)
        return frame.with_step(quality_step(result, settings.values(), extra))

    return stage
