"""Section parsing, slices and the data -> detector transform (with binning and flips)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lco_core.errors import SectionError
from lco_core.section import Binning, Section, check_detector_span, data_to_detector, detector_extent
from lco_core.testing.strategies import amplifier_geometries, sections


def test_parse_known_sections() -> None:
    section = Section.parse("[1025:2048,3072:2049]")
    assert (section.x_start, section.x_stop, section.y_start, section.y_stop) == (1025, 2048, 3072, 2049)
    assert section.y_flipped
    assert not section.x_flipped
    assert section.shape == (1024, 1024)
    assert Section.parse("[1025:3072, 1025:3072]") == Section(1025, 3072, 1025, 3072)
    assert str(Section.parse(" [520:540,1:512] ")) == "[520:540,1:512]"


@pytest.mark.parametrize(
    "text", ["UNKNOWN", "[1:10,1:]", "[0:10,1:5]", "1:10,1:5", "[a:b,c:d]", "[1:2,3:4,5:6]"]
)
def test_malformed_sections_are_errors(text: str) -> None:
    with pytest.raises(SectionError):
        Section.parse(text)


def test_slices_pick_the_right_pixels() -> None:
    image = np.arange(6 * 8).reshape(6, 8)
    section = Section.parse("[2:4,3:6]")  # x 2..4, y 3..6 (1-based, inclusive)
    np.testing.assert_array_equal(image[section.to_slices()], image[2:6, 1:4])
    flipped = Section.parse("[4:2,6:3]")
    np.testing.assert_array_equal(image[flipped.to_oriented_slices()], image[2:6, 1:4][::-1, ::-1])
    np.testing.assert_array_equal(image[flipped.to_slices()], image[2:6, 1:4])
    # A flipped axis that ends at the first pixel needs an open slice end.
    np.testing.assert_array_equal(image[Section.parse("[3:1,1:1]").to_oriented_slices()], image[0:1, 2::-1])


@given(sections())
def test_section_text_round_trip(section: Section) -> None:
    assert Section.parse(str(section)) == section


@given(sections())
def test_section_slice_round_trip(section: Section) -> None:
    assert Section.from_slices(section.to_oriented_slices()) == section
    unflipped = section.oriented(x_flipped=False, y_flipped=False)
    assert Section.from_slices(section.to_slices()) == unflipped
    image = np.zeros((70, 70))
    assert image[section.to_oriented_slices()].shape == section.shape


def test_data_to_detector_known_answers_from_the_real_sinistro_mef() -> None:
    # fa05 central_2k_2x2, amplifier 1: DATASEC [1:512,1:512], DETSEC [1025:2048,3072:2049].
    data = Section.parse("[1:512,1:512]")
    detector = Section.parse("[1025:2048,3072:2049]")
    binning = Binning(2, 2)
    check_detector_span(data, detector, binning)
    assert data_to_detector(1, 1, data_section=data, detector_section=detector, binning=binning) == (
        1025,
        3072,
    )
    assert data_to_detector(512, 512, data_section=data, detector_section=detector, binning=binning) == (
        2047,
        2050,
    )
    # The far edge of the last binned pixel closes the detector section exactly.
    assert detector_extent(512, 512, data_section=data, detector_section=detector, binning=binning) == (
        2048,
        2049,
    )
    with pytest.raises(SectionError):
        check_detector_span(data, detector, Binning(1, 1))


@given(amplifier_geometries())
def test_binned_pixels_tile_the_detector_section_exactly(geometry: tuple[Section, Section, Binning]) -> None:
    data, detector, binning = geometry
    check_detector_span(data, detector, binning)
    y, x = np.mgrid[data.y_min : data.y_max + 1, data.x_min : data.x_max + 1]
    start_x, start_y = data_to_detector(x, y, data_section=data, detector_section=detector, binning=binning)
    end_x, end_y = detector_extent(x, y, data_section=data, detector_section=detector, binning=binning)
    covered = np.zeros((detector.y_max + 1, detector.x_max + 1), dtype=int)
    for x0, x1, y0, y1 in zip(start_x.ravel(), end_x.ravel(), start_y.ravel(), end_y.ravel(), strict=True):
        covered[min(y0, y1) : max(y0, y1) + 1, min(x0, x1) : max(x0, x1) + 1] += 1
    region = covered[detector.y_min : detector.y_max + 1, detector.x_min : detector.x_max + 1]
    assert region.shape == (detector.ny, detector.nx)
    assert np.all(region == 1)  # every detector pixel covered exactly once
    assert covered.sum() == detector.nx * detector.ny


@given(st.integers(1, 4), st.integers(1, 4))
def test_binning_is_positive(x: int, y: int) -> None:
    assert str(Binning(x, y)) == f"{x}x{y}"
    with pytest.raises(SectionError):
        Binning(0, y)
