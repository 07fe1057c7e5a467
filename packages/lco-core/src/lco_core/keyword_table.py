"""The one table of the header keywords lco-reduce writes, and the cards built from it.

Every card a product or a master gets from the pipeline is listed in `PRODUCT_KEYWORDS` with its
unit, where its value comes from and what it means. Cards are built by `keyword_card`, whose
comment is ``[unit] description`` from the table, so a card's comment and the documented unit can
never disagree. `describing_cards` gives the cards that say what the pixels are (GAIN, SATURATE,
MAXLIN, RDNOISE, BUNIT, ...): they replace the raw frame's cards of the same name, which describe
the raw ADU. It lives in ``lco_core`` because both `lco_core.io.masters` and
`lco_stages.keywords` write from it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from importlib.metadata import version

import attrs

from lco_core.frame import Frame
from lco_core.header import HeaderCard, HeaderValue

#: LCO's reduction level of a processed frame (RLEVEL): 91 for BANZAI-processed data.
REDUCTION_LEVEL = 91
#: The name of the stage that converts ADU to electrons (``lco_stages.gain.STAGE``), whose
#: history entry records each amplifier's gain, saturation level in electrons and read noise.
GAIN_STAGE = "apply_gain"

_ON = ("science", "master", "both")
_WIDTH = 80  # a FITS card
_BEFORE_VALUE = 10  # "KEYWORD = "
_SEPARATOR = 3  # " / "


def _known_place(instance: KeywordSpec, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in _ON:
        raise ValueError(f"{instance.keyword}: 'on' is {value!r}, not one of {_ON}")


@attrs.frozen
class KeywordSpec:
    """One keyword the pipeline writes.

    Attributes
    ----------
    keyword : str
        The FITS keyword; each lower-case ``n`` stands for one digit (``OVERSCNn`` is OVERSCN1,
        OVERSCN2, ...; ``PROVnnnn`` is PROV0001, ...).
    unit : str
        The value's unit as astropy writes it (``'electron'``, ``'electron/s'``, ``'arcsec'``,
        ``'mag'``, ``'deg'``, ...); ``''`` for none. It opens the card's comment in brackets.
    on : {'science', 'master', 'both'}
        Which files carry it: science products, masters, or both.
    source : str
        Where the value comes from.
    description : str
        What it means; the rest of the card's comment.
    """

    keyword: str
    unit: str
    on: str = attrs.field(validator=_known_place)
    source: str
    description: str

    @property
    def comment(self) -> str:
        """The card's comment: ``'[unit] description'``, or the description without a unit."""
        return f"[{self.unit}] {self.description}" if self.unit else self.description

    def matches(self, keyword: str) -> bool:
        """Whether ``keyword`` is this entry (``'OVERSCN3'`` is ``'OVERSCNn'``).

        Parameters
        ----------
        keyword : str
            A header keyword.

        Returns
        -------
        bool
        """
        return _pattern(self.keyword).fullmatch(keyword) is not None


def _pattern(keyword: str) -> re.Pattern[str]:
    return re.compile("".join(r"\d" if c == "n" else re.escape(c) for c in keyword))


def _spec(keyword: str, unit: str, on: str, source: str, description: str) -> KeywordSpec:
    return KeywordSpec(keyword, unit, on, source, description)


