"""FrameResult: what happened to one input file; the records summary.json is made of."""

from __future__ import annotations

import re
from typing import Literal

import attrs

from lco_core.provenance import ParamValue

Status = Literal["ok", "failed", "skipped"]

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
class FrameResult:
    """One input file's outcome.

    Attributes
    ----------
    path : str
        The input file.
    status : {'ok', 'failed', 'skipped'}
        The outcome.
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
            "obstype": self.obstype,
            "camera": self.camera,
            "products": list(self.products),
            "masters": list(self.masters),
            "figures": {key: (list(v) if isinstance(v, tuple) else v) for key, v in self.figures.items()},
            "seconds": round(self.seconds, 3),
        }
