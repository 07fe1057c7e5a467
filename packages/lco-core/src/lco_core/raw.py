"""Raw-file records: the HDU arrays of a raw LCO file with their parsed keywords."""

from __future__ import annotations

import attrs

from lco_core._arrays import AnyArray, read_only
from lco_core.header import Header
from lco_core.meta import FrameMeta
from lco_core.section import Section


@attrs.frozen
class SectionKeywords:
    """The section keywords of one header, parsed; ``None`` where unset ('UNKNOWN', 'N/A', [1:0,1:0]).

    Attributes
    ----------
    data, bias, trim, detector, detector_size : Section or None
        DATASEC, BIASSEC, TRIMSEC, DETSEC and DETSIZE.
    """

    data: Section | None = None
    bias: Section | None = None
    trim: Section | None = None
    detector: Section | None = None
    detector_size: Section | None = None


@attrs.frozen(eq=False)
class RawImage:
    """One image HDU of a raw file.

    Attributes
    ----------
    index : int
        The HDU's position in the file (0 = primary).
    name : str
        EXTNAME ('' when none).
    data : ndarray of float32
        ADU with BSCALE/BZERO applied; 2-D, or 3-D for the legacy Sinistro cube (planes, rows,
        columns). Read-only.
    header : Header
        The HDU's header.
    sections : SectionKeywords
        Its parsed section keywords.
    """

    index: int
    name: str
    data: AnyArray = attrs.field(converter=read_only)
    header: Header
    sections: SectionKeywords


@attrs.frozen(eq=False)
class RawFile:
    """A raw LCO file: its metadata (from the header that carries INSTRUME) and its images.

    Attributes
    ----------
    path : str
        The file as it was opened.
    meta : FrameMeta
        Parsed from the header that carries INSTRUME.
    primary : Header
        That header.
    sections : SectionKeywords
        Its section keywords.
    images : tuple of RawImage
        Every HDU holding image data, in file order.
    """

    path: str
    meta: FrameMeta
    primary: Header
    sections: SectionKeywords
    images: tuple[RawImage, ...]
