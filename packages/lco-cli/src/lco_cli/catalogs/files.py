"""Reference catalogues from local files: FITS (incl. LDAC), ECSV and CSV tables, columns found by name.

Column names are matched as catalogues spell them (SDSS, VizieR, SExtractor/LDAC, Gaia, ATLAS-RefCat2):

* RA: ``ra``, ``ra_icrs``, ``raj2000``, ``alpha_j2000``, ``xwin_world`` ...; Dec likewise
  (``dec``, ``de``, ``dej2000``, ``delta_j2000``, ``ywin_world`` ...); case-insensitive. Units
  from the column (deg, hourangle, rad) where given, else deg. RA is wrapped into [0, 360).
* Magnitudes: a generic ``mag`` column gives band ``'mag'``; band columns ``g``, ``gmag``,
  ``g_mag`` give band ``'g'``; ``phot_g_mean_mag`` gives ``'G'`` (also ``'BP'``, ``'RP'``); Gaia
  synthetic ``g_sdss_mag`` gives ``'g'`` and ``v_jkc_mag`` gives ``'V'``. The band letter keeps
  its case, because ``r`` (SDSS) and ``R`` (Cousins) are different bands; the rest of the name
  is matched case-insensitively. Bare letters are bands except ``y``/``Y``, which in source
  catalogues are pixel coordinates (``ymag`` is still the PS1 y band).
* Errors: ``magerr``, ``e_gmag``, ``gmag_err``, ``gerr``, ``dg``, ``g_err`` ... for each band found.

Magnitudes of 50 or more in size (SExtractor's 99 and similar placeholders) become NaN, as do
negative errors. Rows without a finite position are left out.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
from astropy import units as u
from astropy.table import Table
from astropy.utils.exceptions import AstropyWarning

from lco_cli.catalogs.errors import CatalogError, one_line
from lco_core._arrays import Float64Array
from lco_core.catalog import ReferenceCatalog

__all__ = ["CatalogColumns", "catalog_from_table", "find_columns", "read_reference_file", "read_table"]

RA_NAMES = (
    "ra", "ra_icrs", "raj2000", "ra_j2000", "_raj2000", "ra2000", "ra_deg", "radeg",
    "alpha_j2000", "alphawin_j2000", "alpha_icrs", "xwin_world", "x_world",
)  # fmt: skip
DEC_NAMES = (
    "dec", "de", "dec_icrs", "de_icrs", "dej2000", "decj2000", "dec_j2000", "_dej2000", "de2000",
    "dec2000", "dec_deg", "decdeg", "dedeg", "delta_j2000", "deltawin_j2000", "delta_icrs", "ywin_world",
    "y_world",
)  # fmt: skip

#: Magnitudes this large are placeholders (SExtractor writes 99 for "not measured").
PLACEHOLDER_MAG = 50.0
#: FITS files are searched for a catalogue table in at most this many extensions.
MAX_FITS_EXTENSIONS = 64

_BAND_LETTERS = "ugrizyUBVRIJHKGY"
_ANY_CASE = r"(?i:{})"


def _pattern(prefix: str, band: str, suffix: str) -> re.Pattern[str]:
    """``prefix + band + suffix`` with the band's case kept and the rest case-insensitive."""
    parts = [
        _ANY_CASE.format(prefix) if prefix else "",
        re.escape(band),
        _ANY_CASE.format(suffix) if suffix else "",
    ]
    return re.compile("^" + "".join(parts) + "$")


def _mag_patterns() -> list[tuple[re.Pattern[str], str]]:
    """(pattern, band) in priority order: the first column to match a band wins it."""
    patterns: list[tuple[re.Pattern[str], str]] = [(re.compile(r"^(?i:mag)$"), "mag")]
    for gaia_band, band in (("g", "G"), ("bp", "BP"), ("rp", "RP")):
        patterns.append((re.compile(rf"^(?i:phot_{gaia_band}_mean_mag)$"), band))
    for letter in "ugriz":
        patterns.append((re.compile(rf"^(?i:{letter}_sdss_mag)$"), letter))
    for letter in "ubvri":
        patterns.append((re.compile(rf"^(?i:{letter}_jkc_mag)$"), letter.upper()))
    for letter in _BAND_LETTERS:
        patterns.append((_pattern("", letter, "_?mag"), letter))
        if letter not in "yY":
            patterns.append((_pattern("", letter, ""), letter))
    return patterns


_MAG_PATTERNS = _mag_patterns()

