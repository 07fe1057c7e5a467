"""Products and masters are tile-compressed like LCO's (issue 12): within 1% of ERR, funpack reads them."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st

from lco_cli.main import main
from lco_core.io import read_product
from lco_core.io.compression import DITHER_SEED, compressed, quantisation_step
from lco_core.io.products import write_atomically
from lco_instruments.simulate import Night, sbig, simulate_night

FUNPACK = shutil.which("funpack")


def _funpack() -> str:
    """funpack's path: .ci/run installs it (libcfitsio-bin), so under CI its absence is a failure."""
    if FUNPACK is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("funpack not found (CI=true: .ci/run installs Debian's libcfitsio-bin)")
        pytest.skip("funpack not installed (Debian: apt-get install libcfitsio-bin)")
    return FUNPACK


def _unpacked(path: Path) -> fits.HDUList:
    """The file as cfitsio's funpack decompresses it (to stdout)."""
    completed = subprocess.run([_funpack(), "-S", str(path)], capture_output=True, check=True)
    return fits.open(io.BytesIO(completed.stdout))


def _product_hdus(
    science: npt.NDArray[np.float32], error: npt.NDArray[np.float32], mask: npt.NDArray[np.uint8]
) -> fits.HDUList:
    header = fits.Header([("GAIN", 1.0, "[e-/e-]"), ("OBJECT", "M31")])
    return fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.ImageHDU(science, header, name="SCI"),
            fits.ImageHDU(mask, name="BPM"),
            fits.ImageHDU(error, name="ERR"),
        ]
    )


def _sky(seed: int, shape: tuple[int, int] = (96, 80)) -> tuple[npt.NDArray[np.float32], ...]:
    """A sky of 300 e- with a bright star: ERR from 3 e- (read noise) to hundreds in the core."""
    rng = np.random.default_rng(seed)
    y, x = np.indices(shape)
    truth = 300.0 + 2e5 * np.exp(-((x - 40.0) ** 2 + (y - 50.0) ** 2) / 8.0)
    error = np.sqrt(truth + 3.0**2)
    science = truth + rng.normal(0.0, 1.0, shape) * error
    return science.astype(np.float32), error.astype(np.float32)


# -- the quantisation bound ------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    sky=st.floats(0.0, 1e5),
    read_noise=st.floats(0.5, 30.0),
    masked=st.floats(0.0, 0.3),
)
def test_every_good_pixel_stays_within_a_hundredth_of_its_error(
    tmp_path_factory: pytest.TempPathFactory, seed: int, sky: float, read_noise: float, masked: float
) -> None:
    rng = np.random.default_rng(seed)
    shape = (40, 33)
    level = sky * rng.uniform(0.0, 2.0, shape)
    error = np.sqrt(level + read_noise**2).astype(np.float32)
    science = (level + rng.normal(0.0, 1.0, shape) * error).astype(np.float32)
    mask = (rng.uniform(size=shape) < masked).astype(np.uint8)
    error[mask == 1] = 1e-6  # bad pixels may carry any ERR; they do not set the step
    path = tmp_path_factory.mktemp("bound") / "x-e91.fits.fz"
    write_atomically(_product_hdus(science, error, mask), path)
    with fits.open(path) as hdul:
        assert all(isinstance(hdul[name], fits.CompImageHDU) for name in ("SCI", "BPM", "ERR"))
        good = mask == 0
        assert np.all(np.abs(hdul["SCI"].data - science)[good] <= 0.01 * error[good])
        assert np.all(np.abs(hdul["ERR"].data - error)[good] <= 0.01 * error[good])
        np.testing.assert_array_equal(hdul["BPM"].data, mask)


def test_the_step_is_set_by_the_smallest_good_error() -> None:
    error = np.array([[5.0, 2.0], [0.0, np.nan]])
    assert quantisation_step(error) == pytest.approx(0.04)  # 2 x 1% x 2.0: rounding is within half a step
    assert quantisation_step(error, mask=np.array([[0, 1], [0, 0]])) == pytest.approx(0.1)
    assert quantisation_step(np.zeros((2, 2))) is None


