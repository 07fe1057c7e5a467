"""Quality verdicts as outcomes: a rejected science frame is degraded, a rejected calibration frame
stays out of its master, and summary.json and the report show every frame's verdict and the depths.

The verdicts here are written into a frame's history as a quality stage records them (the stage
name and diagnostics of `lco_stages.quality`'s contract), so these tests check what the night
makes of a verdict, not how a test measures (tests/test_quality_*.py do that against the
simulator's injected defects).
"""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser
from pathlib import Path

import attrs
import numpy as np
import pytest

from lco_cli.night import NightResult
from lco_cli.quality import (
    DEPTH_FIGURE,
    NOTES_FIGURE,
    UNCHECKED,
    VERDICT_FIGURE,
    depth_series,
    night_quality,
    quality_figures,
    verdict_of,
)
from lco_cli.report.html import write_report
from lco_cli.results import FrameResult, group_shortfalls
from lco_cli.summary import write_summary
from lco_cli.work import figures_of, shortfalls_of
from lco_core.frame import Frame
from lco_core.master import MasterKind
from lco_core.meta import FrameMeta, ObsType
from lco_core.provenance import ProcessingStep
from lco_core.section import Binning
from lco_stages.masters import assess_frame
from lco_stages.quality import STAGE_PREFIX, Verdict, quality_results, worst_verdict

STARTED = dt.datetime(2026, 1, 2, 0, 0, tzinfo=dt.UTC)
FINISHED = dt.datetime(2026, 1, 2, 0, 5, tzinfo=dt.UTC)


def _verdict(frame: Frame, test: str, verdict: str, value: float, reason: str) -> Frame:
    step = ProcessingStep(
        STAGE_PREFIX + test,
        {"limit": 0.05},
        {"value": value, "unit": "fraction", "limit": 0.05, "verdict": verdict, "reason": reason},
    )
    return attrs.evolve(frame, history=(*frame.history, step))


def _frame(obstype: ObsType = ObsType.EXPOSE) -> Frame:
    meta = FrameMeta(
        filename="cpt1m010-fa99-20260101-0042-e00.fits", obstype=obstype, site="cpt", telescope="1m0-10",
        camera="fa99", day_obs=dt.date(2026, 1, 1), date_obs=dt.datetime(2026, 1, 1, 22, tzinfo=dt.UTC),
        exptime=0.0 if obstype is ObsType.BIAS else 30.0, filter=None if obstype is ObsType.BIAS else "rp",
        binning=Binning(1, 1),
    )  # fmt: skip
    data = np.full((32, 32), 100.0, dtype=np.float32)
    return Frame(
        meta=meta, data=data, mask=np.zeros(data.shape, np.uint8), uncertainty=np.full(data.shape, 5.0)
    )


def test_the_history_gives_back_each_tests_latest_verdict() -> None:
    frame = _verdict(_frame(), "saturation", "pass", 0.01, "1.0% of pixels saturated")
    frame = _verdict(frame, "pattern_noise", "warn", 12.0, "a peak of S/N 12 at 0.1 cycles/pixel")
    frame = _verdict(frame, "saturation", "reject", 0.2, "20.0% of pixels saturated (reject at 5%)")
    results = {r.test: r for r in quality_results(frame)}
    assert set(results) == {"saturation", "pattern_noise"}
    assert results["saturation"].verdict is Verdict.REJECT
    assert results["saturation"].value == 0.2
    assert worst_verdict(results.values()) is Verdict.REJECT
    assert worst_verdict(()) is Verdict.PASS
    figures = quality_figures(frame)
    assert figures[VERDICT_FIGURE] == "reject"
    assert figures["quality_saturation"] == 0.2
    assert figures["quality_pattern_noise"] == 12.0
    assert set(figures[NOTES_FIGURE]) == {  # type: ignore[arg-type]
        "pattern_noise: a peak of S/N 12 at 0.1 cycles/pixel",
        "saturation: 20.0% of pixels saturated (reject at 5%)",
    }


def test_a_frame_no_test_ran_on_has_no_quality_figures() -> None:
    assert quality_figures(_frame()) == {}
    assert VERDICT_FIGURE not in figures_of(_frame())


def test_a_rejected_science_frame_is_degraded_with_the_tests_reason() -> None:
    warned = _verdict(
        _frame(), "pointing", "warn", 45.0, "45 arcsec from the header's pointing (warn above 30)"
    )
    assert shortfalls_of(warned) == ()  # a warning only records
    rejected = _verdict(warned, "single_value", "reject", 0.3, "30% of amplifier 2 at 1000 ADU")
    (shortfall,) = shortfalls_of(rejected)
    assert shortfall.step == "quality"
    assert shortfall.reason == "single_value: 30% of amplifier 2 at 1000 ADU"
    assert not shortfall.needs  # nothing a rerun could be given: the frame itself is bad
    result = FrameResult("/raw/x-e00.fits", "degraded", shortfall.reason, "EXPOSE", shortfalls=(shortfall,))
    (group,) = group_shortfalls([result])
    assert group.line() == "1 frame rejected by a quality test: single_value: 30% of amplifier 2 at 1000 ADU"


