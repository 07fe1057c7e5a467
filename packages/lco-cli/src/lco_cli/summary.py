"""summary.json: the night given to a run, from the library: one record per input file with its
latest outcome (whichever run produced it), the night's masters, degraded frames grouped by what
they lack, each camera's median figures, and the totals."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from lco_cli.night import MasterRecord, NightResult
from lco_cli.quality import depth_series, night_quality
from lco_cli.results import (
    STATUSES,
    FrameResult,
    as_text,
    camera_figures,
    group_shortfalls,
    json_value,
    one_line,
)
from lco_core.atomic import atomic_output

T = TypeVar("T")


def _problem(error: BaseException) -> str:
    return one_line(f"{type(error).__name__}: {as_text(error)}")


def _one_line_texts(value: object) -> object:
    """Every string inside a cleaned value made one line (figures carry reasons, e.g. WCS_reason)."""
    if isinstance(value, str):
        return one_line(value)
    if isinstance(value, dict):
        return {key: _one_line_texts(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_one_line_texts(item) for item in value]
    return value


def _frame_record(frame: FrameResult) -> dict[str, object]:
    record = frame.to_json()
    record["reason"] = one_line(record["reason"])
    record["figures"] = _one_line_texts(json_value(record["figures"]))
    return record


def _master_record(master: MasterRecord) -> dict[str, object]:
    return {
        "file": master.path,
        "kind": master.kind,
        "camera": master.camera,
        "inputs": list(master.inputs),
        "rejected": [{"file": name, "reason": one_line(reason)} for name, reason in master.rejected],
        "figures": _one_line_texts(json_value(master.figures)),
        "reused": master.reused,
        "created": master.created,
        "note": one_line(master.note),
    }


def _each(items: Iterable[T], record: Callable[[T], dict[str, object]], notes: list[str]) -> list[object]:
    """One record per item; an item that cannot be recorded is named, with why, in its place."""
    records: list[object] = []
    for item in items:
        try:
            records.append(record(item))
        except Exception as error:  # one odd record must not cost the file the others
            name = as_text(getattr(item, "path", "?"))
            notes.append(one_line(f"{Path(name).name}: record incomplete ({_problem(error)})"))
            records.append({"file": name, "status": getattr(item, "status", None), "note": notes[-1]})
    return records


def write_summary(result: NightResult, target: Path, *, options: dict[str, object]) -> Path:
    """Write ``summary.json`` atomically; it is written whatever ``result`` holds.

    Parameters
    ----------
    result : NightResult
        The run.
    target : pathlib.Path
        The file.
    options : dict
        The run's options, recorded as given.

    Returns
    -------
    pathlib.Path
        The file: start and end (``run`` is the start, which each frame's ``run`` names),
        options, wall seconds per phase, counts per status (ok, degraded, failed, skipped) and
        of frames ``reused`` from earlier runs, one record per frame
        (`~lco_cli.results.FrameResult.to_json`) and one per master, ``degraded`` (the degraded
        frames grouped by step and cause, `~lco_cli.results.group_shortfalls`), ``cameras``
        (median FWHM, zero point and WCS rms of each camera's science frames,
        `~lco_cli.results.camera_figures`), ``quality`` (frames per verdict and the frames a
        quality test flagged, `~lco_cli.quality.night_quality`), ``depth`` (the science frames'
        5-sigma limiting magnitudes per camera and filter, `~lco_cli.quality.depth_series`),
        ``photon_transfer`` (each camera set-up's gain and read noise per amplifier measured
        from the night's pairs of biases and flats against the header's, with the warnings,
        `~lco_cli.night.TransferRecord`), ``coadds`` (one record per coadd of repeated science
        exposures, as a frame's, its file as ``file``, ``obstype`` 'STACK', its inputs,
        weights and flux scales among its figures, `lco_cli.stacking`), and ``notes``. NaN and
        inf figures become null, values JSON has no type for become the nearest it has (numpy
        scalars numbers, bytes and dates text), and every reason is one line. A section that
        cannot be made is null, with a one-line note in ``notes`` saying why.
    """
    notes: list[str] = []

    def frames() -> object:
        return _each(result.frames, _frame_record, notes)

    def masters() -> object:
        return _each(result.masters, _master_record, notes)

    def counts() -> object:
        totals = Counter(frame.status for frame in result.frames)
        return {status: totals.get(status, 0) for status in STATUSES} | {"reused": result.reused}

    sections: dict[str, Callable[[], object]] = {
        "run": lambda: result.started.isoformat(),
        "started": lambda: result.started.isoformat(),
        "finished": lambda: result.finished.isoformat(),
        "options": lambda: options,
        "phases_seconds": lambda: {name: round(seconds, 2) for name, seconds in result.phases.items()},
        "counts": counts,
        "degraded": lambda: [group.to_json() for group in group_shortfalls(result.frames)],
        "cameras": lambda: {c.camera: c.to_json() for c in camera_figures(result.frames)},
        "quality": lambda: night_quality(result.frames),
        "depth": lambda: [series.to_json() for series in depth_series(result.frames)],
        "photon_transfer": lambda: [item for record in result.photon_transfer for item in record.to_json()],
        "frames": frames,
        "masters": masters,
        "coadds": lambda: _each(result.coadds, _frame_record, notes),
    }
    document: dict[str, object] = {}
    for name, build in sections.items():
        try:
            document[name] = json_value(build())
        except Exception as error:  # the file is the run's record: a broken part must not lose the rest
            document[name] = None
            notes.append(one_line(f"{name}: not recorded ({_problem(error)})"))
    document["notes"] = notes
    # allow_nan=False: json_value has removed every NaN; were one left, better an error than invalid JSON.
    text = json.dumps(document, indent=1, allow_nan=False)
    with atomic_output(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return target