def test_a_star_core_is_kept_as_well_as_the_sky(tmp_path: Path) -> None:
    """fpack's default step (a quarter of each tile's noise) is set by the sky; ours by the lowest ERR."""
    science, error = _sky(3)
    mask = np.zeros(science.shape, np.uint8)
    ours = tmp_path / "ours.fits.fz"
    write_atomically(_product_hdus(science, error, mask), ours)
    default = tmp_path / "default.fits.fz"
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(science, name="SCI")]).writeto(default)
    with fits.open(ours) as packed, fits.open(default) as fpack_like:
        assert np.max(np.abs(packed["SCI"].data - science) / error) <= 0.01
        # The independent reference: astropy's default quantisation, as users get it unasked.
        assert np.max(np.abs(fpack_like["SCI"].data - science) / error) > 0.01


def test_integers_are_lossless_and_infinities_or_no_error_keep_every_bit(tmp_path: Path) -> None:
    science, error = _sky(5)
    science[3, 4] = np.inf
    mask = np.random.default_rng(0).integers(0, 256, science.shape).astype(np.uint8)
    path = tmp_path / "odd.fits.fz"
    write_atomically(_product_hdus(science, error, mask), path)
    with fits.open(path) as hdul:
        np.testing.assert_array_equal(hdul["SCI"].data, science)
        np.testing.assert_array_equal(hdul["BPM"].data, mask)
    no_error = tmp_path / "no-error.fits.fz"
    write_atomically(fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(science, name="SCI")]), no_error)
    with fits.open(no_error) as hdul:
        np.testing.assert_array_equal(hdul["SCI"].data, science)


def test_a_plain_name_is_written_plain(tmp_path: Path) -> None:
    science, error = _sky(6)
    path = tmp_path / "x-e91.fits"
    write_atomically(_product_hdus(science, error, np.zeros(science.shape, np.uint8)), path)
    with fits.open(path) as hdul:
        assert not any(isinstance(hdu, fits.CompImageHDU) for hdu in hdul)
        np.testing.assert_array_equal(hdul["SCI"].data, science)


def test_rewriting_gives_the_same_tiles(tmp_path: Path) -> None:
    science, error = _sky(7)
    mask = np.zeros(science.shape, np.uint8)
    tiles = []
    for name in ("first.fits.fz", "second.fits.fz"):
        write_atomically(_product_hdus(science, error, mask), tmp_path / name)
        with fits.open(tmp_path / name, disable_image_compression=True) as hdul:
            assert hdul["SCI"].header["ZDITHER0"] == DITHER_SEED
            tiles.append([bytes(np.asarray(hdul[n].data).tobytes()) for n in ("SCI", "BPM", "ERR")])
            tiles[-1] += [bytes(hdul[n].data["COMPRESSED_DATA"][0]) for n in ("SCI", "ERR")]
    assert tiles[0] == tiles[1]


def test_the_input_list_is_not_changed() -> None:
    science, error = _sky(8)
    hdul = _product_hdus(science, error, np.zeros(science.shape, np.uint8))
    packed = compressed(hdul)
    assert isinstance(packed["SCI"], fits.CompImageHDU)
    assert type(hdul["SCI"]) is fits.ImageHDU
    assert hdul["SCI"].header["XTENSION"] == "IMAGE"


# -- cfitsio reads what astropy reads ----------------------------------------------------------


def test_funpack_reads_every_pixel_and_card_astropy_reads(tmp_path: Path) -> None:
    science, error = _sky(9)
    science[0, :] = 0.0  # exact zeros (SUBTRACTIVE_DITHER_2 keeps them)
    science[1, :] = 17.5  # a constant row: a tile of one value
    science[2, 2] = np.nan
    mask = np.zeros(science.shape, np.uint8)
    mask[2, 2] = 1
    path = tmp_path / "x-e91.fits.fz"
    write_atomically(_product_hdus(science, error, mask), path)
    with _unpacked(path) as unpacked, fits.open(path) as packed:
        assert [hdu.name for hdu in unpacked] == ["PRIMARY", "SCI", "BPM", "ERR"]
        for name in ("SCI", "BPM", "ERR"):
            np.testing.assert_array_equal(unpacked[name].data, packed[name].data)
        assert unpacked["SCI"].header["OBJECT"] == "M31"
        assert np.all(unpacked["SCI"].data[0] == 0.0)


