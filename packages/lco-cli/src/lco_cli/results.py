"""FrameResult: what happened to one input file; the records summary.json is made of."""

from __future__ import annotations

from typing import Literal

import attrs

from lco_core.provenance import ParamValue

Status = Literal["ok", "failed", "skipped"]


@attrs.frozen
class FrameResult:
    """One input file's outcome.

    ``figures`` holds the key numbers a person checks: overscan levels, BIASLVL, FWHM, WCSERR and
    the astrometric residual, L1ZP, the number of sources and of cosmic-ray pixels.
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
