"""Product and master headers describe the files (electrons), from the one keyword table.

The expected levels come from the simulator's own description of its camera
(`lco_instruments.simulate.SimCamera.electronics`: gain, saturation and non-linearity in ADU, read
noise) or, for real frames, from the raw header read here with astropy; never from the code under
test.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from importlib.metadata import version
from pathlib import Path

import astropy.units as u
import pytest
from astropy.io import fits
from helpers import load, masters_of

from lco_cli.catalogs import read_reference_file
from lco_core import Frame, ObsType
from lco_core.catalog import ReferenceCatalog
from lco_core.io import read_master, read_raw, write_master, write_product
from lco_core.io.masters import _master_cards
from lco_core.keyword_table import (
    GAIN_STAGE,
    PRODUCT_KEYWORDS,
    describing_cards,
    electron_levels,
    keyword_card,
    keyword_spec,
)
from lco_core.master import Master
from lco_core.meta import FrameMeta
from lco_core.provenance import ProcessingStep
from lco_core.section import Binning
from lco_instruments.describe import camera_for, raw_to_frame
from lco_instruments.simulate import Night, make_field, simulate_night, sinistro
from lco_stages import gain
from lco_stages.keywords import product_keywords
from lco_stages.recipes import Calibrations, amplifier_recipe, science_recipe

ROOT = Path(__file__).resolve().parents[1]
DOCS_PAGE = ROOT / "docs" / "product-keywords.rst"
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
#: Cards astropy writes from the data itself.
STRUCTURE = re.compile(r"^(XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|EXTNAME|CHECKSUM|DATASUM)$")
#: Keywords of an astrometric solution (the FITS WCS standard's, not the table's).
WCS = re.compile(r"^(WCSAXES|CTYPE\d|CUNIT\d|CRPIX\d|CRVAL\d|CD\d_\d|PC\d_\d|CDELT\d|[AB]P?_(ORDER|\d_\d)|"
                 r"RADESYS|EQUINOX|LONPOLE|LATPOLE|MJDREF|DATEREF|MJD-OBS)$")  # fmt: skip


# -- the table and its documentation ---------------------------------------------------------------


def _documented_rows() -> list[tuple[str, str, str, str, str]]:
    """The rows of the list-table on the product-keywords page: keyword, unit, on, from, comment."""
    text = DOCS_PAGE.read_text()
    table = text[text.index(".. list-table::") :]
    rows: list[list[str]] = []
    for line in table.splitlines():
        if line.startswith("   * - "):
            rows.append([line.removeprefix("   * - ")])
        elif line.startswith("     - ") and rows:
            rows[-1].append(line.removeprefix("     - "))
    cells = [[cell.strip().strip("`") for cell in row] for row in rows[1:]]  # without the header row
    return [
        (k, "" if unit == "\\-" else unit, on, source, description)
        for k, unit, on, source, description in cells
    ]


def test_the_documented_table_is_the_code_table() -> None:
    code = [(s.keyword, s.unit, s.on, s.source, s.description) for s in PRODUCT_KEYWORDS]
    assert _documented_rows() == code


def test_every_unit_reads_in_astropy_and_every_keyword_is_a_fits_keyword() -> None:
    keywords = [spec.keyword for spec in PRODUCT_KEYWORDS]
    assert len(set(keywords)) == len(keywords)
    for spec in PRODUCT_KEYWORDS:
        u.Unit(spec.unit)  # raises for a unit astropy cannot read
        example = spec.keyword.replace("n", "1")
        assert re.fullmatch(r"[A-Z0-9_-]{1,8}", example), spec.keyword
        assert keyword_spec(example) is spec


def test_the_table_reads_the_gain_stages_own_history_entry(night: Night, raw_path: Path) -> None:
    # The entry the levels come from is the one apply_gain records: one per frame, read by name.
    frame, camera = load(raw_path)
    entries = gain.apply_gain(camera)(frame).steps(GAIN_STAGE)
    assert len(entries) == 1
    assert entries[0].parameters["gain_amp1"] == pytest.approx(night.sim.electronics[0].gain)


def test_a_card_with_a_unit_keeps_the_tables_comment() -> None:
    card = keyword_card("SATURATE", 93100.0)
    assert card is not None
    assert card.comment.startswith("[electron] ")
    assert keyword_card("L1ZP", float("nan")) is None  # left out, never the string 'NaN'
    with pytest.raises(ValueError, match="unit"):
        keyword_card("L1ZP", 23.0, comment="my own")
    with pytest.raises(KeyError):
        keyword_card("NOTOURS", 1)


# -- the levels, by hand ------------------------------------------------------------------------------


def _meta(*, maxlin: float | None = None) -> FrameMeta:
    return FrameMeta(
        filename="cpt1m010-fa99-20260101-0042-e00.fits.fz", obstype=ObsType.EXPOSE, site="cpt",
        telescope="1m0-10", camera="fa99", day_obs=dt.date(2026, 1, 1),
        date_obs=dt.datetime(2026, 1, 1, 3, tzinfo=dt.UTC), exptime=60.0, binning=Binning(1, 1),
        maxlin=maxlin,
    )  # fmt: skip


def test_the_lowest_amplifier_in_electrons_sets_the_levels() -> None:
    # Amplifier 1: 40000 ADU x 2 e-/ADU = 80000 e-; amplifier 2: 60000 ADU x 1 e-/ADU = 60000 e-.
    # The lowest level in electrons is amplifier 2's, although its level in ADU is the higher and
    # its gain the lower: neither min(ADU) x gain nor SATURATE x min(gain) gives it.
    step = ProcessingStep(
        GAIN_STAGE,
        {"gain_amp1": 2.0, "gain_amp2": 1.0},
        {"saturation_e_amp1": 80000.0, "saturation_e_amp2": 60000.0,
         "read_noise_amp1": 3.0, "read_noise_amp2": 4.0},
    )  # fmt: skip
    frame = Frame(meta=_meta(maxlin=50000.0), history=(step,))
    levels = electron_levels(frame)
    assert levels.saturate == pytest.approx(60000.0)
    # MAXLIN 50000 ADU: amplifier 1 is capped at its saturation (40000 ADU -> 80000 e-), amplifier 2
    # is 50000 ADU x 1 = 50000 e-.
    assert levels.maxlin == pytest.approx(50000.0)
    assert levels.read_noise == pytest.approx(math.sqrt((3.0**2 + 4.0**2) / 2))


def test_a_frame_that_states_no_gain_replaces_the_adu_cards_with_undefined_values() -> None:
    cards = {c.keyword: c for c in describing_cards(Frame(meta=_meta()), unit="electron")}
    assert cards["GAIN"].value == 1.0
    for keyword in ("SATURATE", "MAXLIN", "RDNOISE"):
        assert cards[keyword].value is None  # undefined: the raw ADU card cannot stay


# -- a simulated night, reduced ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    sim = sinistro(amp_size=256)
    field = make_field(sim, seed=31, stars_per_square_degree=12000)
    return simulate_night(
        tmp_path_factory.mktemp("keywords"), sim, n_bias=3, n_dark=3, n_flat=3, n_science=1, seed=31,
        science_exptime=120.0, field=field,
    )  # fmt: skip


@pytest.fixture(scope="module")
def calibrations(night: Night) -> Calibrations:
    return masters_of(night, min_frames=3)


@pytest.fixture(scope="module")
def raw_path(night: Night) -> Path:
    return night.paths_of(ObsType.EXPOSE)[0]


@pytest.fixture(scope="module")
def reduced(night: Night, calibrations: Calibrations, raw_path: Path) -> Frame:
    frame, camera = load(raw_path)
    reference = read_reference_file(night.catalog_path)
    return science_recipe(camera, calibrations, reference=reference, pixel_scale=night.sim.pixel_scale)(frame)


@pytest.fixture(scope="module")
def product(reduced: Frame, raw_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("product") / raw_path.name.replace("-e00.fits.fz", "-e91.fits")
    return write_product(target, reduced, keywords=product_keywords(reduced, now=NOW))


@pytest.fixture(scope="module")
def masters(
    calibrations: Calibrations, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Master, Path]]:
    folder = tmp_path_factory.mktemp("masters")
    out = {}
    for master in (calibrations.bias, calibrations.dark, calibrations.flat):
        assert master is not None
        out[master.kind.value] = (master, write_master(folder / master.filename, master))
    return out


def _expected_levels(night: Night) -> tuple[float, float, float]:
    """SATURATE, MAXLIN and RDNOISE in electrons from the simulator's own electronics."""
    electronics = night.sim.electronics
    saturate = min(e.saturation * e.gain for e in electronics)
    maxlin = min(min(e.nonlinearity, e.saturation) * e.gain for e in electronics)
    read_noise = math.sqrt(sum(e.read_noise**2 for e in electronics) / len(electronics))
    return saturate, maxlin, read_noise


