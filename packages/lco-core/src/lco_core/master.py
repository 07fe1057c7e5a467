"""Master calibrations and bad pixel masks as typed records (what a calibration stage applies)."""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable, Mapping

import attrs

from lco_core._arrays import MaskImage, read_only_mask
from lco_core._frozen import FrozenMapping
from lco_core.frame import Frame
from lco_core.meta import FrameMeta, ObsType
from lco_core.provenance import ParamValue
from lco_core.section import Binning


class MasterKind(enum.Enum):
    """The kinds of master calibration, by the word used in their file names.

    Parameters
    ----------
    value : str
        ``'bias'``, ``'dark'`` or ``'skyflat'``.
    """

    BIAS = "bias"
    DARK = "dark"
    SKYFLAT = "skyflat"

    @property
    def obstype(self) -> ObsType:
        """The OBSTYPE of the frames this kind of master is made of."""
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

    Attributes
    ----------
    kind : MasterKind
        Bias, dark or sky flat.
    frame : Frame
        The master's SCI, BPM and ERR planes and its metadata.
    inputs : tuple of str
        Raw file names of the frames stacked.
    bias_level : float
        BIASLVL, electrons per read (bias masters; 0 otherwise).
    temperature : float or None
        Mean CCDATEMP of the inputs, degrees Celsius (dark masters).
    dark_temperature_coefficient : float
        DRKTCOEF, 1/K (dark masters; 0 when unknown).
    flat_level : float or None
        Mean FLATLVL of the inputs, electrons (flat masters).
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
        """The master's file name (its identity in headers and histories)."""
        return self.frame.meta.filename


def _frozen_parameters(mapping: Mapping[str, ParamValue]) -> Mapping[str, ParamValue]:
    return FrozenMapping(dict(mapping))


@attrs.frozen(eq=False)
class BadPixelMask:
    """A bad pixel mask on the trimmed image grid: non-zero pixels get the BAD bit.

    Attributes
    ----------
    mask : ndarray of uint8
        Non-zero where a pixel is bad (read-only).
    filename : str
        The mask's file name (L1IDMASK).
    camera : str or None
        INSTRUME the mask belongs to (None matches any camera).
    binning : Binning or None
        The binning it belongs to (None matches any binning).
    parameters : Mapping[str, ParamValue]
        The thresholds it was made with (empty when not known), recorded by the stage that
        applies it.
    """

    mask: MaskImage = attrs.field(converter=read_only_mask)
    filename: str
    camera: str | None
    binning: Binning | None
    parameters: Mapping[str, ParamValue] = attrs.field(factory=dict, converter=_frozen_parameters)


_UNSAFE = re.compile(r"[^A-Za-z0-9_+.]")


def _safe(part: str) -> str:
    """A header value fit for a file name: anything but letters, digits, '_', '+', '.' becomes '_',
    so a value like '../../x' can never name a file outside the products folder."""
    return _UNSAFE.sub("_", part).strip(".") or "_"


#: Longest header-derived part of a master's file name, characters: with every part this long
#: the whole name is 210 bytes, under the 255-byte limit of common file systems (ENAMETOOLONG);
#: real values (site, telescope, camera, filter) are under 10.
MAX_NAME_PART = 32
#: Hex digits of the SHA-256 of the full value that end a shortened part: two long values that
#: share their first 23 characters collide with a chance of 1 in 2**32.
_HASH_DIGITS = 8


def _part(value: str) -> str:
    """``_safe(value)``, or when longer than `MAX_NAME_PART` its start and a hash of all of it."""
    safe = _safe(value)
    if len(safe) <= MAX_NAME_PART:
        return safe
    digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:_HASH_DIGITS]
    return f"{safe[: MAX_NAME_PART - _HASH_DIGITS - 1]}_{digest}"


def master_filename(meta: FrameMeta, kind: MasterKind | str) -> str:
    """``{site}{telescope}-{camera}-{day_obs}-{kind}-bin{x}x{y}[-{filter}].fits`` (architecture: "Products").

    Parameters
    ----------
    meta : FrameMeta
        Metadata of the master (site, telescope, camera, DAY-OBS, binning, filter).
    kind : MasterKind or str
        The kind, or another label (e.g. ``'bpm'``).

    Returns
    -------
    str
        The file name; every header value in it is made safe for a file name (letters,
        digits, '_', '+' and '.' only), so no value can name a file elsewhere, and is cut to
        `MAX_NAME_PART` characters ending in a hash of the whole value when longer, so the
        name stays under 255 bytes and two long values still give two names.
    """
    label = kind.value if isinstance(kind, MasterKind) else kind
    prefix = f"{_part(meta.site)}{_part(meta.telescope_code)}-{_part(meta.camera)}"
    name = f"{prefix}-{meta.day_obs:%Y%m%d}-{_part(label)}-{_part(f'bin{meta.binning}')}"
    if label == MasterKind.SKYFLAT.value and meta.filter:
        name += f"-{_part(meta.filter)}"
    return name + ".fits"
