"""summary.json and report.html are always written, whatever the night's results hold (issue 11)."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from lco_cli.night import MasterRecord, NightResult
from lco_cli.report import html as report_html
from lco_cli.report.html import write_report
from lco_cli.report.thumbnails import render_png
from lco_cli.results import FrameResult, one_line
from lco_cli.summary import write_summary
from lco_core.provenance import ParamValue

STARTED = dt.datetime(2026, 1, 2, 3, 0, tzinfo=dt.UTC)
FINISHED = dt.datetime(2026, 1, 2, 3, 20, tzinfo=dt.UTC)
HOSTILE = "first line\nsecond line\r\nthird\x00\x1b[31m [/] <script>alert('x')</script>\u2028end"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _figures(**values: object) -> dict[str, ParamValue]:
    # Workers promise ParamValue figures; these tests hand over what a careless stage might.
    return cast(dict[str, ParamValue], values)


def _science(name: str, date_obs: object, **figures: object) -> FrameResult:
    good: dict[str, object] = {"L1FWHM": 2.1, "L1ZP": 23.4, "L1MEDIAN": 310.0, "WCSRMS": 0.2}
    return FrameResult(
        f"/raw/{name}.fits.fz",
        "ok",
        obstype="EXPOSE",
        camera="fa99",
        figures=_figures(**(good | {"DATE-OBS": date_obs} | figures)),
    )


def _night(*frames: FrameResult, masters: tuple[MasterRecord, ...] = ()) -> NightResult:
    return NightResult(tuple(frames), masters, STARTED, FINISHED, {"inspect": 0.5})


class _Page(HTMLParser):
    """The parts of report.html the tests read: tags, cards' titles and the notes' text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.titles: list[str] = []
        self.notes: list[str] = []
        self.reasons: list[str] = []
        self._into: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        classes = (dict(attrs).get("class") or "").split()
        self._into = (
            self.notes
            if "note" in classes
            else self.reasons
            if "reason" in classes
            else self.titles
            if tag == "b"
            else self._into
        )
        if self._into is not None and tag in ("p", "b", "li"):
            self._into.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("p", "b", "ul", "li"):
            self._into = None

    def handle_data(self, data: str) -> None:
        if self._into is not None and self._into:
            self._into[-1] += data


def _report(result: NightResult, out: Path) -> _Page:
    write_report(result, out / "report.html", thumbnails_dir=out / "thumbnails")
    page = _Page()
    page.feed((out / "report.html").read_text(encoding="utf-8"))
    page.close()
    return page


def _summary(result: NightResult, out: Path) -> dict[str, object]:
    write_summary(result, out / "summary.json", options={"out": str(out)})

    def refuse(constant: str) -> object:
        raise AssertionError(f"summary.json holds {constant}, which is not JSON")

    document = json.loads((out / "summary.json").read_text(encoding="utf-8"), parse_constant=refuse)
    assert isinstance(document, dict)
    return document


def _records(document: dict[str, object]) -> dict[str, dict[str, object]]:
    frames = document["frames"]
    assert isinstance(frames, list)
    return {Path(str(record["file"])).name: record for record in frames}


def _night_images(page: _Page) -> int:
    # The frame cards here have no thumbnails and there are no masters: every image is a plot.
    return page.tags.count("img")


@pytest.mark.parametrize("placeholder", ["0001-01-01T00:00:00", "9999-12-31T23:59:59"])
def test_a_placeholder_date_leaves_the_plots_not_the_report(placeholder: str, tmp_path: Path) -> None:
    frames = (
        _science("good-1", "2026-01-02T01:00:00"),
        _science("placeholder", placeholder),
        _science("good-2", "2026-01-02T02:30:00.123"),
    )
    page = _report(_night(*frames), tmp_path)
    assert page.titles == ["good-1.fits.fz", "placeholder.fits.fz", "good-2.fits.fz"]
    assert _night_images(page) == 4  # the two good frames are still plotted, in every panel
    assert any("1 science frame left out of the plots" in note for note in page.notes), page.notes
    assert any(placeholder in note for note in page.notes)
    assert _summary(_night(*frames), tmp_path)["counts"] == {
        "ok": 3, "degraded": 0, "failed": 0, "skipped": 0, "reused": 0,
    }  # fmt: skip


def test_no_plottable_date_leaves_a_note_in_place_of_the_plots(tmp_path: Path) -> None:
    frames = (
        _science("first", "0001-01-01T00:00:00"),
        _science("epoch", "1970-01-01T00:00:00"),
        _science("words", "last night"),
        _science("number", 61042.5),
        _science("none", None),
    )
    page = _report(_night(*frames), tmp_path)
    assert _night_images(page) == 0
    assert any("5 science frames left out of the plots" in note for note in page.notes), page.notes
    assert len(page.titles) == 5


