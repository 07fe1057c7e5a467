"""Parse a header into FrameMeta and SectionKeywords: every header string is read here, once."""

from __future__ import annotations

import datetime as dt
import math
import re

from astropy.coordinates import Angle

from lco_core.errors import MalformedKeywordError, MissingKeywordError, SectionError
from lco_core.header import Header, HeaderValue
from lco_core.meta import DEFAULT_CONFIGURATION_MODE, FrameMeta, ObsType
from lco_core.orientation import HeaderWcs
from lco_core.raw import SectionKeywords
from lco_core.section import Binning, Section

#: Values LCO writes for "not known"; an optional keyword holding one is treated as absent.
PLACEHOLDERS = frozenset({"", "UNKNOWN", "N/A", "NA", "NAN", "NONE", "UNSPECIFIED"})

# Sane ranges of the numeric keywords, inclusive. A value outside is refused with a
# MalformedKeywordError that states the range: such a value is a corrupt header, and carrying it
# on would give overflowing arithmetic or products that look right and are not. The real raw
# headers under shared/data/real (kb05-kb78 SBIG, fl05-fl10 and fa05 Sinistro, 2015-2021) sit
# far inside every bound: EXPTIME 0-900 s, GAIN 1.0-6.4, RDNOISE 7-18, SATURATE <= 96791,
# PIXSCALE 0.39-1.23, CCDSTEMP/CCDATEMP -100 to -15 C.

#: EXPTIME, seconds: no exposure outlasts a night; 1e5 s is more than a whole day.
EXPTIME_RANGE_S = (0.0, 1.0e5)
#: Each positive GAIN value, electrons per ADU: CCD gains are of order 1 (real: 1.0-6.4); 0.01 and
#: 100 are two orders of magnitude beyond either way.
GAIN_RANGE_E_PER_ADU = (0.01, 100.0)
#: A positive RDNOISE, electrons: real 7-18; no working CCD reads with 1000 e- of noise.
RDNOISE_RANGE_E = (0.0, 1000.0)
#: A positive SATURATE or MAXLIN, ADU: a 16-bit converter stops at 65535 (real 40000-96791, the
#: last from a processed frame); 1e7 leaves two orders of magnitude for co-added or deeper data.
SATURATION_RANGE_ADU = (0.0, 1.0e7)
#: NSUBREAD, reads per exposure: 1 (or absent) in every real frame; the bound is three orders of
#: magnitude above that.
NSUBREAD_RANGE = (1, 1000)
#: RA, degrees after parsing (0-24 h as an hour angle).
RA_RANGE_DEG = (0.0, 360.0)
#: DEC, degrees.
DEC_RANGE_DEG = (-90.0, 90.0)
#: A positive PIXSCALE, arcsec per pixel: real 0.39-1.23; 100"/px is wider than any LCO camera
#: by a factor of 50.
PIXSCALE_RANGE_ARCSEC = (0.0, 100.0)
#: CCDSTEMP and CCDATEMP, degrees Celsius: real -100 to -15; liquid nitrogen is -196 C, and a
#: cooled camera reading above the boiling point of water is not a reading.
CCD_TEMPERATURE_RANGE_C = (-200.0, 100.0)
#: Year of DATE-OBS and DAY-OBS: every LCO frame falls well inside (real 2015-2021); the bounds
#: keep date arithmetic (a day before, a time zone) away from the overflow at years 1 and 9999.
YEAR_RANGE = (1990, 2100)

_LIST = re.compile(r"^\[(.*)\]$")
_UNSET_SECTION = re.compile(r"^\[\s*\d+\s*:\s*0\s*,\s*\d+\s*:\s*0\s*\]$")


