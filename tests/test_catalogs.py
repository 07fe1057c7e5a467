"""Reference catalogues: real and written files, and Gaia DR3 through a fake astroquery (no network)."""

from __future__ import annotations

import math
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy import units as u
from astropy.table import MaskedColumn, Table

from lco_cli.catalogs import (
    GAIA_EPOCH,
    CatalogError,
    CatalogSource,
    GaiaCatalog,
    LocalCatalog,
    catalog_source,
    read_reference_file,
)
from lco_cli.catalogs._sky import angular_separation
from lco_cli.catalogs.gaia import SYNTHETIC_BANDS, CacheKey

# --- real files ------------------------------------------------------------------------------------------


def test_ldac_gaia_catalogue(real_data: Path) -> None:
    catalog = read_reference_file(real_data / "neoexchange/GAIA-DR2.cat")
    assert len(catalog) == 249
    assert 219.63 <= catalog.ra.min() < 219.64
    assert 220.03 <= catalog.ra.max() < 220.04
    assert -9.97 <= catalog.dec.min() < -9.96
    assert -9.58 <= catalog.dec.max() <= -9.57
    # LDAC_OBJECTS holds XWIN_WORLD, YWIN_WORLD, MAG, MAGERR: one generic magnitude with errors.
    assert set(catalog.magnitudes) == {"mag"}
    assert set(catalog.magnitude_errors) == {"mag"}
    assert 10.0 < np.nanmedian(catalog.magnitudes["mag"]) < 20.0
    assert np.all(catalog.magnitude_errors["mag"] >= 0)
    assert catalog.source == f"file:{(real_data / 'neoexchange/GAIA-DR2.cat').resolve()}"


@pytest.mark.parametrize(
    ("name", "rows", "ra_range"),
    [
        ("banzai/cpt1m012-fa06-20200113-0102-matched-cat.fits", 2752, (99.56, 100.02)),
        # RA is stored wrapped (-45.12 ... -44.96 deg): read as 314.88 ... 315.04.
        ("banzai/ogg2m001-ep04-20201006-0097-matched-cat.fits", 140, (314.87, 315.04)),
    ],
)
def test_banzai_matched_catalogues(
    real_data: Path, name: str, rows: int, ra_range: tuple[float, float]
) -> None:
    catalog = read_reference_file(real_data / name)
    assert len(catalog) == rows
    assert ra_range[0] <= catalog.ra.min() <= catalog.ra.max() <= ra_range[1]
    assert set(catalog.magnitudes) == {"g", "r", "i", "z"}  # x, y, a, b are not bands
    assert set(catalog.magnitude_errors) == {"g", "r", "i", "z"}
    for band in "griz":
        assert np.isfinite(catalog.magnitudes[band]).all()
        assert (catalog.magnitude_errors[band] > 0).all()


def test_local_catalog_cone(real_data: Path) -> None:
    local = LocalCatalog(real_data / "neoexchange/GAIA-DR2.cat")
    assert isinstance(local, CatalogSource)
    center = (219.83, -9.77)
    stars = local.stars_around(*center, 0.1)
    assert 0 < len(stars) < 249
    inside = angular_separation(local.catalog.ra, local.catalog.dec, *center) <= 0.1
    assert len(stars) == int(inside.sum())
    assert np.all(angular_separation(stars.ra, stars.dec, *center) <= 0.1)
    assert len(local.stars_around(*center, 1.0)) == 249


# --- files we write --------------------------------------------------------------------------------------


def test_ecsv_round_trip_with_vizier_names(tmp_path: Path) -> None:
    table = Table(
        {
            "RAJ2000": [10.5, 359.9999, 0.25],
            "DEJ2000": [-30.0, 89.5, -89.9],
            "Vmag": [12.1, 15.5, 99.0],  # 99: SExtractor's "not measured"
            "e_Vmag": [0.01, 0.02, 0.03],
            "Bmag": [12.9, 16.1, 18.0],
            "e_Bmag": [0.02, -1.0, 0.05],  # a negative error is no error
            "rmag": [11.8, 15.0, 17.0],
            "Rmag": [11.7, 14.9, 16.9],  # Cousins R beside SDSS r: the letter's case decides
        }
    )
    table["RAJ2000"].unit = u.deg
    path = tmp_path / "refcat.ecsv"
    table.write(path, format="ascii.ecsv")
    catalog = read_reference_file(path)
    np.testing.assert_array_equal(catalog.ra, [10.5, 359.9999, 0.25])
    np.testing.assert_array_equal(catalog.dec, [-30.0, 89.5, -89.9])
    assert set(catalog.magnitudes) == {"V", "B", "r", "R"}
    assert set(catalog.magnitude_errors) == {"V", "B"}
    np.testing.assert_array_equal(catalog.magnitudes["V"], [12.1, 15.5, np.nan])
    np.testing.assert_array_equal(catalog.magnitude_errors["B"], [0.02, np.nan, 0.05])
    np.testing.assert_array_equal(catalog.magnitudes["R"], [11.7, 14.9, 16.9])


