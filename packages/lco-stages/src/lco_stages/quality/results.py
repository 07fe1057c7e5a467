"""Verdicts of the per-frame quality tests, recorded in and read back from a frame's history.

Each quality test is a pure stage that leaves the pixels alone and appends one
`~lco_core.provenance.ProcessingStep` named ``STAGE_PREFIX + test`` whose diagnostics hold the
measured figure and the verdict (``value``, ``unit``, ``limit``, ``verdict``, ``reason``).
`quality_results` rebuilds the `QualityResult` records from those steps, so the verdicts travel
with the frame (and its product's provenance) without any state beside it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

import attrs

from lco_core.frame import Frame
from lco_core.provenance import ParamValue, ProcessingStep

#: Every quality test's stage name is this prefix and the test's name.
STAGE_PREFIX = "quality_"

#: Stage names of the five tests (``STAGE_PREFIX`` + test), in the order they run.
SINGLE_VALUE_STAGE = "quality_single_value"
SATURATION_STAGE = "quality_saturation"
BIAS_LEVEL_STAGE = "quality_bias_level"
PATTERN_NOISE_STAGE = "quality_pattern_noise"
POINTING_STAGE = "quality_pointing"

#: The quality stages, in the order they run.
QUALITY_STAGES = (SINGLE_VALUE_STAGE, SATURATION_STAGE, BIAS_LEVEL_STAGE, PATTERN_NOISE_STAGE, POINTING_STAGE)


class Verdict(enum.Enum):
    """What a quality test concluded: the frame passes, is only warned about, or is rejected.

    Parameters
    ----------
    value : str
        'pass', 'warn' or 'reject'.
    """

    PASS = "pass"
    WARN = "warn"
    REJECT = "reject"

    @property
    def severity(self) -> int:
        """0 for PASS, 1 for WARN, 2 for REJECT."""
        return _SEVERITY[self]


_SEVERITY = {Verdict.PASS: 0, Verdict.WARN: 1, Verdict.REJECT: 2}


@attrs.frozen
class QualityResult:
    """One quality test's figure and verdict on one frame.

    Attributes
    ----------
    test : str
        'saturation', 'pattern_noise', 'pointing', 'single_value' or 'bias_level'.
    verdict : Verdict
        PASS, WARN or REJECT.
    value : float or None
        The measured figure; None when it could not be measured.
    unit : str
        Unit of ``value`` and ``limit`` ('fraction', 'arcsec', 'adu', 'sigma').
    limit : float or None
        The threshold the verdict was decided with.
    reason : str
        One line, e.g. ``'12.0% of pixels saturated (reject at 5.0%)'``.
    """

    test: str
    verdict: Verdict
    value: float | None
    unit: str
    limit: float | None
    reason: str

    @property
    def stage(self) -> str:
        """The stage name that recorded it: ``STAGE_PREFIX + test``."""
        return STAGE_PREFIX + self.test


def quality_step(
    result: QualityResult, parameters: Mapping[str, ParamValue], extra: Mapping[str, ParamValue] | None = None
) -> ProcessingStep:
    """The history entry of a quality test: its parameters, and its result as diagnostics.

    Parameters
    ----------
    result : QualityResult
        What the test found.
    parameters : mapping
        The settings it ran with.
    extra : mapping, optional
        Further figures (e.g. the pattern's frequency), recorded after the result's.

    Returns
    -------
    ProcessingStep
        Named ``result.stage``; diagnostics ``value``, ``unit``, ``limit``, ``verdict`` (the
        verdict's value) and ``reason``, then ``extra``.
    """
    diagnostics: dict[str, ParamValue] = {
        "value": result.value,
        "unit": result.unit,
        "limit": result.limit,
        "verdict": result.verdict.value,
        "reason": result.reason,
    }
    diagnostics |= dict(extra or {})
    return ProcessingStep(result.stage, parameters, diagnostics)


def _number(value: ParamValue) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def result_of(step: ProcessingStep) -> QualityResult:
    """The `QualityResult` a quality stage's history entry records.

    Parameters
    ----------
    step : ProcessingStep
        An entry whose stage is one of `QUALITY_STAGES`.

    Returns
    -------
    QualityResult
    """
    diagnostics = step.diagnostics
    return QualityResult(
        test=step.stage.removeprefix(STAGE_PREFIX),
        verdict=Verdict(diagnostics["verdict"]),
        value=_number(diagnostics.get("value")),
        unit=str(diagnostics.get("unit", "")),
        limit=_number(diagnostics.get("limit")),
        reason=str(diagnostics.get("reason", "")),
    )


def quality_results(frame: Frame) -> tuple[QualityResult, ...]:
    """Every quality test's latest result on a frame, rebuilt from its history.

    Parameters
    ----------
    frame : Frame
        A frame (raw, prepared or a product) whose history may hold quality steps.

    Returns
    -------
    tuple of QualityResult
        One per test that ran (its latest run), in the order the tests first ran.
    """
    latest: dict[str, QualityResult] = {}
    for step in frame.history:
        if step.stage in QUALITY_STAGES:
            result = result_of(step)
            latest[result.test] = result
    return tuple(latest.values())


def worst_verdict(results: Iterable[QualityResult]) -> Verdict:
    """The most severe verdict of some results (REJECT over WARN over PASS).

    Parameters
    ----------
    results : iterable of QualityResult
        Results of quality tests.

    Returns
    -------
    Verdict
        PASS when there are none.
    """
    return max((r.verdict for r in results), key=lambda v: v.severity, default=Verdict.PASS)


def decide(exceeded: bool, action: str) -> Verdict:
    """PASS, or the test's action (``'warn'`` or ``'reject'``) when its limit was exceeded.

    Parameters
    ----------
    exceeded : bool
        The measured figure is beyond the test's limit.
    action : str
        'warn' or 'reject'.

    Returns
    -------
    Verdict
    """
    return Verdict(action) if exceeded else Verdict.PASS