def _sci(path: Path) -> fits.Header:
    return fits.getheader(path, "SCI")


def _unit_in(comment: str) -> str:
    match = re.match(r"^\[([^\]]*)\]", comment)
    return match.group(1) if match else ""


def _check_cards(header: fits.Header, raw: fits.Header, written: set[str]) -> set[str]:
    """Every card not from the raw frame is ours and in the table, and every card we wrote states
    the table's unit in its comment, as the file holds it. Returns the keywords checked."""
    checked = set()
    for card in header.cards:
        keyword = card.keyword
        if keyword in ("HISTORY", "COMMENT", "") or STRUCTURE.match(keyword) or WCS.match(keyword):
            continue
        ours = keyword in written or keyword.startswith("PROV") or keyword not in raw
        if not ours:
            continue  # a raw card passed through
        spec = keyword_spec(keyword)  # KeyError: written by us but not in the table
        assert _unit_in(card.comment) == spec.unit, f"{keyword}: comment {card.comment!r}, unit {spec.unit!r}"
        checked.add(keyword)
    return checked


def _no_nan_string(header: fits.Header) -> None:
    for card in header.cards:
        assert not (isinstance(card.value, str) and card.value.strip().upper() == "NAN"), str(card)


def test_a_science_product_header_describes_electrons(night: Night, product: Path, raw_path: Path) -> None:
    header = _sci(product)
    raw = fits.getheader(raw_path, 0)
    saturate, maxlin, read_noise = _expected_levels(night)
    assert raw["SATURATE"] == night.sim.electronics[0].saturation  # the raw card was in ADU ...
    assert header["GAIN"] == 1.0
    assert header["SATURATE"] == pytest.approx(saturate, rel=1e-12)  # ... the product's is electrons
    assert header["MAXLIN"] == pytest.approx(maxlin, rel=1e-12)
    assert header["RDNOISE"] == pytest.approx(read_noise, rel=1e-12)
    assert header["BUNIT"] == "electron"
    assert header["RLEVEL"] == 91
    assert header["PIPEVER"] == version("lco-core")
    assert header["ORIGNAME"] == raw_path.name.removesuffix(".fz")
    assert header["L1STATZP"] == 1
    assert "L1ZP" in header
    assert list(header.keys()).count("SATURATE") == 1  # replaced, not added beside the raw card