def test_csv_round_trip_with_wrapped_ra_and_generic_mag(tmp_path: Path) -> None:
    path = tmp_path / "stars.csv"
    path.write_text("ra,dec,mag,magerr\n-0.5,1.0,14.25,0.011\n359.5,2.0,15.5,0.02\n720.25,-3.0,16.0,0.03\n")
    catalog = read_reference_file(path)
    np.testing.assert_allclose(catalog.ra, [359.5, 359.5, 0.25], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(catalog.magnitudes["mag"], [14.25, 15.5, 16.0])
    np.testing.assert_array_equal(catalog.magnitude_errors["mag"], [0.011, 0.02, 0.03])
    # The same stars, any suffix: the content decides the format.
    renamed = tmp_path / "stars.txt"
    renamed.write_bytes(path.read_bytes())
    np.testing.assert_array_equal(read_reference_file(renamed).dec, catalog.dec)


@pytest.mark.parametrize(
    ("columns", "bands", "errors"),
    [
        (["ALPHA_J2000", "DELTA_J2000", "g_mag", "g_mag_err"], {"g"}, {"g"}),
        (["ra_icrs", "de_icrs", "phot_g_mean_mag", "phot_bp_mean_mag"], {"G", "BP"}, set()),
        (["RA", "DEC", "gmag", "dg", "i", "ierr", "z", "z_err"], {"g", "i", "z"}, {"g", "i", "z"}),
        (["ra", "dec", "g_sdss_mag", "v_jkc_mag", "u", "e_u"], {"g", "V", "u"}, {"u"}),
        (["ra", "dec", "x", "y", "a", "b", "Gmag", "e_Gmag", "gmag", "gmagerr"], {"G", "g"}, {"G", "g"}),
    ],
)
def test_column_names(tmp_path: Path, columns: list[str], bands: set[str], errors: set[str]) -> None:
    path = tmp_path / "cat.csv"
    path.write_text(",".join(columns) + "\n" + ",".join(["1.5"] * len(columns)) + "\n")
    catalog = read_reference_file(path)
    assert set(catalog.magnitudes) == bands
    assert set(catalog.magnitude_errors) == errors


def test_angle_units_are_honoured(tmp_path: Path) -> None:
    table = Table({"ra": [1.0, 23.0], "dec": [0.5, -0.25], "mag": [12.0, 13.0]})
    table["ra"].unit = u.hourangle
    table["dec"].unit = u.rad
    path = tmp_path / "hours.ecsv"
    table.write(path, format="ascii.ecsv")
    catalog = read_reference_file(path)
    np.testing.assert_allclose(catalog.ra, [15.0, 345.0])
    np.testing.assert_allclose(catalog.dec, np.degrees([0.5, -0.25]))


def test_fits_round_trip(tmp_path: Path) -> None:
    table = Table({"ra": [120.0, 120.1], "dec": [5.0, 5.1], "rmag": [14.0, 15.0], "rmagerr": [0.01, 0.02]})
    path = tmp_path / "refcat.fits"
    table.write(path, format="fits")
    catalog = read_reference_file(path)
    np.testing.assert_array_equal(catalog.magnitudes["r"], [14.0, 15.0])
    np.testing.assert_array_equal(catalog.magnitude_errors["r"], [0.01, 0.02])


def _message(error: pytest.ExceptionInfo[CatalogError]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("x,y,mag\n1,2,3\n", "no RA column"),
        ("ra,y,mag\n1,2,3\n", "no Dec column"),
        ("ra,dec,flux\n1,2,3\n", "no magnitude column"),
        ("ra,dec,mag\n12:30:00,+10:00:00,14\n", "column 'ra' is not numeric"),
        ("ra,dec,mag\n10,95,14\n", "beyond 90"),
        ("ra,dec,mag\n1,2,3,4,5\n", "cannot read as CSV: Number of header columns (3) inconsistent"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(CatalogError) as error:
        read_reference_file(path)
    message = _message(error)
    assert message.startswith(str(path))
    assert problem in message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no such file"):
        read_reference_file(tmp_path / "missing.fits")
    with pytest.raises(CatalogError, match="not a file"):
        read_reference_file(tmp_path)
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(b"SIMPLE  =                    T" + b" " * 50 + b"garbage")
    with pytest.raises(CatalogError, match=r"truncated\.fits: cannot read a FITS table"):
        read_reference_file(truncated)
    image_only = tmp_path / "image.fits"
    Table({"a": [1]}).write(image_only, format="fits")
    with pytest.raises(CatalogError) as error:
        read_reference_file(image_only)
    assert "no RA column" in _message(error)


def test_catalog_source_prefers_the_file(real_data: Path, tmp_path: Path) -> None:
    chosen = catalog_source(
        catalog_file=real_data / "neoexchange/GAIA-DR2.cat", cache_dir=tmp_path, offline=False
    )
    assert isinstance(chosen, LocalCatalog)
    gaia = catalog_source(catalog_file=None, cache_dir=tmp_path, offline=True)
    assert isinstance(gaia, GaiaCatalog)
    assert gaia.offline
    assert isinstance(gaia, CatalogSource)


# --- Gaia DR3 at the astroquery boundary -----------------------------------------------------------------

FIELD = (219.83, -9.77)


def _gaia_result(rows: list[dict[str, float]]) -> Table:
    """A result table shaped like astroquery's: every selected column, NULLs masked."""
    names = [
        "source_id",
        "ra",
        "dec",
        "pmra",
        "pmdec",
        "ref_epoch",
        "phot_g_mean_mag",
        "phot_g_mean_flux_over_error",
    ]
    for prefix in SYNTHETIC_BANDS.values():
        names += [f"{prefix}_mag", f"{prefix}_flux", f"{prefix}_flux_error", f"{prefix}_flag"]
    columns = {}
    for name in names:
        values = [row.get(name, math.nan) for row in rows]
        columns[name] = MaskedColumn(np.nan_to_num(values), mask=np.isnan(values))
    return Table(columns)


def _star(source_id: int, ra: float, dec: float, g: float, **extra: float) -> dict[str, float]:
    row = {
        "source_id": source_id,
        "ra": ra,
        "dec": dec,
        "ref_epoch": GAIA_EPOCH,
        "phot_g_mean_mag": g,
        "phot_g_mean_flux_over_error": 500.0,
        "g_sdss_mag": g + 0.4,
        "g_sdss_flux": 1e-30,
        "g_sdss_flux_error": 1e-32,
        "g_sdss_flag": 1,
        "v_jkc_mag": g + 0.2,
        "v_jkc_flux": 2e-17,
        "v_jkc_flux_error": 4e-19,
        "v_jkc_flag": 0,
    }
    row.update(extra)
    return row


STARS = [
    _star(1, 219.83, -9.77, 12.0, pmra=1000.0, pmdec=0.0),
    _star(2, 219.85, -9.75, 15.0, pmra=-5.0, pmdec=3.0),
    _star(3, 219.80, -9.80, 18.5),  # no proper motion (a 2-parameter solution), no synthetic bands:
    _star(4, 220.05, -9.77, 16.0, pmra=1.0, pmdec=1.0),  # outside 0.2 deg, inside the cached cone
]
STARS[2].update({"g_sdss_mag": math.nan, "v_jkc_mag": math.nan})


class FakeGaia:
    """Stands in for ``astroquery.gaia.Gaia``: records each ADQL query, answers with a table."""

    def __init__(self, result: Table | None = None, error: BaseException | None = None) -> None:
        self.queries: list[str] = []
        self.result = result
        self.error = error

    def launch_job_async(self, query: str) -> Any:
        self.queries.append(query)
        if self.error is not None:
            raise self.error
        return types.SimpleNamespace(get_results=lambda: self.result)


@pytest.fixture
def fake_astroquery(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeGaia]:
    """Install a fake ``astroquery.gaia`` module (the real one contacts the archive on import)."""

    def install(result: Table | None = None, error: BaseException | None = None) -> FakeGaia:
        gaia = FakeGaia(_gaia_result(STARS) if result is None and error is None else result, error)
        package = types.ModuleType("astroquery")
        module = types.ModuleType("astroquery.gaia")
        module.Gaia = gaia  # type: ignore[attr-defined]
        package.gaia = module  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "astroquery", package)
        monkeypatch.setitem(sys.modules, "astroquery.gaia", module)
        return gaia

    return install


def test_gaia_query_text(fake_astroquery: Callable[..., FakeGaia], tmp_path: Path) -> None:
    gaia = fake_astroquery()
    GaiaCatalog(tmp_path).stars_around(*FIELD, 0.2)
    (query,) = gaia.queries
    key = CacheKey.around(*FIELD, 0.2, mag_limit=19.0)
    assert f"CIRCLE('ICRS', {key.ra:.6f}, {key.dec:.6f}, {key.radius:.6f})" in query
    assert "CONTAINS(POINT('ICRS', g.ra, g.dec)" in query
    assert "FROM gaiadr3.gaia_source AS g" in query
    assert "LEFT OUTER JOIN gaiadr3.synthetic_photometry_gspc AS s ON s.source_id = g.source_id" in query
    for column in ("g.pmra", "g.pmdec", "g.phot_g_mean_mag", "s.u_sdss_mag", "s.z_sdss_mag", "s.v_jkc_mag"):
        assert column in query
    assert "s.i_jkc_flux_error" in query
    assert "g.phot_g_mean_mag < 19.00" in query
    assert query.endswith("ORDER BY g.phot_g_mean_mag, g.source_id")


def test_gaia_result_is_converted_and_cut_to_the_cone(
    fake_astroquery: Callable[..., FakeGaia], tmp_path: Path
) -> None:
    fake_astroquery()
    stars = GaiaCatalog(tmp_path).stars_around(*FIELD, 0.2)
    assert stars.source == "gaia-dr3"
    assert len(stars) == 3  # star 4 lies 0.22 deg away
    assert set(stars.magnitudes) == {"G", "u", "g", "r", "i", "z", "U", "B", "V", "R", "I"}
    np.testing.assert_array_equal(stars.magnitudes["G"], [12.0, 15.0, 18.5])
    np.testing.assert_allclose(stars.magnitudes["g"], [12.4, 15.4, np.nan])
    np.testing.assert_allclose(stars.magnitudes["V"], [12.2, 15.2, np.nan])
    assert np.isnan(stars.magnitudes["B"]).all()  # no B fluxes in the fake archive
    # Errors from fluxes: 2.5 / ln 10 x sigma_F / F.
    np.testing.assert_allclose(stars.magnitude_errors["g"][:2], 2.5 / math.log(10) * 0.01)
    np.testing.assert_allclose(stars.magnitude_errors["V"][:2], 2.5 / math.log(10) * 0.02)
    np.testing.assert_allclose(stars.magnitude_errors["G"], 2.5 / math.log(10) / 500.0)
    np.testing.assert_array_equal(stars.ra, [219.83, 219.85, 219.80])  # epoch 2016.0, unmoved


def test_gaia_queries_once_per_field(fake_astroquery: Callable[..., FakeGaia], tmp_path: Path) -> None:
    gaia = fake_astroquery()
    catalog = GaiaCatalog(tmp_path / "cache")
    first = catalog.stars_around(*FIELD, 0.2)
    cached = list((tmp_path / "cache").glob("*.ecsv"))
    assert len(cached) == 1
    assert cached[0] == catalog.cache_path(*FIELD, 0.2)
    # The next frame of the night, dithered by 20 arcsec, reads the same cache file.
    dithered = catalog.stars_around(FIELD[0] + 20 / 3600, FIELD[1] - 10 / 3600, 0.2)
    assert len(gaia.queries) == 1
    assert len(dithered) == len(first)
    # A later run, offline, is served from the same file, and the file is a local catalogue too.
    offline = GaiaCatalog(tmp_path / "cache", offline=True).stars_around(*FIELD, 0.2)
    np.testing.assert_array_equal(offline.ra, first.ra)
    np.testing.assert_array_equal(offline.magnitudes["g"], first.magnitudes["g"])
    assert len(gaia.queries) == 1
    as_file = read_reference_file(cached[0])
    assert {"G", "g", "V"} <= set(as_file.magnitudes)


def test_gaia_dithers_across_a_grid_line_share_a_query(
    fake_astroquery: Callable[..., FakeGaia], tmp_path: Path
) -> None:
    gaia = fake_astroquery()
    catalog = GaiaCatalog(tmp_path)
    # 219.825 and 219.826 snap to different grid centres (219.80 and 219.85)...
    assert catalog.cache_path(219.825, -9.77, 0.2) != catalog.cache_path(219.826, -9.77, 0.2)
    catalog.stars_around(219.825, -9.77, 0.2)
    # ...but the first cached cone covers the second, so it is served without a query, also offline.
    catalog.stars_around(219.826, -9.77, 0.2)
    GaiaCatalog(tmp_path, offline=True).stars_around(219.826, -9.77, 0.2)
    assert len(gaia.queries) == 1
    # A field farther away than the cached margin is queried.
    catalog.stars_around(219.95, -9.77, 0.2)
    assert len(gaia.queries) == 2


def test_gaia_offline_without_cache(fake_astroquery: Callable[..., FakeGaia], tmp_path: Path) -> None:
    gaia = fake_astroquery()
    with pytest.raises(CatalogError) as error:
        GaiaCatalog(tmp_path, offline=True).stars_around(*FIELD, 0.2)
    message = _message(error)
    assert "not cached and --offline given" in message
    assert "RA 219.8300, Dec -9.7700" in message
    assert gaia.queries == []


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionError("HTTPSConnectionPool(host='gea.esac.esa.int'): Max retries exceeded\nwith url"),
        TimeoutError("timed out"),
        OSError(500, "Error 500: Internal Server Error"),
    ],
)
def test_gaia_network_failures(
    fake_astroquery: Callable[..., FakeGaia], tmp_path: Path, failure: BaseException
) -> None:
    fake_astroquery(error=failure)
    with pytest.raises(CatalogError) as error:
        GaiaCatalog(tmp_path).stars_around(*FIELD, 0.2)
    message = _message(error)
    assert message.startswith("gaia-dr3: query failed")
    assert type(failure).__name__ in message
    assert "--catalog FILE" in message
    assert error.value.__cause__ is failure
    assert not list(tmp_path.glob("*.ecsv"))  # nothing cached from a failure


