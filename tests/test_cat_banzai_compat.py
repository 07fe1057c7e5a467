"""The CAT table against BANZAI's: column names, dtypes, units and flag bits.

BANZAI's columns come from ``data/banzai_cat_columns.ecsv``, written by hand from BANZAI's
documentation (each row says where from); the real BANZAI CATs are read in place from the shared
real-data folder (GPL-3.0, never copied here).
"""

from __future__ import annotations

import re
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from helpers import load, masters_of

from lco_cli.catalogs import read_reference_file
from lco_core import Frame, ObsType
from lco_core.io import write_product
from lco_core.sources import SourceCatalog, SourceFlag
from lco_instruments.simulate import Night, make_field, simulate_night, sinistro
from lco_stages.recipes import science_recipe
from lco_stages.sources import DESCRIPTIONS, UNITS, empty_catalog

BANZAI_COLUMNS = Path(__file__).parent / "data" / "banzai_cat_columns.ecsv"
#: Real BANZAI e91 CAT extensions (shared/data/real/SOURCES.md).
REAL_CATS = ["datalab/fits_1.fits.fz", "datalab/fits_2.fits.fz"]

#: BANZAI's unit for a quantity we write in another unit: BANZAI labels electrons 'count' (its
#: gain stage turns every frame into electrons), we say 'electron'.
SAME_QUANTITY = {u.count: u.electron}
#: Columns whose unit we write differently on purpose, and why.
UNIT_DIFFERENCES = {
    "kronrad": "a multiple of a and b (the Kron ellipse is kronrad a by kronrad b), so no unit; "
    "BANZAI labels it pixel",
    "mag": "a magnitude: BANZAI sets no unit (its files inherit 'count'), ours says 'mag'",
    "magerr": "as mag",
}
#: Columns of the real BANZAI CAT our CAT lacks, and why. Empty: we have every one.
MISSING_FROM_OURS: dict[str, str] = {}
#: Units a real BANZAI CAT writes that are slips, not the quantity's unit.
REAL_UNIT_SLIPS = {"mag": "count", "magerr": "count"}

# 'electron' is not a FITS-standard unit: astropy warns each time it writes or reads one.
pytestmark = pytest.mark.filterwarnings(
    "ignore:'electron' did not parse as fits unit:astropy.units.UnitsWarning"
)


def _banzai_columns() -> Table:
    table = Table.read(BANZAI_COLUMNS, format="ascii.ecsv")
    table["unit"] = table["unit"].filled("") if hasattr(table["unit"], "filled") else table["unit"]
    return table


def _unit(text: str) -> u.UnitBase | None:
    return u.Unit(text, parse_strict="silent") if text else None


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    sim = sinistro(amp_size=384)
    field = make_field(sim, seed=12, stars_per_square_degree=12000)
    return simulate_night(
        tmp_path_factory.mktemp("banzai"), sim, n_bias=3, n_dark=3, n_flat=3, n_science=1, seed=12,
        science_exptime=120.0, field=field,
    )  # fmt: skip


@pytest.fixture(scope="module")
def reduced(night: Night) -> Frame:
    """One simulated science frame through the whole science recipe (sources, WCS, zero point)."""
    cal = masters_of(night, min_frames=3)
    reference = read_reference_file(night.catalog_path)
    frame, camera = load(night.paths_of(ObsType.EXPOSE)[0])
    result = science_recipe(camera, cal, reference=reference, pixel_scale=night.sim.pixel_scale)(frame)
    assert result.wcs is not None
    assert result.wcs.solved
    assert result.steps("calibrate_photometry")[-1].diagnostics["succeeded"] is True
    return result


@pytest.fixture(scope="module")
def written(reduced: Frame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Table, dict[str, str]]:
    """The CAT extension of the frame's product as any FITS reader sees it, and its TUNITs."""
    path = write_product(tmp_path_factory.mktemp("product") / "cpt1m010-fa99-20260101-0001-e91.fits", reduced)
    with fits.open(path) as hdul:
        return Table(hdul["CAT"].data), {
            hdul["CAT"].header[f"TTYPE{i}"]: str(hdul["CAT"].header.get(f"TUNIT{i}", ""))
            for i in range(1, hdul["CAT"].header["TFIELDS"] + 1)
        }


def test_source_flag_bits_are_banzais() -> None:
    """BANZAI's documented bits (the fixture's flag row) are ours, name for name; ours start at 32."""
    table = _banzai_columns()
    meaning = str(table[table["name"] == "flag"]["meaning"][0])
    documented = {int(bit): words for bit, words in re.findall(r"(\d+) ([a-zA-Z ]+?)(?:,|$)", meaning)}
    ours = {
        1: SourceFlag.BAD_PIXELS, 2: SourceFlag.BLENDED, 4: SourceFlag.SATURATED, 8: SourceFlag.EDGE,
        16: SourceFlag.COSMIC_RAY,
    }  # fmt: skip
    assert sorted(documented) == sorted(ours)
    keywords = {1: "bad", 2: "blend", 4: "saturat", 8: "edge", 16: "cosmic"}
    for bit, member in ours.items():
        assert int(member) == bit
        assert keywords[bit] in documented[bit].lower()
    for member in SourceFlag:
        if member not in ours.values():
            assert int(member) >= 32, f"{member.name} collides with BANZAI's bits"
        assert int(member) & (int(member) - 1) == 0, f"{member.name} is not one bit"
    for bit, member in ours.items():  # the column's own description names each bit
        assert f"{bit} " in DESCRIPTIONS["flag"], member.name