def test_every_card_of_a_science_product_is_in_the_table_with_its_unit(
    reduced: Frame, product: Path, raw_path: Path
) -> None:
    header = _sci(product)
    written = {card.keyword for card in product_keywords(reduced, now=NOW)}
    checked = _check_cards(header, fits.getheader(raw_path, 0), written)
    expected = {"GAIN", "SATURATE", "MAXLIN", "RDNOISE", "BUNIT", "RLEVEL", "PIPEVER", "ORIGNAME", "DATE",
                "OVERSCN1", "L1STATOV", "BIASLVL", "DRKTSCAL", "L1MEAN", "L1FWHM", "L1STATZP", "L1ZP",
                "WCSERR", "WCSRMS", "PROV0001"}  # fmt: skip
    assert expected <= checked, expected - checked
    _no_nan_string(header)


@pytest.mark.parametrize(("kind", "unit"), [("bias", "electron"), ("dark", "electron/s"), ("skyflat", "")])
def test_every_master_header_describes_electrons_with_its_own_unit(
    night: Night, masters: dict[str, tuple[Master, Path]], kind: str, unit: str
) -> None:
    master, path = masters[kind]
    header = _sci(path)
    saturate, maxlin, read_noise = _expected_levels(night)
    assert header["GAIN"] == 1.0
    assert header["SATURATE"] == pytest.approx(saturate, rel=1e-12)
    assert header["MAXLIN"] == pytest.approx(maxlin, rel=1e-12)
    assert header["RDNOISE"] == pytest.approx(read_noise, rel=1e-12)
    assert header["BUNIT"] == unit
    assert header["RLEVEL"] == 91
    assert header["PIPEVER"] == version("lco-core")
    assert header["ORIGNAME"] == master.filename  # a master's own name: it has no raw file
    raw = fits.getheader(night.paths_of(master.kind.obstype)[0], 0)
    checked = _check_cards(header, raw, {card.keyword for card in _master_cards(master)})
    assert {"ISMASTER", "NINPUTS", "IMCOM001", "GAIN", "SATURATE", "MAXLIN", "RDNOISE", "BUNIT"} <= checked
    _no_nan_string(header)
    back = read_master(path)
    assert (back.kind, back.inputs) == (master.kind, master.inputs)