def test_dates_far_apart_and_odd_values_are_plotted_or_noted(tmp_path: Path) -> None:
    frames = (
        _science("early", "2004-06-01T00:00:00Z", L1FWHM="fast", L1MEDIAN=float("nan")),
        _science("late", dt.datetime(2190, 1, 1, 12), L1FWHM=np.float32(2.5), WCSRMS=None),
        _science("aware", "2026-01-02T01:00:00+02:00", L1FWHM=float("inf"), L1MEDIAN=True),
        _science("huge-1", "2026-01-02T02:00:00", L1ZP=1e308),
        _science("huge-2", "2026-01-02T03:00:00", L1ZP=-1e308),
        FrameResult("/raw/broken.fits.fz", "ok", obstype="EXPOSE", figures=cast(dict[str, ParamValue], None)),
    )
    page = _report(_night(*frames), tmp_path)
    assert len(page.titles) == 5
    assert any(note.startswith("broken.fits.fz: row not drawn") for note in page.notes), page.notes
    # A zero point spanning the whole float range cannot be drawn: that panel alone is left out.
    assert _night_images(page) == 3
    assert any(note.startswith("zero point (mag): not drawn") for note in page.notes), page.notes
    assert all("\n" not in note for note in page.notes)


def test_reasons_are_one_line_and_escaped(tmp_path: Path) -> None:
    failed = FrameResult("/raw/<img src=x onerror=alert(1)>.fits.fz", "failed", HOSTILE, "EXPOSE", "fa99")
    ok = _science("ok", "2026-01-02T01:00:00", WCS_reason=HOSTILE)
    master = MasterRecord(
        "/out/masters/bias.fits", "bias", "fa99", ("a", "b"), (("c.fits.fz", HOSTILE),), {"median": 1.0}
    )
    result = _night(failed, ok, masters=(master,))
    page = _report(result, tmp_path)
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "script" not in page.tags
    assert "&lt;script&gt;" in text
    assert page.tags.count("img") == 4  # the night plots: the tag in the file name is text
    assert page.titles[-2:] == ["<img src=x onerror=alert(1)>.fits.fz", "ok.fits.fz"]
    assert page.reasons, "the failed frame's and the master's reasons are shown"
    for reason in page.reasons:
        assert not CONTROL.search(reason), repr(reason)
        assert "<script>alert('x')</script>" in reason  # escaped in the file, the text once parsed
    document = _summary(result, tmp_path)
    records = _records(document)
    shown = [records["<img src=x onerror=alert(1)>.fits.fz"]["reason"]]
    figures = records["ok.fits.fz"]["figures"]
    assert isinstance(figures, dict)
    shown.append(figures["WCS_reason"])
    masters = document["masters"]
    assert isinstance(masters, list)
    shown += [rejected["reason"] for rejected in masters[0]["rejected"]]
    assert shown == [one_line(HOSTILE)] * 3
    assert one_line(HOSTILE) == "first line second line third  [/] <script>alert('x')</script> end"


def test_figures_that_json_does_not_know_are_converted(tmp_path: Path) -> None:
    frame = _science(
        "numpy",
        "2026-01-02T01:00:00",
        L1FWHM=np.float32(2.5),
        n_sources=np.int64(12),
        saturated=np.bool_(True),
        overscan=(np.float64(1.5), np.float32(float("nan")), float("inf")),
        raw_bytes=b"ab\xffc",
        when=dt.datetime(2026, 1, 2, 1, 0, tzinfo=dt.UTC),
        day=dt.date(2026, 1, 2),
        array=np.array([[1.0, np.nan]]),
        where=Path("/raw/x.fits"),
        nested={"a": {1, 2}, 3: complex(1, 2)},
    )
    figures = _records(_summary(_night(frame), tmp_path))["numpy.fits.fz"]["figures"]
    assert figures == {
        "L1FWHM": 2.5,
        "L1ZP": 23.4,
        "L1MEDIAN": 310.0,
        "WCSRMS": 0.2,
        "DATE-OBS": "2026-01-02T01:00:00",
        "n_sources": 12,
        "saturated": True,
        "overscan": [1.5, None, None],
        "raw_bytes": "ab\ufffdc",
        "when": "2026-01-02T01:00:00+00:00",
        "day": "2026-01-02",
        "array": [[1.0, None]],
        "where": "/raw/x.fits",
        "nested": {"a": [1, 2], "3": "(1+2j)"},
    }
    page = _report(_night(frame), tmp_path)
    assert page.titles == ["numpy.fits.fz"]
    assert not page.notes, page.notes


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")

    __repr__ = __str__


