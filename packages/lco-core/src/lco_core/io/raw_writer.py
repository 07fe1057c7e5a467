"""Write raw frames in LCO's own file layout (used by the simulator and by tests)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from lco_core.header import Header
from lco_core.io._fits import to_fits_header
from lco_core.io.products import write_atomically


def write_raw(
    path: str | os.PathLike[str],
    primary: Header,
    images: Sequence[tuple[str, npt.NDArray[np.uint16], Header]],
    *,
    compress: bool = True,
    images_in_primary: bool = False,
) -> Path:
    """Write a raw frame: a primary header and image extensions of uint16 ADU.

    Parameters
    ----------
    path : str or os.PathLike
        Target file (``.fits.fz`` by LCO's convention when compressed); written atomically.
    primary : Header
        The frame's keywords (INSTRUME, OBSTYPE, ...).
    images : sequence of (extname, uint16 array, header)
        One per amplifier (Sinistro MEF) or a single image (SBIG, Spectral).
    compress : bool
        fpack-style lossless RICE tile compression (``.fits.fz``), one compressed extension per
        image, as LCO's archive serves frames.
    images_in_primary : bool
        For uncompressed single-image frames: put the pixels in the primary HDU.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ProductWriteError
        The file cannot be written.
    """
    target = Path(path)
    hdus: list[fits.hdu.base.ExtensionHDU | fits.PrimaryHDU] = []
    if images_in_primary and not compress and len(images) == 1:
        _, data, header = images[0]
        merged = primary.updated(header.cards)
        hdus.append(fits.PrimaryHDU(np.asarray(data, dtype=np.uint16), to_fits_header(merged)))
    else:
        single = len(images) == 1
        # fpack puts a single image's whole header in the compressed extension and leaves the
        # primary empty; a multi-extension frame keeps the frame keywords in the primary.
        hdus.append(fits.PrimaryHDU(header=None if single else to_fits_header(primary)))
        for name, data, header in images:
            pixels = np.asarray(data, dtype=np.uint16)
            extension_header = to_fits_header(primary.updated(header.cards) if single else header)
            if compress:
                hdu: fits.hdu.base.ExtensionHDU = fits.CompImageHDU(
                    pixels, extension_header, name=name, compression_type="RICE_1"
                )
            else:
                hdu = fits.ImageHDU(pixels, extension_header, name=name)
            hdus.append(hdu)
    write_atomically(fits.HDUList(hdus), target)
    return target


def write_raw_cube(path: str | os.PathLike[str], primary: Header, planes: npt.NDArray[np.float32]) -> Path:
    """Write a 2015-format Sinistro frame: one 3-D primary image (a plane per amplifier).

    Parameters
    ----------
    path : str or os.PathLike
        Target file (uncompressed FITS); written atomically.
    primary : Header
        The frame's keywords, written as they are.
    planes : ndarray of float32
        Shape (planes, rows, columns), ADU (the 2015 frames are float32).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        ``planes`` is not 3-D.
    ProductWriteError
        The file cannot be written.
    """
    cube = np.asarray(planes, dtype=np.float32)
    if cube.ndim != 3:
        raise ValueError(f"a data cube is 3-D, not {cube.ndim}-D")
    target = Path(path)
    write_atomically(fits.HDUList([fits.PrimaryHDU(cube, to_fits_header(primary))]), target)
    return target
