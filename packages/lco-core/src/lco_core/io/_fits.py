"""Opening FITS files safely: structure checks from the headers before any pixel is read."""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import re
import warnings
import zlib
from collections.abc import Iterator
from typing import Any

from astropy.io import fits
from astropy.io.fits.verify import VerifyError
from astropy.utils.exceptions import AstropyUserWarning

from lco_core.errors import FitsReadError, MalformedKeywordError
from lco_core.header import Header, HeaderCard

#: Largest image we accept (pixels): a 4096x4096x4 cube is 6.7e7; 2**31 leaves room for any
#: real camera while refusing headers that would make us allocate absurd amounts of memory.
MAX_PIXELS = 2**31

_FITS_SIGNATURE = b"SIMPLE  ="
#: The first bytes of a gzip stream (RFC 1952): a ``.fits.gz`` file, which astropy reads as FITS.
_GZIP_SIGNATURE = b"\x1f\x8b"
#: How astropy (8.0) names the card and HDU it could not parse when opening a file.
_UNPARSABLE_CARD = re.compile(r"Unparsable card \((.*?)\)")
_HDU_NUMBER = re.compile(r"HDU #(\d+)")
#: FITS files are a whole number of 2880-byte blocks.
_BLOCK = 2880


def to_header(header: fits.Header, *, path: str = "<header>", hdu: str = "0") -> Header:
    """Copy an astropy header into an immutable `Header` (values as Python scalars).

    Parameters
    ----------
    header : astropy.io.fits.Header
        The header.
    path, hdu : str
        Its file and HDU (for error messages).

    Returns
    -------
    Header

    Raises
    ------
    MalformedKeywordError
        A card whose value astropy cannot parse (unclosed quote, control character, ``NaN``,
        ``12.3.4``), naming the file, HDU and card.
    """
    cards = []
    for card in header.cards:
        try:
            value = card.value
        except (VerifyError, ValueError):
            # Every unparsable card is refused, not only those we read: lco-instruments, the
            # WCS seed and product headers read or copy keywords this module cannot list, so
            # dropping a card would silently change a frame's meaning or its products.
            raw_value, problem = _unparsable(card)
            raise MalformedKeywordError(
                path, hdu, str(card.keyword), raw_value, f"a parsable FITS value ({problem})"
            ) from None
        if isinstance(value, fits.card.Undefined):
            value = None
        elif not isinstance(value, str | int | float | bool):
            value = str(value)
        cards.append(HeaderCard(card.keyword, value, str(card.comment)))
    return Header(tuple(cards))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CLOSED_STRING = re.compile(r"^'(?:[^']|'')*'")


def _unparsable(card: Any) -> tuple[str, str]:
    """The value text of a card astropy cannot parse, and what is wrong with it in a few words."""
    # `card.image` would make astropy "fix" the card in place (and warn); `_image` is the
    # 80 characters as read from the file.
    image = str(getattr(card, "_image", None) or "")
    text = image[10:] if image[8:10] == "= " else image[8:]
    control = _CONTROL.search(text)
    if control:
        return text.strip(), f"control character 0x{ord(control.group()):02x}"
    stripped = text.strip()
    if stripped.startswith("'") and not _CLOSED_STRING.match(stripped):
        return stripped, "unclosed quote"
    value = stripped.split("/", 1)[0].strip()
    return value, "not a FITS string, number or logical"


def hdu_label(index: int, hdu: Any) -> str:
    """How errors name an HDU: its EXTNAME, else its index (also when EXTNAME is unparsable)."""
    try:
        name = hdu.name
    except (VerifyError, ValueError):
        # The card itself is then reported by `to_header`, under the index.
        return str(index)
    return str(name) if name else str(index)


def to_fits_header(header: Header) -> fits.Header:
    """An astropy header holding the cards of ``header`` (structural keywords excluded)."""
    result = fits.Header()
    for card in header.cards:
        if card.keyword in STRUCTURAL_KEYWORDS or card.keyword.startswith(
            ("NAXIS", "ZNAXIS", "ZTILE", "TTYPE", "TFORM")
        ):
            continue
        if card.keyword == "HISTORY":
            result.add_history(str(card.value))
        elif card.keyword == "COMMENT":
            result.add_comment(str(card.value))
        elif card.keyword:
            result.append(fits.Card(card.keyword, card.value, card.comment), end=True)
    return result


#: Keywords astropy writes itself from the data; copying them from a raw header would lie.
STRUCTURAL_KEYWORDS = frozenset(
    {
        "SIMPLE",
        "XTENSION",
        "BITPIX",
        "NAXIS",
        "EXTEND",
        "PCOUNT",
        "GCOUNT",
        "BZERO",
        "BSCALE",
        "BLANK",
        "CHECKSUM",
        "DATASUM",
        "EXTNAME",
        "EXTVER",
        "TFIELDS",
        "ZIMAGE",
        "ZBITPIX",
        "ZCMPTYPE",
        "ZQUANTIZ",
        "ZDITHER0",
        "ZSIMPLE",
        "ZEXTEND",
        "ZPCOUNT",
        "ZGCOUNT",
        "ZHECKSUM",
        "ZDATASUM",
        "ZNAME1",
        "ZVAL1",
        "ZNAME2",
        "ZVAL2",
        "ZBLANK",
        "ZTENSION",
    }
)