class HeaderReader:
    """Typed access to one header, with errors that name the file, HDU and keyword.

    Values in `PLACEHOLDERS` and non-finite numbers count as absent.

    Parameters
    ----------
    header : Header
        The header.
    path : str
        Its file (for error messages).
    hdu : str
        Its HDU (for error messages).
    """

    def __init__(self, header: Header, path: str, hdu: str) -> None:
        self.header = header
        self.path = path
        self.hdu = hdu

    def raw(self, keyword: str) -> HeaderValue:
        """The value of ``keyword``, None when absent or a placeholder.

        Parameters
        ----------
        keyword : str
            The keyword.

        Returns
        -------
        str, int, float, bool or None
        """
        value = self.header.get(keyword)
        if isinstance(value, str) and value.strip().upper() in PLACEHOLDERS:
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    def missing(self, keyword: str) -> MissingKeywordError:
        """The error for a missing mandatory ``keyword`` of this header.

        Parameters
        ----------
        keyword : str
            The keyword.

        Returns
        -------
        MissingKeywordError
        """
        return MissingKeywordError(self.path, self.hdu, keyword)

    def malformed(self, keyword: str, expected: str) -> MalformedKeywordError:
        """The error for a ``keyword`` whose value is not ``expected``.

        Parameters
        ----------
        keyword : str
            The keyword.
        expected : str
            What its value must be, e.g. ``'a number'``.

        Returns
        -------
        MalformedKeywordError
        """
        return MalformedKeywordError(self.path, self.hdu, keyword, self.header.get(keyword), expected)

    def within(self, keyword: str, value: float, bounds: tuple[float, float], unit: str) -> float:
        """``value`` of ``keyword`` when ``bounds[0] <= value <= bounds[1]``.

        Parameters
        ----------
        keyword : str
            The keyword the value was read from.
        value : float
            The parsed value.
        bounds : tuple of float
            The inclusive range allowed.
        unit : str
            The unit of ``value`` and ``bounds``, for the error message.

        Returns
        -------
        float
            ``value``.

        Raises
        ------
        MalformedKeywordError
            Outside the range (the message states it).
        """
        low, high = bounds
        if not low <= value <= high:
            raise self.malformed(keyword, f"within the sane range {low:g} .. {high:g} {unit}")
        return value

    def text(self, keyword: str) -> str | None:
        """The value as stripped text, None when absent.

        Parameters
        ----------
        keyword : str
            The keyword.

        Returns
        -------
        str or None
        """
        value = self.raw(keyword)
        return None if value is None else str(value).strip()

    def required_text(self, keyword: str) -> str:
        """The value as stripped text.

        Parameters
        ----------
        keyword : str
            The keyword.

        Returns
        -------
        str

        Raises
        ------
        MissingKeywordError
            Absent or a placeholder.
        """
        value = self.text(keyword)
        if value is None:
            raise self.missing(keyword)
        return value

    def number(self, keyword: str) -> float | None:
        """The value as a float, None when absent or not finite.

        Parameters
        ----------
        keyword : str
            The keyword.

        Returns
        -------
        float or None

        Raises
        ------
        MalformedKeywordError
            A value that is not a number (booleans included).
        """
        value = self.raw(keyword)
        if value is None:
            return None
        if isinstance(value, bool):
            raise self.malformed(keyword, "a number")
        try:
            number = float(value)
        except ValueError:
            raise self.malformed(keyword, "a number") from None
        if not math.isfinite(number):
            return None
        return number

    def required_number(self, keyword: str) -> float:
        """The value as a float.

        Parameters
        ----------
        keyword : str
            The keyword.

        Returns
        -------
        float

        Raises
        ------
        MissingKeywordError
            Absent, a placeholder or not finite.
        MalformedKeywordError
            Not a number.
        """
        value = self.number(keyword)
        if value is None:
            raise self.missing(keyword)
        return value

    def positive(self, keyword: str) -> float | None:
        """A number that only means something when > 0 (LCO writes 0.0 for 'not known').

        Parameters
        ----------
        keyword : str
            The keyword.

        Returns
        -------
        float or None
            None when absent or <= 0.

        Raises
        ------
        MalformedKeywordError
            Not a number.
        """
        value = self.number(keyword)
        return value if value is not None and value > 0 else None

    def section(self, keyword: str) -> Section | None:
        """The value as a `Section`; None when absent, a placeholder or ``[1:0,1:0]``.

        Parameters
        ----------
        keyword : str
            The keyword, e.g. ``'BIASSEC'``.

        Returns
        -------
        Section or None

        Raises
        ------
        MalformedKeywordError
            Text that is not a section.
        """
        text = self.text(keyword)
        if text is None or _UNSET_SECTION.match(text):
            return None
        try:
            return Section.parse(text)
        except SectionError:
            raise self.malformed(keyword, "a section [x1:x2,y1:y2]") from None

    def binning(self, keyword: str = "CCDSUM") -> Binning | None:
        """The value (``'x y'``) as a `Binning`; None when absent or a placeholder.

        Parameters
        ----------
        keyword : str
            The keyword.

        Returns
        -------
        Binning or None

        Raises
        ------
        MalformedKeywordError
            Not two positive integers.
        """
        text = self.text(keyword)
        if text is None:
            return None
        parts = text.split()
        if len(parts) != 2 or not all(part.isdigit() and int(part) > 0 for part in parts):
            raise self.malformed(keyword, "two positive integers 'x y'")
        return Binning(int(parts[0]), int(parts[1]))


