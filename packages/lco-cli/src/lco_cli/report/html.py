"""report.html: a self-contained night report (images embedded), readable offline in any browser.

The report describes the night a run was given, each frame with its latest outcome (frames done
by earlier runs as those runs recorded them) and degraded frames grouped by what they lack. It is
written whatever the night's results hold: a plot, card or section that cannot be drawn is left
out and a one-line note says why in its place.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import html
import io
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import attrs
import numpy as np
import numpy.typing as npt
from matplotlib.dates import date2num
from matplotlib.figure import Figure

from lco_cli.night import MasterRecord, NightResult
from lco_cli.quality import UNCHECKED, VERDICTS, DepthSeries, depth_series, notes_of, verdict_of
from lco_cli.report.gain import photon_transfer_section
from lco_cli.report.thumbnails import render_png
from lco_cli.results import (
    CAMERA_FIGURES,
    STATUSES,
    FrameResult,
    camera_figures,
    finite_number,
    group_shortfalls,
    one_line,
)
from lco_core.atomic import atomic_output
from lco_core.io import read_master

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: left; }
.ok { color: #1a7f37; } .degraded { color: #bc4c00; } .failed { color: #cf222e; } .skipped { color: #9a6700; }
.cards, .plots { display: flex; flex-wrap: wrap; gap: 1em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.5em; width: 330px; font-size: 0.85em; }
.card img { width: 320px; } .reason { color: #cf222e; } .note { color: #9a6700; font-style: italic; }
.pass { color: #1a7f37; } .warn { color: #bc4c00; } .reject { color: #cf222e; font-weight: bold; }
.unchecked { color: #6e7781; }
"""

PLOTTED = (
    ("L1FWHM", "FWHM (arcsec)"),
    ("L1ZP", "zero point (mag)"),
    ("L1MEDIAN", "background (e-)"),
    ("WCSRMS", "astrometric rms (arcsec)"),
)

#: DATE-OBS outside these (UTC) is a placeholder (0001-01-01, 9999-12-31, the 1970 epoch), not an
#: observation: LCO's oldest data are from 2004. Such frames stay out of the plots, whose date axis
#: cannot even draw the first and last years matplotlib knows.
PLAUSIBLE_DATES = (dt.datetime(2000, 1, 1), dt.datetime(2200, 1, 1))

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

T = TypeVar("T")


def _why(error: BaseException) -> str:
    return f"{type(error).__name__}: {one_line(error)}"


def _note(text: str) -> str:
    return f"<p class='note'>{html.escape(one_line(text))}</p>"


def _guarded(failed: str, build: Callable[[], str], *, card: bool = False) -> str:
    """``build()``, or the note ``failed`` with why (in a card when it stands for one)."""
    try:
        return build()
    except Exception as error:  # the report is the night's record: one odd part must not lose the rest
        note = _note(f"{failed} ({_why(error)})")
        return f"<div class='card'>{note}</div>" if card else note


def _name(path: object) -> str:
    return one_line(Path(one_line(path)).name)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _image(path: str | None, alt: str) -> str:
    """The PNG at ``path`` embedded as an ``<img>``, a note when it cannot be, nothing for no path."""
    if path is None:
        return ""
    name = _name(path)
    try:
        png = Path(path).read_bytes()
    except FileNotFoundError:
        return _note(f"thumbnail {name}: not found")
    except OSError as error:
        return _note(f"thumbnail {name}: cannot be read ({_why(error)})")
    if not png.startswith(_PNG_SIGNATURE):
        return _note(f"thumbnail {name}: not a PNG file")
    return f"<img alt='{html.escape(alt)}' src='{_data_uri(png)}'>"


def _utc(value: object) -> dt.datetime | None:
    """DATE-OBS as a naive UTC datetime (the plots' axis), or None when it is not a date."""
    try:
        when = dt.datetime.fromisoformat(value.strip()) if isinstance(value, str) else value
        if isinstance(when, dt.datetime):
            return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when
        if isinstance(when, dt.date):
            return dt.datetime(when.year, when.month, when.day)
    except (ValueError, OverflowError):  # not ISO 8601, or an offset that leaves years 1 to 9999
        return None
    return None


def _days(times: Sequence[dt.datetime]) -> npt.NDArray[np.float64]:
    """Matplotlib's date numbers (days since its epoch) of naive UTC ``times``."""
    days = date2num(list(times))  # type: ignore[no-untyped-call]  # matplotlib.dates has no stubs
    return np.asarray(days, dtype=np.float64)


