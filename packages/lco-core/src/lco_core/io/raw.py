"""Read raw LCO files (.fits, .fits.fz, .fits.gz; single HDU, multi-extension or 3-D cube) into RawFile."""

from __future__ import annotations

import os
from typing import Any, Literal

import attrs
import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyError

from lco_core.errors import FitsReadError, MalformedKeywordError
from lco_core.header import Header
from lco_core.io._fits import hdu_label, open_fits, read_data, to_header
from lco_core.io.meta import check_scaling, parse_frame_meta, parse_section_keywords
from lco_core.meta import FrameMeta
from lco_core.raw import RawFile, RawImage


def _meta_source(path: str, hdul: fits.HDUList) -> tuple[str, Header]:
    """The header that carries the frame's keywords: the primary, or (fpack) the first image."""
    for index, hdu in enumerate(hdul):
        if "INSTRUME" in hdu.header:
            label = hdu_label(index, hdu)
            return label, to_header(hdu.header, path=path, hdu=label)
    label = hdu_label(0, hdul[0])
    return label, to_header(hdul[0].header, path=path, hdu=label)


def _image_header(path: str, index: int, hdu: Any) -> tuple[str, Header]:
    """The label and header of an image HDU, its cards parsed and its BSCALE and BZERO sane.

    Called before the pixels are read: astropy drops BSCALE and BZERO from the header once it
    has applied them.
    """
    label = hdu_label(index, hdu)
    header = to_header(hdu.header, path=path, hdu=label)
    check_scaling(header, path=path, hdu=label)
    return label, header


def _has_image(hdu: Any) -> bool:
    return (
        bool(hdu.is_image)
        and int(hdu.header.get("NAXIS", 0)) > 0
        and all(int(hdu.header.get(f"NAXIS{i}", 0)) > 0 for i in range(1, int(hdu.header["NAXIS"]) + 1))
    )


def read_meta(path: str | os.PathLike[str]) -> FrameMeta:
    """Parse only the headers of a raw file into `FrameMeta` (no pixel is read).

    Parameters
    ----------
    path : str or os.PathLike
        A raw file (.fits or .fits.fz).

    Returns
    -------
    FrameMeta

    Raises
    ------
    FitsReadError
        Not FITS, truncated or an impossible size.
    MissingKeywordError, MalformedKeywordError
        A mandatory keyword is absent or unparseable, a value is outside its sane range, an
        image's BSCALE or BZERO is absurd, or a header card cannot be parsed at all.
    """
    return read_headers(path)[0]


def read_headers(path: str | os.PathLike[str]) -> tuple[FrameMeta, tuple[tuple[int, ...], ...]]:
    """`FrameMeta` and the shape of every image HDU (numpy order), from the headers alone.

    Parameters
    ----------
    path : str or os.PathLike
        A raw file.

    Returns
    -------
    meta : FrameMeta
        Parsed from the header that carries INSTRUME.
    shapes : tuple of tuple of int
        Numpy shape of every HDU holding an image, in file order.

    Raises
    ------
    FitsReadError
        Not FITS, truncated or an impossible size.
    MissingKeywordError, MalformedKeywordError
        A mandatory keyword is absent or unparseable, a value is outside its sane range, an
        image's BSCALE or BZERO is absurd, or a header card cannot be parsed at all.
    """
    name = os.fspath(path)
    with open_fits(name) as hdul:
        label, header = _meta_source(name, hdul)
        meta = parse_frame_meta(header, path=name, hdu=label)
        images = [(index, hdu) for index, hdu in enumerate(hdul) if _has_image(hdu)]
        for index, hdu in images:
            # What read_raw would refuse, refused here too, so a frame sorted from its headers reads.
            _image_header(name, index, hdu)
        shapes = tuple(
            tuple(int(hdu.header[f"NAXIS{i}"]) for i in range(int(hdu.header["NAXIS"]), 0, -1))
            for _, hdu in images
        )
        return meta, shapes


