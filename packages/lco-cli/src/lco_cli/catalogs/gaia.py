"""Gaia DR3 with synthetic photometry (GSPC) through astroquery, cached on disk as ECSV.

One ADQL cone search joins ``gaiadr3.gaia_source`` (positions at epoch 2016.0, proper motions,
G) with ``gaiadr3.synthetic_photometry_gspc`` (magnitudes synthesised from the BP/RP spectra and
standardised on SDSS u g r i z and Johnson-Kron-Cousins U B V R I; Gaia Collaboration,
Montegriffo et al. 2023). The join is a left outer one: stars without synthetic photometry (faint
ones: GSPC stops near G = 17.65) still serve the astrometry, with NaN in those bands.

Bands in the resulting ReferenceCatalog: ``'G'`` and ``u g r i z U B V R I``. Errors: from the
flux errors, ``2.5 / ln 10 x sigma_F / F``. The GSPC ``*_flag`` (1 = the star's G and BP-RP lie
in the range where the standardisation was validated) is kept in the cache file but not
applied: most stars are flagged 0 and the zero-point fit clips the few extrapolations that go
wrong.

The cache key is the query rounded onto a grid, so that the dithered frames of a night on one
field share one query: the centre is snapped to ``GRID_DEG`` and the radius rounded up, with a
margin, so the cached cone always covers the cone asked for; ``stars_around`` then cuts it to
the exact cone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
from astropy.table import Table

from lco_cli.catalogs._sky import angular_separation, in_cone, propagate
from lco_cli.catalogs.errors import CatalogError, one_line
from lco_cli.catalogs.files import catalog_from_table, find_columns, read_table
from lco_core._arrays import Float64Array
from lco_core.atomic import atomic_output
from lco_core.catalog import ReferenceCatalog

__all__ = ["GAIA_EPOCH", "GaiaCatalog", "GaiaQuery", "build_adql", "launch_gaia_query"]

#: Reference epoch of Gaia DR3 positions, Julian year.
GAIA_EPOCH = 2016.0
#: Cache grid for cone centres and radii, deg.
GRID_DEG = 0.05
#: Faintest G fetched by default, mag: deep enough for astrometry of 1 m frames.
DEFAULT_MAG_LIMIT = 19.0
#: Magnitude error per unit relative flux error, 2.5 / ln 10.
MAG_PER_RELATIVE_FLUX = 2.5 / math.log(10.0)

#: Our band -> GSPC column prefix.
SYNTHETIC_BANDS = {
    "u": "u_sdss", "g": "g_sdss", "r": "r_sdss", "i": "i_sdss", "z": "z_sdss",
    "U": "u_jkc", "B": "b_jkc", "V": "v_jkc", "R": "r_jkc", "I": "i_jkc",
}  # fmt: skip
#: gaia_source columns: identity, astrometry at ref_epoch, and G with its flux signal-to-noise.
SOURCE_COLUMNS = (
    "source_id", "ra", "dec", "pmra", "pmdec", "ref_epoch", "phot_g_mean_mag", "phot_g_mean_flux_over_error",
)  # fmt: skip

#: The query boundary: ADQL text in, astropy Table out (network and astroquery live behind it).
GaiaQuery = Callable[[str], Table]


def launch_gaia_query(adql: str) -> Table:
    """Run ``adql`` on the ESA Gaia archive through astroquery and return the result table.

    An asynchronous job: synchronous ones stop at 2000 rows. astroquery is imported here, not at
    module level, so the package works without it (offline, or with a local catalogue).

    Parameters
    ----------
    adql : str
        The query (`build_adql`).

    Returns
    -------
    astropy.table.Table
    """
    # astroquery.gaia contacts the archive on import and prints its status messages.
    with contextlib.redirect_stdout(io.StringIO()):
        from astroquery.gaia import Gaia
    job = Gaia.launch_job_async(adql)
    return job.get_results()


def _select_columns() -> list[str]:
    columns = [f"g.{name}" for name in SOURCE_COLUMNS]
    for prefix in SYNTHETIC_BANDS.values():
        columns += [f"s.{prefix}_mag", f"s.{prefix}_flux", f"s.{prefix}_flux_error", f"s.{prefix}_flag"]
    return columns


def build_adql(ra: float, dec: float, radius_deg: float, *, mag_limit: float = DEFAULT_MAG_LIMIT) -> str:
    """The ADQL cone search: Gaia DR3 sources within ``radius_deg`` of (ra, dec) (deg), G < ``mag_limit``,
    joined with their synthetic photometry, brightest first (a stable order: ties by source_id).

    Parameters
    ----------
    ra, dec : float
        Cone centre, degrees.
    radius_deg : float
        Cone radius, degrees.
    mag_limit : float
        Faintest Gaia G, mag.

    Returns
    -------
    str
    """
    return (
        f"SELECT {', '.join(_select_columns())} "
        "FROM gaiadr3.gaia_source AS g "
        "LEFT OUTER JOIN gaiadr3.synthetic_photometry_gspc AS s ON s.source_id = g.source_id "
        "WHERE 1 = CONTAINS(POINT('ICRS', g.ra, g.dec), "
        f"CIRCLE('ICRS', {ra:.6f}, {dec:.6f}, {radius_deg:.6f})) "
        f"AND g.phot_g_mean_mag < {mag_limit:.2f} "
        "ORDER BY g.phot_g_mean_mag, g.source_id"
    )


def _filled(table: Table, name: str) -> Float64Array:
    """A result column as float64 with masked (NULL) entries NaN; all NaN when the column is absent."""
    lower = {column.lower(): column for column in table.colnames}
    if name.lower() not in lower:
        return np.full(len(table), np.nan)
    values: Float64Array = np.ma.filled(np.ma.asarray(table[lower[name.lower()]], dtype=np.float64), np.nan)
    return values


def _error_where(magnitude: Float64Array, error: Float64Array) -> Float64Array:
    """``error`` where ``magnitude`` is known, NaN elsewhere: no error without a magnitude."""
    kept: Float64Array = np.where(np.isfinite(magnitude), error, np.nan)
    return kept


def normalise_gaia_table(result: Table) -> Table:
    """The query result in the cache's layout: ra, dec (deg, epoch 2016.0), pmra, pmdec (mas/yr),
    ref_epoch (yr), and per band ``{band}`` and ``{band}_err`` (mag), plus the GSPC flags."""
    with np.errstate(divide="ignore", invalid="ignore"):
        columns: dict[str, Any] = {
            "source_id": np.nan_to_num(_filled(result, "source_id"), nan=-1).astype(np.int64),
            "ra": _filled(result, "ra") % 360.0,
            "dec": _filled(result, "dec"),
            "pmra": _filled(result, "pmra"),
            "pmdec": _filled(result, "pmdec"),
            "ref_epoch": np.nan_to_num(_filled(result, "ref_epoch"), nan=GAIA_EPOCH),
            "G": _filled(result, "phot_g_mean_mag"),
            "G_err": _error_where(
                _filled(result, "phot_g_mean_mag"),
                MAG_PER_RELATIVE_FLUX / _filled(result, "phot_g_mean_flux_over_error"),
            ),
        }
        for band, prefix in SYNTHETIC_BANDS.items():
            flux, flux_error = _filled(result, f"{prefix}_flux"), _filled(result, f"{prefix}_flux_error")
            columns[band] = _filled(result, f"{prefix}_mag")
            columns[f"{band}_err"] = _error_where(columns[band], MAG_PER_RELATIVE_FLUX * flux_error / flux)
            columns[f"{band}_flag"] = np.nan_to_num(_filled(result, f"{prefix}_flag"), nan=0).astype(np.int8)
    table = Table(columns)
    for name in ("ra", "dec"):
        table[name].unit = "deg"
    for name in ("pmra", "pmdec"):
        table[name].unit = "mas / yr"
    return table


def _write_atomically(table: Table, target: Path) -> None:
    """Write ECSV next to ``target`` and rename it into place: a reader never sees half a file."""
    with atomic_output(target) as temporary:
        table.write(temporary, format="ascii.ecsv", overwrite=True)


@attrs.frozen
class CacheKey:
    """A cone on the cache grid: centre (deg), radius (deg), and the hash of the column list."""

    ra: float
    dec: float
    radius: float
    columns: str

    @classmethod
    def around(cls, ra: float, dec: float, radius_deg: float, *, mag_limit: float) -> CacheKey:
        """The key of the grid cone that covers a cone.

        Parameters
        ----------
        ra, dec : float
            Cone centre, degrees.
        radius_deg : float
            Cone radius, degrees.
        mag_limit : float
            Faintest Gaia G, mag (part of the column hash).

        Returns
        -------
        CacheKey
        """
        snapped_dec = min(90.0, max(-90.0, round(dec / GRID_DEG) * GRID_DEG))
        snapped_ra = (round((ra % 360.0) / GRID_DEG) * GRID_DEG) % 360.0
        # Snapping moves the centre by at most GRID_DEG / 2 in each coordinate (less in true
        # angle for RA): enlarging the radius by the diagonal keeps the asked cone inside.
        margin = GRID_DEG / 2.0 * math.sqrt(2.0)
        radius = math.ceil((radius_deg + margin) / GRID_DEG - 1e-9) * GRID_DEG
        text = ",".join(_select_columns()) + f";G<{mag_limit:.2f}"
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        return cls(round(snapped_ra, 6), round(snapped_dec, 6), round(radius, 6), digest)

    @property
    def filename(self) -> str:
        """The cache file's name, e.g. ``gaia-dr3_ra150.250_dec-30.400_r0.250_1a2b3c4d5e.ecsv``."""
        return f"gaia-dr3_ra{self.ra:07.3f}_dec{self.dec:+07.3f}_r{self.radius:.3f}_{self.columns}.ecsv"