def _panel(
    points: Sequence[tuple[dt.datetime, float]], label: str, limits: tuple[dt.datetime, dt.datetime]
) -> str:
    # A Figure of its own, not pyplot's: no global state to leak when drawing fails half-way.
    figure = Figure(figsize=(5, 3))
    axis = figure.subplots()
    buffer = io.BytesIO()
    with np.errstate(all="ignore"):  # a failure is reported as the panel's note, not as warnings
        axis.plot(_days([t for t, _ in points]), [v for _, v in points], "o", markersize=4)
        axis.xaxis_date()
        axis.set_xlim(*_days(limits))  # every panel on one time axis: the night's plots are read together
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        figure.autofmt_xdate()
        figure.tight_layout()
        figure.savefig(buffer, format="png", dpi=90)
    return f"<img alt='{html.escape(label)} over the night' src='{_data_uri(buffer.getvalue())}'>"


def _has_date(frame: FrameResult) -> bool:
    # A frame whose figures are not a mapping loses its own row, not every frame's plots.
    return isinstance(frame.figures, Mapping) and "DATE-OBS" in frame.figures


def _night_plots(frames: list[FrameResult]) -> str:
    """The science frames' figures against time, one image per figure ('' without science frames)."""
    science = [f for f in frames if f.status in ("ok", "degraded") and _has_date(f)]
    if not science:
        return ""
    earliest, latest = PLAUSIBLE_DATES
    dated: list[tuple[dt.datetime, FrameResult]] = []
    undated: list[FrameResult] = []
    for frame in science:
        when = _utc(frame.figures["DATE-OBS"])
        if when is not None and earliest <= when < latest:
            dated.append((when, frame))
        else:
            undated.append(frame)
    parts = ["<h2>The night</h2><div class='plots'>"]
    if undated:
        example = undated[0]
        parts.append(
            _note(
                f"{len(undated)} science frame{'s' if len(undated) > 1 else ''} left out of the plots: "
                f"DATE-OBS is not a date from {earliest.year} to {latest.year - 1} "
                f"(e.g. {_name(example.path)}: {one_line(example.figures['DATE-OBS'])[:60]})"
            )
        )
    if dated:
        times = [t for t, _ in dated]
        # Padded so lone frames are not drawn on the edge; 10 minutes when they share one time.
        pad = max((max(times) - min(times)) * 0.03, dt.timedelta(minutes=10))
        limits = (min(times) - pad, max(times) + pad)
        for key, label in PLOTTED:
            measured = [(t, finite_number(f.figures.get(key))) for t, f in dated]
            points = [(t, v) for t, v in measured if v is not None]
            if not points:
                parts.append(_note(f"{label}: no frame has a value"))
                continue
            parts.append(_guarded(f"{label}: not drawn", functools.partial(_panel, points, label, limits)))
    parts.append("</div>")
    return "".join(parts)