def _declared_data_bytes(header: fits.Header) -> int:
    """Bytes of data the FITS standard says follow this header (padding excluded)."""
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    axes = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
    if any(axis < 0 for axis in axes):
        raise ValueError(f"negative axis length {axes}")
    bitpix = abs(int(header.get("BITPIX", 8)))
    gcount = int(header.get("GCOUNT", 1))
    pcount = int(header.get("PCOUNT", 0))
    return bitpix // 8 * gcount * (pcount + math.prod(axes))


def _image_pixels(header: fits.Header) -> int:
    """Pixels of the image an image header describes (astropy gives the uncompressed header
    of a tile-compressed image)."""
    naxis = int(header.get("NAXIS", 0))
    axes = [int(header.get(f"NAXIS{i}", 0)) for i in range(1, naxis + 1)]
    return math.prod(axes) if axes else 0


def _storage_header(hdu: Any) -> fits.Header:
    """The header that describes the bytes on disk: a compressed image's binary-table header."""
    # astropy keeps the on-disk table of a CompImageHDU in `_bintable`; without it (older or
    # newer astropy) the image header is the best available description.
    table = getattr(hdu, "_bintable", None)
    header: fits.Header = hdu.header if table is None else table.header
    return header


def _check_structure(path: str, hdul: fits.HDUList, file_size: int) -> None:
    for index, hdu in enumerate(hdul):
        info = hdu.fileinfo()
        where = f"HDU {index} ({hdu_label(index, hdu)})"
        try:
            declared = _declared_data_bytes(_storage_header(hdu))
            pixels = _image_pixels(hdu.header) if hdu.is_image else 0
        except (TypeError, ValueError) as error:
            raise FitsReadError(path, f"{where} has an invalid size in its header ({error})") from None
        if pixels > MAX_PIXELS:
            raise FitsReadError(path, f"{where} claims an impossible image size of {pixels} pixels")
        if info["datLoc"] + declared > file_size:
            raise FitsReadError(
                path,
                f"truncated: {where} declares {declared} bytes of data but the file ends "
                f"{file_size - info['datLoc']} bytes after its header",
            )


@contextlib.contextmanager
def open_fits(path: str | os.PathLike[str]) -> Iterator[fits.HDUList]:
    """Open a FITS file read-only after checking it is FITS and not truncated or absurd.

    A gzip-compressed file (``.fits.gz``) is read like the FITS file it holds. Raises
    `FitsReadError` naming the file for anything that is not a readable FITS file; no pixel
    data are read here.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as stream:
            signature = stream.read(len(_FITS_SIGNATURE))
        file_size = os.path.getsize(name)
        if signature.startswith(_GZIP_SIGNATURE):
            signature, file_size = _gzip_signature_and_size(name)
    except OSError as error:
        raise FitsReadError(name, f"cannot be read ({error.strerror or error})") from None
    if signature != _FITS_SIGNATURE:
        raise FitsReadError(name, "is not a FITS file (no SIMPLE card at the start)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", AstropyUserWarning)
            hdul = fits.open(name, mode="readonly", memmap=False, lazy_load_hdus=False)
    except (OSError, ValueError, TypeError, IndexError, KeyError, AstropyUserWarning) as error:
        detail = _one_line(error)
        if "truncated" in detail or file_size % _BLOCK:
            raise FitsReadError(
                name, f"truncated: {file_size} bytes is not a whole number of 2880-byte FITS blocks"
            ) from None
        card = _UNPARSABLE_CARD.search(str(error))
        if card:
            # A structural card (BSCALE, NAXISn, ...) astropy must parse to open the file.
            hdu = _HDU_NUMBER.search(str(error))
            where = f"HDU {hdu.group(1)}: " if hdu else ""
            raise FitsReadError(name, f"{where}header card {card.group(1)} cannot be parsed") from None
        raise FitsReadError(name, f"is not a readable FITS file ({detail})") from None
    try:
        _check_structure(name, hdul, file_size)
        yield hdul
    except VerifyError as error:
        # astropy parses most cards only when asked (hdu.name, header.get); whatever asks
        # outside `to_header` still gives a typed error naming the file and, as astropy does, the card.
        card = _UNPARSABLE_CARD.search(str(error))
        what = f"header card {card.group(1)}" if card else "a header card"
        raise FitsReadError(name, f"{what} cannot be parsed") from None
    finally:
        hdul.close()


def _gzip_signature_and_size(name: str) -> tuple[bytes, int]:
    """The first bytes and the size of a gzip file's content, read through once.

    The structure checks compare each HDU's declared size with the bytes of FITS there are, so
    a gzip file (``.fits.gz``) is measured by its content, not by its compressed size; a gzip
    stream that is cut short or corrupt is refused here, naming the file.
    """
    try:
        with gzip.open(name, "rb") as stream:
            signature = stream.read(len(_FITS_SIGNATURE))
            size = len(signature)
            while chunk := stream.read(1 << 20):
                size += len(chunk)
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise FitsReadError(name, f"truncated or corrupt gzip file ({_one_line(error)})") from None
    return signature, size


def read_data(path: str, hdu: Any, where: str) -> Any:
    """The data of one HDU, with astropy's errors turned into a `FitsReadError`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)
            return hdu.data
    except (OSError, ValueError, TypeError, IndexError, KeyError, MemoryError) as error:
        raise FitsReadError(path, f"{where}: pixel data cannot be read ({_one_line(error)})") from None


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