_CACHE_NAME = re.compile(
    r"^gaia-dr3_ra(?P<ra>\d+\.\d+)_dec(?P<dec>[+-]\d+\.\d+)_r(?P<radius>\d+\.\d+)_[0-9a-f]+\.ecsv$"
)


class GaiaCatalog:
    """Gaia DR3 stars with synthetic photometry, from a disk cache or else one astroquery query.

    Parameters
    ----------
    cache_dir : Path
        Folder of the cache files (created on the first query).
    offline : bool
        Never query: a field not in the cache is a CatalogError.
    epoch : float, optional
        Julian year of the observations (e.g. ``Time(date_obs).jyear``). When given, positions
        are propagated from 2016.0 along the Gaia proper motions (stars without one stay put);
        when None, positions are at epoch 2016.0. A 100 mas/yr star moves 1 arcsec, the match
        radius, in 10 years.
    mag_limit : float
        Faintest Gaia G fetched, mag.
    query : callable
        The ADQL-to-Table boundary; ``launch_gaia_query`` (astroquery) unless replaced.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        offline: bool = False,
        epoch: float | None = None,
        mag_limit: float = DEFAULT_MAG_LIMIT,
        query: GaiaQuery = launch_gaia_query,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.offline = offline
        self.epoch = epoch
        self.mag_limit = mag_limit
        self._query = query
        # Tables already read or fetched, so that the frames of a night parse the cache once.
        self._tables: dict[Path, Table] = {}

    def cache_path(self, ra: float, dec: float, radius_deg: float) -> Path:
        """The cache file that serves a cone (deg), whether or not it exists yet.

        Parameters
        ----------
        ra, dec : float
            Cone centre, degrees.
        radius_deg : float
            Cone radius, degrees.

        Returns
        -------
        pathlib.Path
        """
        return self.cache_dir / CacheKey.around(ra, dec, radius_deg, mag_limit=self.mag_limit).filename

    def stars_around(self, ra: float, dec: float, radius_deg: float) -> ReferenceCatalog:
        """Gaia DR3 stars within ``radius_deg`` of (``ra``, ``dec``), all in deg.

        Served from the cache file of the cone's key or, failing that, from any cached cone of the
        same columns that covers this one; otherwise queried (unless offline) and cached.

        Parameters
        ----------
        ra, dec : float
            Cone centre, degrees (ICRS).
        radius_deg : float
            Cone radius, degrees.

        Returns
        -------
        ReferenceCatalog
            Bands 'G', u g r i z and U B V R I (NaN where a star has no synthetic photometry).

        Raises
        ------
        CatalogError
            Offline and not cached; astroquery missing; the query failed (network, archive).
        """
        key = CacheKey.around(ra, dec, radius_deg, mag_limit=self.mag_limit)
        path = self.cache_dir / key.filename
        if not path.is_file():
            path = self._covering(key, ra, dec, radius_deg) or path
        table = self._tables.get(path)
        if table is None and path.is_file():
            table = self._cached(path)
        if table is None:
            if self.offline:
                raise CatalogError(
                    str(path),
                    f"Gaia DR3 stars around RA {ra:.4f}, Dec {dec:+.4f} (radius {radius_deg:.3f} deg) "
                    "not cached and --offline given; run once online or pass --catalog FILE",
                )
            adql = build_adql(key.ra, key.dec, key.radius, mag_limit=self.mag_limit)
            table = normalise_gaia_table(self._run_query(adql))
            table.meta["query"] = adql
            table.meta["retrieved"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            try:
                _write_atomically(table, path)
            except OSError as error:
                raise CatalogError(str(path), f"cannot write the Gaia cache: {one_line(error)}") from error
        self._tables[path] = table
        return self._select(table, path, ra, dec, radius_deg)

    def _covering(self, key: CacheKey, ra: float, dec: float, radius_deg: float) -> Path | None:
        """The smallest cached cone (same columns) that contains the asked one, if any.

        Dithers that straddle a grid line snap to different keys; this keeps them on one query.
        """
        if not self.cache_dir.is_dir():
            return None
        best: tuple[float, str, Path] | None = None
        for candidate in self.cache_dir.glob(f"gaia-dr3_*_{key.columns}.ecsv"):
            match = _CACHE_NAME.match(candidate.name)
            if match is None:
                continue
            cached_ra, cached_dec, cached_radius = (float(match[name]) for name in ("ra", "dec", "radius"))
            if float(angular_separation(ra, dec, cached_ra, cached_dec)) + radius_deg <= cached_radius:
                entry = (cached_radius, candidate.name, candidate)
                best = entry if best is None or entry[:2] < best[:2] else best
        return None if best is None else best[2]

    def _cached(self, path: Path) -> Table | None:
        """The cache file's table; None (query again) if it is unreadable and we may go online."""
        try:
            table, _ = read_table(path)
        except CatalogError:
            if self.offline:
                raise
            return None
        return table

    def _run_query(self, adql: str) -> Table:
        try:
            return self._query(adql)
        except ImportError as error:
            raise CatalogError(
                "gaia-dr3", "astroquery is not installed (pip install astroquery), or pass --catalog FILE"
            ) from error
        except Exception as error:  # requests, http.client, astroquery and pyvo all raise their own types
            raise CatalogError(
                "gaia-dr3",
                f"query failed ({type(error).__name__}: {one_line(error)}); "
                "check the network, or pass --catalog FILE or --offline",
            ) from error

    def _select(self, table: Table, path: Path, ra: float, dec: float, radius_deg: float) -> ReferenceCatalog:
        columns = find_columns(table.colnames)
        if isinstance(columns, str):
            raise CatalogError(str(path), f"Gaia cache file is damaged: {columns}; delete it to query again")
        if self.epoch is not None:
            table = table.copy(copy_data=False)
            years = self.epoch - np.nan_to_num(_filled(table, "ref_epoch"), nan=GAIA_EPOCH)
            pmra, pmdec = _filled(table, "pmra"), _filled(table, "pmdec")
            moved_ra, moved_dec = propagate(_filled(table, "ra"), _filled(table, "dec"), pmra, pmdec, years)
            table.replace_column(columns.ra, moved_ra)
            table.replace_column(columns.dec, moved_dec)
        catalog = catalog_from_table(table, columns, where=str(path), source="gaia-dr3")
        return catalog.select(in_cone(catalog.ra, catalog.dec, ra, dec, radius_deg))