def parse_section_keywords(header: Header, *, path: str, hdu: str) -> SectionKeywords:
    """DATASEC, BIASSEC, TRIMSEC, DETSEC and DETSIZE of one header as sections.

    Parameters
    ----------
    header : Header
        The header.
    path, hdu : str
        Its file and HDU (for error messages).

    Returns
    -------
    SectionKeywords
        None for each keyword that is absent or unset.

    Raises
    ------
    MalformedKeywordError
        A section keyword that is not a section.
    """
    reader = HeaderReader(header, path, hdu)
    return SectionKeywords(
        data=reader.section("DATASEC"),
        bias=reader.section("BIASSEC"),
        trim=reader.section("TRIMSEC"),
        detector=reader.section("DETSEC"),
        detector_size=reader.section("DETSIZE"),
    )


def parse_gain(header: Header, *, path: str, hdu: str) -> tuple[float, ...] | None:
    """GAIN as one value or LCO's per-amplifier list ``'[3.3,3.4,3.3,3.4]'``; None when <= 0.

    Parameters
    ----------
    header : Header
        The header.
    path, hdu : str
        Its file and HDU (for error messages).

    Returns
    -------
    tuple of float or None
        Electrons per ADU; None when absent or every value is <= 0 (LCO's "not known").

    Raises
    ------
    MalformedKeywordError
        Not a number or list of numbers, or a list mixing positive and non-positive values.
    """
    reader = HeaderReader(header, path, hdu)
    value = reader.raw("GAIN")
    if value is None:
        return None
    if isinstance(value, str):
        match = _LIST.match(value.strip())
        parts = match.group(1).split(",") if match else [value]
        try:
            gains = tuple(float(part) for part in parts)
        except ValueError:
            raise reader.malformed("GAIN", "a number or a list of numbers") from None
    else:
        gains = (reader.required_number("GAIN"),)
    if not gains or any(not math.isfinite(g) for g in gains):
        raise reader.malformed("GAIN", "a number or a list of numbers")
    if all(g <= 0 for g in gains):
        return None
    if any(g <= 0 for g in gains):
        raise reader.malformed("GAIN", "positive for every amplifier")
    low, high = GAIN_RANGE_E_PER_ADU
    if any(not low <= g <= high for g in gains):
        raise reader.malformed(
            "GAIN", f"within the sane range {low:g} .. {high:g} e-/ADU for every amplifier"
        )
    return gains


def _binning(reader: HeaderReader) -> Binning:
    binning = reader.binning("CCDSUM")
    if binning is None:
        raise reader.missing("CCDSUM")
    return binning


def _sane_year(reader: HeaderReader, keyword: str, moment: dt.date) -> None:
    low, high = YEAR_RANGE
    if not low <= moment.year <= high:
        raise reader.malformed(keyword, f"a date in the sane range of years {low} .. {high}")


def _date_obs(reader: HeaderReader) -> dt.datetime:
    text = reader.required_text("DATE-OBS")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise reader.malformed("DATE-OBS", "an ISO date and time (UTC)") from None
    # Checked before the conversion to UTC, which overflows for an offset near year 1 or 9999.
    _sane_year(reader, "DATE-OBS", moment)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _day_obs(reader: HeaderReader) -> dt.date:
    text = reader.required_text("DAY-OBS")
    for pattern in ("%Y%m%d", "%Y-%m-%d"):
        try:
            day = dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        _sane_year(reader, "DAY-OBS", day)
        return day
    raise reader.malformed("DAY-OBS", "a date YYYYMMDD")


def _obstype(reader: HeaderReader) -> ObsType:
    text = reader.required_text("OBSTYPE").upper()
    try:
        return ObsType(text)
    except ValueError:
        known = ", ".join(member.value for member in ObsType)
        raise reader.malformed("OBSTYPE", f"a known observation type ({known})") from None


