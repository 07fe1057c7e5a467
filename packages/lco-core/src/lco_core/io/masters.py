"""Write and read master calibrations and bad pixel masks (header keywords <-> typed records)."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
from astropy.io import fits

from lco_core.errors import FitsReadError, MalformedKeywordError, MissingKeywordError
from lco_core.header import Header, HeaderCard
from lco_core.io._fits import open_fits, read_data, to_fits_header, to_header
from lco_core.io.meta import HeaderReader
from lco_core.io.products import read_product, write_atomically, write_product
from lco_core.keyword_table import describing_cards, keyword_cards
from lco_core.master import BadPixelMask, Master, MasterKind
from lco_core.provenance import ParamValue

#: BUNIT of each kind of master: a bias is electrons per read, a dark electrons per second, a
#: flat a response relative to its normalisation level (dimensionless, written ``''``).
MASTER_UNITS = {MasterKind.BIAS: "electron", MasterKind.DARK: "electron/s", MasterKind.SKYFLAT: ""}
#: The card of a mask file holding the thresholds it was made with (JSON).
BPM_PARAMETERS = "BPMPARAM"


def _master_cards(master: Master) -> tuple[HeaderCard, ...]:
    meta = master.frame.meta
    kind = master.kind
    items: list[tuple[str, object]] = [
        ("ISMASTER", True),
        ("OBSTYPE", kind.obstype.value),
        ("DATE-OBS", meta.date_obs.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]),
        ("DAY-OBS", f"{meta.day_obs:%Y%m%d}"),
        ("NINPUTS", len(master.inputs)),
        *((f"IMCOM{n:03d}", name) for n, name in enumerate(master.inputs, 1)),
    ]
    if kind is MasterKind.BIAS:
        items.append(("BIASLVL", master.bias_level))
    if kind is MasterKind.DARK:
        if master.temperature is not None:
            items.append(("CCDATEMP", master.temperature))
        items.append(("DRKTCOEF", master.dark_temperature_coefficient))
    if kind is MasterKind.SKYFLAT and master.flat_level is not None:
        items.append(("FLATLVL", master.flat_level))
    # The master's own file name is its ORIGNAME: it has no raw file, and the template's would
    # name one of its inputs.
    return (*describing_cards(master.frame, unit=MASTER_UNITS[kind]), *keyword_cards(items))


def write_master(path: str | os.PathLike[str], master: Master) -> Path:
    """Write a master as a product (SCI, BPM, ERR) with ISMASTER, its inputs and its levels.

    The SCI header gets ISMASTER = T, OBSTYPE, DATE-OBS (mean of the inputs), DAY-OBS,
    NINPUTS and IMCOM001... (the inputs), and BIASLVL (bias), CCDATEMP and DRKTCOEF (dark)
    or FLATLVL (flat); and, replacing the template frame's raw cards, what its pixels are
    (`lco_core.keyword_table.describing_cards`): BUNIT from `MASTER_UNITS`, GAIN = 1.0,
    SATURATE, MAXLIN and RDNOISE of the detector in electrons, PIPEVER, RLEVEL and ORIGNAME
    (the master's own file name). Comments come from `lco_core.keyword_table.PRODUCT_KEYWORDS`.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; written atomically.
    master : Master
        The master.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ProductWriteError
        The file cannot be written.
    """
    return write_product(path, master.frame, keywords=tuple(_master_cards(master)))


def read_master(path: str | os.PathLike[str]) -> Master:
    """Read a master written by `write_master`.

    Parameters
    ----------
    path : str or os.PathLike
        The master file.

    Returns
    -------
    Master

    Raises
    ------
    FitsReadError
        Not a product, or ISMASTER is not T.
    MissingKeywordError, MalformedKeywordError
        NINPUTS is missing, or OBSTYPE is not BIAS, DARK or SKYFLAT.
    """
    name = os.fspath(path)
    product = read_product(name)
    frame = product.frame
    header = frame.header
    reader = HeaderReader(header, name, "SCI")
    if header.get("ISMASTER") is not True:
        raise FitsReadError(name, "is not a master calibration (ISMASTER is not T)")
    kinds = {kind.obstype.value: kind for kind in MasterKind}
    kind = kinds.get(frame.meta.obstype.value)
    if kind is None:
        raise MalformedKeywordError(name, "SCI", "OBSTYPE", frame.meta.obstype.value, "BIAS, DARK or SKYFLAT")
    count = reader.number("NINPUTS")
    if count is None:
        raise MissingKeywordError(name, "SCI", "NINPUTS")
    inputs = tuple(str(header.get(f"IMCOM{n:03d}")) for n in range(1, int(count) + 1))
    return Master(
        kind=kind,
        frame=frame,
        inputs=inputs,
        bias_level=reader.number("BIASLVL") or 0.0,
        temperature=reader.number("CCDATEMP") if kind is MasterKind.DARK else None,
        dark_temperature_coefficient=reader.number("DRKTCOEF") or 0.0,
        flat_level=reader.number("FLATLVL"),
    )


def write_bad_pixel_mask(
    path: str | os.PathLike[str], bpm: BadPixelMask, *, header: Header | None = None
) -> Path:
    """Write a bad pixel mask: an empty primary and a uint8 'BPM' image with camera and binning.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; written atomically.
    bpm : BadPixelMask
        The mask.
    header : Header, optional
        Cards to carry; OBSTYPE = 'BPM', INSTRUME, CCDSUM, DATE and the mask's parameters
        (BPMPARAM, JSON) are set.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ProductWriteError
        The file cannot be written.
    """
    # A mask for any camera or binning carries no INSTRUME or CCDSUM, so it reads back as such.
    owner = [HeaderCard("INSTRUME", bpm.camera, "Instrument used")] if bpm.camera else []
    if bpm.binning is not None:
        owner.append(HeaderCard("CCDSUM", bpm.binning.ccdsum, "CCD on-chip summing/binning"))
    if bpm.parameters:
        owner.append(
            HeaderCard(BPM_PARAMETERS, json.dumps(dict(bpm.parameters)), "Thresholds the mask was made with")
        )
    cards = (header or Header()).updated(
        (
            HeaderCard("OBSTYPE", "BPM", "Observation type"),
            *owner,
            HeaderCard("DATE", dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"), "[UTC] File written"),
        )
    )
    hdul = fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(np.asarray(bpm.mask, dtype=np.uint8), to_fits_header(cards), name="BPM"),
        ]
    )
    target = Path(path)
    write_atomically(hdul, target)
    return target


def read_bad_pixel_mask(path: str | os.PathLike[str]) -> BadPixelMask:
    """Read the 'BPM' extension of a mask file or product (non-zero = bad).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by `write_bad_pixel_mask`, or any product.

    Returns
    -------
    BadPixelMask
        With the camera (INSTRUME) and binning (CCDSUM) the file states (None when absent), and
        the thresholds it was made with (BPMPARAM; empty when absent).

    Raises
    ------
    FitsReadError
        No BPM extension, or it is not 2-D.
    MalformedKeywordError
        A CCDSUM that is not two positive integers, or a BPMPARAM that is not a JSON object.
    """
    name = os.fspath(path)
    with open_fits(name) as hdul:
        if "BPM" not in hdul:
            raise FitsReadError(name, "has no BPM extension")
        hdu = hdul["BPM"]
        data = np.asarray(read_data(name, hdu, "BPM"))
        header = to_header(hdu.header)
        if header.get("INSTRUME") is None and "INSTRUME" in hdul[0].header:
            header = to_header(hdul[0].header)
    if data.ndim != 2:
        raise FitsReadError(name, f"BPM extension is {data.ndim}-D, not an image")
    reader = HeaderReader(header, name, "BPM")
    return BadPixelMask(
        mask=(data != 0).astype(np.uint8),
        filename=Path(name).name,
        camera=reader.text("INSTRUME"),
        binning=reader.binning("CCDSUM"),
        parameters=_bpm_parameters(header, name),
    )


def _bpm_parameters(header: Header, path: str) -> dict[str, ParamValue]:
    text = header.get(BPM_PARAMETERS)
    if text is None:
        return {}
    try:
        parameters = json.loads(str(text))
    except json.JSONDecodeError:
        parameters = None
    if not isinstance(parameters, dict) or not all(
        isinstance(v, str | int | float | bool) for v in parameters.values()
    ):
        raise MalformedKeywordError(path, "BPM", BPM_PARAMETERS, str(text)[:60], "a JSON object of scalars")
    return parameters