#: Every keyword a product's or a master's SCI header gets from lco-reduce, in the order the
#: documentation lists them. The cards of the raw frame pass through unchanged unless a keyword
#: here replaces them; the WCS solution's own keywords (CTYPEn, CRPIXn, CRVALn, CDn_n, SIP) are
#: the FITS WCS standard's and are not listed.
PRODUCT_KEYWORDS: tuple[KeywordSpec, ...] = (
    # What the file is and what its pixels are: on every product and master.
    _spec("PIPEVER", "", "both", "installed lco-core version", "lco-reduce version"),
    _spec("RLEVEL", "", "both", "REDUCTION_LEVEL (91)", "Reduction level"),
    _spec(
        "ORIGNAME", "", "both", "raw file name without .fz (a master: its own name)",
        "Original file name (no .fz)",
    ),
    _spec(
        "BUNIT", "", "both", "science, bias: 'electron'; dark: 'electron/s'; flat: '' (dimensionless)",
        "Unit of SCI and ERR",
    ),
    _spec(
        "GAIN", "", "both", "1.0: apply_gain made every amplifier's pixels electrons",
        "Gain: 1, pixels are electrons",
    ),
    _spec(
        "SATURATE", "electron", "both", "min over amplifiers of saturation (ADU) x gain (apply_gain)",
        "Min over amps of SATURATE x GAIN",
    ),
    _spec(
        "MAXLIN", "electron", "both",
        "min over amplifiers of raw MAXLIN (ADU; SATURATE when absent or larger) x gain",
        "Min over amps of MAXLIN x GAIN",
    ),
    _spec(
        "RDNOISE", "electron", "both", "rms over amplifiers of the read noise (apply_gain)",
        "Read noise, rms over amplifiers",
    ),
    _spec("PROVnnnn", "", "both", "write_product: the frame's history", "Processing step n as JSON"),
    _spec("HISTORY", "", "both", "write_product: the frame's history", "One line per processing step"),
    # Science products: what was applied, measured and solved.
    _spec("DATE", "", "science", "time of writing", "Date this file was written (UTC)"),
    _spec("OVERSCNn", "adu", "science", "subtract_overscan ('none' without overscan)", "Overscan level"),
    _spec("L1STATOV", "", "science", "subtract_overscan", "Status flag for overscan correction"),
    _spec("L1STATCT", "", "science", "correct_crosstalk (1 applied, 0 none)", "Status flag for crosstalk"),
    _spec("L1STATTR", "", "science", "trim", "Status flag for trimming"),
    _spec("L1IDMASK", "", "science", "apply_bad_pixel_mask", "ID of mask file used"),
    _spec("L1IDBIAS", "", "science", "subtract_bias", "ID of bias frame"),
    _spec("L1STATBI", "", "science", "subtract_bias", "Status flag for bias correction"),
    _spec(
        "BIASLVL", "electron", "both", "subtract_bias, subtract_bias_level; a master: mean of its inputs",
        "Bias level per read removed",
    ),
    _spec("L1IDDARK", "", "science", "subtract_dark", "ID of dark frame"),
    _spec("L1STATDA", "", "science", "subtract_dark", "Status flag for dark correction"),
    _spec("DRKTSCAL", "s", "science", "subtract_dark", "Dark scale: EXPTIME x temperature term"),
    _spec("L1IDFLAT", "", "science", "divide_flat", "ID of flat frame"),
    _spec("L1STATFL", "", "science", "divide_flat", "Status flag for flat correction"),
    _spec(
        "FLATLVL", "electron", "both", "normalise_flat; a master: mean of its inputs",
        "Flat normalisation level",
    ),
    _spec("L1MEAN", "electron", "science", "detect_sources", "Clipped mean of frame background"),
    _spec("L1MEDIAN", "electron", "science", "detect_sources", "Median of frame background"),
    _spec("L1SIGMA", "electron", "science", "detect_sources", "Robust std dev of frame background"),
    _spec("L1FWHM", "arcsec", "science", "detect_sources", "Frame FWHM"),
    _spec("L1ELLIP", "", "science", "detect_sources", "Mean image ellipticity (1-B/A)"),
    _spec("L1ELLIPA", "deg", "science", "detect_sources", "PA of mean image ellipticity"),
    _spec("WCSERR", "", "science", "solve_wcs", "WCS fit status: 0 solved, 4 failed"),
    _spec("WCSRMS", "arcsec", "science", "solve_wcs", "rms of astrometric fit residuals"),
    _spec("WCSMATCH", "", "science", "solve_wcs", "Number of stars in the astrometric fit"),
    _spec("WCSREASN", "", "science", "solve_wcs", "Why the WCS was not solved"),
    # Quality tests (BANZAI's names where it has the test).
    _spec("FRAC1000", "", "science", "quality_single_value (worst amp)", "Fraction of pixels at 1000 ADU"),
    _spec("SATFRAC", "", "science", "quality_saturation", "Fraction of pixels saturated"),
    _spec("QCBIASLV", "adu", "science", "quality_bias_level (worst amp)", "Raw bias level tested"),
    _spec("PATNOISE", "", "science", "quality_pattern_noise (robust sigma)", "Periodic row noise: peak SNR"),
    _spec("PNTOFST", "arcsec", "science", "quality_pointing", "Solved centre minus header pointing"),
    _spec("L1QC", "", "science", "the worst verdict of the quality tests", "Quality: pass, warn or reject"),
    _spec("L1QCREAS", "", "science", "the tests that gave the worst verdict", "Why the quality verdict"),
    _spec(
        "L1STATZP", "", "science", "calibrate_photometry (1 fitted, 0 not: the reason in the comment)",
        "Status flag for photometric calibration",
    ),
    _spec("L1ZP", "mag", "science", "calibrate_photometry", "mag = L1ZP - 2.5 log10(flux/EXPTIME)"),
    _spec("L1ZPERR", "mag", "science", "calibrate_photometry", "Error of the zero point"),
    _spec("L1ZPSCAT", "mag", "science", "calibrate_photometry", "Robust scatter of calibration stars"),
    _spec("L1ZPNSTR", "", "science", "calibrate_photometry", "Number of stars in the zero-point fit"),
    _spec("L1COLORU", "", "science", "calibrate_photometry", "Colour used for the colour term"),
    _spec("L1COLOR", "mag/mag", "science", "calibrate_photometry", "Colour term"),
    _spec("L1COLERR", "mag/mag", "science", "calibrate_photometry", "Error of the colour term"),
    _spec(
        "L1DEPTH", "mag", "science",
        "measure_depth: S/N 5 in the zero point's aperture, noise from the ERR plane's sky pixels",
        "5-sigma point-source limiting magnitude",
    ),
    # Masters: what they were made of.
    _spec("ISMASTER", "", "master", "write_master", "Is this a master calibration frame"),
    _spec("OBSTYPE", "", "master", "the master's kind", "Observation type"),
    _spec("DATE-OBS", "", "master", "mean DATE-OBS of the inputs", "Mean start of the inputs (UTC)"),
    _spec("DAY-OBS", "", "master", "latest DAY-OBS of the inputs", "Latest DAY-OBS of the inputs"),
    _spec("NINPUTS", "", "master", "the frames stacked", "Number of frames combined"),
    _spec("IMCOMnnn", "", "master", "the frames stacked", "Frame combined"),
    _spec("CCDATEMP", "deg_C", "master", "mean CCDATEMP of the inputs", "Mean CCD temperature of inputs"),
    _spec("DRKTCOEF", "1/K", "master", "camera (a dark's temperature term)", "Dark temperature coefficient"),
)  # fmt: skip


