"""Cameras from real and synthetic headers: families, sections, fixes, binning rules, crosstalk."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from astropy.io import fits

from lco_core import Binning, CameraError, FrameMeta, Header, HeaderCard, MaskBit, ObsType, Section
from lco_core.io import read_raw
from lco_core.raw import RawFile, RawImage, SectionKeywords
from lco_instruments.describe import camera_for, raw_to_frame
from lco_instruments.families import CameraFamily, family_of
from lco_instruments.legacy import LEGACY_CUBE_FIX, PARTIAL_CUBE_FIX
from lco_stages.recipes import amplifier_recipe

ONE_BY_ONE = Binning(1, 1)
RAW_FRAMES = [
    "ingester/coj1m011-fl08-20151216-0048-x00.fits.fz",
    "ingester/coj1m011-fl08-20151216-0049-b00.fits.fz",
    "ingester/coj1m011-fl08-20151216-0083-d00.fits.fz",
    "ingester/cpt1m012-fl10-20151216-0044-f00.fits.fz",
    "ingester/cpt1m012-fl10-20151216-0073-e00.fits.fz",
    "ingester/cpt1m012-fl10-20151216-0075-s00.fits.fz",
    "neoexchange/mef_raw_test_frame.fits",
]
#: Calibrated or raw frames their authors cut to 1-5 rows: readable, but no longer a camera readout.
TRUNCATED = [
    "ingester/bias_kb70_20151221_bin2x2.fits.fz",
    "ingester/sqa0m801-kb35-20151216-0966-g00.fits.fz",
    "ingester/tfn0m414-kb29-20151216-0380-t00.fits.fz",
]


@pytest.mark.parametrize("name", RAW_FRAMES)
def test_real_raw_frames_pass_the_amplifier_stages(real_data: Path, name: str) -> None:
    raw = read_raw(real_data / name)
    camera = camera_for(raw)
    frame = amplifier_recipe(camera)(raw_to_frame(raw, camera))
    assert frame.assembled
    assert frame.shape == camera.trim_section.shape
    assert np.isfinite(frame.data).all()
    assert (frame.uncertainty > 0).all()
    levels = frame.steps("subtract_overscan")[0].diagnostics
    with fits.open(real_data / name) as hdul:
        planes = [
            h.data.astype(np.float64) for h in hdul if h.is_image and h.data is not None and h.data.size
        ]
    planes = [p.reshape(-1, *p.shape[-2:])[0] for p in planes]
    for amp, plane in zip(camera.amplifiers, planes, strict=True):
        assert amp.bias_section is not None
        overscan = plane[amp.bias_section.to_slices()]
        level = levels[f"overscan_amp{amp.index}"]
        assert isinstance(level, float)
        # The level agrees with simpler estimates from the same pixels (a 10%-trimmed mean; the
        # median, which sits up to ~1 ADU lower on these slightly skewed overscans), lies inside
        # their bulk, and far below the illuminated pixels' level in exposed frames.
        ordered = np.sort(overscan.ravel())
        tenth = ordered.size // 10
        assert level == pytest.approx(float(ordered[tenth:-tenth].mean()), abs=0.5)
        assert level == pytest.approx(float(np.median(overscan)), abs=2.0)
        low, high = np.percentile(overscan, [1, 99])
        assert low <= level <= high
        assert high - low < 100  # an overscan is flat: a few read-noise widths, not sky or stars
        light = plane[amp.data_section.to_slices()]
        if raw.meta.obstype in (ObsType.SKYFLAT, ObsType.EXPOSE, ObsType.STANDARD):
            assert np.median(light) > high


def test_legacy_cube_sections_and_fixes(real_data: Path) -> None:
    flat = camera_for(read_raw(real_data / "ingester/cpt1m012-fl10-20151216-0044-f00.fits.fz"))  # 1x1
    assert flat.fixes == (PARTIAL_CUBE_FIX, LEGACY_CUBE_FIX)
    amp = flat.amplifiers[0]
    assert (str(amp.data_section), str(amp.bias_section), str(amp.detector_section)) == (
        "[1:2048,1:2048]",
        "[2055:2080,1:2048]",
        "[1:2048,1:2048]",
    )
    assert amp.gain == 3.3  # first value of GAIN = '[3.3,3.4,3.3,3.4]'
    assert any("holds 1 of 4 amplifier planes" in line for line in flat.provenance)
    science = camera_for(read_raw(real_data / "ingester/cpt1m012-fl10-20151216-0073-e00.fits.fz"))  # 2x2
    assert str(science.amplifiers[0].bias_section) == "[1028:1040,1:1024]"
    assert science.mosaic_shape == (1024, 1024)
    assert any("TRIMSEC: header [1:4096,1:4096] does not fit" in line for line in science.provenance)


def test_legacy_layout_places_the_top_amplifiers_odd_rows_for_both_eras() -> None:
    from lco_instruments.legacy import legacy_sinistro_sections

    for rows, expected_detector in (
        (2049, "[4096:2049,4096:2049]"),
        (2058, "[4096:2049,4096:2049]"),
        (2048, "[4096:2049,4096:2050]"),
    ):
        sections = legacy_sinistro_sections(3, (rows, 2080), Binning(1, 1), filename="x")
        assert str(sections.detector) == expected_detector
        assert sections.data.y_min == 2  # the detector's top edge row is discarded
        assert sections.data.ny == sections.detector.ny
    bottom = legacy_sinistro_sections(2, (2058, 2080), Binning(1, 1), filename="x")
    assert (str(bottom.data), str(bottom.detector)) == ("[1:2048,1:2048]", "[4096:2049,1:2048]")
    with pytest.raises(CameraError, match="3x3"):
        legacy_sinistro_sections(1, (700, 700), Binning(3, 3), filename="x")


def test_full_legacy_cube_covers_every_light_row(tmp_path: Path) -> None:
    """Four planes of 2049+ rows tile the whole 4096x4096 detector; 2048-row planes leave row 2049."""
    for rows, uncovered in ((2058, 0), (2048, 4096)):
        raw = _synthetic_raw(
            "fl03",
            images=[np.full((4, rows, 2080), 1000.0, dtype=np.float32)],
            gain="[2.0,2.1,2.2,2.3]",
            crosstalk={"CRSTLK12": 1e-4},
        )
        camera = camera_for(raw)
        frame = amplifier_recipe(camera)(raw_to_frame(raw, camera))
        assert camera.mosaic_shape == (4096, 4096)
        assert int(((frame.mask & MaskBit.NO_DATA) > 0).sum()) == uncovered
        assert [a.gain for a in camera.amplifiers] == [2.0, 2.1, 2.2, 2.3]


def test_multi_extension_sinistro_geometry(real_data: Path) -> None:
    raw = read_raw(real_data / "neoexchange/mef_raw_test_frame.fits")
    camera = camera_for(raw)
    assert camera.fixes == ()  # DATASEC x binning matches every DETSEC: nothing to fix
    # The amplifiers tile exactly the region the primary's CCDSEC says was read (the central 2k).
    ccdsec = Section.parse(str(raw.primary.get("CCDSEC")))
    assert camera.detector_box == ccdsec
    assert camera.mosaic_shape == (1024, 1024)
    assert [a.gain for a in camera.amplifiers] == [6.42, 6.23, 6.27, 6.26]
    assert camera.crosstalk[0][1] == 0.00053
    assert camera.crosstalk[1][0] == 0.00064
    assert camera.crosstalk[2][3] == 0.00057
    assert camera.crosstalk[3][2] == 0.00061
    assert camera.crosstalk[0][2] == 0.0
    assert all(a.saturation == 40000.0 and a.read_noise == 7.0 for a in camera.amplifiers)
    frame = amplifier_recipe(camera)(raw_to_frame(raw, camera))
    assert not (frame.mask & MaskBit.NO_DATA).any()
    assert frame.history[0].stage == "resolve_camera"
    assert "crosstalk: header CRSTLKij" in frame.history[0].diagnostics["sources"]  # type: ignore[operator]


@pytest.mark.parametrize("name", TRUNCATED)
def test_truncated_frames_are_refused_clearly(real_data: Path, name: str) -> None:
    with pytest.raises(CameraError, match=r"DATASEC \[.*\] lies outside the \d+x1 readout"):
        camera_for(read_raw(real_data / name))


def test_sbig_without_overscan(real_data: Path) -> None:
    raw = read_raw(real_data / "ingester/bias_kb70_20151221_bin2x2.fits.fz")
    full = attrs.evolve(
        raw, images=(attrs.evolve(raw.images[0], data=np.zeros((2048, 2048), dtype=np.float32)),)
    )  # the real header on a readout of the size it describes
    camera = camera_for(full)
    assert camera.family is CameraFamily.SBIG
    assert camera.amplifiers[0].bias_section is None
    assert str(camera.amplifiers[0].detector_section) == "[1:4096,1:4096]"
    assert str(camera.trim_section) == "[11:2037,11:2037]"
    assert camera.amplifiers[0].gain == 1.4
    assert camera.amplifiers[0].saturation == 46000.0
    assert "DETSEC: unset; DATASEC scaled by the binning from the detector origin" in camera.provenance


def _synthetic_raw(
    camera: str,
    *,
    images: list[npt.NDArray[np.float32]],
    binning: Binning = ONE_BY_ONE,
    mode: str = "full_frame",
    gain: str | float = 2.0,
    crosstalk: dict[str, float] | None = None,
    sections: list[SectionKeywords] | None = None,
) -> RawFile:
    meta = FrameMeta(
        filename=f"cpt1m010-{camera}-20260101-0001-e00.fits",
        obstype=ObsType.EXPOSE,
        site="cpt",
        telescope="1m0-10",
        camera=camera,
        day_obs=dt.date(2026, 1, 1),
        date_obs=dt.datetime(2026, 1, 1, 23, tzinfo=dt.UTC),
        exptime=1.0,
        binning=binning,
        configuration_mode=mode,
    )
    cards = [HeaderCard("GAIN", gain)] + [HeaderCard(k, v) for k, v in (crosstalk or {}).items()]
    primary = Header(tuple(cards))
    sections = sections or [SectionKeywords() for _ in images]
    raw_images = tuple(
        RawImage(i + 1, "SCI", data, Header(), section)
        for i, (data, section) in enumerate(zip(images, sections, strict=True))
    )
    return RawFile(
        path=meta.filename, meta=meta, primary=primary, sections=SectionKeywords(), images=raw_images
    )


def test_unknown_camera_is_an_error_not_a_guess() -> None:
    with pytest.raises(CameraError, match="unknown camera 'xx01'"):
        family_of("xx01", filename="f.fits")
    with pytest.raises(CameraError, match="unknown camera"):
        camera_for(_synthetic_raw("zz07", images=[np.zeros((4, 4), np.float32)]))
    assert family_of("ep04", filename="f") is CameraFamily.MUSCAT
    assert family_of("sq30", filename="f") is CameraFamily.QHY600


def _mef_sections(binning: int) -> list[SectionKeywords]:
    n = 8 // binning

    def detector(x0: int, y0: int, fx: bool, fy: bool) -> Section:
        return Section(x0, x0 + 7, y0, y0 + 7).oriented(x_flipped=fx, y_flipped=fy)

    corners = [(1, 1, False, False), (9, 1, True, False), (9, 9, True, True), (1, 9, False, True)]
    return [
        SectionKeywords(
            data=Section(1, n, 1, n), bias=Section(n + 1, n + 2, 1, n), detector=detector(*corner)
        )
        for corner in corners
    ]


def test_binning_rules() -> None:
    planes = [np.zeros((8, 10), np.float32) for _ in range(4)]
    ok = camera_for(
        _synthetic_raw("fa99", images=planes, sections=_mef_sections(1), crosstalk={"CRSTLK12": 1e-4})
    )
    assert ok.mosaic_shape == (16, 16)
    binned = [np.zeros((4, 6), np.float32) for _ in range(4)]
    with pytest.raises(CameraError, match=r"full_frame frames cannot be binned 2x2 \(allowed: 1x1\)"):
        camera_for(
            _synthetic_raw(
                "fa99",
                images=binned,
                binning=Binning(2, 2),
                sections=_mef_sections(2),
                crosstalk={"CRSTLK12": 1e-4},
            )
        )
    central = camera_for(
        _synthetic_raw(
            "fa99",
            images=binned,
            binning=Binning(2, 2),
            mode="central_2k_2x2",
            sections=_mef_sections(2),
            crosstalk={"CRSTLK12": 1e-4},
        )
    )
    assert central.mosaic_shape == (8, 8)
    with pytest.raises(CameraError, match="configuration mode 'sparkly' is not known"):
        camera_for(_synthetic_raw("fa99", images=planes, mode="sparkly", sections=_mef_sections(1)))


def test_multi_amplifier_frame_without_crosstalk_is_an_error() -> None:
    planes = [np.zeros((8, 10), np.float32) for _ in range(4)]
    with pytest.raises(CameraError, match="without crosstalk coefficients"):
        camera_for(_synthetic_raw("fa99", images=planes, sections=_mef_sections(1)))
    known = camera_for(_synthetic_raw("fa10", images=planes, sections=_mef_sections(1)))
    assert "crosstalk: default for camera fa10" in known.provenance


def test_missing_gain_is_an_error_never_one() -> None:
    with pytest.raises(CameraError, match="no GAIN"):
        camera_for(_synthetic_raw("kb99", images=[np.zeros((4, 4), np.float32)], gain=0.0))


def test_inconsistent_sections_are_errors() -> None:
    bad = [SectionKeywords(data=Section(1, 4, 1, 4), detector=Section(1, 6, 1, 8))]
    with pytest.raises(CameraError, match="does not match data section"):
        camera_for(_synthetic_raw("kb99", images=[np.zeros((4, 4), np.float32)], sections=bad))
    outside = [SectionKeywords(data=Section(1, 9, 1, 4))]
    with pytest.raises(CameraError, match="lies outside"):
        camera_for(_synthetic_raw("kb99", images=[np.zeros((4, 4), np.float32)], sections=outside))


def test_single_amplifier_families_qhy_and_muscat() -> None:
    qhy = camera_for(_synthetic_raw("sq30", images=[np.zeros((6, 9), np.float32)], gain=0.77))
    assert qhy.family is CameraFamily.QHY600
    assert qhy.amplifiers[0].bias_section is None  # CMOS: no overscan
    assert qhy.amplifiers[0].read_noise == 3.5  # family default, and said so
    assert "RDNOISE: QHY600 family default" in qhy.provenance
    muscat = camera_for(
        _synthetic_raw(
            "ep04",
            images=[np.zeros((8, 12), np.float32)],
            sections=[SectionKeywords(data=Section(1, 8, 1, 8), bias=Section(10, 12, 1, 8))],
        )
    )
    assert muscat.family is CameraFamily.MUSCAT
    assert str(muscat.amplifiers[0].bias_section) == "[10:12,1:8]"
    assert muscat.mosaic_shape == (8, 8)