def test_gaia_without_astroquery(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "astroquery.gaia", None)  # makes the import fail
    with pytest.raises(CatalogError, match="astroquery is not installed"):
        GaiaCatalog(tmp_path).stars_around(*FIELD, 0.2)


def test_package_imports_without_astroquery() -> None:
    code = "import sys, lco_cli.catalogs; sys.exit('astroquery' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_gaia_proper_motion_to_the_epoch(fake_astroquery: Callable[..., FakeGaia], tmp_path: Path) -> None:
    fake_astroquery()
    stars = GaiaCatalog(tmp_path, epoch=2026.0).stars_around(*FIELD, 0.2)
    # 1000 mas/yr east for 10 yr = 10 arcsec along the equator-parallel, so RA grows by 10" / cos(dec).
    moved = angular_separation(stars.ra[0], stars.dec[0], 219.83, -9.77) * 3600.0
    assert moved == pytest.approx(10.0, rel=1e-6)
    assert (stars.ra[0] - 219.83) * math.cos(math.radians(-9.77)) * 3600.0 == pytest.approx(10.0, rel=1e-4)
    assert stars.dec[0] == pytest.approx(-9.77, abs=1e-7)
    # No proper motion: left where it was (to float rounding, a few micro-arcseconds).
    assert stars.ra[2] == pytest.approx(219.80, abs=1e-9)
    assert stars.dec[2] == pytest.approx(-9.80, abs=1e-9)


