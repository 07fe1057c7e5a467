"""The simulator's own description of a detector's readouts, and the pixel cutting it implies.

A layout is a table of section strings written exactly as LCO's raw headers write them
(DETSEC, DATASEC, BIASSEC, TRIMSEC, DETSIZE), parsed here with a regular expression and
applied with plain numpy slicing and flips. Nothing here uses the pipeline's geometry
(``lco_core.section``, ``lco_instruments.geometry`` or ``lco_instruments.readout``): the
simulator must not share a bug with the mosaic stage it is there to test.

Conventions. Sections are FITS: 1-based, inclusive, x first, ``[x1:x2,y1:y2]``. DETSEC is in
unbinned detector pixels and may be reversed (``x1 > x2``: the amplifier reads that axis out
against the detector's). DATASEC, BIASSEC and TRIMSEC are in binned pixels and never
reversed. A binned data pixel at ``data`` starts at detector pixel
``det = det0 + s x (data - data0) x bin`` (``det0``, ``data0`` the sections' first bounds as
written, ``s = -1`` on a reversed axis) and covers ``bin`` detector pixels in the direction
``s``. The mosaic is the binned image of the bounding box of all DETSECs, x = columns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attrs
import numpy as np
import numpy.typing as npt

__all__ = [
    "FA05_CENTRAL_2K_2X2",
    "FS01_HEADER_SECTIONS",
    "LEGACY_CUBE_DETSECS",
    "SINISTRO_QUADRANTS",
    "AmplifierLayout",
    "DetectorLayout",
    "SectionBounds",
    "fs01_layout",
    "legacy_cube_layout",
    "parse_section",
    "single_amplifier_layout",
    "sinistro_layout",
]

SectionBounds = tuple[int, int, int, int]
FloatArray = npt.NDArray[np.floating]

_SECTION = re.compile(r"^\[\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*\]$")

#: The real fa05 (elp 1m0-08, 2021-10-08) central_2k_2x2 readouts, copied from the four SCI
#: extension headers of neoexchange's ``mef_raw_test_frame.fits``: (DETSEC, DATASEC, BIASSEC)
#: per amplifier; each readout is NAXIS1 x NAXIS2 = 544 x 522 (32 serial-overscan columns and
#: 10 parallel-overscan rows around a 512 x 512 data section).
FA05_CENTRAL_2K_2X2: tuple[tuple[str, str, str], ...] = (
    ("[1025:2048,3072:2049]", "[1:512,1:512]", "[520:540,1:512]"),
    ("[1025:2048,1025:2048]", "[1:512,1:512]", "[520:540,1:512]"),
    ("[3072:2049,1025:2048]", "[1:512,1:512]", "[520:540,1:512]"),
    ("[3072:2049,3072:2049]", "[1:512,1:512]", "[520:540,1:512]"),
)

#: Where each Sinistro amplifier sits, read off `FA05_CENTRAL_2K_2X2`: (quadrant column,
#: quadrant row, x reversed, y reversed), quadrant (0, 0) at the detector origin. A full-frame
#: list that starts from the detector origin numbers the same four quadrants differently (its
#: first is our amplifier 2); the real file's headers are the authority here.
SINISTRO_QUADRANTS: dict[int, tuple[int, int, bool, bool]] = {
    1: (0, 1, False, True),
    2: (0, 0, False, False),
    3: (1, 0, True, False),
    4: (1, 1, True, True),
}


def parse_section(text: str) -> SectionBounds:
    """Parse a FITS section string ``'[x1:x2,y1:y2]'`` into its bounds as written.

    Parameters
    ----------
    text : str
        The section, e.g. ``'[3072:2049,1025:2048]'`` (spaces allowed).

    Returns
    -------
    (int, int, int, int)
        ``(x1, x2, y1, y2)``, 1-based and inclusive, reversed ranges kept reversed.

    Raises
    ------
    ValueError
        Not a section, or a bound below 1.
    """
    match = _SECTION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a FITS section [x1:x2,y1:y2]")
    x1, x2, y1, y2 = (int(group) for group in match.groups())
    if min(x1, x2, y1, y2) < 1:
        raise ValueError(f"{text!r}: FITS sections are 1-based")
    return x1, x2, y1, y2


def _forward(text: str, what: str) -> SectionBounds:
    """A section that must not be reversed (DATASEC, BIASSEC, TRIMSEC)."""
    x1, x2, y1, y2 = parse_section(text)
    if x1 > x2 or y1 > y2:
        raise ValueError(f"{what} {text} is reversed; only DETSEC may be")
    return x1, x2, y1, y2


@attrs.frozen
class AmplifierLayout:
    """One amplifier's readout as its raw header describes it.

    Attributes
    ----------
    detsec : str
        DETSEC, unbinned detector pixels, reversed on an axis read out flipped.
    datasec : str
        DATASEC, binned readout pixels.
    biassec : str or None
        BIASSEC, binned readout pixels; None for a camera without overscan (written 'UNKNOWN').
    naxis1, naxis2 : int
        Readout width and height, binned pixels.
    header_datasec : str or None
        The DATASEC the camera's headers write where it is not `datasec` (fs01); None: they
        write `datasec`.
    """

    detsec: str
    datasec: str
    biassec: str | None
    naxis1: int
    naxis2: int
    header_datasec: str | None = None

    @property
    def written_datasec(self) -> str:
        """DATASEC as the header writes it: `header_datasec` where a camera writes a wrong one."""
        return self.datasec if self.header_datasec is None else self.header_datasec

    @property
    def shape(self) -> tuple[int, int]:
        """Numpy shape of the readout, ``(naxis2, naxis1)``."""
        return (self.naxis2, self.naxis1)


@attrs.frozen
class DetectorLayout:
    """A camera's readouts: the table of section strings and what follows from it.

    Attributes
    ----------
    detsize : str
        DETSIZE, unbinned.
    binning : (int, int)
        CCDSUM (x, y).
    amplifiers : tuple of AmplifierLayout
        In readout (extension) order.
    trimsec : str
        TRIMSEC: the useful part of the mosaic, binned mosaic pixels.
    header_trimsec : str or None
        The TRIMSEC the camera's headers write where it is not `trimsec` (fs01, whose header
        counts it from the readout's first pixel); None: they write `trimsec`.

    Raises
    ------
    ValueError
        A DETSEC that does not span its DATASEC times the binning, a DATASEC or BIASSEC outside
        its readout, or amplifiers that overlap on the detector.
    """

    detsize: str
    binning: tuple[int, int]
    amplifiers: tuple[AmplifierLayout, ...]
    trimsec: str
    header_trimsec: str | None = None

    @property
    def written_trimsec(self) -> str:
        """TRIMSEC as the header writes it."""
        return self.trimsec if self.header_trimsec is None else self.header_trimsec

    def __attrs_post_init__(self) -> None:
        bx, by = self.binning
        covered = 0
        regions = []
        for amp in self.amplifiers:
            dx1, dx2, dy1, dy2 = parse_section(amp.detsec)
            ax1, ax2, ay1, ay2 = _forward(amp.datasec, "DATASEC")
            if abs(dx2 - dx1) + 1 != (ax2 - ax1 + 1) * bx or abs(dy2 - dy1) + 1 != (ay2 - ay1 + 1) * by:
                raise ValueError(f"DETSEC {amp.detsec} does not span DATASEC {amp.datasec} at {bx}x{by}")
            for name, text in (("DATASEC", amp.datasec), ("BIASSEC", amp.biassec)):
                if text is not None and not _inside(_forward(text, name), amp.shape):
                    raise ValueError(f"{name} {text} lies outside the {amp.naxis1}x{amp.naxis2} readout")
            covered += (ax2 - ax1 + 1) * (ay2 - ay1 + 1)
            regions.append((min(dx1, dx2), max(dx1, dx2), min(dy1, dy2), max(dy1, dy2)))
        for i, a in enumerate(regions):
            for b in regions[i + 1 :]:
                if a[0] <= b[1] and b[0] <= a[1] and a[2] <= b[3] and b[2] <= a[3]:
                    raise ValueError(f"amplifiers overlap on the detector: {a} and {b} (x1, x2, y1, y2)")
        ny, nx = self.mosaic_shape
        if covered != ny * nx:
            raise ValueError(f"amplifiers cover {covered} of the {nx}x{ny} mosaic's pixels: a gap")
        if not _inside(_forward(self.trimsec, "TRIMSEC"), (ny, nx)):
            raise ValueError(f"TRIMSEC {self.trimsec} lies outside the {nx}x{ny} mosaic")

    @property
    def detector_origin(self) -> tuple[int, int]:
        """Lowest detector (x, y) any DETSEC reaches, unbinned, 1-based."""
        bounds = [parse_section(amp.detsec) for amp in self.amplifiers]
        return min(min(b[0], b[1]) for b in bounds), min(min(b[2], b[3]) for b in bounds)

    @property
    def mosaic_shape(self) -> tuple[int, int]:
        """Shape ``(ny, nx)`` of the assembled image, binned pixels."""
        bounds = [parse_section(amp.detsec) for amp in self.amplifiers]
        x_lo, y_lo = self.detector_origin
        x_hi = max(max(b[0], b[1]) for b in bounds)
        y_hi = max(max(b[2], b[3]) for b in bounds)
        return ((y_hi - y_lo + 1) // self.binning[1], (x_hi - x_lo + 1) // self.binning[0])

    def placement(self, index: int) -> tuple[slice, slice, bool, bool]:
        """Where amplifier ``index`` (0-based) lands on the mosaic.

        Parameters
        ----------
        index : int
            Position of the amplifier in `amplifiers`.

        Returns
        -------
        rows, columns : slice
            The mosaic region (increasing, 0-based) its data section covers.
        x_flipped, y_flipped : bool
            Whether its readout runs against mosaic x / y (DETSEC reversed).
        """
        amp = self.amplifiers[index]
        dx1, dx2, dy1, dy2 = parse_section(amp.detsec)
        x0, y0 = self.detector_origin
        bx, by = self.binning
        # The lowest detector pixel of the DETSEC starts the lowest binned mosaic pixel.
        column = (min(dx1, dx2) - x0) // bx
        row = (min(dy1, dy2) - y0) // by
        nx = (abs(dx2 - dx1) + 1) // bx
        ny = (abs(dy2 - dy1) + 1) // by
        return slice(row, row + ny), slice(column, column + nx), dx1 > dx2, dy1 > dy2

    def cut(self, image: FloatArray, *, fill: float = 0.0) -> tuple[npt.NDArray[np.float32], ...]:
        """Readouts whose data sections hold ``image``'s pixels, in readout orientation.

        Parameters
        ----------
        image : ndarray of float
            A mosaic-shaped image.
        fill : float
            Value of every readout pixel outside DATASEC (overscan, unused rows and columns).

        Returns
        -------
        tuple of ndarray of float32
            One per amplifier, of its ``(naxis2, naxis1)`` (float32 holds a pixel's electrons
            to far better than its noise).

        Raises
        ------
        ValueError
            ``image`` is not mosaic-shaped.
        """
        self._check_mosaic(image)
        readouts = []
        for index, amp in enumerate(self.amplifiers):
            rows, columns, x_flipped, y_flipped = self.placement(index)
            block = np.asarray(image[rows, columns], dtype=np.float32)
            # Data pixel 1 of a reversed axis is the far end of its mosaic region.
            if x_flipped:
                block = block[:, ::-1]
            if y_flipped:
                block = block[::-1, :]
            ax1, ax2, ay1, ay2 = _forward(amp.datasec, "DATASEC")
            readout = np.full(amp.shape, fill, dtype=np.float32)
            readout[ay1 - 1 : ay2, ax1 - 1 : ax2] = block
            readouts.append(readout)
        return tuple(readouts)

    def assemble(self, readouts: Sequence[FloatArray]) -> npt.NDArray[np.float64]:
        """The mosaic of readouts' data sections: the inverse of `cut`.

        Parameters
        ----------
        readouts : sequence of ndarray
            One per amplifier, of its ``(naxis2, naxis1)``.

        Returns
        -------
        ndarray of float64
            Mosaic-shaped.
        """
        if len(readouts) != len(self.amplifiers):
            raise ValueError(f"{len(readouts)} readouts for {len(self.amplifiers)} amplifiers")
        image = np.zeros(self.mosaic_shape, dtype=np.float64)
        for index, (amp, readout) in enumerate(zip(self.amplifiers, readouts, strict=True)):
            if readout.shape != amp.shape:
                raise ValueError(f"readout {index + 1} is {readout.shape}, its layout says {amp.shape}")
            rows, columns, x_flipped, y_flipped = self.placement(index)
            ax1, ax2, ay1, ay2 = _forward(amp.datasec, "DATASEC")
            block = readout[ay1 - 1 : ay2, ax1 - 1 : ax2]
            if x_flipped:
                block = block[:, ::-1]
            if y_flipped:
                block = block[::-1, :]
            image[rows, columns] = block
        return image

    def trim(self, image: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        """The TRIMSEC region of a mosaic-shaped image (the pipeline's product grid).

        Parameters
        ----------
        image : ndarray
            Mosaic-shaped.

        Returns
        -------
        ndarray
            A view.
        """
        self._check_mosaic(image)
        x1, x2, y1, y2 = _forward(self.trimsec, "TRIMSEC")
        return image[y1 - 1 : y2, x1 - 1 : x2]

    def _check_mosaic(self, image: npt.NDArray[np.generic]) -> None:
        if image.shape != self.mosaic_shape:
            raise ValueError(f"image is {image.shape}, the mosaic is {self.mosaic_shape}")


def _inside(bounds: SectionBounds, shape: tuple[int, int]) -> bool:
    _, x_last, _, y_last = bounds
    return x_last <= shape[1] and y_last <= shape[0]


def _range(low: int, high: int, reversed_: bool) -> str:
    return f"{high}:{low}" if reversed_ else f"{low}:{high}"


def sinistro_layout(*, amp_size: int, central: bool) -> DetectorLayout:
    """A current Sinistro's four readouts at any size, placed as on the real fa05.

    Full frame (1x1): the four amplifiers tile a ``2 amp_size`` square detector; readouts of
    ``side + 32`` columns (BIASSEC the last 26) and ``side + 10`` rows. Central 2k (2x2): they
    tile the central half of a ``4 amp_size`` detector; readouts as on the real fa05 (BIASSEC
    columns ``side + 8`` to ``side + 28``). ``amp_size = 1024`` central reproduces
    `FA05_CENTRAL_2K_2X2` string for string.

    Parameters
    ----------
    amp_size : int
        Side of one amplifier's region, unbinned pixels (2048 full frame, 1024 central 2k on
        the real 4k detector).
    central : bool
        The central_2k_2x2 mode rather than full_frame.

    Returns
    -------
    DetectorLayout
    """
    binning = 2 if central else 1
    side = amp_size // binning
    origin = amp_size + 1 if central else 1
    detector = 4 * amp_size if central else 2 * amp_size
    bias = f"[{side + 8}:{side + 28},1:{side}]" if central else f"[{side + 7}:{side + 32},1:{side}]"
    amplifiers = []
    for index in sorted(SINISTRO_QUADRANTS):
        column, row, x_reversed, y_reversed = SINISTRO_QUADRANTS[index]
        x_low, y_low = origin + column * amp_size, origin + row * amp_size
        x_range = _range(x_low, x_low + amp_size - 1, x_reversed)
        y_range = _range(y_low, y_low + amp_size - 1, y_reversed)
        amplifiers.append(
            AmplifierLayout(
                detsec=f"[{x_range},{y_range}]",
                datasec=f"[1:{side},1:{side}]",
                biassec=bias,
                naxis1=side + 32,
                naxis2=side + 10,
            )
        )
    return DetectorLayout(
        detsize=f"[1:{detector},1:{detector}]",
        binning=(binning, binning),
        amplifiers=tuple(amplifiers),
        trimsec=f"[1:{2 * side},1:{2 * side}]",
    )


def single_amplifier_layout(*, size: int, binning: int, serial: int) -> DetectorLayout:
    """An SBIG- or Spectral-like single readout with ``serial`` overscan columns.

    The first 6 overscan columns are left out of BIASSEC (charge still trailing from the
    image); TRIMSEC drops 10 binned pixels at each edge of a 2k readout, proportionally less
    on a smaller one, as on real SBIG and Spectral frames.

    Parameters
    ----------
    size : int
        Detector side, unbinned pixels.
    binning : int
        Binning on both axes.
    serial : int
        Serial-overscan columns (0: none, BIASSEC 'UNKNOWN').

    Returns
    -------
    DetectorLayout
    """
    side = size // binning
    margin = max(1, round(10 * side / 2048))
    amplifier = AmplifierLayout(
        detsec=f"[1:{size},1:{size}]",
        datasec=f"[1:{side},1:{side}]",
        biassec=f"[{side + 7}:{side + serial},1:{side}]" if serial else None,
        naxis1=side + serial,
        naxis2=side,
    )
    return DetectorLayout(
        detsize=f"[1:{size},1:{size}]",
        binning=(binning, binning),
        amplifiers=(amplifier,),
        trimsec=f"[{margin + 1}:{side - margin},{margin + 1}:{side - margin}]",
    )


#: What the Spectral fs01's headers write (DATASEC, TRIMSEC) and where its light really lies
#: (DATASEC, TRIMSEC counted from it), as LCO's pipeline records them
#: (LCOGT/banzai banzai/lco.py, ``_update_fs01_sections``): the simulator's own copy.
FS01_HEADER_SECTIONS = {
    "written": ("[1:2048,1:2048]", "[11:2055,19:2031]"),
    "true": ("[10:2056,16:2032]", "[2:2046,4:2016]"),
}


def fs01_layout() -> DetectorLayout:
    """The Spectral fs01's 2x2 readout: its light where it really lies, its headers as written.

    A 2080 x 2048 readout whose light lies at ``[10:2056,16:2032]`` (2047 x 2017 binned pixels,
    a 4094 x 4034 detector region), while the headers write DATASEC ``[1:2048,1:2048]`` and
    TRIMSEC ``[11:2055,19:2031]`` (`FS01_HEADER_SECTIONS`). The serial overscan (BIASSEC
    ``[2063:2080,1:2048]``: the 24 columns past the light less the first 6, which still carry
    trailing charge) is the simulator's choice: the sources do not give fs01's BIASSEC.

    Returns
    -------
    DetectorLayout
    """
    datasec, trimsec = FS01_HEADER_SECTIONS["true"]
    written_datasec, written_trimsec = FS01_HEADER_SECTIONS["written"]
    x1, x2, y1, y2 = parse_section(datasec)
    amplifier = AmplifierLayout(
        detsec=f"[1:{2 * (x2 - x1 + 1)},1:{2 * (y2 - y1 + 1)}]",
        datasec=datasec,
        biassec="[2063:2080,1:2048]",
        naxis1=2080,
        naxis2=2048,
        header_datasec=written_datasec,
    )
    return DetectorLayout(
        detsize="[1:4096,1:4096]",
        binning=(2, 2),
        amplifiers=(amplifier,),
        trimsec=trimsec,
        header_trimsec=written_trimsec,
    )


#: Where each plane of a 2015 Sinistro data cube lands on the detector (amplifiers 1-4, the
#: cube's plane order), as LCO's pipeline places them for readouts of more than 2048 rows
#: (LCOGT/banzai banzai/lco.py, ``_munge_data_cube``, 'full'): the simulator's own copy.
LEGACY_CUBE_DETSECS = (
    "[1:2048,1:2048]",
    "[4096:2049,1:2048]",
    "[4096:2049,4096:2049]",
    "[1:2048,4096:2049]",
)


def legacy_cube_layout(binning: int) -> DetectorLayout:
    """The four planes of a full 2015 Sinistro data cube (fl cameras), 1x1 or 2x2.

    Each plane is 2048 / binning light-sensitive columns followed by 32 / binning serial-
    overscan columns. Binned 2x2 a plane is 1024 rows, all light; 1x1 it is 2058 rows (the
    2016-era readouts), of which amplifiers 1 and 2 hold light in the first 2048 and
    amplifiers 3 and 4 in rows 2 to 2049 (their first row read, the detector's top edge, is
    not used). Overscan: the serial columns less the first 6 / 3 (trailing charge).

    Parameters
    ----------
    binning : int
        1 or 2.

    Returns
    -------
    DetectorLayout

    Raises
    ------
    ValueError
        Another binning.
    """
    if binning not in (1, 2):
        raise ValueError(f"a 2015 Sinistro cube is read 1x1 or 2x2, not {binning}x{binning}")
    light, serial, skipped = 2048 // binning, 32 // binning, 6 // binning
    rows = light if binning == 2 else 2058
    amplifiers = []
    for index, detsec in enumerate(LEGACY_CUBE_DETSECS, start=1):
        first = 2 if binning == 1 and index in (3, 4) else 1
        amplifiers.append(
            AmplifierLayout(
                detsec=detsec,
                datasec=f"[1:{light},{first}:{first + light - 1}]",
                biassec=f"[{light + skipped + 1}:{light + serial},1:{rows}]",
                naxis1=light + serial,
                naxis2=rows,
            )
        )
    side = 4096 // binning
    return DetectorLayout(
        detsize="[1:4096,1:4096]",
        binning=(binning, binning),
        amplifiers=tuple(amplifiers),
        trimsec=f"[1:{side},1:{side}]",
    )
