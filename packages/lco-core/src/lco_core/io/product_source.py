"""A written science product read as an input of a coadd, row band by row band.

`ProductSource` is what `lco_stages.coadd` stacks from files: the product's solved WCS, its
zero point (L1ZP), exposure time and sky noise from the header and a few rows, and its SCI, ERR
and BPM planes read only over the rows asked for. Plain images are read with a seek per band;
tile-compressed ones (``.fits.fz``, one row per tile as this tool and fpack write them) through
astropy's ``section``, which decompresses only the tiles of those rows (`lco_core.io.bands`). It
implements the ``CoaddSource`` protocol of `lco_stages.coadd` structurally: ``lco_core`` never
imports ``lco_stages``.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from lco_core.errors import LcoError
from lco_core.header import Header
from lco_core.io._fits import open_fits, to_header
from lco_core.io.bands import BandReader, open_bands
from lco_core.io.meta import parse_frame_meta
from lco_core.io.products import wcs_cards
from lco_core.meta import FrameMeta, ObsType
from lco_core.stats import robust_std

#: OBSTYPEs of the products a coadd is made of (science frames).
SCIENCE_OBSTYPES = frozenset({ObsType.EXPOSE, ObsType.STANDARD})
#: Rows around the middle of SCI whose robust scatter is the sky noise (`ProductSource.sky_noise`).
SKY_ROWS = 64
#: What a product's header says its zero point status is when L1ZP was fitted.
_FITTED = 1

FloatRows = npt.NDArray[np.float32]
MaskRows = npt.NDArray[np.uint8]


class NotACoaddInputError(LcoError):
    """A file that cannot go into a coadd: not a product, not a science product, or not solved.

    Parameters
    ----------
    path : str
        The file.
    problem : str
        What it is, or what it lacks, one line.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def _number(header: Header, keyword: str) -> float | None:
    value = header.get(keyword)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _wcs_of(header: Header) -> WCS:
    """The solved WCS (TAN, or TAN-SIP) of a product's SCI header."""
    cards = fits.Header()
    for card in wcs_cards(header).cards:
        cards[card.keyword] = card.value
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(cards, naxis=2)


