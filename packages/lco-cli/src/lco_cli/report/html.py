"""report.html: a self-contained night report (images embedded), readable offline in any browser."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from lco_cli.night import NightResult
from lco_cli.report.thumbnails import render_png
from lco_cli.results import FrameResult
from lco_core.atomic import atomic_output
from lco_core.io import read_master

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align: left; }
.ok { color: #1a7f37; } .failed { color: #cf222e; } .skipped { color: #9a6700; }
.cards { display: flex; flex-wrap: wrap; gap: 1em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.5em; width: 330px; font-size: 0.85em; }
.card img { width: 320px; } .reason { color: #cf222e; }
"""

PLOTTED = (
    ("L1FWHM", "FWHM (arcsec)"),
    ("L1ZP", "zero point (mag)"),
    ("L1MEDIAN", "background (e-)"),
    ("WCSRMS", "astrometric rms (arcsec)"),
)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _file_uri(path: str | None) -> str | None:
    if path is None or not Path(path).exists():
        return None
    return _data_uri(Path(path).read_bytes())


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _night_plots(frames: list[FrameResult]) -> str | None:
    science = [f for f in frames if f.status == "ok" and "DATE-OBS" in f.figures]
    if not science:
        return None
    times = [dt.datetime.fromisoformat(str(f.figures["DATE-OBS"])) for f in science]
    figure, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
    for axis, (key, label) in zip(axes.ravel(), PLOTTED, strict=True):
        points = [(t, _number(f.figures.get(key))) for t, f in zip(times, science, strict=True)]
        kept = [(t, v) for t, v in points if v is not None and v == v]
        if kept:
            axis.plot([t for t, _ in kept], [v for _, v in kept], "o", markersize=4)
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return _data_uri(buffer.getvalue())


def _figures_table(figures: dict[str, object]) -> str:
    rows = []
    for key, value in figures.items():
        if key in ("DATE-OBS",):
            continue
        text = (
            f"{value:.4g}"
            if isinstance(value, float)
            else ", ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in value)
            if isinstance(value, tuple)
            else str(value)
        )
        rows.append(f"<tr><td>{html.escape(key)}</td><td>{html.escape(text)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def write_report(result: NightResult, target: Path, *, thumbnails_dir: Path) -> Path:
    """Write the night report to ``target`` atomically and return its path.

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
    """
    frames = list(result.frames)
    counts = Counter(f.status for f in frames)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>lco-reduce night report</title>",
        f"<style>{STYLE}</style></head><body><h1>lco-reduce night report</h1>",
        f"<p>{len(frames)} files, reduced {result.started:%Y-%m-%d %H:%M} to {result.finished:%H:%M} UTC: ",
        ", ".join(
            f"<span class='{status}'>{counts.get(status, 0)} {status}</span>"
            for status in ("ok", "failed", "skipped")
        ),
        "</p>",
    ]
    plots = _night_plots(frames)
    if plots:
        parts.append(f"<h2>The night</h2><img alt='figures over the night' src='{plots}'>")
    parts.append("<h2>Masters</h2><div class='cards'>")
    for master in result.masters:
        image = None
        try:
            thumbnail = render_png(
                read_master(master.path).frame.data, thumbnails_dir / (Path(master.path).stem + ".png")
            )
            image = _file_uri(str(thumbnail))
        except (OSError, ValueError):
            image = None
        rejected = "".join(
            f"<li>{html.escape(name)}: {html.escape(reason)}</li>" for name, reason in master.rejected
        )
        parts.append(
            f"<div class='card'><b>{html.escape(Path(master.path).name)}</b><br>"
            f"{master.kind}, {len(master.inputs)} frames"
            + (f"<img alt='{html.escape(master.kind)} master' src='{image}'>" if image else "")
            + _figures_table(dict(master.figures))
            + (f"<ul class='reason'>{rejected}</ul>" if rejected else "")
            + "</div>"
        )
    parts.append("</div><h2>Frames</h2><div class='cards'>")
    for frame in frames:
        image = _file_uri(frame.thumbnail)
        parts.append(
            f"<div class='card'><b>{html.escape(Path(frame.path).name)}</b> "
            f"<span class='{frame.status}'>{frame.status}</span> {html.escape(frame.obstype)}"
            + (f"<img alt='thumbnail with detected sources' src='{image}'>" if image else "")
            + (f"<p class='reason'>{html.escape(frame.reason)}</p>" if frame.reason else "")
            + _figures_table(dict(frame.figures))
            + "</div>"
        )
    parts.append("</div></body></html>")
    with atomic_output(target) as temporary:
        temporary.write_text("".join(parts), encoding="utf-8")
    return target