def test_a_frame_without_a_zero_point_says_why_and_writes_no_nan(
    night: Night, calibrations: Calibrations, raw_path: Path, tmp_path: Path
) -> None:
    reference = read_reference_file(night.catalog_path)
    elsewhere = ReferenceCatalog(
        reference.ra + 2.0, reference.dec, dict(reference.magnitudes), source="elsewhere"
    )
    frame, camera = load(raw_path)
    reduced = science_recipe(camera, calibrations, reference=elsewhere, pixel_scale=night.sim.pixel_scale)(
        frame
    )
    path = write_product(tmp_path / "x-e91.fits", reduced, keywords=product_keywords(reduced, now=NOW))
    header = _sci(path)
    assert header["L1STATZP"] == 0
    assert header.comments["L1STATZP"].startswith("No L1ZP: ")
    assert "sky positions" in header.comments["L1STATZP"]
    for keyword in ("L1ZP", "L1ZPERR", "WCSRMS"):  # not measured: no card, never 'NaN'
        assert keyword not in header
    assert header["WCSERR"] == 4
    written = {card.keyword for card in product_keywords(reduced, now=NOW)}
    assert "L1STATZP" in _check_cards(header, fits.getheader(raw_path, 0), written)
    _no_nan_string(header)


# -- real frames ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["ingester/cpt1m012-fl10-20151216-0073-e00.fits.fz", "neoexchange/mef_raw_test_frame.fits"]
)
def test_real_frames_get_their_levels_in_electrons(real_data: Path, name: str) -> None:
    # 2015 cube: GAIN '[3.3,3.4,3.3,3.4]' with one amplifier kept; 2021 MEF: primary GAIN 0.0 and
    # one GAIN per extension. The expected figures are the raw header's, multiplied here.
    path = real_data / name
    with fits.open(path) as hdul:
        images = [hdu for hdu in hdul if (hdu.header.get("NAXIS1") or 0) > 0]
        primary = images[0].header if "SATURATE" in images[0].header else hdul[0].header
        if len(images) > 1:
            gains = [float(hdu.header["GAIN"]) for hdu in images]
        else:
            kept = int(images[0].header.get("NAXIS3", 1))
            gains = [float(g) for g in str(primary["GAIN"]).strip("[]").split(",")][:kept]
        saturation, nonlinearity = float(primary["SATURATE"]), float(primary["MAXLIN"])
    raw = read_raw(path)
    camera = camera_for(raw)
    frame = amplifier_recipe(camera)(raw_to_frame(raw, camera))
    cards = {c.keyword: c.value for c in product_keywords(frame, now=NOW)}
    assert cards["GAIN"] == 1.0
    assert cards["SATURATE"] == pytest.approx(saturation * min(gains), rel=1e-12)
    assert cards["MAXLIN"] == pytest.approx(min(nonlinearity, saturation) * min(gains), rel=1e-12)
    assert cards["ORIGNAME"] == path.name.removesuffix(".fz")
