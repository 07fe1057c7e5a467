"""Write processed frames as multi-extension FITS (SCI, CAT, BPM, ERR), atomically; read them back."""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import attrs
import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.units import UnitsWarning

from lco_core.atomic import atomic_output
from lco_core.errors import FitsReadError, ProductWriteError
from lco_core.frame import Frame
from lco_core.header import Header, HeaderCard
from lco_core.io._fits import STRUCTURAL_KEYWORDS, open_fits, read_data, to_fits_header, to_header
from lco_core.io.compression import compressed, is_compressed_name
from lco_core.io.meta import HeaderReader, parse_frame_meta
from lco_core.provenance import ParamValue, ProcessingStep
from lco_core.sources import SourceCatalog, WcsSolution

#: Prefix of the keywords that hold each processing step as JSON (PROV0001, PROV0002, ...).
PROVENANCE_PREFIX = "PROV"
#: Prefix of the HISTORY lines this pipeline writes (kept apart from the raw file's own).
HISTORY_PREFIX = "lco-reduce: "


@attrs.frozen(eq=False)
class Product:
    """A processed frame as stored: the frame and, for science frames, its source catalog.

    Attributes
    ----------
    frame : Frame
        SCI, BPM and ERR with the metadata, history and WCS read back.
    catalog : astropy.table.Table or None
        The CAT extension (also in ``frame.sources``).
    """

    frame: Frame
    catalog: Table | None = None


def _provenance_cards(history: Sequence[ProcessingStep]) -> list[HeaderCard]:
    cards = []
    for number, step in enumerate(history, start=1):
        record = {
            "stage": step.stage,
            "parameters": dict(step.parameters),
            "diagnostics": dict(step.diagnostics),
            "masters": list(step.masters),
        }
        cards.append(HeaderCard(f"{PROVENANCE_PREFIX}{number:04d}", json.dumps(record), f"step {number}"))
    cards += [HeaderCard("HISTORY", HISTORY_PREFIX + step.describe()) for step in history]
    return cards


def _is_provenance(keyword: str) -> bool:
    return keyword.startswith(PROVENANCE_PREFIX) and keyword[len(PROVENANCE_PREFIX) :].isdigit()


def _history_from(header: Header) -> tuple[ProcessingStep, ...]:
    steps = []
    for card in header.cards:
        if _is_provenance(card.keyword) and isinstance(card.value, str):
            record = json.loads(card.value)
            steps.append(
                ProcessingStep(
                    record["stage"],
                    {key: _thaw(value) for key, value in record["parameters"].items()},
                    {key: _thaw(value) for key, value in record["diagnostics"].items()},
                    tuple(record["masters"]),
                )
            )
    return tuple(steps)


def _thaw(value: Any) -> ParamValue:
    # JSON turns tuples into lists; parameters are scalars or tuples of scalars.
    return tuple(value) if isinstance(value, list) else cast(ParamValue, value)


def _passthrough(header: Header) -> Header:
    """The header a frame carries: without structure cards and without our own provenance."""
    cards = tuple(
        card
        for card in header.cards
        if card.keyword not in STRUCTURAL_KEYWORDS
        and not card.keyword.startswith(("NAXIS", "TTYPE", "TFORM", "TUNIT"))
        and not _is_provenance(card.keyword)
        and not (card.keyword == "HISTORY" and str(card.value).startswith(HISTORY_PREFIX))
    )
    return Header(cards)


def write_product(
    path: str | os.PathLike[str],
    frame: Frame,
    *,
    catalog: Table | None = None,
    keywords: Sequence[HeaderCard] = (),
) -> Path:
    """Write ``frame`` (and its catalog) to ``path`` as SCI, CAT, BPM, ERR extensions.

    ``catalog`` defaults to the frame's own ``sources``.

    The file is written to a temporary name in the target folder, flushed to disk and renamed
    into place, so a crash never leaves a half-written product at ``path``. ``keywords`` are
    added to the SCI header (replacing cards of the same keyword), after the frame's own header.
    Each processing step is written as a ``PROVnnnn`` card (JSON) and a HISTORY line.

    Parameters
    ----------
    path : str or os.PathLike
        Target file.
    frame : Frame
        An assembled frame.
    catalog : astropy.table.Table, optional
        The CAT extension; defaults to ``frame.sources``.
    keywords : sequence of HeaderCard
        Extra SCI cards (e.g. `~lco_stages.keywords.product_keywords`).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ProductWriteError
        The frame is not assembled or the file cannot be written.
    """
    target = Path(path)
    if not frame.assembled:
        raise ProductWriteError(str(target), "the frame has not been assembled into one image")
    base = _passthrough(frame.header)
    if frame.wcs is not None:
        # The solution replaces the raw pointing WCS whole: a CD matrix left beside a PC one lies.
        base = Header(tuple(card for card in base.cards if not _WCS_KEYWORD.match(card.keyword)))
        keywords = (*frame.wcs.cards.cards, *keywords)
    header = base.updated((*keywords, *_provenance_cards(frame.history)))
    if catalog is None and frame.sources is not None:
        catalog = frame.sources.to_table()
    science = fits.ImageHDU(np.asarray(frame.data, dtype=np.float32), to_fits_header(header), name="SCI")
    hdus: list[fits.hdu.base.ExtensionHDU] = [science]
    if catalog is not None:
        with warnings.catch_warnings():
            # 'electron' is the CAT's true unit though the FITS standard lists no such unit.
            warnings.simplefilter("ignore", UnitsWarning)
            hdus.append(fits.table_to_hdu(catalog, character_as_bytes=False))
        hdus[-1].name = "CAT"
    hdus.append(fits.ImageHDU(np.asarray(frame.mask, dtype=np.uint8), name="BPM"))
    # ERR is in SCI's units: the unit is said where SCI says it.
    unit = header.get("BUNIT")
    error_header = fits.Header()
    if unit is not None:
        error_header["BUNIT"] = (unit, "Units of the 1-sigma uncertainty")
    hdus.append(fits.ImageHDU(np.asarray(frame.uncertainty, dtype=np.float32), error_header, name="ERR"))
    hdul = fits.HDUList([fits.PrimaryHDU(), *hdus])
    write_atomically(hdul, target)
    return target