class ProductSource:
    """One written science product as a coadd's input (the ``CoaddSource`` protocol).

    The headers are read (and checked) when it is made; the pixels only when rows are asked
    for. The file stays open between reads until `close` (or the end of a ``with`` block).

    Parameters
    ----------
    path : str or os.PathLike
        A product written by `~lco_core.io.write_product` (``.fits`` or ``.fits.fz``).

    Attributes
    ----------
    path : str
        The file.
    name : str
        Its base name (how the coadd's provenance names it).
    meta : FrameMeta
        The SCI header's typed facts.
    header : Header
        The SCI header (grouping reads REQNUM, MOLUID and the like from it).
    wcs : astropy.wcs.WCS
        The solved WCS (WCSERR = 0).
    shape : (int, int)
        (rows, columns) of SCI.
    zero_point : float or None
        L1ZP (``mag = L1ZP - 2.5 log10(flux / EXPTIME)``), None when the product has none.
    exptime : float
        EXPTIME, seconds.

    Raises
    ------
    FitsReadError
        Not a readable FITS file.
    NotACoaddInputError
        Not a product (no SCI, BPM or ERR extension: a raw frame), a master calibration
        (ISMASTER), not a science frame (OBSTYPE), or without an astrometric solution
        (WCSERR absent or not 0): its pixels cannot be placed on the sky.
    MissingKeywordError, MalformedKeywordError
        The SCI header lacks a mandatory keyword.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.name = os.path.basename(self.path)
        with open_fits(self.path) as hdul:
            names = [hdu.name for hdu in hdul]
            if any(hdu.header.get("ISMASTER") is True for hdu in hdul):
                raise NotACoaddInputError(self.path, "a master calibration, not a science product")
            if any(hdu.header.get("OBSTYPE") == "BPM" for hdu in hdul):
                raise NotACoaddInputError(self.path, "a bad pixel mask, not a science product")
            missing = [extension for extension in ("SCI", "BPM", "ERR") if extension not in names]
            if missing:
                raise NotACoaddInputError(
                    self.path, f"not a reduced science product (no {', '.join(missing)} extension)"
                )
            science: Any = hdul["SCI"]
            header = to_header(science.header, path=self.path, hdu="SCI")
            shape = (int(science.header.get("NAXIS2", 0)), int(science.header.get("NAXIS1", 0)))
        self.header = header
        self.meta: FrameMeta = parse_frame_meta(header, path=self.path, hdu="SCI")
        if self.meta.obstype not in SCIENCE_OBSTYPES:
            raise NotACoaddInputError(self.path, f"OBSTYPE {self.meta.obstype.value} is not a science frame")
        wcserr = _number(header, "WCSERR")
        if wcserr != 0:
            said = "no WCSERR card" if wcserr is None else f"WCSERR {wcserr:g}"
            raise NotACoaddInputError(self.path, f"no astrometric solution ({said}): cannot be aligned")
        if min(shape) < 1:
            raise NotACoaddInputError(self.path, f"SCI is not a 2-D image ({shape[1]} x {shape[0]})")
        self.wcs = _wcs_of(header)
        self.shape: tuple[int, int] = shape
        fitted = header.get("L1STATZP")
        self.zero_point: float | None = _number(header, "L1ZP") if fitted in (None, _FITTED) else None
        self.exptime = float(self.meta.exptime)
        self._files: contextlib.ExitStack | None = None
        self._readers: tuple[BandReader, BandReader, BandReader] | None = None
        self._sky_noise: float | None = None

    def __repr__(self) -> str:
        return f"ProductSource({self.path!r})"

    @property
    def sky_noise(self) -> float:
        """The sky's noise per pixel, electrons: the robust std (1.4826 MAD) of the unmasked SCI
        pixels of the `SKY_ROWS` rows around the middle (stars are too few to move it).

        Returns
        -------
        float
            NaN when those rows have no unmasked pixel.
        """
        if self._sky_noise is None:
            ny = self.shape[0]
            start = max(0, ny // 2 - SKY_ROWS // 2)
            data, _, mask = self.read_rows(start, min(ny, start + SKY_ROWS))
            self._sky_noise = float(robust_std(data, mask=(mask != 0) | ~np.isfinite(data)))
        return self._sky_noise

    def read_rows(self, start: int, stop: int) -> tuple[FloatRows, FloatRows, MaskRows]:
        """SCI, ERR and BPM over rows ``[start, stop)`` (0-based), every column.

        Parameters
        ----------
        start, stop : int
            First row and one past the last.

        Returns
        -------
        sci : ndarray of float32, shape (stop - start, nx)
            Electrons.
        err : ndarray of float32
            1-sigma uncertainty, electrons.
        bpm : ndarray of uint8
            Mask bits.

        Raises
        ------
        ValueError
            Rows outside the image.
        FitsReadError
            The file cannot be read (truncated, changed since it was opened).
        """
        science, error, mask = self._open()
        bits = mask.read(start, stop)
        return science.read(start, stop), error.read(start, stop), bits.astype(np.uint8)

    def _open(self) -> tuple[BandReader, BandReader, BandReader]:
        if self._readers is None:
            files = contextlib.ExitStack()
            try:
                readers = tuple(files.enter_context(open_bands(self.path, e)) for e in ("SCI", "ERR", "BPM"))
            except BaseException:
                files.close()
                raise
            for reader in readers[1:]:
                if reader.shape != self.shape:
                    files.close()
                    raise NotACoaddInputError(
                        self.path, f"{reader.shape[1]} x {reader.shape[0]} planes beside a "
                        f"{self.shape[1]} x {self.shape[0]} SCI",
                    )  # fmt: skip
            self._files = files
            self._readers = (readers[0], readers[1], readers[2])
        return self._readers

    def close(self) -> None:
        """Close the file (a later `read_rows` opens it again)."""
        if self._files is not None:
            self._files.close()
        self._files = None
        self._readers = None

    def __enter__(self) -> ProductSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
