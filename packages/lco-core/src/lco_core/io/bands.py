"""Read row bands of FITS images without loading whole frames, and stack files band by band."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from lco_core.errors import FitsReadError, ShapeMismatchError
from lco_core.io._fits import open_fits
from lco_core.stacking import Band, StackResult, stack_bands

#: Bytes of all inputs' rows read per band when stacking files (data + mask + uncertainty).
BAND_BYTES = 64 * 1024 * 1024


class BandReader:
    """Reads rows ``[start, stop)`` of one image HDU.

    Uncompressed images are read with a seek and one read per band (no memory map, whose
    pages would stay resident); tile-compressed images decompress only the tiles of the band.
    Open one with `open_bands`.

    Parameters
    ----------
    path : str
        The file (for error messages).
    hdul : astropy.io.fits.HDUList
        The open file.
    extension : str or int
        EXTNAME or index of a 2-D image HDU.
    stream : binary file
        The same file opened for reading (uncompressed images are read through it).

    Raises
    ------
    FitsReadError
        No such extension, or it is not a 2-D image.
    """

    def __init__(self, path: str, hdul: fits.HDUList, extension: str | int, stream: BinaryIO) -> None:
        self.path = path
        try:
            self._hdu: Any = hdul[extension]
        except (KeyError, IndexError):
            raise FitsReadError(path, f"has no image extension {extension!r}") from None
        header = self._hdu.header
        if not self._hdu.is_image or int(header.get("NAXIS", 0)) != 2:
            raise FitsReadError(path, f"extension {extension!r} is not a 2-D image")
        self.shape: tuple[int, int] = (int(header["NAXIS2"]), int(header["NAXIS1"]))
        self._compressed = isinstance(self._hdu, fits.CompImageHDU)
        if not self._compressed:
            bitpix = int(header["BITPIX"])
            self._dtype = np.dtype(_BITPIX_TYPES[bitpix]).newbyteorder(">")
            self._scale = float(header.get("BSCALE", 1.0))
            self._zero = float(header.get("BZERO", 0.0))
            self._offset = int(self._hdu.fileinfo()["datLoc"])
            self._stream = stream

    def read(self, start: int, stop: int) -> npt.NDArray[np.float32]:
        """Rows ``[start, stop)`` as float32 with BSCALE/BZERO applied.

        Parameters
        ----------
        start, stop : int
            0-based first row and one past the last.

        Returns
        -------
        ndarray of float32, shape (stop - start, nx)

        Raises
        ------
        ValueError
            Rows outside the image.
        FitsReadError
            The file ends before the rows.
        """
        if not 0 <= start < stop <= self.shape[0]:
            raise ValueError(f"rows [{start}, {stop}) outside an image of {self.shape[0]} rows")
        if self._compressed:
            return np.asarray(self._hdu.section[start:stop, :], dtype=np.float32)
        width = self.shape[1]
        count = (stop - start) * width
        self._stream.seek(self._offset + start * width * self._dtype.itemsize)
        raw = np.frombuffer(self._stream.read(count * self._dtype.itemsize), dtype=self._dtype)
        if raw.size != count:
            raise FitsReadError(self.path, f"truncated while reading rows {start}-{stop}")
        rows = raw.astype(np.float32).reshape(stop - start, width)
        if self._scale != 1.0:
            rows *= np.float32(self._scale)
        if self._zero != 0.0:
            rows += np.float32(self._zero)
        return rows


_BITPIX_TYPES = {8: "u1", 16: "i2", 32: "i4", 64: "i8", -32: "f4", -64: "f8"}


@contextlib.contextmanager
def open_bands(path: str | os.PathLike[str], extension: str | int) -> Iterator[BandReader]:
    """A `BandReader` on one image extension of a FITS file, open for the ``with`` block.

    Parameters
    ----------
    path : str or os.PathLike
        The FITS file.
    extension : str or int
        EXTNAME or index of a 2-D image HDU.

    Yields
    ------
    BandReader

    Raises
    ------
    FitsReadError
        Not a readable FITS file, or no such 2-D image extension.
    """
    name = os.fspath(path)
    with open_fits(name) as hdul, open(name, "rb") as stream:
        yield BandReader(name, hdul, extension, stream)


def stack_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    extension: str | int = "SCI",
    mask_extension: str | int | None = "BPM",
    uncertainty_extension: str | int | None = "ERR",
    nsigma: float = 3.0,
    maxiters: int = 1,
    band_bytes: int = BAND_BYTES,
) -> StackResult:
    """`~lco_core.stacking.stack` the images of many files, reading one row band of every file at a time.

    Peak memory is the output planes plus one band of every input (``band_bytes``), however
    many files there are.

    Parameters
    ----------
    paths : sequence of str or os.PathLike
        Products of one shape (e.g. prepared calibration frames).
    extension : str or int
        The image to stack (electrons, or the master's units).
    mask_extension, uncertainty_extension : str, int or None
        The mask (non-zero = do not use) and 1-sigma uncertainty images; None to ignore.
    nsigma : float
        Rejection threshold in robust standard deviations.
    maxiters : int
        Clipping passes.
    band_bytes : int
        Bytes of all inputs' rows read at once.

    Returns
    -------
    StackResult

    Raises
    ------
    ShapeMismatchError
        No files, or images of different shapes.
    FitsReadError
        A file or extension cannot be read.
    """
    if not paths:
        raise ShapeMismatchError("stack_files: no files to stack")
    with contextlib.ExitStack() as files:
        data = [files.enter_context(open_bands(path, extension)) for path in paths]
        masks = (
            None
            if mask_extension is None
            else [files.enter_context(open_bands(p, mask_extension)) for p in paths]
        )
        sigmas = (
            None
            if uncertainty_extension is None
            else [files.enter_context(open_bands(p, uncertainty_extension)) for p in paths]
        )
        shape = data[0].shape
        for reader in [*data, *(masks or []), *(sigmas or [])]:
            if reader.shape != shape:
                raise ShapeMismatchError(
                    f"{reader.path}: image is {reader.shape}, the first file's is {shape}"
                )
        planes = 1 + (masks is not None) + (sigmas is not None)
        rows = max(1, band_bytes // (len(paths) * shape[1] * 4 * planes))

        def bands() -> Iterator[Band]:
            for start in range(0, shape[0], rows):
                stop = min(shape[0], start + rows)
                yield Band(
                    start,
                    stop,
                    np.stack([reader.read(start, stop) for reader in data]),
                    None
                    if masks is None
                    else np.stack([r.read(start, stop) != 0 for r in masks]).view(np.uint8),
                    None if sigmas is None else np.stack([r.read(start, stop) for r in sigmas]),
                )

        return stack_bands(bands(), shape=shape, nsigma=nsigma, maxiters=maxiters)
