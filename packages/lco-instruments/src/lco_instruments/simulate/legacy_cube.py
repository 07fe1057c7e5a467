"""A full four-plane 2015 Sinistro data cube, written from a real frame's literal header values.

The 2014-2016 Sinistro frames are one 3-D primary image (one plane per amplifier) whose header
has no CRSTLKij cards, BIASSEC and DETSEC 'UNKNOWN', a DATASEC that describes no plane, a GAIN
list and SATURATE = 0. The public copies of such frames keep one plane only; this module writes
all four, with the header cards of the real ``coj1m011-fl08-20151216-0049-b00`` copied value for
value (`FL08_2015_CARDS`), so the pipeline meets what it would meet in LCO's archive: the named
fix ``legacy_sinistro_cube``, the camera's crosstalk table and the class saturation.

Pixels are placed with the simulator's own layout (`~lco_instruments.simulate.layout.legacy_cube_layout`),
never through the pipeline's geometry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lco_core.header import Header, HeaderCard
from lco_core.io.raw_writer import write_raw_cube
from lco_instruments.geometry import CrosstalkMatrix
from lco_instruments.simulate.layout import legacy_cube_layout

__all__ = ["FL08_2015_CARDS", "legacy_cube_planes", "write_legacy_cube"]

#: Header cards of the real 2015 fl08 bias (shared/data/real/ingester/coj1m011-fl08-20151216-0049-b00,
#: from observatorycontrolsystem/ingester), value for value: (keyword, value, comment).
FL08_2015_CARDS: tuple[tuple[str, str | float | int, str], ...] = (
    ("ORIGIN", "LCOGT", "Organization responsible for the data"),
    ("SITEID", "coj", "ID code of the Observatory site"),
    ("ENCID", "doma", "ID code of the Enclosure"),
    ("TELID", "1m0a", "ID code of the Telescope"),
    ("TELESCOP", "1m0-11", "The Name of the Telescope"),
    ("OBSTYPE", "BIAS", "Observation type"),
    ("FRAMENUM", 49, "Running frame number"),
    ("ORIGNAME", "coj1m011-fl08-20151216-0049-b00.fits", "Fname written by ICS"),
    ("DATE-OBS", "2015-12-16T19:33:54.238", "[UTC] Start date and time of the observati"),
    ("DAY-OBS", "20151216", "[UTC] Date at start of local observing night"),
    ("UTSTART", "19:33:54.238", "[UTC] The start time of the observation"),
    ("EXPTIME", 0.0, "[s] Exposure length"),
    ("FILTER1", "air", "The first filter wheel filter type"),
    ("FILTER2", "rp", "The second filter wheel filter type"),
    ("FILTER3", "air", "The third filter wheel filter type"),
    ("FILTER", "rp", "Filter used"),
    ("INSTRUME", "fl08", "Instrument used"),
    ("CONFMODE", "N/A", "Camera mode configuration"),
    ("GAIN", "[2.01, 1.99, 2.05, 2.02]", "[electrons/count] Pixel gain"),
    ("RDNOISE", 14.8, "[electrons/pixel] Read noise"),
    ("SATURATE", 0.0, "[ADU] Saturation level"),
    ("MAXLIN", 0.0, "[ADU] Non-linearity level"),
    ("DETSIZE", "[1:0,1:0]", "[pixel] Detector size"),
    ("AMPNAME", "default", "Amplifier name"),
    ("CCDSEC", "UNKNOWN", "[pixel] Region of CCD read"),
    ("CCDSUM", "2 2", "CCD on-chip summing/binning"),
    ("BIASSEC", "UNKNOWN", "[binned pixel] Section of bias/overscan data"),
    ("DATASEC", "[1:4094,1:4096]", "[binned pixel] Data section"),
    ("TRIMSEC", "[1:4096,1:4096]", "[binned pixel] Section of useful data"),
    ("DETSEC", "UNKNOWN", "[binned pixel] Section of useful data"),
    ("PIXSCALE", 0.778, "[arcsec/pixel] Nominal pixel scale on sky"),
    ("CCDSTEMP", -100.0, "[deg C] CCD required temperature"),
    ("CCDATEMP", -100.0002823, "[deg C] CCD actual temperature"),
    ("RA", "23:09:14.613", "[HH:MM:SS.sss] RA where telescope is pointing"),
    ("DEC", "-80:06:25.99", "[sDD:MM:SS.ss] Dec where telescope is pointing"),
    ("RADESYS", "ICRS", "[[FK5,ICRS]] Fundamental coord. system of the o"),
    ("OBJECT", "N/A", "Object name"),
    ("AIRMASS", 2.7367251, "Effective mean airmass"),
    ("CTYPE1", "RA---TAN", "Type of WCS Projection"),
    ("CTYPE2", "DEC--TAN", "Type of WCS Projection"),
    ("CRPIX1", 1024.0, "[pixel] Coordinate of reference point (axis 1)"),
    ("CRPIX2", 1024.0, "[pixel] Coordinate of reference point (axis 2)"),
    ("CRVAL1", 176.0404728, "[deg] RA at the reference pixel"),
    ("CRVAL2", -21.9137133, "[deg] Dec at the reference pixel"),
    ("CD1_1", -0.0002161, "WCS CD transformation matrix"),
    ("CD1_2", 0.0, "WCS CD transformation matrix"),
    ("CD2_1", 0.0, "WCS CD transformation matrix"),
    ("CD2_2", 0.0002161, "WCS CD transformation matrix"),
)

#: The overscan level of the real fl08 frames, ADU (SOURCES.md: about 818 ADU).
FL08_OVERSCAN = 818.0


def legacy_cube_planes(
    electrons: npt.NDArray[np.floating],
    *,
    binning: int,
    gains: Sequence[float],
    crosstalk: CrosstalkMatrix,
    overscan: Sequence[float] = (FL08_OVERSCAN,) * 4,
    read_noise: float = 0.0,
    seed: int = 0,
) -> npt.NDArray[np.float32]:
    """The four readouts of a cube holding ``electrons``, with crosstalk between them.

    Each amplifier reads its part of the image (`~lco_instruments.simulate.layout.legacy_cube_layout`)
    in ADU (electrons / gain); amplifier j then also carries ``crosstalk[i][j]`` times the
    signal amplifier i reads at the same readout pixel, and the offset and read noise.

    Parameters
    ----------
    electrons : ndarray of float
        The detector image, binned (2048 x 2048 at 2x2, 4096 x 4096 at 1x1), electrons.
    binning : int
        1 or 2.
    gains : sequence of float
        Gain of each amplifier, electrons per ADU.
    crosstalk : tuple of tuple of float
        ``crosstalk[i][j]``: fraction of amplifier i+1's signal appearing in amplifier j+1.
    overscan : sequence of float
        Offset of each amplifier, ADU.
    read_noise : float
        Electrons (0: none).
    seed : int
        Random seed of the read noise.

    Returns
    -------
    ndarray of float32
        Shape (4, rows, columns): the cube's planes in the file's order.
    """
    layout = legacy_cube_layout(binning)
    signal = [readout / gain for readout, gain in zip(layout.cut(electrons), gains, strict=True)]
    rng = np.random.default_rng(seed)
    planes = []
    for victim, (gain, level) in enumerate(zip(gains, overscan, strict=True)):
        adu = signal[victim].astype(np.float64) + level
        for source in range(len(signal)):
            if source != victim:
                adu += crosstalk[source][victim] * signal[source]
        if read_noise:
            adu += rng.normal(0.0, read_noise / gain, size=adu.shape)
        planes.append(adu)
    return np.asarray(planes, dtype=np.float32)


def write_legacy_cube(
    path: str | os.PathLike[str],
    planes: npt.NDArray[np.float32],
    *,
    cards: Sequence[tuple[str, str | float | int, str]] = FL08_2015_CARDS,
    changes: Mapping[str, str | float | int] | None = None,
) -> Path:
    """Write a 2015-format Sinistro frame: one 3-D primary image and the header cards as given.

    Parameters
    ----------
    path : str or os.PathLike
        Target file (uncompressed FITS, `~lco_core.io.raw_writer.write_raw_cube`).
    planes : ndarray of float32
        Shape (4, rows, columns).
    cards : sequence of (str, value, str)
        The header cards, written as they are (by default the real fl08's).
    changes : mapping of str to value, optional
        Values to change (e.g. ``{"OBSTYPE": "EXPOSE", "EXPTIME": 30.0}``); keywords not in
        ``cards`` are appended.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    values = {keyword: (value, comment) for keyword, value, comment in cards}
    for keyword, value in (changes or {}).items():
        values[keyword] = (value, values.get(keyword, (None, ""))[1])
    header = Header(tuple(HeaderCard(k, v, c) for k, (v, c) in values.items()))
    return write_raw_cube(path, header, planes)
