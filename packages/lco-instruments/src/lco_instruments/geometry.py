"""Camera and AmplifierGeometry: everything a stage needs to know about how a frame was read out."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from lco_core.section import Binning, Section
from lco_instruments.families import CameraFamily

CrosstalkMatrix = tuple[tuple[float, ...], ...]


@attrs.frozen
class AmplifierGeometry:
    """One amplifier's readout.

    Attributes
    ----------
    index : int
        1-based amplifier number (Q1..Q4 of a Sinistro).
    readout_shape : (ny, nx)
        Shape of the array the amplifier reads out (light-sensitive and overscan pixels).
    data_section : Section
        Light-sensitive pixels that go into the image, in readout coordinates (binned).
    bias_section : Section or None
        Serial-overscan pixels used for the overscan level; None when there is no overscan.
    detector_section : Section
        Where the data section lands on the detector, unbinned, reversed where read out flipped.
    gain : float
        electrons per ADU.
    read_noise : float
        electrons.
    saturation, nonlinearity : float
        ADU (raw, before overscan): at or above these a pixel is saturated / non-linear.
    """

    index: int
    readout_shape: tuple[int, int]
    data_section: Section
    bias_section: Section | None
    detector_section: Section
    gain: float
    read_noise: float
    saturation: float
    nonlinearity: float

    @property
    def saturation_electrons(self) -> float:
        """The saturation level in electrons: ``saturation x gain``."""
        return self.saturation * self.gain


def _tuple_of_lines(lines: Iterable[str]) -> tuple[str, ...]:
    return tuple(lines)


@attrs.frozen
class AppliedFact:
    """A value the resolver took from a camera's facts or a named fix, not from the header.

    Attributes
    ----------
    fact : str
        What it is ('crosstalk', 'SATURATE', 'fix fs01_sections').
    value : str
        The value used, in words.
    source : str
        Where the value comes from (`lco_instruments.camera_facts`).
    """

    fact: str
    value: str
    source: str


def _tuple_of_facts(facts: Iterable[AppliedFact]) -> tuple[AppliedFact, ...]:
    return tuple(facts)


@attrs.frozen
class Camera:
    """A frame's camera resolved from its headers and the family's defaults.

    ``provenance`` says, line by line, where each fact came from (header keyword, camera
    default, or a named fix for a known problem of a data format); stages copy it into the
    frame's history so every product says how its geometry was decided.

    Attributes
    ----------
    name : str
        INSTRUME, e.g. 'fa05'.
    family : CameraFamily
        The camera family.
    binning : Binning
        CCDSUM of the frame.
    configuration_mode : str
        CONFMODE, e.g. 'full_frame' or 'central_2k_2x2'.
    amplifiers : tuple of AmplifierGeometry
        One per amplifier, in readout order (Q1..Q4).
    crosstalk : tuple of tuple of float
        ``crosstalk[i][j]``: fraction of amplifier i+1's signal (ADU) that appears in
        amplifier j+1 (LCO's CRSTLK{i+1}{j+1}); zero on the diagonal.
    trim_section : Section
        The useful part of the assembled image, binned mosaic coordinates (TRIMSEC).
    dark_temperature_coefficient : float or None
        DRKTCOEF, 1/K: a dark scales as ``exp(DRKTCOEF x dT)``; None when unknown.
    provenance : tuple of str
        Where each fact came from, one line each.
    fixes : tuple of str
        Names of the format fixes applied (e.g. 'legacy_sinistro_cube').
    applied_facts : tuple of AppliedFact
        Each value taken from the camera's facts (crosstalk table, saturation class, section
        fix) rather than the header, with its source.
    """

    name: str
    family: CameraFamily
    binning: Binning
    configuration_mode: str
    amplifiers: tuple[AmplifierGeometry, ...]
    crosstalk: CrosstalkMatrix
    trim_section: Section
    dark_temperature_coefficient: float | None = None  # DRKTCOEF, 1/K: dark ~ exp(c x dT)
    provenance: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_lines)
    fixes: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_lines)
    applied_facts: tuple[AppliedFact, ...] = attrs.field(default=(), converter=_tuple_of_facts)

    @property
    def detector_box(self) -> Section:
        """Unbinned bounding box of all amplifiers' detector sections."""
        sections = [amp.detector_section for amp in self.amplifiers]
        return Section(
            min(s.x_min for s in sections),
            max(s.x_max for s in sections),
            min(s.y_min for s in sections),
            max(s.y_max for s in sections),
        )

    @property
    def mosaic_shape(self) -> tuple[int, int]:
        """Shape (ny, nx) of the assembled image, in binned pixels."""
        box = self.detector_box
        return (box.ny // self.binning.y, box.nx // self.binning.x)

    def mosaic_section(self, amplifier: AmplifierGeometry) -> Section:
        """Where an amplifier's data section lands in the assembled image (binned, 1-based).

        The section is reversed on the axes the amplifier reads out flipped.

        Parameters
        ----------
        amplifier : AmplifierGeometry
            One of this camera's amplifiers.

        Returns
        -------
        Section
            ``(DETSEC - detector box origin) / binning + 1``.
        """
        box = self.detector_box
        detector = amplifier.detector_section
        x0 = (detector.x_min - box.x_min) // self.binning.x + 1
        y0 = (detector.y_min - box.y_min) // self.binning.y + 1
        region = Section(
            x0, x0 + detector.nx // self.binning.x - 1, y0, y0 + detector.ny // self.binning.y - 1
        )
        return region.oriented(x_flipped=detector.x_flipped, y_flipped=detector.y_flipped)

    def amplifier(self, index: int) -> AmplifierGeometry:
        """The amplifier numbered ``index``.

        Parameters
        ----------
        index : int
            1-based amplifier number.

        Returns
        -------
        AmplifierGeometry

        Raises
        ------
        KeyError
            No such amplifier.
        """
        for amp in self.amplifiers:
            if amp.index == index:
                return amp
        raise KeyError(index)