def test_funpack_reads_an_uncompressed_extension_beside_quantised_ones(tmp_path: Path) -> None:
    """An image with infinities stays uncompressed: astropy's lossless float tiles (no ZQUANTIZ =
    'NONE') make cfitsio 4.2 decode the quantised ERR after them wrongly."""
    science, error = _sky(10)
    science[5, 5] = np.inf
    path = tmp_path / "inf.fits.fz"
    write_atomically(_product_hdus(science, error, np.zeros(science.shape, np.uint8)), path)
    with _unpacked(path) as unpacked, fits.open(path) as packed:
        np.testing.assert_array_equal(unpacked["SCI"].data, science)
        np.testing.assert_array_equal(unpacked["ERR"].data, packed["ERR"].data)
        assert np.max(np.abs(unpacked["ERR"].data - error) / error) <= 0.01


# -- a night: products and masters ------------------------------------------------------------


@pytest.fixture(scope="module")
def compressed_and_plain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Night, Path, Path]:
    folder = tmp_path_factory.mktemp("raw") / "kb99"
    night = simulate_night(folder, sbig(size=256), n_bias=3, n_dark=3, n_flat=3, n_science=2, seed=31)
    runs = tmp_path_factory.mktemp("runs")
    common = ["--catalog", str(night.catalog_path), "--offline", "--min-frames", "3", "--workers", "1"]
    assert main(["run", str(folder), "--out", str(runs / "fz"), "--quiet", *common]) == 0
    assert main(["run", str(folder), "--out", str(runs / "plain"), "--no-compress", "--quiet", *common]) == 0
    return night, runs / "fz", runs / "plain"


def test_a_night_writes_compressed_products_that_match_the_plain_ones(
    compressed_and_plain: tuple[Night, Path, Path], tmp_path: Path
) -> None:
    _, packed_run, plain_run = compressed_and_plain
    packed_products = sorted(packed_run.glob("*-e91.fits.fz"))
    assert len(packed_products) == 2
    assert not list(packed_run.glob("*-e91.fits"))
    for packed_path in packed_products:
        plain_path = plain_run / packed_path.name.removesuffix(".fz")
        with fits.open(plain_path) as plain:
            # The plain product, packed: each pixel within 1% of its ERR.
            repacked = tmp_path / packed_path.name
            write_atomically(fits.HDUList([hdu.copy() for hdu in plain]), repacked)
            error = plain["ERR"].data
            good = plain["BPM"].data == 0
            with fits.open(repacked) as packed:
                assert [hdu.name for hdu in packed] == ["PRIMARY", "SCI", "CAT", "BPM", "ERR"]
                assert packed["ERR"].header["BUNIT"] == packed["SCI"].header["BUNIT"] == "electron"
                assert np.all(np.abs(packed["SCI"].data - plain["SCI"].data)[good] <= 0.01 * error[good])
                assert np.all(np.abs(packed["ERR"].data - error)[good] <= 0.01 * error[good])
                np.testing.assert_array_equal(packed["BPM"].data, plain["BPM"].data)
                for column in plain["CAT"].columns.names:  # NaN where a figure is not measured
                    np.testing.assert_array_equal(packed["CAT"].data[column], plain["CAT"].data[column])
            # The compressed run also calibrated with packed masters, each within 1% of its own
            # ERR; their errors enter the product's ERR in quadrature, so bias, dark and flat
            # together add at most sqrt(3) x 1% of it. (A master's rounding can also flip a
            # sigma-clipping decision while it is stacked, so single pixels may differ by more:
            # the bound is held by 99.9% of them.)
            with fits.open(packed_path) as packed:
                ratio = np.abs(packed["SCI"].data - plain["SCI"].data)[good] / error[good]
                assert np.percentile(ratio, 99.9) <= 0.01 * (1 + np.sqrt(3))
                assert np.median(ratio) <= 0.01
        assert packed_path.stat().st_size < 0.6 * plain_path.stat().st_size
        back = read_product(packed_path)  # our own reader takes the compressed form
        assert back.catalog is not None
        assert len(back.catalog) > 0


def test_masters_are_compressed_and_funpack_reads_them(
    compressed_and_plain: tuple[Night, Path, Path],
) -> None:
    _, packed_run, plain_run = compressed_and_plain
    masters = sorted((packed_run / "masters").glob("*.fits.fz"))
    assert {name.split("-")[3] for name in (m.name for m in masters)} == {"bias", "dark", "skyflat", "bpm"}
    assert sorted(p.name for p in (plain_run / "masters").glob("*.fits")) == [m.name[:-3] for m in masters]
    for master in masters:
        with _unpacked(master) as unpacked, fits.open(master) as packed:
            for hdu in packed[1:]:
                np.testing.assert_array_equal(unpacked[hdu.name].data, hdu.data)