def _check_banzai_columns(names: list[str], kinds: dict[str, str], units: dict[str, str]) -> None:
    problems = []
    for row in _banzai_columns():
        name, kind, banzai = str(row["name"]), str(row["kind"]), _unit(str(row["unit"]))
        if name not in names:
            problems.append(f"{name}: missing")
            continue
        if kinds[name] != kind:
            problems.append(f"{name}: dtype kind {kinds[name]!r}, BANZAI {kind!r}")
        ours = _unit(units.get(name, ""))
        expected = SAME_QUANTITY.get(banzai, banzai) if banzai is not None else None
        if name in UNIT_DIFFERENCES:
            assert ours != expected, f"{name} is listed as a deliberate difference but agrees"
        elif ours != expected:
            problems.append(f"{name}: unit {ours}, BANZAI {banzai} (expected {expected})")
    assert not problems, problems


def test_our_cat_has_every_banzai_column_with_its_dtype_and_unit(reduced: Frame) -> None:
    catalog = reduced.sources
    assert catalog is not None
    assert len(catalog) > 50
    _check_banzai_columns(
        list(catalog), {name: catalog[name].dtype.kind for name in catalog}, dict(catalog.units)
    )


def test_the_written_cat_has_every_banzai_column_with_its_dtype_and_unit(
    written: tuple[Table, dict[str, str]],
) -> None:
    table, units = written
    _check_banzai_columns(table.colnames, {name: table[name].dtype.kind for name in table.colnames}, units)
    assert units["flux"] == "electron"  # written verbatim, though not a FITS-standard unit
    assert units["background"] == "electron"


def test_an_empty_cat_has_the_banzai_columns_too() -> None:
    catalog = empty_catalog()
    detection_columns = [
        str(row["name"])
        for row in _banzai_columns()
        if str(row["name"]) not in {"ra", "dec", "mag", "magerr"}
    ]
    assert set(detection_columns) <= set(catalog)
    assert set(UNITS) <= set(catalog)


def test_the_fwtm_column_is_wider_than_the_fwhm(reduced: Frame) -> None:
    catalog = reduced.sources
    assert catalog is not None
    good = (catalog["flag"] == 0) & np.isfinite(catalog["fwhm"]) & (catalog["flux"] / catalog["fluxerr"] > 30)
    assert good.sum() >= 10
    ratio = catalog["fwtm"][good] / catalog["fwhm"][good]
    # The simulator's stars are Moffats of beta 3: FWTM / FWHM = sqrt(10^(1/3) - 1) / sqrt(2^(1/3) - 1).
    assert np.median(ratio) == pytest.approx(2.107, rel=0.03)


@pytest.mark.parametrize("name", REAL_CATS)
def test_our_columns_cover_the_real_banzai_cat(real_data: Path, name: str) -> None:
    with fits.open(real_data / name) as hdul:
        header = hdul["CAT"].header
        real = {
            header[f"TTYPE{i}"]: (str(header.get(f"TUNIT{i}", "")), hdul["CAT"].data.dtype[i - 1].kind)
            for i in range(1, header["TFIELDS"] + 1)
        }
    ours = set(empty_catalog()) | {"ra", "dec", "mag", "magerr"}  # the astrometry and zero point add these
    assert set(real) - ours == set(MISSING_FROM_OURS)
    # The hand-written fixture is faithful to BANZAI's real files: the same columns, kinds and units.
    fixture = {str(row["name"]): row for row in _banzai_columns()}
    assert set(fixture) == set(real)
    for column, (unit, kind) in real.items():
        assert str(fixture[column]["kind"]) == kind, column
        documented = _unit(str(fixture[column]["unit"]))
        if column in REAL_UNIT_SLIPS:
            assert unit == REAL_UNIT_SLIPS[column]
        else:
            assert _unit(unit) == documented, column


def test_source_catalog_writes_units_verbatim() -> None:
    catalog = SourceCatalog({"flux": np.ones(2), "x": np.ones(2)}, {"flux": "electron", "x": "pix"})
    hdu = fits.table_to_hdu(catalog.to_table())
    assert hdu.header["TUNIT1"] == "electron"
    assert hdu.header["TUNIT2"] == "pix"
    assert dict(SourceCatalog.from_table(Table.read(hdu)).units) == {"flux": "electron", "x": "pix"}
