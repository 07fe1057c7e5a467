"""FrameResult: what happened to one input file; the records summary.json is made of."""

from __future__ import annotations

from typing import Literal

import attrs

from lco_core.provenance import ParamValue

Status = Literal["ok", "failed", "skipped"]


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
    """

    path: str
    status: Status
    reason: str = ""
    obstype: str = ""
    camera: str = ""
    products: tuple[str, ...] = ()
    masters: tuple[str, ...] = ()
    figures: dict[str, ParamValue] = attrs.field(factory=dict)
    thumbnail: str | None = None
    seconds: float = 0.0

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