def _angle(reader: HeaderReader, keyword: str, unit: str, bounds: tuple[float, float]) -> float | None:
    value = reader.raw(keyword)
    if value is None:
        return None
    try:
        if isinstance(value, str) and ":" in value:
            degrees = float(Angle(value.strip(), unit=unit).deg)
        else:
            degrees = float(value)
    except (ValueError, TypeError):
        raise reader.malformed(keyword, f"an angle ({unit} as sexagesimal, or degrees)") from None
    if not math.isfinite(degrees):
        return None
    return reader.within(keyword, degrees, bounds, "deg")


def _exptime(reader: HeaderReader) -> float:
    exptime = reader.required_number("EXPTIME")
    if exptime < 0:
        raise reader.malformed("EXPTIME", "a non-negative number of seconds")
    return reader.within("EXPTIME", exptime, EXPTIME_RANGE_S, "s")


def _nsubread(reader: HeaderReader) -> int:
    value = reader.number("NSUBREAD")
    if value is None:
        return 1
    if value < 1 or value != int(value):
        raise reader.malformed("NSUBREAD", "a positive integer")
    return int(reader.within("NSUBREAD", value, NSUBREAD_RANGE, "reads"))


def _positive_within(
    reader: HeaderReader, keyword: str, bounds: tuple[float, float], unit: str
) -> float | None:
    """A number that only means something when > 0, refused when > 0 and outside ``bounds``."""
    value = reader.positive(keyword)
    return None if value is None else reader.within(keyword, value, bounds, unit)


def _temperature(reader: HeaderReader, keyword: str) -> float | None:
    value = reader.number(keyword)
    return None if value is None else reader.within(keyword, value, CCD_TEMPERATURE_RANGE_C, "C")


def check_scaling(header: Header, *, path: str, hdu: str) -> None:
    """Refuse an image header whose BSCALE or BZERO, which turn stored integers into ADU, is absurd.

    Parameters
    ----------
    header : Header
        The header of an image HDU.
    path, hdu : str
        Its file and HDU (for error messages).

    Raises
    ------
    MalformedKeywordError
        BSCALE that is not a finite number > 0 (a zero scale erases the pixels, a negative one
        inverts them, and no LCO camera writes either), or BZERO that is not a finite number.
    """
    expected = {"BSCALE": "a finite number > 0", "BZERO": "a finite number"}
    # Every card, not only the first that `Header.get` sees: with a repeated card astropy
    # applies the last one.
    for card in header.cards:
        if card.keyword not in expected:
            continue
        value = card.value
        sane = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (card.keyword == "BZERO" or value > 0)
        )
        if not sane:
            raise MalformedKeywordError(path, hdu, card.keyword, value, expected[card.keyword])


def _finite(header: Header, keyword: str) -> float | None:
    value = header.get(keyword)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


_Matrix = tuple[tuple[float, float], tuple[float, float]]


def _matrix_cards(header: Header, prefix: str, default: _Matrix) -> _Matrix | None:
    """``{prefix}i_j`` as a matrix, absent elements from ``default``; None if one is unparsable."""
    rows: list[tuple[float, float]] = []
    for i in (1, 2):
        row: list[float] = []
        for j in (1, 2):
            keyword = f"{prefix}{i}_{j}"
            value = _finite(header, keyword)
            if value is None and header.get(keyword) is not None:
                return None
            row.append(default[i - 1][j - 1] if value is None else value)
        rows.append((row[0], row[1]))
    return (rows[0], rows[1])


def _has_cards(header: Header, prefix: str) -> bool:
    return any(header.get(f"{prefix}{i}_{j}") is not None for i in (1, 2) for j in (1, 2))


def _cd_matrix(header: Header) -> _Matrix | None:
    """CDi_j; else PCi_j x CDELTi; else CDELTi with CROTA2 (FITS WCS paper II, eq. 189)."""
    if _has_cards(header, "CD"):
        # Paper I: once any CDi_j is given, the missing ones are 0.
        return _matrix_cards(header, "CD", ((0.0, 0.0), (0.0, 0.0)))
    cdelt1, cdelt2 = _finite(header, "CDELT1"), _finite(header, "CDELT2")
    if cdelt1 is None or cdelt2 is None:
        return None
    if _has_cards(header, "PC"):
        pc = _matrix_cards(header, "PC", ((1.0, 0.0), (0.0, 1.0)))
        if pc is None:
            return None
        (p11, p12), (p21, p22) = pc
        return ((cdelt1 * p11, cdelt1 * p12), (cdelt2 * p21, cdelt2 * p22))
    rho = math.radians(_finite(header, "CROTA2") or 0.0)
    return (
        (cdelt1 * math.cos(rho), -cdelt2 * math.sin(rho)),
        (cdelt1 * math.sin(rho), cdelt2 * math.cos(rho)),
    )