def test_damaged_cache(fake_astroquery: Callable[..., FakeGaia], tmp_path: Path) -> None:
    gaia = fake_astroquery()
    path = GaiaCatalog(tmp_path).cache_path(*FIELD, 0.2)
    path.write_text("not a catalogue\n")
    with pytest.raises(CatalogError) as error:
        GaiaCatalog(tmp_path, offline=True).stars_around(*FIELD, 0.2)
    assert _message(error).startswith(str(path))
    assert len(GaiaCatalog(tmp_path).stars_around(*FIELD, 0.2)) == 3  # online: queried again
    assert len(gaia.queries) == 1


def test_cache_key_covers_the_cone() -> None:
    rng = np.random.default_rng(1)
    for _ in range(2000):
        ra, dec = rng.uniform(-10.0, 370.0), rng.uniform(-90.0, 90.0)
        radius = rng.uniform(0.01, 0.5)
        key = CacheKey.around(ra, dec, radius, mag_limit=19.0)
        assert 0.0 <= key.ra < 360.0
        assert -90.0 <= key.dec <= 90.0
        assert angular_separation(ra, dec, key.ra, key.dec) + radius <= key.radius + 1e-9
    assert CacheKey.around(359.99, 0.0, 0.2, mag_limit=19.0).ra == 0.0
    assert CacheKey.around(10.0, 0.0, 0.2, mag_limit=19.0) != CacheKey.around(10.0, 0.0, 0.2, mag_limit=20.0)