def test_a_calibration_frame_a_quality_test_rejected_stays_out_of_its_master() -> None:
    bias = _frame(ObsType.BIAS)
    accepted = assess_frame(_verdict(bias, "bias_level", "pass", 820.0, "820 ADU"), MasterKind.BIAS)
    assert accepted.accepted
    rejected = assess_frame(
        _verdict(bias, "bias_level", "reject", 3000.0, "3000 ADU, outside 600-1200 ADU"), MasterKind.BIAS
    )
    assert not rejected.accepted
    assert rejected.reason == "quality test bias_level: 3000 ADU, outside 600-1200 ADU"
    warned = assess_frame(_verdict(bias, "pattern_noise", "warn", 11.0, "a peak"), MasterKind.BIAS)
    assert warned.accepted
    # Each kind's own checks (a flat's signal-to-noise, a dark's temperature) come after.
    flat = assess_frame(
        _verdict(_frame(ObsType.SKYFLAT), "saturation", "reject", 0.3, "30% saturated"), MasterKind.SKYFLAT
    )
    assert not flat.accepted
    assert flat.reason == "quality test saturation: 30% saturated"
    dark = assess_frame(_verdict(_frame(ObsType.DARK), "single_value", "reject", 0.5, "50%"), MasterKind.DARK)
    assert dark.reason == "quality test single_value: 50%"


def _result(name: str, status: str, verdict: str | None, **figures: object) -> FrameResult:
    recorded: dict[str, object] = dict(figures)
    if verdict is not None:
        recorded[VERDICT_FIGURE] = verdict
        recorded[NOTES_FIGURE] = () if verdict == "pass" else (f"saturation: {name} saturated",)
    return FrameResult(f"/raw/{name}", status, "", "EXPOSE", "fa99", figures=recorded)  # type: ignore[arg-type]


def _night() -> NightResult:
    def science(depth: float, band: str, hour: int) -> dict[str, object]:
        return {DEPTH_FIGURE: depth, "FILTER": band, "DATE-OBS": f"2026-01-02T0{hour}:00:00"}

    frames = (
        _result("a-e00.fits", "ok", "pass", **science(20.5, "rp", 1)),
        _result("b-e00.fits", "ok", "warn", **science(20.1, "rp", 2)),
        _result("c-e00.fits", "degraded", "reject", **science(18.0, "ip", 3)),
        _result("d-e00.fits", "failed", None),
        _result("e-e00.fits", "ok", "pass", **{DEPTH_FIGURE: float("nan"), "FILTER": "rp", "DATE-OBS": "x"}),
    )
    return NightResult(frames, (), STARTED, FINISHED, {})


def test_the_nights_verdicts_and_depths_per_camera_and_filter() -> None:
    night = _night()
    quality = night_quality(night.frames)
    assert quality["verdicts"] == {"pass": 2, "warn": 1, "reject": 1, UNCHECKED: 1}
    flagged = quality["flagged"]
    assert isinstance(flagged, list)
    assert [(f["file"], f["verdict"]) for f in flagged] == [
        ("/raw/b-e00.fits", "warn"),
        ("/raw/c-e00.fits", "reject"),
    ]
    assert verdict_of(night.frames[3]) == UNCHECKED
    series = {(s.camera, s.filter): s for s in depth_series(night.frames)}
    assert set(series) == {("fa99", "rp"), ("fa99", "ip")}  # the NaN depth is left out
    assert series[("fa99", "rp")].median == pytest.approx(20.3)
    assert series[("fa99", "ip")].points == (("2026-01-02T03:00:00", 18.0),)


def test_summary_and_report_show_each_frames_verdict_and_the_depth(tmp_path: Path) -> None:
    night = _night()
    document = json.loads(write_summary(night, tmp_path / "summary.json", options={}).read_text())
    assert document["quality"]["verdicts"] == {"pass": 2, "warn": 1, "reject": 1, UNCHECKED: 1}
    depths = {(d["camera"], d["filter"]): d for d in document["depth"]}
    assert depths[("fa99", "rp")]["median"] == pytest.approx(20.3)
    assert depths[("fa99", "rp")]["frames"] == 2

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[list[str]] = []
            self.images: list[str] = []
            self._in_cell = False

        def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
            if tag == "tr":
                self.rows.append([])
            self._in_cell = tag in ("td", "th")
            if self._in_cell and self.rows:
                self.rows[-1].append("")
            if tag == "img":
                self.images.append(dict(attributes).get("alt") or "")

        def handle_data(self, data: str) -> None:
            if self._in_cell and self.rows and self.rows[-1]:
                self.rows[-1][-1] += data

    page = Cells()
    page.feed(write_report(night, tmp_path / "report.html", thumbnails_dir=tmp_path).read_text())
    header = next(row for row in page.rows if "QC" in row)
    column = header.index("QC")
    verdicts = {row[0]: row[column] for row in page.rows if row and row[0].endswith("-e00.fits")}
    assert verdicts == {
        "a-e00.fits": "pass", "b-e00.fits": "warn", "c-e00.fits": "reject",
        "d-e00.fits": UNCHECKED, "e-e00.fits": "pass",
    }  # fmt: skip
    assert "depth per camera and filter over the night" in page.images
