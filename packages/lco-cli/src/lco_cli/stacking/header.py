"""The coadd's header: what its inputs share, and what it is."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from lco_cli.stacking.grouping import OBSERVATION_KEYS
from lco_core.frame import Frame
from lco_core.header import Header, HeaderCard
from lco_core.io.product_source import ProductSource
from lco_core.keyword_table import PRODUCT_KEYWORDS

#: Cards of the first input that describe that one exposure, not the coadd: left out of its header.
_EXPOSURE_CARDS = frozenset(
    {
        "FRAMENUM", "MOLFRNUM", "ORIGNAME", "UTSTART", "UTSTOP", "MJD-OBS", "DATE-OBS", "EXPTIME",
        "RA", "DEC", "CAT-RA", "CAT-DEC", "AIRMASS", "L1PUBDAT", "CHECKSUM", "DATASUM", "DATE",
        # The detector's geometry: the coadd's pixels are the grid's, not the camera's.
        "DATASEC", "BIASSEC", "DETSEC", "TRIMSEC", "CCDSEC", "DETSIZE",
    }
)  # fmt: skip
#: The raw frame's crosstalk coefficients (CRSTLKij): the coadd's pixels were never an amplifier's.
_CROSSTALK_CARD = re.compile(r"^CRSTLK\d\d$")


def _sexagesimal(degrees: float, *, hours: bool) -> str:
    from astropy.coordinates import Angle

    angle = Angle(degrees, unit="deg")
    if hours:
        return str(angle.to_string(unit="hourangle", sep=":", precision=3, pad=True))
    return str(angle.to_string(unit="deg", sep=":", precision=2, alwayssign=True, pad=True))


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def _is_processing_card(keyword: str) -> bool:
    return any(spec.matches(keyword) for spec in PRODUCT_KEYWORDS if spec.on != "master")


def coadd_header(sources: Sequence[ProductSource], frame: Frame) -> Header:
    """The coadd's header before the product's own cards: what its inputs share, and what it is.

    The first input's header without the cards that describe that one exposure (frame number,
    its start and length, its pointing, the detector's sections and crosstalk, its processing:
    every science product keyword of `lco_core.keyword_table.PRODUCT_KEYWORDS`, which the
    coadd's own processing writes again),
    then DATE-OBS (the earliest start), DATE-END (the latest end), EXPTIME (the inputs' total:
    the coadd is in electrons of the summed exposure), RA and DEC (the grid's centre), NCOMBINE
    and IMCOM001... (the inputs, BANZAI's cards for its stacks). MOLUID and REQNUM stay only when
    every input has the same.

    Parameters
    ----------
    sources : sequence of ProductSource
        The inputs, the first the reference.
    frame : Frame
        The coadd (`lco_stages.coadd.coadd`): its metadata.

    Returns
    -------
    Header
    """
    shared = {
        keyword
        for keyword in OBSERVATION_KEYS
        if len({str(source.header.get(keyword)) for source in sources}) == 1
    }
    kept = tuple(
        card
        for card in sources[0].header.cards
        if card.keyword not in _EXPOSURE_CARDS
        and not _CROSSTALK_CARD.match(card.keyword)
        and not _is_processing_card(card.keyword)
        and (card.keyword not in OBSERVATION_KEYS or card.keyword in shared)
    )
    meta = frame.meta
    end = max(source.meta.date_obs + dt.timedelta(seconds=source.exptime) for source in sources)
    cards = [
        HeaderCard("DATE-OBS", _iso(meta.date_obs), "[UTC] Start of the earliest input"),
        HeaderCard("DATE-END", _iso(end), "[UTC] End of the latest input"),
        HeaderCard("EXPTIME", meta.exptime, "[s] Total exposure time of the inputs"),
        HeaderCard("NCOMBINE", len(sources), "Number of images combined"),
        *(
            HeaderCard(f"IMCOM{number:03d}", source.name, "Image combined")
            for number, source in enumerate(sources, start=1)
        ),
    ]
    if meta.ra is not None and meta.dec is not None:
        cards += [
            HeaderCard("RA", _sexagesimal(meta.ra, hours=True), "[HH:MM:SS.sss] RA of the coadd's centre"),
            HeaderCard(
                "DEC", _sexagesimal(meta.dec, hours=False), "[sDD:MM:SS.ss] Dec of the coadd's centre"
            ),
        ]
    return Header(kept).updated(tuple(cards))
