"""Master calibrations and bad pixel masks as typed records (what a calibration stage applies)."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

import attrs

from lco_core._arrays import MaskImage, read_only_mask
from lco_core.frame import Frame
from lco_core.meta import FrameMeta, ObsType


class MasterKind(enum.Enum):
    BIAS = "bias"
    DARK = "dark"
    SKYFLAT = "skyflat"

    @property
    def obstype(self) -> ObsType:
        return {
            MasterKind.BIAS: ObsType.BIAS,
            MasterKind.DARK: ObsType.DARK,
            MasterKind.SKYFLAT: ObsType.SKYFLAT,
        }[self]


def _names(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(names)


@attrs.frozen(eq=False)
class Master:
    """A master calibration.

    ``frame`` holds the master's planes: a bias in electrons per read with its level removed
    (``bias_level`` keeps it, BIASLVL), a dark in electrons per second at ``temperature``
    (mean CCDATEMP of its inputs; ``dark_temperature_coefficient`` is DRKTCOEF in 1/K, 0 when
    unknown), a flat as a relative response (``flat_level`` is the mean FLATLVL of its
    inputs, electrons). ``inputs`` are the raw file names it was built from.
    """

    kind: MasterKind
    frame: Frame
    inputs: tuple[str, ...] = attrs.field(converter=_names)
    bias_level: float = 0.0
    temperature: float | None = None
    dark_temperature_coefficient: float = 0.0
    flat_level: float | None = None

    @property
    def filename(self) -> str:
        return self.frame.meta.filename


@attrs.frozen(eq=False)
class BadPixelMask:
    """A bad pixel mask on the trimmed image grid: non-zero pixels get the BAD bit."""

    mask: MaskImage = attrs.field(converter=read_only_mask)
    filename: str
    camera: str
    binning: str


_UNSAFE = re.compile(r"[^A-Za-z0-9_+.]")


def _safe(part: str) -> str:
    """A header value fit for a file name: anything but letters, digits, '_', '+', '.' becomes '_',
    so a value like '../../x' can never name a file outside the products folder."""
    return _UNSAFE.sub("_", part).strip(".") or "_"


def master_filename(meta: FrameMeta, kind: MasterKind | str) -> str:
    """``{site}{telescope}-{camera}-{day_obs}-{kind}-bin{x}x{y}[-{filter}].fits`` (DESIGN.md section 9)."""
    label = kind.value if isinstance(kind, MasterKind) else kind
    prefix = f"{_safe(meta.site)}{_safe(meta.telescope_code)}-{_safe(meta.camera)}"
    name = f"{prefix}-{meta.day_obs:%Y%m%d}-{_safe(label)}-bin{meta.binning}"
    if label == MasterKind.SKYFLAT.value and meta.filter:
        name += f"-{_safe(meta.filter)}"
    return name + ".fits"