def test_a_broken_row_or_a_missing_thumbnail_stays_in_its_row(tmp_path: Path) -> None:
    png = render_png(np.arange(64.0 * 64).reshape(64, 64), tmp_path / "good.png")
    good = FrameResult("/raw/good.fits.fz", "ok", obstype="BIAS", thumbnail=str(png))
    missing = FrameResult("/raw/missing.fits.fz", "ok", obstype="BIAS", thumbnail=str(tmp_path / "no.png"))
    folder = FrameResult("/raw/folder.fits.fz", "ok", obstype="BIAS", thumbnail=str(tmp_path))
    odd = FrameResult("/raw/odd.fits.fz", "ok", obstype="BIAS", figures=_figures(odd=_Unprintable()))
    broken = FrameResult(
        "/raw/broken.fits.fz", "ok", obstype="BIAS", figures=cast(dict[str, ParamValue], None)
    )
    result = _night(good, missing, folder, odd, broken)
    page = _report(result, tmp_path)
    # The broken row is a note in a card of its own; its title goes with the rest of the card.
    assert page.titles == ["good.fits.fz", "missing.fits.fz", "folder.fits.fz", "odd.fits.fz"]
    assert "&lt;unprintable _Unprintable&gt;" in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.tags.count("img") == 1
    assert any(note.startswith("thumbnail no.png: not found") for note in page.notes), page.notes
    assert any("thumbnail" in note and "cannot be read" in note for note in page.notes), page.notes
    assert any("broken.fits.fz: row not drawn" in note for note in page.notes), page.notes
    records = _records(_summary(result, tmp_path))
    assert set(records) == {
        "good.fits.fz",
        "missing.fits.fz",
        "folder.fits.fz",
        "odd.fits.fz",
        "broken.fits.fz",
    }
    assert records["odd.fits.fz"]["figures"] == {"odd": "<unprintable _Unprintable>"}
    assert str(records["broken.fits.fz"]["note"]).startswith("broken.fits.fz: record incomplete (")
    assert records["broken.fits.fz"]["status"] == "ok"


def test_a_failing_section_leaves_a_note_and_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(frames: list[FrameResult]) -> str:
        raise RuntimeError("plotting broke\nbadly")

    monkeypatch.setattr(report_html, "_night_plots", explode)
    # Records that break their types: a master without inputs, a run without a start time.
    master = MasterRecord("/out/m.fits", "bias", "fa99", cast(tuple[str, ...], None), (), {})
    frame = _science("ok", "2026-01-02T01:00:00")
    result = NightResult((frame,), (master,), cast(dt.datetime, None), FINISHED, {"inspect": "slow"})  # type: ignore[dict-item]
    page = _report(result, tmp_path)
    assert page.titles == ["ok.fits.fz"]
    assert any(note == "The night: not drawn (RuntimeError: plotting broke badly)" for note in page.notes)
    assert any(note.startswith("m.fits: card not drawn (TypeError") for note in page.notes), page.notes
    document = _summary(result, tmp_path)
    assert document["started"] is None
    assert document["phases_seconds"] is None
    assert document["finished"] == FINISHED.isoformat()
    assert set(_records(document)) == {"ok.fits.fz"}
    notes = document["notes"]
    assert isinstance(notes, list)
    assert any(str(note).startswith("started:") for note in notes)
    assert any(str(note).startswith("phases_seconds:") for note in notes)
    assert all(not CONTROL.search(str(note)) for note in notes)


@pytest.mark.parametrize(
    "image",
    [
        np.full((40, 30), np.nan),
        np.ones((40, 30)),
        np.where(np.eye(64) > 0, np.inf, 1.0),
        np.ones((1, 1)),
        np.arange(700.0).reshape(1, 700),
    ],
    ids=["nan", "flat", "inf", "one-pixel", "one-row"],
)
def test_thumbnails_of_odd_images_are_drawn(image: np.ndarray, tmp_path: Path) -> None:
    png = render_png(image, tmp_path / "t.png")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_an_empty_image_has_no_thumbnail_and_says_why(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no pixels"):
        render_png(np.ones((0, 5)), tmp_path / "t.png")
    assert not (tmp_path / "t.png").exists()


def test_one_line_keeps_ordinary_text() -> None:
    assert one_line("plain: 2.5 arcsec, [rp] é") == "plain: 2.5 arcsec, [rp] é"
    assert one_line("\n\ttrailing\r\n") == "trailing"
    assert one_line("") == ""