_GENERIC_ERRORS = (
    "magerr", "mag_err", "e_mag", "emag", "dmag", "mag_error", "magerror", "errmag", "sigma_mag",
)  # fmt: skip
#: (prefix, suffix) around a band letter that name its error column.
_BAND_ERRORS = (
    ("e_", "mag"), ("e_", "_mag"), ("", "magerr"), ("", "mag_err"), ("", "_mag_err"), ("", "_magerr"),
    ("", "mag_error"), ("", "_mag_error"), ("", "err"), ("", "_err"), ("", "_error"), ("d", ""),
    ("e_", ""), ("err_", ""), ("sigma_", ""), ("", "_sigma"),
)  # fmt: skip


def _error_patterns(band: str, mag_column: str) -> list[re.Pattern[str]]:
    if band == "mag":
        return [re.compile(rf"^(?i:{name})$") for name in _GENERIC_ERRORS]
    # The magnitude column's own name keeps its case: 'G_err' must not serve 'g'.
    patterns = [re.compile(rf"^{re.escape(mag_column)}(?i:_?(err|error))$")]
    if len(band) == 1:
        patterns += [_pattern(prefix, band, suffix) for prefix, suffix in _BAND_ERRORS]
    else:
        patterns.append(re.compile(rf"^(?i:e_{band}mag|{band}_?mag_?err)$"))
    return patterns


@attrs.frozen
class CatalogColumns:
    """Which table columns hold the position and the magnitudes (band -> column name).

    Attributes
    ----------
    ra, dec : str
        Names of the position columns.
    magnitudes : dict of str to str
        Band -> magnitude column.
    errors : dict of str to str
        Band -> magnitude-error column.
    """

    ra: str
    dec: str
    magnitudes: dict[str, str]
    errors: dict[str, str]


def find_columns(names: Sequence[str]) -> CatalogColumns | str:
    """The position and magnitude columns among ``names``, or a one-line reason why there are none.

    Parameters
    ----------
    names : sequence of str
        A table's column names.

    Returns
    -------
    CatalogColumns or str
        The columns found, or why the table is not a catalogue.
    """
    lower: dict[str, str] = {}
    for name in names:
        lower.setdefault(name.lower(), name)
    ra = next((lower[n] for n in RA_NAMES if n in lower), None)
    dec = next((lower[n] for n in DEC_NAMES if n in lower), None)
    if ra is None or dec is None:
        missing, candidates = ("RA", RA_NAMES) if ra is None else ("Dec", DEC_NAMES)
        return f"no {missing} column (looked for {', '.join(candidates[:5])} ...)"
    taken = {ra, dec}
    magnitudes: dict[str, str] = {}
    for pattern, band in _MAG_PATTERNS:
        if band in magnitudes:
            continue
        match = next((name for name in names if name not in taken and pattern.match(name)), None)
        if match is not None:
            magnitudes[band] = match
            taken.add(match)
    if not magnitudes:
        return "no magnitude column (looked for mag, gmag, g_mag, g, phot_g_mean_mag, v_jkc_mag ...)"
    errors: dict[str, str] = {}
    for band, column in magnitudes.items():
        for pattern in _error_patterns(band, column):
            match = next((name for name in names if name not in taken and pattern.match(name)), None)
            if match is not None:
                errors[band] = match
                taken.add(match)
                break
    return CatalogColumns(ra=ra, dec=dec, magnitudes=magnitudes, errors=errors)


