"""Tile compression of products the way LCO ships them (``.fits.fz``): SCI and ERR quantised far
below their noise, masks lossless.

astropy writes the tiles (RICE, one row per tile, as fpack does); what is ours is the choice of
the quantisation step. fpack and astropy by default pick it from each tile's own noise estimate
(``q = 4``), which for a star's core or a low-noise master can be several per cent of that
pixel's uncertainty. A product carries its uncertainty (ERR), so the step is derived from it
instead: the rounding error of a dithered quantisation is at most half a step, and half a step
is at most `MAX_ERROR_FRACTION` of the smallest ERR of the frame's good pixels.
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt
from astropy.io import fits

#: A decompressed pixel differs from the written one by at most this fraction of its ERR.
MAX_ERROR_FRACTION = 0.01
#: Seed of the subtractive dither (FITS allows 1-10000): fixed, so a rerun writes the same tiles.
DITHER_SEED = 4242
#: The extension whose pixels give each pixel's uncertainty.
UNCERTAINTY_EXTENSION = "ERR"
#: The extension whose non-zero pixels are bad (their ERR does not set the step).
MASK_EXTENSION = "BPM"
#: fpack's name for tile-compressed FITS.
COMPRESSED_SUFFIX = ".fz"


def is_compressed_name(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a tile-compressed file (LCO's ``.fits.fz``).

    Parameters
    ----------
    path : str or os.PathLike
        A file name.

    Returns
    -------
    bool
    """
    return os.fspath(path).lower().endswith(COMPRESSED_SUFFIX)


def quantisation_step(uncertainty: npt.ArrayLike, mask: npt.ArrayLike | None = None) -> float | None:
    """The quantisation step that keeps every good pixel within `MAX_ERROR_FRACTION` of its ERR.

    Dithered quantisation rounds a value to within half a step, so the step is twice that
    fraction of the smallest finite, positive uncertainty of the good (unmasked) pixels; when
    every pixel is masked, of all pixels.

    Parameters
    ----------
    uncertainty : array_like
        The ERR image.
    mask : array_like, optional
        Non-zero where a pixel is bad.

    Returns
    -------
    float or None
        None when no pixel has a finite positive uncertainty: then only lossless compression
        keeps the promise.
    """
    errors = np.asarray(uncertainty, dtype=np.float64)
    usable = np.isfinite(errors) & (errors > 0)
    if mask is not None:
        good = usable & (np.asarray(mask) == 0)
        if good.any():
            usable = good
    if not usable.any():
        return None
    return float(2.0 * MAX_ERROR_FRACTION * errors[usable].min())


def compressed(hdul: fits.HDUList) -> fits.HDUList:
    """The same file with every image extension tile-compressed.

    Integer images (BPM) are compressed losslessly; float images are quantised with the step
    `quantisation_step` derives from the file's ERR extension (subtractive dither 2, which keeps
    exact zeros, and a fixed seed), or left uncompressed when the file has no usable ERR or the
    image holds infinities.
    The primary HDU and tables are kept as they are.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        Uncompressed extensions.

    Returns
    -------
    astropy.io.fits.HDUList
        A new list; ``hdul`` is not changed.
    """
    step = _step_of(hdul)
    packed: list[fits.hdu.base.ExtensionHDU | fits.PrimaryHDU] = []
    for hdu in hdul:
        if isinstance(hdu, fits.ImageHDU) and hdu.data is not None:
            packed.append(_compressed_image(hdu, step))
        else:
            packed.append(hdu)
    return fits.HDUList(packed)


def _step_of(hdul: fits.HDUList) -> float | None:
    names = [hdu.name for hdu in hdul]
    if UNCERTAINTY_EXTENSION not in names:
        return None
    mask = hdul[MASK_EXTENSION].data if MASK_EXTENSION in names else None
    return quantisation_step(hdul[UNCERTAINTY_EXTENSION].data, mask)


def _compressed_image(hdu: fits.ImageHDU, step: float | None) -> fits.ImageHDU | fits.CompImageHDU:
    data = hdu.data
    # The structural cards (XTENSION, BITPIX, NAXISn, PCOUNT, GCOUNT) belong to the compressed
    # table, not to the image header astropy stores inside it; carrying them across is what
    # makes funpack refuse a file (astropy/astropy#19577).
    header = hdu.header.copy()
    for keyword in ("XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "PCOUNT", "GCOUNT"):
        header.remove(keyword, ignore_missing=True)
    if np.issubdtype(data.dtype, np.integer):
        return fits.CompImageHDU(data, header, name=hdu.name, compression_type="RICE_1")
    if step is None or np.isinf(data).any():
        # Kept as it is: no step keeps the ERR promise, or the image holds infinities, which
        # astropy restores from quantised tiles but cfitsio (funpack, ds9) reads as NaN. Not
        # astropy's lossless float tiles either: they lack ZQUANTIZ = 'NONE', and cfitsio 4.2
        # then decodes the quantised extension after them wrongly (tests/test_compression.py).
        return hdu
    # A negative quantize_level is the step itself (cfitsio's convention), not a fraction of
    # the tile's noise.
    return fits.CompImageHDU(
        data,
        header,
        name=hdu.name,
        compression_type="RICE_1",
        quantize_level=-step,
        quantize_method=2,
        dither_seed=DITHER_SEED,
    )
