"""FrameResult: what happened to one input file (ok, degraded, failed or skipped) and why.

The records ``summary.json``, the report and the closing table are made of, and the few
summaries all three show: degraded frames grouped by what they lack, and each camera's median
image quality, zero point and astrometric residual.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import numbers
import os
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import attrs
import numpy as np

from lco_core.provenance import ParamValue

# A frame's outcome: ``ok``; ``degraded`` (its product was written, but a science step did not
# succeed: no sources, no astrometric solution or no zero point, or a quality test rejected it);
# ``failed`` (no product); or
# ``skipped`` (not reduced, and rightly so: not a raw frame, a copy, a calibration frame left
# out of its master).
Status = Literal["ok", "degraded", "failed", "skipped"]

#: Every outcome a frame can have, in the order tables show them: ``ok``; ``degraded`` (its
#: product was written, but a science step did not succeed: no sources, no astrometric solution
#: or no zero point, or a quality test rejected it); ``failed`` (no product); ``skipped`` (not
#: reduced, and rightly so: not a raw frame, a copy, a calibration frame left out of its master).
STATUSES: tuple[Status, ...] = ("ok", "degraded", "failed", "skipped")

#: What a degraded frame lacked when reference stars were missing (the `Shortfall.needs` value):
#: a run that can get them (``--catalog FILE``, or Gaia reachable) redoes the frame.
NEED_CATALOG = "reference catalogue"

#: The science steps a product can be written without, and how a frame without each is called.
STEPS = {
    "sources": "without sources",
    "astrometry": "without an astrometric solution (WCSERR 4)",
    "photometry": "without a zero point",
    "quality": "rejected by a quality test",
}

#: What to do about each missing input.
HINTS = {NEED_CATALOG: "pass --catalog FILE, or run online so Gaia DR3 can be queried"}

#: The figures the closing summary gives per camera (median over its science frames), with units.
CAMERA_FIGURES = (
    ("L1FWHM", "FWHM", "arcsec"),
    ("L1ZP", "zero point", "mag"),
    ("WCSRMS", "WCS rms", "arcsec"),
)

# Terminal escape sequences (ESC [ ... final byte) whole, then C0 and C1 controls and the Unicode
# line and paragraph separators: anything a terminal or a JSON reader could take as a line break
# or an escape. A sequence is dropped whole so no stray "[31m" is left behind.
_CONTROL = re.compile(r"(?:\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x1f\x7f-\x9f\u2028\u2029])+")


def one_line(text: object) -> str:
    """``text`` as one printable line: each run of control characters or escapes becomes one space.

    A reason can quote a header value or a path, and either may hold anything; summary.json,
    the report and the terminal each show it on one line.

    Parameters
    ----------
    text : object
        Usually a reason; anything else is shown as ``str(text)``.

    Returns
    -------
    str
        No newline, carriage return or other control character; no space at either end.
    """
    return _CONTROL.sub(" ", as_text(text)).strip()


def as_text(value: object) -> str:
    """``str(value)``, or a placeholder naming its type when its own ``__str__`` fails.

    Parameters
    ----------
    value : object
        Anything.

    Returns
    -------
    str
    """
    # A value whose own __str__ fails must still leave a trace, never an exception.
    try:
        return value if isinstance(value, str) else str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


@attrs.frozen
class Shortfall:
    """A science step that did not succeed on a frame whose product was still written.

    Attributes
    ----------
    step : str
        'sources', 'astrometry', 'photometry' or 'quality' (the keys of `STEPS`).
    reason : str
        The step's own reason, one line.
    needs : str
        The missing input that would let it succeed (`NEED_CATALOG`), or '' when nothing a
        rerun could be given is missing (a field too sparse to solve, a catalogue without the
        frame's band).
    detail : str
        Why that input was missing (e.g. the reference catalogue's error), one line.
    """

    step: str
    reason: str = attrs.field(converter=one_line)
    needs: str = ""
    detail: str = attrs.field(default="", converter=one_line)

    def to_json(self) -> dict[str, str]:
        """The shortfall as ``summary.json`` and the calibration library hold it.

        Returns
        -------
        dict of str to str
        """
        return {"step": self.step, "reason": self.reason, "needs": self.needs, "detail": self.detail}

    @classmethod
    def from_json(cls, record: Mapping[str, object]) -> Shortfall:
        """The shortfall `to_json` gave (missing keys read as '').

        Parameters
        ----------
        record : mapping
            As `to_json` returns it.

        Returns
        -------
        Shortfall
        """
        return cls(*(as_text(record.get(key, "")) for key in ("step", "reason", "needs", "detail")))


def describe_shortfalls(shortfalls: Sequence[Shortfall]) -> str:
    """A degraded frame's reason: each step that did not succeed and why, then what was missing.

    Parameters
    ----------
    shortfalls : sequence of Shortfall
        The frame's.

    Returns
    -------
    str
        One line, e.g. ``astrometry: no reference stars around the pointing; photometry: no
        source catalogue with sky positions (reference catalogue missing: ...)``.
    """
    steps = "; ".join(f"{shortfall.step}: {shortfall.reason}" for shortfall in shortfalls)
    missing = dict.fromkeys(
        f"{s.needs} missing: {s.detail}" if s.detail else f"{s.needs} missing" for s in shortfalls if s.needs
    )
    return one_line(steps + (f" ({'; '.join(missing)})" if missing else ""))


@attrs.frozen
class FrameResult:
    """One input file's outcome.

    Attributes
    ----------
    path : str
        The input file.
    status : {'ok', 'degraded', 'failed', 'skipped'}
        The outcome (one of `STATUSES`).
    reason : str
        Why it was not ok, one line.
    obstype, camera : str
        OBSTYPE and INSTRUME ('' when unreadable).
    products : tuple of str
        Files written (the product, or the master the frame went into).
    masters : tuple of str
        Masters applied.
    figures : dict
        The key numbers a person checks: overscan levels, BIASLVL, FWHM, WCSERR and the
        astrometric residual, L1ZP, the number of sources and of cosmic-ray pixels.
    thumbnail : str or None
        The thumbnail PNG.
    seconds : float
        Time spent on the file.
    shortfalls : tuple of Shortfall
        A degraded frame's steps that did not succeed.
    run : str
        When the run that produced this outcome started (ISO 8601, UTC): the run's identity.
    reused : bool
        The outcome was recorded by an earlier run and its products reused (the frame was done).
    traceback : str
        The full traceback of an unexpected error ('' otherwise), for the log file
        (`lco_cli.logs`), never in ``summary.json`` or on the terminal. A worker process
        captures it, as its own log goes nowhere.
    """

    path: str
    status: Status
    reason: str = attrs.field(default="", converter=one_line)
    obstype: str = ""
    camera: str = ""
    products: tuple[str, ...] = ()
    masters: tuple[str, ...] = ()
    figures: dict[str, ParamValue] = attrs.field(factory=dict)
    thumbnail: str | None = None
    seconds: float = 0.0
    shortfalls: tuple[Shortfall, ...] = ()
    run: str = ""
    reused: bool = False
    traceback: str = attrs.field(default="", repr=False)

    def to_json(self) -> dict[str, object]:
        """The record as ``summary.json`` holds it.

        Returns
        -------
        dict
        """
        return {
            "file": self.path,
            "status": self.status,
            "reason": self.reason,
            "shortfalls": [shortfall.to_json() for shortfall in self.shortfalls],
            "obstype": self.obstype,
            "camera": self.camera,
            "products": list(self.products),
            "masters": list(self.masters),
            "figures": {key: (list(v) if isinstance(v, tuple) else v) for key, v in self.figures.items()},
            "thumbnail": self.thumbnail,
            "seconds": round(self.seconds, 3),
            "run": self.run,
            "reused": self.reused,
        }


@attrs.frozen
class ShortfallGroup:
    """Degraded frames that lack the same step for the same cause.

    Attributes
    ----------
    step : str
        The step (a key of `STEPS`).
    cause : str
        What is missing (`NEED_CATALOG`), or the step's reason when no input is missing.
    needs : str
        The missing input, or ''.
    example : str
        Why the input was missing, for the first frame (e.g. the catalogue's error).
    hint : str
        What to do about it ('' when nothing is to be given).
    files : tuple of str
        The frames.
    """

    step: str
    cause: str
    needs: str
    example: str
    hint: str
    files: tuple[str, ...]

    def line(self) -> str:
        """The group in one line, e.g. ``2 frames without a zero point: no reference catalogue (...)``.

        Returns
        -------
        str
        """
        count = len(self.files)
        text = f"{count} frame{'s' if count != 1 else ''} {STEPS.get(self.step, self.step)}: {self.cause}"
        if self.example:
            text += f": {self.example}"
        if self.hint and "--catalog" not in self.example:
            text += f"; {self.hint}"
        return one_line(text)

    def to_json(self) -> dict[str, object]:
        """The group as ``summary.json`` holds it.

        Returns
        -------
        dict
        """
        return {
            "step": self.step, "what": STEPS.get(self.step, self.step), "cause": self.cause,
            "needs": self.needs, "example": self.example, "hint": self.hint, "frames": len(self.files),
            "files": list(self.files), "line": self.line(),
        }  # fmt: skip


def group_shortfalls(frames: Iterable[FrameResult]) -> tuple[ShortfallGroup, ...]:
    """Degraded frames grouped by step and cause: by the missing input when one is, else by reason.

    Parameters
    ----------
    frames : iterable of FrameResult
        A night's frames (those not degraded are passed over).

    Returns
    -------
    tuple of ShortfallGroup
        In step order (sources, astrometry, photometry), then largest group first.
    """
    groups: dict[tuple[str, str], list[tuple[FrameResult, Shortfall]]] = {}
    for frame in frames:
        if frame.status != "degraded":
            continue
        for shortfall in frame.shortfalls:
            key = (shortfall.step, f"needs {shortfall.needs}" if shortfall.needs else shortfall.reason)
            groups.setdefault(key, []).append((frame, shortfall))
    order = list(STEPS)
    made = [
        ShortfallGroup(
            step=step,
            cause=f"no {members[0][1].needs}" if members[0][1].needs else members[0][1].reason,
            needs=members[0][1].needs,
            example=members[0][1].detail,
            hint=HINTS.get(members[0][1].needs, ""),
            files=tuple(frame.path for frame, _ in members),
        )
        for (step, _), members in groups.items()
    ]
    return tuple(
        sorted(made, key=lambda g: (order.index(g.step) if g.step in order else len(order), -len(g.files)))
    )


@attrs.frozen
class CameraFigures:
    """One camera's science frames in three numbers: medians of FWHM, zero point and WCS rms.

    Attributes
    ----------
    camera : str
        INSTRUME.
    frames : int
        Science frames with a product (ok or degraded).
    medians : dict of str to float or None
        Median of each `CAMERA_FIGURES` key over the frames that measured it (None: none did).
    measured : dict of str to int
        How many frames measured each.
    """

    camera: str
    frames: int
    medians: dict[str, float | None]
    measured: dict[str, int]

    def to_json(self) -> dict[str, object]:
        """The camera's figures as ``summary.json`` holds them.

        Returns
        -------
        dict
        """
        return {"science_frames": self.frames, "median": dict(self.medians), "measured": dict(self.measured)}


def finite_number(value: object) -> float | None:
    """``value`` as a finite float, or None (text, None, NaN, inf and booleans are not numbers here).

    Parameters
    ----------
    value : object
        A figure.

    Returns
    -------
    float or None
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):  # an int beyond float's range
        return None
    return number if math.isfinite(number) else None


def camera_figures(frames: Iterable[FrameResult]) -> tuple[CameraFigures, ...]:
    """Per camera, the median FWHM (L1FWHM), zero point (L1ZP) and astrometric rms (WCSRMS).

    Parameters
    ----------
    frames : iterable of FrameResult
        A night's frames; science frames (EXPOSE, STANDARD) that are ok or degraded count.

    Returns
    -------
    tuple of CameraFigures
        Sorted by camera. A figure a frame did not measure (NaN, absent) is left out of its median.
    """
    counts: dict[str, int] = {}
    values: dict[str, dict[str, list[float]]] = {}
    for frame in frames:
        if frame.status not in ("ok", "degraded") or frame.obstype not in ("EXPOSE", "STANDARD"):
            continue
        figures = frame.figures if isinstance(frame.figures, Mapping) else {}
        counts[frame.camera] = counts.get(frame.camera, 0) + 1
        measured = values.setdefault(frame.camera, {key: [] for key, _, _ in CAMERA_FIGURES})
        for key, _, _ in CAMERA_FIGURES:
            number = finite_number(figures.get(key))
            if number is not None:
                measured[key].append(number)
    return tuple(
        CameraFigures(
            camera,
            counts[camera],
            {
                key: statistics.median(measured[key]) if measured[key] else None
                for key, _, _ in CAMERA_FIGURES
            },
            {key: len(measured[key]) for key, _, _ in CAMERA_FIGURES},
        )
        for camera, measured in sorted(values.items())
    )


def json_value(value: object) -> object:
    """The JSON value nearest ``value``; NaN and inf become None (JSON has no word for them).

    numpy scalars and arrays become numbers and lists, bytes, dates and paths text, sets sorted
    lists, mapping keys text; anything else becomes its text.

    Parameters
    ----------
    value : object
        Anything.

    Returns
    -------
    object
        None, bool, int, float, str, list or dict, nested.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # unmeasured
    if isinstance(value, np.generic):
        return json_value(value.item())  # bool_, integer and floating become bool, int and float
    if isinstance(value, np.ndarray):
        return json_value(value.tolist())
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return json_value(value.value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {as_text(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, set | frozenset):
        # A set has no order; sorted by text, the same set always gives the same file.
        return sorted((json_value(item) for item in value), key=as_text)
    return as_text(value)
