"""LCO filters and the reference-catalogue bands they are calibrated against."""

from __future__ import annotations

import attrs


@attrs.frozen
class FilterBand:
    """How a filter is calibrated: a catalogue ``band`` and the ``colour`` for a colour term.

    Attributes
    ----------
    filter : str
        LCO's filter name (FILTER), e.g. 'rp'.
    band : str
        The reference-catalogue band it is calibrated against, e.g. 'r'.
    colour : (str, str) or None
        The two bands of the colour of a colour term, e.g. ('g', 'r') for g - r.
    """

    filter: str
    band: str
    colour: tuple[str, str] | None


#: LCO filter name -> reference band. SDSS-like primed filters against SDSS/Pan-STARRS-like g, r,
#: i, z (Gaia DR3 synthetic photometry provides them); Bessell filters against Johnson-Cousins;
#: the wide 'w' filter is closest to r in zero point and is calibrated there with a g-r term.
FILTER_BANDS: dict[str, FilterBand] = {
    band.filter: band
    for band in (
        FilterBand("up", "u", ("u", "g")),
        FilterBand("gp", "g", ("g", "r")),
        FilterBand("rp", "r", ("g", "r")),
        FilterBand("ip", "i", ("r", "i")),
        FilterBand("zs", "z", ("i", "z")),
        FilterBand("Y", "z", ("i", "z")),
        FilterBand("w", "r", ("g", "r")),
        FilterBand("U", "U", ("U", "B")),
        FilterBand("B", "B", ("B", "V")),
        FilterBand("V", "V", ("B", "V")),
        FilterBand("R", "R", ("V", "R")),
        FilterBand("I", "I", ("R", "I")),
    )
}


def band_for(filter_name: str | None) -> FilterBand | None:
    """The band a filter is calibrated against, or None for an unknown filter.

    Parameters
    ----------
    filter_name : str or None
        FILTER.

    Returns
    -------
    FilterBand or None
    """
    if filter_name is None:
        return None
    return FILTER_BANDS.get(filter_name)