def keyword_spec(keyword: str) -> KeywordSpec:
    """The table's entry for ``keyword``.

    Parameters
    ----------
    keyword : str
        A header keyword (``'SATURATE'``, ``'OVERSCN2'``).

    Returns
    -------
    KeywordSpec

    Raises
    ------
    KeyError
        The pipeline writes no such keyword.
    """
    for spec in PRODUCT_KEYWORDS:
        if spec.matches(keyword):
            return spec
    raise KeyError(keyword)


def _header_value(value: object) -> HeaderValue:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _room(value: HeaderValue) -> int:
    """Characters left for the comment of a one-line card holding ``value``."""
    width = 20
    if isinstance(value, str):
        width = max(width, max(len(value.replace("'", "''")), 8) + 2)
    return max(_WIDTH - _BEFORE_VALUE - width - _SEPARATOR, 0)


def keyword_card(keyword: str, value: object, *, comment: str | None = None) -> HeaderCard | None:
    """A card of the table, its comment ``[unit] description`` cut to fit on the card.

    A non-finite number is left out (None is returned): FITS has no NaN, and the string 'NaN'
    would be a string where a number is expected. ``None`` is kept, as an undefined value.

    Parameters
    ----------
    keyword : str
        A keyword of `PRODUCT_KEYWORDS`.
    value : object
        The value; anything but a str, int, float, bool or None is written as its ``str``.
    comment : str, optional
        A comment in place of the table's; only for cards without a unit (e.g. L1STATZP = 0,
        whose comment says why there is no zero point).

    Returns
    -------
    HeaderCard or None
        None when ``value`` is a non-finite float.

    Raises
    ------
    KeyError
        ``keyword`` is not in the table.
    ValueError
        ``comment`` given for a keyword with a unit (the comment must state it).
    """
    spec = keyword_spec(keyword)
    if comment is not None and spec.unit:
        raise ValueError(f"{keyword} has the unit {spec.unit}: its comment comes from the table")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    card_value = _header_value(value)
    text = spec.comment if comment is None else comment
    return HeaderCard(keyword, card_value, text[: _room(card_value)])


def keyword_cards(items: Iterable[tuple[str, object]]) -> tuple[HeaderCard, ...]:
    """`keyword_card` of each (keyword, value), leaving out the non-finite ones.

    Parameters
    ----------
    items : iterable of (str, object)
        Keywords of `PRODUCT_KEYWORDS` and their values.

    Returns
    -------
    tuple of HeaderCard
    """
    cards = (keyword_card(keyword, value) for keyword, value in items)
    return tuple(card for card in cards if card is not None)


@attrs.frozen
class ElectronLevels:
    """A frame's detector levels in electrons, as its product header states them.

    Attributes
    ----------
    saturate : float or None
        The lowest amplifier's saturation level, ``min(saturation_ADU x gain)``, electrons: no
        pixel above it is trusted on any amplifier. None when the frame records no gain.
    maxlin : float or None
        The same for the non-linearity level (MAXLIN, or the saturation level where MAXLIN is
        absent or larger), electrons.
    read_noise : float or None
        Root mean square over amplifiers of the read noise, electrons.
    """

    saturate: float | None
    maxlin: float | None
    read_noise: float | None