def write_atomically(hdul: fits.HDUList, target: Path) -> None:
    """Write ``hdul`` to a temporary file beside ``target``, flush it to disk, rename it into place.

    A target named ``.fz`` is tile-compressed (`~lco_core.io.compression.compressed`): the name
    says the format, as LCO's ``.fits.fz`` does.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        What to write (with checksums), uncompressed.
    target : pathlib.Path
        The file; its folder is created.

    Raises
    ------
    ProductWriteError
        The folder or the file cannot be written (the temporary file is removed).
    """
    if is_compressed_name(target):
        hdul = compressed(hdul)
    try:
        with atomic_output(target) as temporary:
            hdul.writeto(temporary, output_verify="fix", checksum=True, overwrite=True)
    except (OSError, ValueError) as error:
        raise ProductWriteError(str(target), getattr(error, "strerror", None) or str(error)) from None


def read_product(path: str | os.PathLike[str]) -> Product:
    """Read a product written by `write_product` back into a `Frame` (and its catalog).

    Parameters
    ----------
    path : str or os.PathLike
        The product.

    Returns
    -------
    Product
        The frame with its history (from the PROV cards), its header, the CAT table as
        ``sources`` and the WCS solution when WCSERR is present.

    Raises
    ------
    FitsReadError
        Not FITS, or no SCI, BPM or ERR extension.
    MissingKeywordError, MalformedKeywordError
        The SCI header lacks a mandatory keyword.
    """
    name = os.fspath(path)
    with open_fits(name) as hdul:
        names = [hdu.name for hdu in hdul]
        for required in ("SCI", "BPM", "ERR"):
            if required not in names:
                raise FitsReadError(name, f"is not a product: no {required} extension")
        science = hdul["SCI"]
        header = to_header(science.header)
        meta = parse_frame_meta(header, path=name, hdu="SCI")
        frame = Frame(
            meta=meta,
            data=np.asarray(read_data(name, science, "SCI"), dtype=np.float32),
            mask=np.asarray(read_data(name, hdul["BPM"], "BPM"), dtype=np.uint8),
            uncertainty=np.asarray(read_data(name, hdul["ERR"], "ERR"), dtype=np.float32),
            history=_history_from(header),
            header=_passthrough(header),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnitsWarning)  # 'electron' (see write_product)
            catalog = Table.read(hdul["CAT"]) if "CAT" in names else None
    if catalog is not None:
        frame = attrs.evolve(frame, sources=SourceCatalog.from_table(catalog))
    wcs = _wcs_from(frame.header, name)
    if wcs is not None:
        frame = attrs.evolve(frame, wcs=wcs)
    return Product(frame, catalog)


#: Keywords of a (TAN or TAN-SIP) WCS solution.
_WCS_KEYWORD = re.compile(
    r"^(WCSAXES|CTYPE[12]|CUNIT[12]|CRPIX[12]|CRVAL[12]|CD[12]_[12]|PC[12]_[12]|CDELT[12]|"
    r"[AB]P?_(ORDER|\d_\d)|RADESYS|EQUINOX|LONPOLE|LATPOLE)$"
)


def wcs_cards(header: Header) -> Header:
    """The WCS keywords of a header (for ``WcsSolution.cards``).

    Parameters
    ----------
    header : Header
        Any header.

    Returns
    -------
    Header
        Its CTYPE, CRPIX, CRVAL, CD/PC, CDELT, SIP (``A_``, ``B_``, ``AP_``, ``BP_``), RADESYS, EQUINOX,
        LONPOLE and LATPOLE cards.
    """
    return Header(tuple(card for card in header.cards if _WCS_KEYWORD.match(card.keyword)))


def _wcs_from(header: Header, name: str) -> WcsSolution | None:
    wcserr = header.get("WCSERR")
    if wcserr is None or isinstance(wcserr, bool) or not isinstance(wcserr, int | float):
        return None
    reader = HeaderReader(header, name, "SCI")
    return WcsSolution(
        cards=wcs_cards(header),
        wcserr=int(wcserr),
        rms_arcsec=reader.number("WCSRMS") or float("nan"),
        n_matched=int(reader.number("WCSMATCH") or 0),
        reason=reader.text("WCSREASN") or "",
    )