def _format(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    if isinstance(value, tuple | list):
        return ", ".join(
            f"{float(v):.2f}" if isinstance(v, float | np.floating) else one_line(v) for v in value
        )
    if isinstance(value, bytes):
        return one_line(value.decode("utf-8", errors="replace"))
    return one_line(value)


def _figures_table(figures: dict[str, object]) -> str:
    rows = [
        f"<tr><td>{html.escape(one_line(key))}</td><td>{html.escape(_format(value))}</td></tr>"
        for key, value in figures.items()
        if key != "DATE-OBS"
    ]
    return "<table>" + "".join(rows) + "</table>"


def _master_card(master: MasterRecord, *, thumbnails_dir: Path) -> str:
    try:
        thumbnail = render_png(
            read_master(master.path).frame.data, thumbnails_dir / (Path(master.path).stem + ".png")
        )
        image = _image(str(thumbnail), f"{master.kind} master")
    except Exception as error:  # a master that cannot be pictured still has its card
        image = _note(f"thumbnail: not drawn ({_why(error)})")
    rejected = "".join(
        f"<li>{html.escape(one_line(name))}: {html.escape(one_line(reason))}</li>"
        for name, reason in master.rejected
    )
    made = (
        f"<br>built by an earlier run (registered {html.escape(one_line(master.created))})"
        if master.reused
        else ""
    )
    return (
        f"<div class='card'><b>{html.escape(_name(master.path))}</b><br>"
        f"{html.escape(one_line(master.kind))}, {len(master.inputs)} frames"
        + made
        + (_note(master.note) if master.note else "")
        + image
        + _figures_table(dict(master.figures))
        + (f"<ul class='reason'>{rejected}</ul>" if rejected else "")
        + "</div>"
    )


def _frame_card(frame: FrameResult) -> str:
    status = html.escape(one_line(frame.status))
    verdict = verdict_of(frame)
    return (
        f"<div class='card'><b>{html.escape(_name(frame.path))}</b> "
        f"<span class='{status}'>{status}</span> {html.escape(one_line(frame.obstype))} "
        f"QC <span class='{verdict}'>{verdict}</span>"
        + (f"<br>done by the run of {html.escape(one_line(frame.run))}" if frame.reused else "")
        + _image(frame.thumbnail, "thumbnail with detected sources")
        + (f"<p class='reason'>{html.escape(one_line(frame.reason))}</p>" if frame.reason else "")
        + _figures_table(dict(frame.figures))
        + "</div>"
    )


def _coadds(result: NightResult) -> str:
    """The night's coadds, one card each with its inputs and their weights ('' without any)."""
    if not result.coadds:
        return ""
    return _cards("Coadds", "card", result.coadds, _coadd_card)


def _coadd_card(coadd: FrameResult) -> str:
    figures = dict(coadd.figures)
    inputs, weights = figures.pop("inputs", ()), figures.pop("weights", ())
    figures.pop("scales", None)
    names = list(inputs) if isinstance(inputs, tuple | list) else []
    shares = list(weights) if isinstance(weights, tuple | list) and len(weights) == len(names) else []
    items = "".join(
        f"<li>{html.escape(_name(name))}" + (f" (weight {_format(shares[n])})" if shares else "") + "</li>"
        for n, name in enumerate(names)
    )
    return (
        _frame_card(attrs.evolve(coadd, figures=figures)).removesuffix("</div>") + f"<ul>{items}</ul></div>"
    )


def _header(result: NightResult, frames: list[FrameResult]) -> str:
    counts = Counter(f.status for f in frames)
    reused = sum(1 for f in frames if f.reused)
    earlier = f"; {reused} of them done by earlier runs, as those runs recorded them" if reused else ""
    return (
        f"<p>{len(frames)} files, run {result.started:%Y-%m-%d %H:%M} to {result.finished:%H:%M} UTC: "
        + ", ".join(f"<span class='{status}'>{counts.get(status, 0)} {status}</span>" for status in STATUSES)
        + f"{earlier}</p>"
    )


def _degraded(frames: list[FrameResult]) -> str:
    """The degraded frames grouped by what they lack ('' when none is degraded)."""
    groups = group_shortfalls(frames)
    if not groups:
        return ""
    items = "".join(f"<li class='degraded'>{html.escape(group.line())}</li>" for group in groups)
    return f"<h2>Degraded frames</h2><ul>{items}</ul>"


def _cameras(frames: list[FrameResult]) -> str:
    """Each camera's median FWHM, zero point and WCS rms over its science frames ('' without any)."""
    cameras = camera_figures(frames)
    if not cameras:
        return ""
    head = "".join(f"<th>{html.escape(label)} ({unit})</th>" for _, label, unit in CAMERA_FIGURES)
    rows = "".join(
        f"<tr><td>{html.escape(one_line(c.camera))}</td><td>{c.frames}</td>"
        + "".join(
            f"<td>{'' if c.medians[key] is None else _format(c.medians[key])}</td>"
            for key, _, _ in CAMERA_FIGURES
        )
        + "</tr>"
        for c in cameras
    )
    return (
        "<h2>Cameras</h2><table><tr><th>camera</th><th>science frames</th>"
        + head
        + "</tr>"
        + rows
        + "</table><p>medians over each camera's ok and degraded science frames</p>"
    )


def _quality(frames: list[FrameResult]) -> str:
    """Every frame's quality verdict (the QC column) and the reasons of the tests that did not pass."""
    if not frames:
        return ""
    counts = Counter(verdict_of(frame) for frame in frames)
    totals = ", ".join(
        f"<span class='{v}'>{counts[v]} {v}</span>" for v in (*VERDICTS, UNCHECKED) if counts.get(v)
    )
    rows = "".join(
        f"<tr><td>{html.escape(_name(frame.path))}</td><td>{html.escape(one_line(frame.obstype))}</td>"
        f"<td class='{html.escape(one_line(frame.status))}'>{html.escape(one_line(frame.status))}</td>"
        f"<td class='{verdict_of(frame)}'>{verdict_of(frame)}</td>"
        f"<td>{html.escape('; '.join(notes_of(frame)))}</td></tr>"
        for frame in frames
    )
    return (
        f"<h2>Quality</h2><p>{totals}</p><table><tr><th>file</th><th>OBSTYPE</th><th>outcome</th>"
        f"<th>QC</th><th>why</th></tr>{rows}</table>"
        "<p>QC: the worst verdict of the frame's quality tests (saturation, pattern noise, pointing, "
        "single-value readout, bias level); a rejected calibration frame is left out of its master, a "
        "rejected science frame is degraded; unchecked: no test ran (the frame failed first)</p>"
    )


def _depth_panel(series: Sequence[DepthSeries], limits: tuple[dt.datetime, dt.datetime]) -> str:
    figure = Figure(figsize=(6, 3.4))
    axis = figure.subplots()
    buffer = io.BytesIO()
    with np.errstate(all="ignore"):
        for one in series:
            dated = [(when, depth) for when, depth in ((_utc(t), d) for t, d in one.points) if when]
            axis.plot(
                _days([t for t, _ in dated]), [d for _, d in dated], "o-", markersize=4,
                label=f"{one.camera} {one.filter}",
            )  # fmt: skip
        axis.xaxis_date()
        axis.set_xlim(*_days(limits))
        axis.invert_yaxis()  # deeper is fainter: up, as astronomers draw magnitudes
        axis.set_ylabel("5-sigma depth (mag)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
        figure.autofmt_xdate()
        figure.tight_layout()
        figure.savefig(buffer, format="png", dpi=90)
    return f"<img alt='depth per camera and filter over the night' src='{_data_uri(buffer.getvalue())}'>"


def _depth(frames: list[FrameResult]) -> str:
    """The science frames' depths over the night, one line per camera and filter, and their medians."""
    series = depth_series(frames)
    if not series:
        return ""
    earliest, latest = PLAUSIBLE_DATES
    times = [
        when
        for one in series
        for when in (_utc(t) for t, _ in one.points)
        if when is not None and earliest <= when < latest
    ]
    rows = "".join(
        f"<tr><td>{html.escape(one.camera)}</td><td>{html.escape(one.filter)}</td>"
        f"<td>{len(one.points)}</td><td>{one.median:.2f}</td></tr>"
        for one in series
    )
    table = (
        "<table><tr><th>camera</th><th>filter</th><th>frames</th><th>median depth (mag)</th></tr>"
        + rows
        + "</table>"
    )
    plot = ""
    if times:
        pad = max((max(times) - min(times)) * 0.03, dt.timedelta(minutes=10))
        limits = (min(times) - pad, max(times) + pad)
        plotted = [
            attrs.evolve(one, points=tuple((t, d) for t, d in one.points if _plausible(t))) for one in series
        ]
        plot = _guarded("depth: not drawn", functools.partial(_depth_panel, plotted, limits))
    return (
        "<h2>Depth</h2><div class='plots'>"
        + plot
        + "</div>"
        + table
        + "<p>depth: the 5-sigma point-source limiting magnitude of each science frame</p>"
    )


def _plausible(date_obs: str) -> bool:
    when = _utc(date_obs)
    return when is not None and PLAUSIBLE_DATES[0] <= when < PLAUSIBLE_DATES[1]


def _cards(title: str, each: str, records: Iterable[T], card: Callable[[T], str]) -> str:
    """A section of cards, one per record; a record whose card cannot be drawn gets a note instead."""
    cards = [
        _guarded(
            f"{_name(getattr(record, 'path', '?'))}: {each} not drawn",
            functools.partial(card, record),
            card=True,
        )
        for record in records
    ]
    return f"<h2>{title}</h2><div class='cards'>" + "".join(cards) + "</div>"


def write_report(result: NightResult, target: Path, *, thumbnails_dir: Path) -> Path:
    """Write the night report to ``target`` atomically and return its path; it never fails on ``result``.

    Parameters
    ----------
    result : NightResult
        The run.
    target : pathlib.Path
        The HTML file.
    thumbnails_dir : pathlib.Path
        Where the thumbnails are.

    Returns
    -------
    pathlib.Path

    Notes
    -----
    A part that cannot be drawn (a plot, a card, a section) is replaced by a one-line note saying
    why. Science frames whose DATE-OBS is missing, not ISO 8601 or outside `PLAUSIBLE_DATES` are
    left out of the plots, and a note says how many. Only writing the file itself can raise.
    """
    try:
        frames = list(result.frames)
        problem = ""
    except Exception as error:  # without its frames the report still shows the masters
        frames, problem = [], _note(f"Frames: not listed ({_why(error)})")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>lco-reduce night report</title>",
        f"<style>{STYLE}</style></head><body><h1>lco-reduce night report</h1>",
        _guarded("The run's totals: not drawn", lambda: _header(result, frames)),
        problem,
        _guarded("Degraded frames: not listed", lambda: _degraded(frames)),
        _guarded("Cameras: not drawn", lambda: _cameras(frames)),
        _guarded("Gain and read noise: not drawn", lambda: photon_transfer_section(result)),
        _guarded("The night: not drawn", lambda: _night_plots(frames)),
        _guarded("Depth: not drawn", lambda: _depth(frames)),
        _guarded("Quality: not listed", lambda: _quality(frames)),
        _guarded(
            "Masters: not drawn",
            lambda: _cards(
                "Masters",
                "card",
                result.masters,
                functools.partial(_master_card, thumbnails_dir=thumbnails_dir),
            ),
        ),
        _guarded("Coadds: not drawn", lambda: _coadds(result)),
        _guarded("Frames: not drawn", lambda: _cards("Frames", "row", frames, _frame_card)),
        "</body></html>",
    ]
    with atomic_output(target) as temporary:
        temporary.write_text("".join(parts), encoding="utf-8")
    return target
