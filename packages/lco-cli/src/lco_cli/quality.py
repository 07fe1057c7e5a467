"""A frame's quality verdict and depth as figures, and the night's view of them (summary.json, report).

The verdicts are measured by the pure quality stages (`lco_stages.quality`) and kept in each
frame's history; a worker turns them into figures (`quality_figures`), which travel with the
frame's `~lco_cli.results.FrameResult` into the library, ``summary.json`` and the report. The
night's view (`night_quality`, `depth_series`) is computed from those figures alone, so frames
done by an earlier run count as that run recorded them.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping

import attrs

from lco_cli.results import FrameResult, finite_number, one_line
from lco_core.frame import Frame
from lco_core.provenance import ParamValue
from lco_stages.quality import QualityResult, Verdict, quality_results, worst_verdict

#: The frame's worst verdict over the tests it went through: 'pass', 'warn' or 'reject'.
VERDICT_FIGURE = "quality"
#: The one-line reasons of the tests that did not pass, in the order they ran.
NOTES_FIGURE = "quality_notes"
#: Each test's measured figure is ``quality_<test>`` (e.g. ``quality_saturation``).
TEST_FIGURE_PREFIX = "quality_"
#: The frame's 5-sigma point-source limiting magnitude (`lco_stages.depth`).
DEPTH_FIGURE = "L1DEPTH"
#: A frame without any quality figure (failed before its tests ran, or reduced by an older run).
UNCHECKED = "unchecked"

#: Verdicts from best to worst, as tables list them.
VERDICTS: tuple[str, ...] = tuple(verdict.value for verdict in Verdict)


def quality_figures(frame: Frame) -> dict[str, ParamValue]:
    """The quality figures of a processed frame: its worst verdict, the reasons and each test's figure.

    Parameters
    ----------
    frame : Frame
        A frame that went through some quality stages (none: no figures).

    Returns
    -------
    dict
        ``quality`` (worst verdict), ``quality_notes`` (reasons of the tests that warned or
        rejected, one line each) and ``quality_<test>`` (the measured figure, None when the test
        could not measure) for each test; empty when no test ran.
    """
    results = quality_results(frame)
    if not results:
        return {}
    figures: dict[str, ParamValue] = {
        VERDICT_FIGURE: worst_verdict(results).value,
        NOTES_FIGURE: tuple(
            f"{r.test}: {one_line(r.reason)}" for r in results if r.verdict is not Verdict.PASS
        ),
    }
    figures |= {TEST_FIGURE_PREFIX + r.test: r.value for r in results}
    return figures


def rejections(frame: Frame) -> tuple[QualityResult, ...]:
    """The quality tests that rejected a frame.

    Parameters
    ----------
    frame : Frame
        A processed frame.

    Returns
    -------
    tuple of QualityResult
        In the order they ran; empty when none rejected it.
    """
    return tuple(result for result in quality_results(frame) if result.verdict is Verdict.REJECT)


def verdict_of(frame: FrameResult) -> str:
    """A frame's recorded verdict: 'pass', 'warn', 'reject' or `UNCHECKED`.

    Parameters
    ----------
    frame : FrameResult
        Any outcome, from this run or an earlier one.

    Returns
    -------
    str
    """
    figures = frame.figures if isinstance(frame.figures, Mapping) else {}
    verdict = figures.get(VERDICT_FIGURE)
    return verdict if isinstance(verdict, str) and verdict in VERDICTS else UNCHECKED


def notes_of(frame: FrameResult) -> tuple[str, ...]:
    """The reasons a frame's tests warned or rejected, one line each.

    Parameters
    ----------
    frame : FrameResult
        Any outcome.

    Returns
    -------
    tuple of str
    """
    figures = frame.figures if isinstance(frame.figures, Mapping) else {}
    notes = figures.get(NOTES_FIGURE)
    if isinstance(notes, str):
        return (one_line(notes),)
    if isinstance(notes, tuple | list):
        return tuple(one_line(note) for note in notes)
    return ()


def night_quality(frames: Iterable[FrameResult]) -> dict[str, object]:
    """The night's verdicts: how many frames each verdict, and which frames each test flagged.

    Parameters
    ----------
    frames : iterable of FrameResult
        The night's frames.

    Returns
    -------
    dict
        ``verdicts``: count per verdict (and `UNCHECKED`); ``flagged``: one record per frame
        that warned or was rejected (file, OBSTYPE, verdict, reasons).
    """
    counts = dict.fromkeys((*VERDICTS, UNCHECKED), 0)
    flagged: list[dict[str, object]] = []
    for frame in frames:
        verdict = verdict_of(frame)
        counts[verdict] += 1
        if verdict in (Verdict.WARN.value, Verdict.REJECT.value):
            flagged.append(
                {
                    "file": frame.path,
                    "obstype": frame.obstype,
                    "verdict": verdict,
                    "notes": list(notes_of(frame)),
                }
            )
    return {"verdicts": counts, "flagged": flagged}


@attrs.frozen
class DepthSeries:
    """One camera's depths in one filter over the night.

    Attributes
    ----------
    camera, filter : str
        INSTRUME and FILTER.
    points : tuple of (str, float)
        DATE-OBS (as recorded) and the 5-sigma limiting magnitude of each science frame that
        has one, in the order of the frames.
    """

    camera: str
    filter: str
    points: tuple[tuple[str, float], ...]

    @property
    def median(self) -> float:
        """The median depth, mag."""
        return statistics.median(depth for _, depth in self.points)

    def to_json(self) -> dict[str, object]:
        """The series as ``summary.json`` holds it.

        Returns
        -------
        dict
        """
        return {
            "camera": self.camera, "filter": self.filter, "frames": len(self.points),
            "median": self.median, "depths": [{"date_obs": t, "depth": d} for t, d in self.points],
        }  # fmt: skip


def depth_series(frames: Iterable[FrameResult]) -> tuple[DepthSeries, ...]:
    """The science frames' depths per camera and filter.

    Parameters
    ----------
    frames : iterable of FrameResult
        The night's frames; ok and degraded science frames with a finite depth count.

    Returns
    -------
    tuple of DepthSeries
        Sorted by camera, then filter.
    """
    series: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for frame in frames:
        if frame.status not in ("ok", "degraded"):
            continue
        figures = frame.figures if isinstance(frame.figures, Mapping) else {}
        depth = finite_number(figures.get(DEPTH_FIGURE))
        if depth is None:
            continue
        key = (one_line(frame.camera), one_line(figures.get("FILTER", "")))
        series.setdefault(key, []).append((one_line(figures.get("DATE-OBS", "")), depth))
    return tuple(
        DepthSeries(camera, band, tuple(points)) for (camera, band), points in sorted(series.items())
    )