def _per_amplifier(values: dict[str, object], prefix: str) -> dict[int, float]:
    found: dict[int, float] = {}
    for key, value in values.items():
        match = re.fullmatch(re.escape(prefix) + r"(\d+)", key)
        if match and isinstance(value, int | float) and not isinstance(value, bool):
            found[int(match.group(1))] = float(value)
    return found


def electron_levels(frame: Frame) -> ElectronLevels:
    """SATURATE, MAXLIN and RDNOISE of ``frame`` in electrons, from its typed history and metadata.

    The gain stage's history entry (`GAIN_STAGE`) gives each amplifier's gain, saturation
    level in electrons and read noise, as the camera geometry decided them. MAXLIN is the raw
    header's (``frame.meta.maxlin``, ADU), taken as the amplifier's saturation level where it is
    absent or larger (the camera's rule), times each amplifier's gain. A frame without that
    history entry falls back on its metadata (``gain`` per amplifier, ``saturate``, ``maxlin``,
    ``read_noise``).

    Parameters
    ----------
    frame : Frame
        A frame in electrons (after the gain stage).

    Returns
    -------
    ElectronLevels
        Each level None when the frame says nothing from which to compute it.
    """
    meta = frame.meta
    steps = frame.steps(GAIN_STAGE)
    if steps:
        step = steps[-1]
        gains = _per_amplifier(dict(step.parameters), "gain_amp")
        saturation = _per_amplifier(dict(step.diagnostics), "saturation_e_amp")
        noise = list(_per_amplifier(dict(step.diagnostics), "read_noise_amp").values())
        amplifiers = sorted(set(gains) & set(saturation))
        levels_adu = {amp: saturation[amp] / gains[amp] for amp in amplifiers if gains[amp] > 0}
    else:
        gains = dict(enumerate(meta.gain or (), start=1))
        amplifiers = sorted(gains) if meta.saturate is not None else []
        levels_adu = {amp: meta.saturate for amp in amplifiers if meta.saturate is not None}
        noise = [meta.read_noise] if meta.read_noise is not None else []
    saturate = min((levels_adu[amp] * gains[amp] for amp in levels_adu), default=None)
    nonlinear_adu = {
        amp: level if meta.maxlin is None else min(meta.maxlin, level) for amp, level in levels_adu.items()
    }
    maxlin = min((nonlinear_adu[amp] * gains[amp] for amp in nonlinear_adu), default=None)
    read_noise = math.sqrt(sum(n * n for n in noise) / len(noise)) if noise else None
    return ElectronLevels(saturate, maxlin, read_noise)


def pipeline_version() -> str:
    """PIPEVER: the installed version of lco-reduce (its four packages share one version).

    Returns
    -------
    str
    """
    return version("lco-core")


def original_name(filename: str) -> str:
    """ORIGNAME as LCO writes it: the file's name without ``.fz``.

    Parameters
    ----------
    filename : str
        A file name (``'cpt1m010-fa05-20260101-0042-e00.fits.fz'``).

    Returns
    -------
    str
        ``'cpt1m010-fa05-20260101-0042-e00.fits'``.
    """
    return filename.removesuffix(".fz")


def describing_cards(
    frame: Frame, *, unit: str, reduction_level: int = REDUCTION_LEVEL
) -> tuple[HeaderCard, ...]:
    """The cards that say what a product's pixels are, replacing the raw frame's (ADU) ones.

    PIPEVER, RLEVEL, ORIGNAME (``frame.meta.filename`` without ``.fz``), BUNIT (``unit``),
    GAIN = 1.0, and SATURATE, MAXLIN and RDNOISE in electrons (`electron_levels`). A level the
    frame gives nothing to compute from is written with an undefined value, so the raw
    frame's ADU card of that name cannot stay in a header whose pixels are electrons.

    Parameters
    ----------
    frame : Frame
        The frame written (in electrons; a master's frame carries the master's own name).
    unit : str
        BUNIT: ``'electron'``, ``'electron/s'``, or ``''`` (dimensionless).
    reduction_level : int
        RLEVEL.

    Returns
    -------
    tuple of HeaderCard
    """
    levels = electron_levels(frame)
    return keyword_cards(
        (
            ("PIPEVER", pipeline_version()),
            ("RLEVEL", reduction_level),
            ("ORIGNAME", original_name(frame.meta.filename)),
            ("BUNIT", unit),
            ("GAIN", 1.0),
            ("SATURATE", levels.saturate),
            ("MAXLIN", levels.maxlin),
            ("RDNOISE", levels.read_noise),
        )
    )