def read_raw(path: str | os.PathLike[str]) -> RawFile:
    """Read a raw LCO file: metadata, and every image HDU as float32 with its sections.

    Parameters
    ----------
    path : str or os.PathLike
        A raw file: SBIG/Spectral single image, Sinistro multi-extension, or a legacy
        Sinistro data cube; plain or fpack (``.fits.fz``) compressed.

    Returns
    -------
    RawFile
        Pixels in ADU (float32); the file is opened read-only and never modified.

    Raises
    ------
    FitsReadError
        Not FITS, truncated, an impossible size, or no image data.
    MissingKeywordError, MalformedKeywordError
        A mandatory keyword is absent or unparseable, a value is outside its sane range, an
        image's BSCALE or BZERO is absurd, or a header card cannot be parsed at all (the error
        names file, HDU and keyword).
    """
    name = os.fspath(path)
    with open_fits(name) as hdul:
        label, primary = _meta_source(name, hdul)
        meta = parse_frame_meta(primary, path=name, hdu=label)
        images = []
        for index, hdu in enumerate(hdul):
            if not _has_image(hdu):
                continue
            where, _ = _image_header(name, index, hdu)
            data = read_data(name, hdu, f"HDU {index} ({where})")
            if data is None or data.size == 0:
                continue
            header = to_header(hdu.header, path=name, hdu=where)
            images.append(
                RawImage(
                    index=index,
                    name=str(hdu.name),
                    data=np.asarray(data, dtype=np.float32),
                    header=header,
                    sections=parse_section_keywords(header, path=name, hdu=where),
                )
            )
        if not images:
            raise FitsReadError(name, "holds no image data")
        return RawFile(
            path=name,
            meta=meta,
            primary=primary,
            sections=parse_section_keywords(primary, path=name, hdu=label),
            images=tuple(images),
        )


#: What an HDU holds: image pixels, a table, or nothing (an empty primary).
HduKind = Literal["image", "table", "empty"]


@attrs.frozen
class HduHeader:
    """One HDU of a file as its header describes it: enough to tell a raw frame from a product.

    Attributes
    ----------
    index : int
        Position in the file (0 is the primary).
    name : str
        EXTNAME, upper case ('PRIMARY' for the primary, '' when it has none or it is unreadable).
    kind : {'image', 'table', 'empty'}
        Image pixels (also tile-compressed), a binary or ASCII table, or no data.
    header : Header
        Its cards; a card whose value cannot be parsed is left out here (`read_headers`
        refuses it when the file is read as a raw frame).
    """

    index: int
    name: str
    kind: HduKind
    header: Header


def read_hdu_headers(path: str | os.PathLike[str]) -> tuple[HduHeader, ...]:
    """The header and kind of every HDU of a FITS file (no pixel is read).

    Parameters
    ----------
    path : str or os.PathLike
        Any FITS file: ``.fits``, ``.fits.fz`` or ``.fits.gz``.

    Returns
    -------
    tuple of HduHeader
        In file order.

    Raises
    ------
    FitsReadError
        Not FITS, truncated or an impossible size.
    """
    name = os.fspath(path)
    with open_fits(name) as hdul:
        return tuple(_hdu_header(name, index, hdu) for index, hdu in enumerate(hdul))


def _hdu_header(path: str, index: int, hdu: Any) -> HduHeader:
    try:
        extname = str(hdu.name).upper()
    except (VerifyError, ValueError):
        extname = ""
    kind: HduKind = (
        "image"
        if _has_image(hdu)
        else "table"
        if isinstance(hdu, fits.BinTableHDU | fits.TableHDU)
        else "empty"
    )
    label = hdu_label(index, hdu)
    try:
        header = to_header(hdu.header, path=path, hdu=label)
    except MalformedKeywordError:
        # Telling what a file is must not depend on one broken card: keep the cards that parse.
        readable = fits.Header()
        for card in hdu.header.cards:
            try:
                card.value  # noqa: B018  (parsing is the check)
            except (VerifyError, ValueError):
                continue
            readable.append(card)
        header = to_header(readable, path=path, hdu=label)
    return HduHeader(index, extname, kind, header)