def parse_header_wcs(header: Header) -> HeaderWcs | None:
    """The celestial WCS a header states, if it states a usable one.

    Lenient by design: the WCS of a raw header only seeds the astrometric solution, so a
    missing, non-celestial, unparsable or singular one gives None (the solver then starts from
    the camera's mounting, or from nothing), never an error that would refuse the frame.

    Parameters
    ----------
    header : Header
        The header.

    Returns
    -------
    HeaderWcs or None
        RA first, and the CD matrix's rows in (RA, Dec) order, whichever axis order the header
        uses.
    """
    ctype1, ctype2 = header.get("CTYPE1"), header.get("CTYPE2")
    if not isinstance(ctype1, str) or not isinstance(ctype2, str):
        return None
    axes = (ctype1.strip().upper()[:4], ctype2.strip().upper()[:4])
    if axes not in (("RA--", "DEC-"), ("DEC-", "RA--")):
        return None
    values = [_finite(header, k) for k in ("CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2")]
    cd = _cd_matrix(header)
    if cd is None:
        return None
    (a, b), (c, d) = cd
    if a * d - b * c == 0.0:
        return None
    lon, lat, x, y = values
    if lon is None or lat is None or x is None or y is None:
        return None
    if axes[0] == "DEC-":
        lon, lat = lat, lon
        (a, b), (c, d) = (c, d), (a, b)
    if not -90.0 <= lat <= 90.0:
        return None
    return HeaderWcs((lon % 360.0, lat), (x, y), ((a, b), (c, d)))


def parse_frame_meta(header: Header, *, path: str, hdu: str) -> FrameMeta:
    """Parse the typed facts of a frame from the header that carries them.

    INSTRUME, OBSTYPE, SITEID, TELESCOP, DATE-OBS, DAY-OBS, EXPTIME and CCDSUM are mandatory;
    other keywords are optional and become ``None`` when absent or unset.

    Parameters
    ----------
    header : Header
        The header that carries the frame's keywords.
    path : str
        The file (its name becomes ``FrameMeta.filename``).
    hdu : str
        The HDU (for error messages).

    Returns
    -------
    FrameMeta

    Raises
    ------
    MissingKeywordError
        A mandatory keyword is absent or a placeholder.
    MalformedKeywordError
        A keyword cannot be parsed, or its value is outside the sane range of the module's
        ``*_RANGE*`` constants (naming ``path``, ``hdu``, the keyword and the range).
    """
    reader = HeaderReader(header, path, hdu)
    filename = path.replace("\\", "/").rsplit("/", 1)[-1]
    camera = reader.required_text("INSTRUME").lower()
    return FrameMeta(
        filename=filename,
        obstype=_obstype(reader),
        site=reader.required_text("SITEID").lower(),
        telescope=reader.required_text("TELESCOP"),
        camera=camera,
        day_obs=_day_obs(reader),
        date_obs=_date_obs(reader),
        exptime=_exptime(reader),
        binning=_binning(reader),
        filter=reader.text("FILTER"),
        configuration_mode=reader.text("CONFMODE") or DEFAULT_CONFIGURATION_MODE,
        gain=parse_gain(header, path=path, hdu=hdu),
        read_noise=_positive_within(reader, "RDNOISE", RDNOISE_RANGE_E, "e-"),
        saturate=_positive_within(reader, "SATURATE", SATURATION_RANGE_ADU, "ADU"),
        maxlin=_positive_within(reader, "MAXLIN", SATURATION_RANGE_ADU, "ADU"),
        ccd_set_temperature=_temperature(reader, "CCDSTEMP"),
        ccd_temperature=_temperature(reader, "CCDATEMP"),
        ra=_angle(reader, "RA", "hourangle", RA_RANGE_DEG),
        dec=_angle(reader, "DEC", "deg", DEC_RANGE_DEG),
        pixel_scale=_positive_within(reader, "PIXSCALE", PIXSCALE_RANGE_ARCSEC, "arcsec/px"),
        nsubread=_nsubread(reader),
        object_name=reader.text("OBJECT"),
        header_wcs=parse_header_wcs(header),
    )