def _describe_columns(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return f"columns: {shown}{', ...' if len(names) > limit else ''}"


def _sniff_format(path: Path) -> str:
    """'fits', 'ascii.ecsv' or 'ascii.csv', from the file's first bytes, then its name."""
    with path.open("rb") as stream:
        head = stream.read(80)
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    if head.startswith(b"\x1f\x8b") and any(s in {".fits", ".fit", ".fts"} for s in path.suffixes):
        return "fits"
    if head.lstrip().startswith(b"# %ECSV"):
        return "ascii.ecsv"
    return "ascii.csv"


def _read(path: Path, format: str, **options: object) -> Table:
    with warnings.catch_warnings():
        # Catalogues in the wild carry non-standard TDISP and unit strings; the values are fine.
        warnings.simplefilter("ignore", AstropyWarning)
        table: Table = Table.read(path, format=format, **options)
    return table


def read_table(path: str | Path) -> tuple[Table, CatalogColumns]:
    """The catalogue table of a FITS, ECSV or CSV file, with its position and magnitude columns.

    A FITS file may hold several tables (an LDAC catalogue keeps its stars in the second): the
    first table extension with RA, Dec and magnitude columns is used.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    table : astropy.table.Table
        The catalogue table.
    columns : CatalogColumns
        Its position and magnitude columns.

    Raises
    ------
    CatalogError
        The file is missing or unreadable, or no table in it has RA, Dec and a magnitude.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise CatalogError(where, "no such file" if not path.exists() else "not a file")
    try:
        format = _sniff_format(path)
    except OSError as error:
        raise CatalogError(where, f"cannot open: {one_line(error)}") from error
    if format != "fits":
        try:
            table = _read(path, format)
        except Exception as error:  # astropy's readers raise many types; all mean "not this format"
            raise CatalogError(where, f"cannot read as {format[6:].upper()}: {one_line(error)}") from error
        found = find_columns(table.colnames)
        if isinstance(found, str):
            raise CatalogError(where, f"{found}; {_describe_columns(table.colnames)}")
        return table, found
    first_problem: str | None = None
    for hdu in range(1, MAX_FITS_EXTENSIONS + 1):
        try:
            table = _read(path, "fits", hdu=hdu)
        except Exception as error:  # past the last table extension, or not a table: stop looking
            if first_problem is None:
                raise CatalogError(where, f"cannot read a FITS table: {one_line(error)}") from error
            break
        found = find_columns(table.colnames)
        if not isinstance(found, str):
            return table, found
        first_problem = first_problem or f"{found}; HDU {hdu} {_describe_columns(table.colnames)}"
    raise CatalogError(where, first_problem or "no table extension")


def _numeric(table: Table, name: str, where: str) -> Float64Array:
    column = table[name]
    if column.dtype.kind not in "fiu":
        raise CatalogError(where, f"column {name!r} is not numeric (dtype {column.dtype})")
    values: Float64Array = np.ma.filled(np.ma.asarray(column, dtype=np.float64), np.nan)
    return values


def _degrees(table: Table, name: str, where: str) -> Float64Array:
    values = _numeric(table, name, where)
    unit = table[name].unit
    if unit is None:
        return values
    try:
        factor = float(u.Unit(unit).to(u.deg))
    except (u.UnitsError, ValueError, TypeError) as error:
        raise CatalogError(where, f"column {name!r} has unit {unit!s}, not an angle") from error
    scaled: Float64Array = values * factor
    return scaled


def catalog_from_table(table: Table, columns: CatalogColumns, *, where: str, source: str) -> ReferenceCatalog:
    """A ReferenceCatalog from a table whose columns `find_columns` identified.

    Parameters
    ----------
    table : astropy.table.Table
        The catalogue table.
    columns : CatalogColumns
        Its columns.
    where : str
        The file (for error messages).
    source : str
        Recorded as ``ReferenceCatalog.source``.

    Returns
    -------
    ReferenceCatalog
        Rows without a finite position dropped; placeholder magnitudes and negative errors NaN.

    Raises
    ------
    CatalogError
        Non-numeric columns, a non-angle unit, or a declination beyond 90 degrees.
    """
    ra = _degrees(table, columns.ra, where)
    dec = _degrees(table, columns.dec, where)
    finite = np.isfinite(ra) & np.isfinite(dec)
    if np.any(np.abs(dec[finite]) > 90.0):
        worst = float(np.max(np.abs(dec[finite])))
        raise CatalogError(where, f"column {columns.dec!r} holds |Dec| up to {worst:g} deg, beyond 90")
    magnitudes: dict[str, Float64Array] = {}
    errors: dict[str, Float64Array] = {}
    for band, name in columns.magnitudes.items():
        values = _numeric(table, name, where)[finite]
        values[~(np.abs(values) < PLACEHOLDER_MAG)] = np.nan
        magnitudes[band] = values
    for band, name in columns.errors.items():
        values = _numeric(table, name, where)[finite]
        values[~((values >= 0.0) & (values < PLACEHOLDER_MAG))] = np.nan
        errors[band] = values
    return ReferenceCatalog(ra[finite] % 360.0, dec[finite], magnitudes, errors, source)


def read_reference_file(path: str | Path) -> ReferenceCatalog:
    """Read a reference catalogue file (FITS/LDAC, ECSV or CSV).

    Parameters
    ----------
    path : str or Path
        The file. Its format is recognised from its first bytes (FITS, ECSV), else it is read
        as CSV with a header line.

    Returns
    -------
    ReferenceCatalog
        RA in [0, 360) deg and Dec in deg as stored (the file's own epoch), magnitudes and
        errors in mag per band, ``source`` = ``'file:<absolute path>'``.

    Raises
    ------
    CatalogError
        Missing or unreadable file, no RA/Dec column, no magnitude column, non-numeric columns.
    """
    path = Path(path)
    table, columns = read_table(path)
    return catalog_from_table(table, columns, where=str(path), source=f"file:{path.resolve()}")
