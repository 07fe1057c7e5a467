"""Every LCO camera as LCO's own pipeline knows it (issue 17): crosstalk, saturation, section fixes.

Truths used: the numbers as the issue and LCO's pipeline state them (typed here literally, not
read from the table under test), real headers in shared/data/real (kb70's SATURATE, the fl08
cube's literal cards), and the simulator's own placement of light (its layout, written from
LCO's section strings, never through the pipeline's geometry).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from astropy.io import fits
from click.testing import CliRunner

from lco_cli.main import cli, main
from lco_core import Binning, FrameMeta, Header, HeaderCard, ObsType, Section
from lco_core.io import read_raw
from lco_core.raw import RawFile, RawImage, SectionKeywords
from lco_instruments.camera_facts import (
    CROSSTALK_FACTS,
    SATURATION_FACTS,
    SECTION_FIXES,
    aperture_class,
)
from lco_instruments.defaults import FAMILY_DEFAULTS
from lco_instruments.describe import camera_for, raw_to_frame
from lco_instruments.families import CameraFamily, family_of
from lco_instruments.legacy import FS01_SECTIONS_FIX, LEGACY_CUBE_FIX
from lco_instruments.simulate import simulate_night, spectral_fs01
from lco_instruments.simulate.frames import Exposure, camera_signatures, simulate_frame
from lco_instruments.simulate.layout import legacy_cube_layout
from lco_instruments.simulate.legacy_cube import legacy_cube_planes, write_legacy_cube
from lco_instruments.simulate.night import make_field, write_frame
from lco_stages.recipes import amplifier_recipe

FL08_BIAS = "ingester/coj1m011-fl08-20151216-0049-b00.fits.fz"

#: LCO's fl08 crosstalk as its pipeline lists it (banzai/lco.py): element [i][j] is CRSTLK{i+1}{j+1}.
FL08_BANZAI = (
    (0.0, 0.00057, 0.00078, 0.00130),
    (0.00112, 0.0, 0.00163, 0.00123),
    (0.00104, 0.00113, 0.0, 0.00113),
    (0.00108, 0.00048, 0.00065, 0.0),
)


# -- the tables ------------------------------------------------------------------------------
def test_every_table_entry_names_its_source() -> None:
    entries: list[tuple[str, str]] = [(f"crosstalk {k}", f.source) for k, f in CROSSTALK_FACTS.items()]
    entries += [(f"saturation {f.name}", f.source) for f in SATURATION_FACTS]
    entries += [(f"section fix {k}", f.source) for k, f in SECTION_FIXES.items()]
    entries += [(f"family {k.value}", d.source) for k, d in FAMILY_DEFAULTS.items()]
    missing = [name for name, source in entries if not source.strip()]
    assert not missing, f"entries without a source: {missing}"
    assert len(entries) >= 29 + 5 + 1 + 5


def test_crosstalk_tables_are_sinistro_matrices_in_lco_order() -> None:
    for camera, fact in CROSSTALK_FACTS.items():
        assert family_of(camera, filename="x") is CameraFamily.SINISTRO
        assert fact.camera == camera
        matrix = np.asarray(fact.matrix)
        assert matrix.shape == (4, 4)
        assert np.all(np.diag(matrix) == 0.0)
        assert np.all((matrix >= 0.0) & (matrix < 0.002)), camera  # LCO's coefficients are ~1e-3
    assert CROSSTALK_FACTS["fl08"].matrix == FL08_BANZAI  # not its transpose: 1->2 is 0.00057
    assert not np.any(CROSSTALK_FACTS["fl10"].matrix)
    assert not np.any(CROSSTALK_FACTS["fa10"].matrix)
    assert CROSSTALK_FACTS["fa08"].matrix == FL08_BANZAI  # LCO gives faNN flNN's numbers
    assert {"fl01", "fl16", "fa01", "fa19"} <= set(CROSSTALK_FACTS)


@pytest.mark.parametrize(
    ("telescope", "telid", "expected"),
    [("1m0-10", "1m0a", "1m0"), ("0m8-01", None, "0m8"), ("0m4-14", "0m4a", "0m4"), ("2m0-02", None, "2m0"),
     ("lab", "0m4a", "0m4"), ("lab", None, None)],
)  # fmt: skip
def test_camera_class_is_the_telescope_aperture(
    telescope: str, telid: str | None, expected: str | None
) -> None:
    assert aperture_class(telescope, telid) == expected


# -- saturation per class, header first ------------------------------------------------------
def _raw(
    camera: str,
    *,
    telescope: str,
    gain: float,
    binning: int,
    saturate: float = 0.0,
    telid: str | None = None,
) -> RawFile:
    """A one-amplifier (or one-plane legacy) raw file whose header says SATURATE = ``saturate``."""
    meta = FrameMeta(
        filename=f"xyz{telescope[:3]}01-{camera}-20260101-0001-e00.fits",
        obstype=ObsType.EXPOSE,
        site="xyz",
        telescope=telescope,
        camera=camera,
        day_obs=dt.date(2026, 1, 1),
        date_obs=dt.datetime(2026, 1, 1, 23, tzinfo=dt.UTC),
        exptime=1.0,
        binning=Binning(binning, binning),
        configuration_mode="full_frame",
    )
    cards = [HeaderCard("GAIN", gain), HeaderCard("SATURATE", saturate)]
    if telid is not None:
        cards.append(HeaderCard("TELID", telid))
    if camera.startswith("fl"):  # one plane of the 2015 format: 2048 / bin light columns + overscan
        side = 2048 // binning
        pixels = np.zeros((side, side + 32 // binning), np.float32)
    else:
        pixels = np.zeros((8, 8), np.float32)
    return RawFile(
        path=meta.filename,
        meta=meta,
        primary=Header(tuple(cards)),
        sections=SectionKeywords(),
        images=(RawImage(1, "SCI", pixels, Header(), SectionKeywords()),),
    )


# (camera, TELESCOP, gain, the issue's unbinned electrons): "Sinistro 95000 e- (47500 ADU at gain 2),
# 1 m SBIG 46000/4 x 1.4 e-, 0.8 m SBIG 64000/4 x 0.851 e-, 0.4 m SBIG 64000/4 e-, Spectral 125000 e-".
CLASSES = [
    ("fl08", "1m0-11", 2.0, 95000.0),
    ("kb70", "1m0-10", 1.4, 46000.0 / 4 * 1.4),
    ("kb35", "0m8-01", 2.0, 64000.0 / 4 * 0.851),
    ("kb29", "0m4-14", 2.74, 64000.0 / 4),
    ("fs02", "2m0-01", 7.7, 125000.0),
]


@pytest.mark.parametrize(
    ("camera", "telescope", "gain", "electrons", "binning"),
    [(*c, b) for c in CLASSES for b in (1, 2, 3) if b < 3 or c[0].startswith("kb")],  # SBIGs also 3x3
)
def test_saturation_is_the_class_level_converted_per_frame(
    camera: str, telescope: str, gain: float, electrons: float, binning: int
) -> None:
    resolved = camera_for(_raw(camera, telescope=telescope, gain=gain, binning=binning))
    level = electrons * binning * binning / gain
    amp = resolved.amplifiers[0]
    if level <= 65535:
        assert amp.saturation == pytest.approx(level, rel=1e-12)
    else:  # more than a 16-bit readout records: no pixel could reach it
        assert amp.saturation == 65535.0
        assert any(f"= {level:.0f} ADU, above a 16-bit readout" in line for line in resolved.provenance)
    assert amp.nonlinearity == amp.saturation  # MAXLIN = 0 too: taken as SATURATE
    (fact,) = [f for f in resolved.applied_facts if f.fact == "SATURATE"]
    assert fact.source
    assert f"{electrons:g} e- x {binning * binning} binned pixels / gain {gain:g}" in fact.value


def test_the_issue_s_sinistro_figure_and_kb70_s_header_agree_with_the_conversion() -> None:
    sinistro = camera_for(_raw("fl03", telescope="1m0-03", gain=2.0, binning=1))
    assert sinistro.amplifiers[0].saturation == 47500.0  # "95000 e- (47500 ADU at gain 2)"
    # The real 1 m SBIG headers (kb70, kb78: 2x2, GAIN 1.4) say SATURATE = 46000: the class's level.
    kb70 = camera_for(_raw("kb70", telescope="1m0-10", gain=1.4, binning=2))
    assert kb70.amplifiers[0].saturation == pytest.approx(46000.0)


def test_header_first_then_class_then_family() -> None:
    header = camera_for(_raw("kb29", telescope="0m4-14", gain=2.74, binning=2, saturate=30000.0))
    assert header.amplifiers[0].saturation == 30000.0
    assert "SATURATE: header" in header.provenance
    assert not header.applied_facts
    by_telid = camera_for(_raw("kb29", telescope="lab-1", telid="0m4a", gain=2.0, binning=1))
    assert by_telid.amplifiers[0].saturation == pytest.approx(16000.0 / 2.0)
    unknown = camera_for(_raw("kb29", telescope="lab-1", gain=2.0, binning=1))
    assert unknown.amplifiers[0].saturation == 46000.0  # the SBIG family default, ADU
    assert any(line.startswith("SATURATE: SBIG family default") for line in unknown.provenance)
    qhy = camera_for(_raw("sq30", telescope="0m4-14", gain=0.77, binning=1))
    assert qhy.amplifiers[0].saturation == 65000.0  # the 0.4 m class is LCO's SBIG figure, not QHY600's


@pytest.mark.parametrize(
    ("name", "electrons_per_pixel"),
    [
        ("ingester/sqa0m801-kb35-20151216-0966-g00.fits.fz", 64000.0 / 4 * 0.851),
        ("ingester/tfn0m414-kb29-20151216-0380-t00.fits.fz", 64000.0 / 4),
    ],
)
def test_real_small_telescope_headers_get_their_class(
    real_data: Path, name: str, electrons_per_pixel: float
) -> None:
    """kb35 (0m8-01) and kb29 (0m4-14) headers say SATURATE = 0: the class follows from TELESCOP."""
    raw = read_raw(real_data / name)
    data = raw.images[0].sections.data
    assert data is not None
    full = attrs.evolve(
        raw, images=(attrs.evolve(raw.images[0], data=np.zeros(data.shape, dtype=np.float32)),)
    )  # the real header on a readout of the size it describes (the public copy keeps one row)
    with fits.open(real_data / name) as hdul:
        gain = float(hdul[1].header["GAIN"])
        assert hdul[1].header["SATURATE"] == 0.0
        assert hdul[1].header["CCDSUM"] == "2 2"
    camera = camera_for(full)
    assert camera.amplifiers[0].saturation == pytest.approx(electrons_per_pixel * 4 / gain)


# -- crosstalk: header first, then the camera's table --------------------------------------
def test_header_crosstalk_wins_over_the_table(real_data: Path) -> None:
    camera = camera_for(read_raw(real_data / "neoexchange/mef_raw_test_frame.fits"))
    assert camera.name == "fa05"
    assert "fa05" in CROSSTALK_FACTS
    assert camera.crosstalk[0][1] == 0.00053
    assert camera.crosstalk[1][0] == 0.00064
    assert not any(f.fact == "crosstalk" for f in camera.applied_facts)


def _fl08_cube(real_data: Path, target: Path) -> Path:
    """A four-plane fl08 cube: the real header's cards as they are, the real plane and three
    copies with small changes (NAXIS3 = 4 where the public copy kept 1)."""
    with fits.open(real_data / FL08_BIAS) as hdul:
        image = hdul[1]
        header = image.header.copy()
        plane = np.asarray(image.data, dtype=np.float32)[0]
    assert "CRSTLK12" not in header
    assert header["SATURATE"] == 0.0
    assert header["BIASSEC"] == "UNKNOWN"
    planes = np.stack([plane + 3.0 * k for k in range(4)])
    primary = fits.PrimaryHDU(planes)
    for card in header.cards:
        if card.keyword not in primary.header and card.keyword not in ("CHECKSUM", "DATASUM", ""):
            primary.header.append(card)
    primary.writeto(target)
    return target


def test_lco_reduce_info_reports_crosstalk_from_the_camera_s_table(real_data: Path, tmp_path: Path) -> None:
    path = _fl08_cube(real_data, tmp_path / "coj1m011-fl08-20151216-0049-b00.fits")
    camera = camera_for(read_raw(path))
    assert len(camera.amplifiers) == 4
    assert LEGACY_CUBE_FIX in camera.fixes
    assert camera.crosstalk == FL08_BANZAI
    result = CliRunner().invoke(cli, ["info", str(path)])
    assert result.exit_code == 0, result.output
    lines = [
        line for line in result.output.splitlines() if line.startswith("  crosstalk (not from the header)")
    ]
    assert len(lines) == 1, result.output
    assert "camera fl08's table: 1->2 0.00057, 1->3 0.00078, 1->4 0.0013, 2->1 0.00112" in lines[0]
    assert "[source: LCOGT/banzai banzai/lco.py" in lines[0]
    assert "SATURATE (not from the header)" in result.output  # SATURATE = 0: the Sinistro class
    # The cube passes the amplifier stages: four 1024 x 1024 binned amplifiers, one 2048 x 2048 image.
    frame = amplifier_recipe(camera)(raw_to_frame(read_raw(path), camera))
    assert frame.shape == (2048, 2048)
    assert frame.steps("correct_crosstalk")[0].parameters  # the table's coefficients were applied


def test_a_simulated_cube_s_ghosts_are_removed_by_the_table(tmp_path: Path) -> None:
    """A bright square read by amplifier 1 of a full fl08 cube (literal 2015 header, no CRSTLK
    cards) leaves ghosts of CRSTLK1j x its signal in amplifiers 2-4; the pipeline, using the
    camera's table, removes them: every pixel outside the square is back to zero. Were the
    table read transposed, the asymmetric fl08 matrix would leave (c1j - cj1) x signal."""
    layout = legacy_cube_layout(2)
    electrons = np.zeros(layout.mosaic_shape)
    electrons[100:300, 200:400] = 40000.0  # in amplifier 1's region (detector [1:2048,1:2048])
    gains = (2.01, 1.99, 2.05, 2.02)
    planes = legacy_cube_planes(electrons, binning=2, gains=gains, crosstalk=FL08_BANZAI)
    signal = 40000.0 / gains[0]
    for victim in (1, 2, 3):  # the simulator's ghosts, as injected
        assert planes[victim].max() - 818.0 == pytest.approx(FL08_BANZAI[0][victim] * signal, rel=1e-4)
    path = write_legacy_cube(tmp_path / "cube.fits", planes, changes={"OBSTYPE": "SKYFLAT", "EXPTIME": 5.0})
    raw = read_raw(path)
    camera = camera_for(raw)
    assert camera.crosstalk == FL08_BANZAI
    frame = amplifier_recipe(camera)(raw_to_frame(raw, camera))
    outside = np.ones(frame.shape, dtype=bool)
    outside[100:300, 200:400] = False
    # The ghosts were 11-33 e-; what is left is the one-pass correction's second order, the ghosts
    # of ghosts (c_1k c_kj x signal, < 0.1 e-); a transposed table would leave 11 e- in amplifier 2.
    second_order = max(
        sum(FL08_BANZAI[0][k] * FL08_BANZAI[k][j] for k in (1, 2, 3) if k != j) * signal * gains[j]
        for j in (1, 2, 3)
    )
    assert second_order < 0.1
    assert np.abs(frame.data[outside]).max() <= 1.01 * second_order + 1e-3
    assert frame.data[100:300, 200:400] == pytest.approx(40000.0, rel=1e-5)


# -- the fs01 section fix --------------------------------------------------------------------
@pytest.fixture(scope="module")
def fs01_flat(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, npt.NDArray[np.float32]]:
    """One simulated fs01 sky flat (headers as the real camera writes them) and its true image."""
    sim = spectral_fs01()
    exposure = Exposure(ObsType.SKYFLAT, 5.0, dt.datetime(2026, 1, 1, 5, tzinfo=dt.UTC), 1, cosmic_rays=False)
    frame = simulate_frame(sim, camera_signatures(sim, seed=3), make_field(sim, seed=3), exposure, seed=3)
    path = write_frame(tmp_path_factory.mktemp("fs01"), frame, compress=False)
    return path, np.asarray(sim.layout.trim(frame.truth.expected), dtype=np.float32)


def test_fs01_frame_reduces_with_the_fixed_sections(fs01_flat: tuple[Path, npt.NDArray[np.float32]]) -> None:
    path, truth = fs01_flat
    header = fits.getheader(path, 1)
    assert (header["DATASEC"], header["TRIMSEC"]) == ("[1:2048,1:2048]", "[11:2055,19:2031]")  # as written
    raw = read_raw(path)
    camera = camera_for(raw)
    assert camera.fixes == (FS01_SECTIONS_FIX,)
    assert str(camera.amplifiers[0].data_section) == "[10:2056,16:2032]"
    assert str(camera.trim_section) == "[2:2046,4:2016]"
    frame = amplifier_recipe(camera)(raw_to_frame(raw, camera))
    assert frame.shape == (2013, 2045) == truth.shape
    # Every product pixel holds the light the simulator put there (to within its Poisson noise);
    # also the outermost rows and columns, which the unfixed header would have shifted by 9 x 15.
    pull = (frame.data - truth) / np.sqrt(truth + 9.0**2)
    assert abs(float(np.median(pull))) < 0.05
    assert float(np.std(pull)) < 1.2
    for edge in (
        frame.data[:, 0] - truth[:, 0],
        frame.data[0, :] - truth[0, :],
        frame.data[-1, :] - truth[-1, :],
    ):
        assert abs(float(np.median(edge))) < 3 * float(np.sqrt(np.median(truth)))


def test_lco_reduce_info_shows_the_fs01_fix_and_its_source(
    fs01_flat: tuple[Path, npt.NDArray[np.float32]],
) -> None:
    result = CliRunner().invoke(cli, ["info", str(fs01_flat[0])])
    assert result.exit_code == 0, result.output
    assert "mosaic 2047x2017, trim [2:2046,4:2016]" in result.output
    assert "DATASEC [10:2056,16:2032]" in result.output
    (line,) = [
        line
        for line in result.output.splitlines()
        if line.startswith(f"  fix {FS01_SECTIONS_FIX} (not from the header)")
    ]
    assert "DATASEC [1:2048,1:2048] -> [10:2056,16:2032]" in line
    assert "[source: LCOGT/banzai" in line


def test_the_fs01_fix_needs_the_camera_and_the_exact_pair() -> None:
    def raw(camera: str, trimsec: Section) -> RawFile:
        base = _raw(camera, telescope="2m0-02", gain=7.7, binning=2, saturate=60000.0)
        sections = SectionKeywords(data=Section(1, 2048, 1, 2048), trim=trimsec)
        image = attrs.evolve(base.images[0], data=np.zeros((2048, 2080), np.float32), sections=sections)
        return attrs.evolve(base, images=(image,))

    assert camera_for(raw("fs01", Section.parse("[11:2055,19:2031]"))).fixes == (FS01_SECTIONS_FIX,)
    other_trim = camera_for(raw("fs01", Section.parse("[11:2037,11:2037]")))
    assert other_trim.fixes == ()
    assert str(other_trim.amplifiers[0].data_section) == "[1:2048,1:2048]"
    other_camera = camera_for(raw("fs02", Section.parse("[11:2055,19:2031]")))
    assert other_camera.fixes == ()
    assert str(other_camera.amplifiers[0].data_section) == "[1:2048,1:2048]"


@pytest.mark.slow
def test_a_simulated_fs01_night_reduces_to_2045_x_2013_products(tmp_path: Path) -> None:
    """A whole fs01 night (3 biases, darks, flats; 2 science frames) through ``lco-reduce run``:
    every frame's product is the fixed TRIMSEC's 2045 x 2013, and the science frames' sky level
    is the simulator's (counted over the true light only)."""
    folder = tmp_path / "raw" / "fs01"
    night = simulate_night(
        folder, spectral_fs01(), n_bias=3, n_dark=3, n_flat=3, n_science=2, seed=5, compress=False
    )
    out = tmp_path / "out"
    argv = ["run", str(folder), "--out", str(out), "--min-frames", "3", "--workers", "1", "--quiet"]
    assert main([*argv, "--catalog", str(night.catalog_path), "--offline"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    statuses = {Path(frame["file"]).name: frame["status"] for frame in summary["frames"]}
    assert statuses == {path.name: "ok" for path in night.paths}
    for path, truth in zip(night.paths, night.truths, strict=True):
        if truth.obstype is not ObsType.EXPOSE:
            continue
        product = out / path.name.replace("-e00.fits", "-e91.fits.fz")
        with fits.open(product) as hdul:
            science = np.asarray(hdul["SCI"].data, dtype=np.float64)
        assert science.shape == (2013, 2045)
        # The product is in electrons with the sky left in: its median is the simulator's sky.
        assert float(np.median(science)) == pytest.approx(truth.sky, rel=0.02)
