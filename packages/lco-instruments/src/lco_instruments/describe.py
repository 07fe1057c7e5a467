"""Resolve a raw file's Camera from its headers, the family defaults and named fixes."""

from __future__ import annotations

import re

import attrs
import numpy as np
import numpy.typing as npt

from lco_core.errors import CameraError, SectionError
from lco_core.frame import AmplifierData, Frame
from lco_core.header import Header
from lco_core.io.meta import parse_gain
from lco_core.provenance import ProcessingStep
from lco_core.raw import RawFile, SectionKeywords
from lco_core.section import Binning, Section, check_detector_span
from lco_instruments.camera_facts import (
    CROSSTALK_FACTS,
    RAW_FULL_SCALE,
    aperture_class,
    saturation_adu,
    saturation_fact,
)
from lco_instruments.defaults import (
    CAMERA_DARK_COEFFICIENTS,
    CAMERA_GAINS,
    FAMILY_DEFAULTS,
    allowed_binnings,
)
from lco_instruments.families import CameraFamily, family_of
from lco_instruments.geometry import AmplifierGeometry, AppliedFact, Camera, CrosstalkMatrix
from lco_instruments.legacy import (
    LEGACY_CUBE_FIX,
    PARTIAL_CUBE_FIX,
    legacy_sinistro_sections,
    section_fix_for,
)

_CROSSTALK_KEY = re.compile(r"^CRSTLK(\d)(\d)$")


@attrs.frozen(eq=False)
class _Readout:
    """One amplifier's pixels as found in the file, before its geometry is decided."""

    index: int
    pixels: npt.NDArray[np.float32]
    header: Header
    sections: SectionKeywords
    label: str


def _readouts(raw: RawFile) -> tuple[list[_Readout], bool]:
    """The amplifier readouts of a file and whether it is a legacy Sinistro data cube."""
    images = raw.images
    if len(images) == 1 and images[0].data.ndim == 3:
        image = images[0]
        planes = [
            _Readout(i + 1, image.data[i], image.header, image.sections, f"plane {i + 1}")
            for i in range(image.data.shape[0])
        ]
        return planes, True
    for image in images:
        if image.data.ndim != 2:
            raise CameraError(raw.meta.filename, f"HDU {image.index} holds a {image.data.ndim}-D image")
    readouts = [
        _Readout(n + 1, image.data, image.header, image.sections, f"HDU {image.index}")
        for n, image in enumerate(images)
    ]
    return readouts, False


def _positive_number(header: Header, keyword: str) -> float | None:
    value = header.get(keyword)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value > 0 else None


class _Resolver:
    """Decides each fact once and writes down where it came from."""

    def __init__(self, raw: RawFile) -> None:
        self.raw = raw
        self.meta = raw.meta
        self.filename = raw.meta.filename
        self.family = family_of(raw.meta.camera, filename=self.filename)
        self.defaults = FAMILY_DEFAULTS[self.family]
        self.provenance: list[str] = []
        self.fixes: list[str] = []
        self.facts: list[AppliedFact] = []
        self.saturation_levels: list[str] = []  # per amplifier, from the camera class's fact
        self.saturation_source = ""
        self.trim_fix: tuple[Section, str] | None = None  # TRIMSEC of a section fix, and its name

    def note(self, line: str) -> None:
        if line not in self.provenance:
            self.provenance.append(line)

    def error(self, problem: str) -> CameraError:
        return CameraError(self.filename, problem)

    # -- per-amplifier electronics ---------------------------------------------------------
    def gain(self, readout: _Readout, n_amplifiers: int, legacy: bool) -> float:
        own = _positive_number(readout.header, "GAIN") if n_amplifiers > 1 and not legacy else None
        if own is not None:
            self.note("GAIN: header, per amplifier extension")
            return own
        gains = parse_gain(self.raw.primary, path=self.raw.path, hdu="primary")
        if gains is not None:
            if len(gains) == 1:
                self.note("GAIN: header")
                return gains[0]
            if len(gains) >= readout.index:
                self.note("GAIN: header list, one value per amplifier")
                return gains[readout.index - 1]
            raise self.error(f"GAIN lists {len(gains)} values for {n_amplifiers} amplifiers")
        known = CAMERA_GAINS.get(self.meta.camera)
        if known is not None:
            self.note(f"GAIN: default for camera {self.meta.camera}")
            return known[min(readout.index, len(known)) - 1]
        if self.defaults.gain is not None:
            self.note(f"GAIN: {self.family.value} family default")
            return self.defaults.gain
        raise self.error("no GAIN in the header and no default gain for this camera")

    def read_noise(self, readout: _Readout) -> float:
        for header, source in ((readout.header, "amplifier header"), (self.raw.primary, "header")):
            value = _positive_number(header, "RDNOISE")
            if value is not None:
                self.note(f"RDNOISE: {source}")
                return value
        self.note(f"RDNOISE: {self.family.value} family default")
        return self.defaults.read_noise

    def saturation(self, readout: _Readout, gain: float) -> tuple[float, float]:
        saturation = _positive_number(readout.header, "SATURATE") or _positive_number(
            self.raw.primary, "SATURATE"
        )
        if saturation is not None:
            self.note("SATURATE: header")
        else:
            saturation = self.default_saturation(readout.index, gain)
        maxlin = _positive_number(readout.header, "MAXLIN") or _positive_number(self.raw.primary, "MAXLIN")
        if maxlin is None or maxlin > saturation:
            maxlin = saturation
            self.note("MAXLIN: not in the header (or above SATURATE): taken as SATURATE")
        else:
            self.note("MAXLIN: header")
        return saturation, maxlin

    def default_saturation(self, amplifier: int, gain: float) -> float:
        """The camera class's saturation (unbinned electrons, converted), else the family's."""
        telescope_id = self.raw.primary.get("TELID")
        aperture = aperture_class(
            self.meta.telescope, telescope_id if isinstance(telescope_id, str) else None
        )
        fact = saturation_fact(self.family, aperture)
        if fact is None:
            self.note(f"SATURATE: {self.family.value} family default ({self.defaults.source})")
            return self.defaults.saturation
        level, capped = saturation_adu(fact, self.meta.binning, gain)
        binning = self.meta.binning
        how = f"{fact.electrons:g} e- x {binning.x * binning.y} binned pixels / gain {gain:g}" + (
            f" = {fact.adu(binning, gain):.0f} ADU, above a 16-bit readout: {RAW_FULL_SCALE:g}"
            if capped
            else ""
        )
        self.note(f"SATURATE: {fact.name} default, {how} ({fact.source})")
        self.saturation_levels.append(f"amplifier {amplifier} {level:.0f} ADU ({how})")
        self.saturation_source = f"{fact.name}: {fact.source}"
        return level

    def saturation_fact(self) -> None:
        if self.saturation_levels:
            self.facts.append(
                AppliedFact("SATURATE", "; ".join(self.saturation_levels), self.saturation_source)
            )

    # -- sections --------------------------------------------------------------------------
    def sections(self, readout: _Readout, legacy: bool) -> tuple[Section, Section | None, Section]:
        shape = (int(readout.pixels.shape[0]), int(readout.pixels.shape[1]))
        binning = self.meta.binning
        if legacy or (self.family is CameraFamily.SINISTRO and readout.sections.detector is None):
            fixed = legacy_sinistro_sections(readout.index, shape, binning, filename=self.filename)
            if LEGACY_CUBE_FIX not in self.fixes:
                self.fixes.append(LEGACY_CUBE_FIX)
            self.note(
                f"fix {LEGACY_CUBE_FIX}: DATASEC/BIASSEC/DETSEC from the 2015 layout "
                f"(header BIASSEC/DETSEC unset); {fixed.note}"
            )
            return fixed.data, fixed.bias, fixed.detector
        data = readout.sections.data
        fix = (
            section_fix_for(self.meta.camera, data, self.header_trim()) if len(self.raw.images) == 1 else None
        )
        if fix is not None:
            data, self.trim_fix = Section.parse(fix.datasec), (Section.parse(fix.trimsec), fix.name)
            self.fixes.append(fix.name)
            self.note(
                f"fix {fix.name}: header DATASEC {fix.written_datasec} with TRIMSEC {fix.written_trimsec} "
                f"is the known wrong pair: DATASEC {fix.datasec}, TRIMSEC {fix.trimsec} ({fix.source})"
            )
            self.facts.append(
                AppliedFact(
                    f"fix {fix.name}",
                    f"DATASEC {fix.written_datasec} -> {fix.datasec}, TRIMSEC {fix.written_trimsec} -> "
                    f"{fix.trimsec} (counted from DATASEC)",
                    fix.source,
                )
            )
        elif data is None:
            data = Section(1, shape[1], 1, shape[0])
            self.note("DATASEC: unset; the whole readout")
        else:
            self.note("DATASEC: header")
        bias = readout.sections.bias
        self.note("BIASSEC: header" if bias is not None else "BIASSEC: unset (UNKNOWN/N/A): no overscan")
        detector = readout.sections.detector
        if detector is None:
            detector = Section(1, data.nx * binning.x, 1, data.ny * binning.y)
            self.note("DETSEC: unset; DATASEC scaled by the binning from the detector origin")
        else:
            self.note("DETSEC: header")
        return data, bias, detector

    def amplifier(self, readout: _Readout, legacy: bool, n_amplifiers: int) -> AmplifierGeometry:
        data, bias, detector = self.sections(readout, legacy)
        shape = (int(readout.pixels.shape[0]), int(readout.pixels.shape[1]))
        for name, section in (("DATASEC", data), ("BIASSEC", bias)):
            if section is not None and not section.fits_in(shape):
                raise self.error(
                    f"{readout.label}: {name} {section} lies outside the {shape[1]}x{shape[0]} readout"
                )
        try:
            check_detector_span(data, detector, self.meta.binning)
        except SectionError as error:
            raise self.error(f"{readout.label}: {error}") from None
        gain = self.gain(readout, n_amplifiers, legacy)
        saturation, nonlinearity = self.saturation(readout, gain)
        return AmplifierGeometry(
            index=readout.index,
            readout_shape=shape,
            data_section=data,
            bias_section=bias,
            detector_section=detector,
            gain=gain,
            read_noise=self.read_noise(readout),
            saturation=saturation,
            nonlinearity=nonlinearity,
        )

    # -- frame-level facts -----------------------------------------------------------------
    def check_binning(self, legacy: bool) -> None:
        mode = self.meta.configuration_mode
        allowed = allowed_binnings(self.family, mode, legacy_cube=legacy)
        if not allowed:
            raise self.error(f"configuration mode {mode!r} is not known for {self.family.value} cameras")
        if self.meta.binning not in allowed:
            choices = ", ".join(sorted(str(b) for b in allowed))
            raise self.error(
                f"{self.family.value} {mode} frames cannot be binned {self.meta.binning} (allowed: {choices})"
            )

    def crosstalk(self, n_amplifiers: int) -> CrosstalkMatrix:
        if n_amplifiers == 1:
            return ((0.0,),)
        matrix = [[0.0] * n_amplifiers for _ in range(n_amplifiers)]
        found = False
        for card in self.raw.primary.cards:
            match = _CROSSTALK_KEY.match(card.keyword)
            if match is None or isinstance(card.value, bool) or not isinstance(card.value, int | float):
                continue
            source, victim = int(match.group(1)), int(match.group(2))
            if 1 <= source <= n_amplifiers and 1 <= victim <= n_amplifiers and source != victim:
                matrix[source - 1][victim - 1] = float(card.value)
                found = True
        if found:
            self.note("crosstalk: header CRSTLKij")
            return tuple(tuple(row) for row in matrix)
        known = CROSSTALK_FACTS.get(self.meta.camera)
        if known is not None and len(known.matrix) >= n_amplifiers:
            self.note(f"crosstalk: default for camera {self.meta.camera}")
            self.note(f"crosstalk source: {known.source}")
            matrix_used = tuple(tuple(row[:n_amplifiers]) for row in known.matrix[:n_amplifiers])
            pairs = [
                f"{i + 1}->{j + 1} {c:g}"
                for i, row in enumerate(matrix_used)
                for j, c in enumerate(row)
                if i != j
            ]
            self.facts.append(
                AppliedFact(
                    "crosstalk", f"camera {self.meta.camera}'s table: " + ", ".join(pairs), known.source
                )
            )
            return matrix_used
        raise self.error(
            f"{n_amplifiers}-amplifier frame without crosstalk coefficients: no CRSTLKij cards and no "
            f"default for camera {self.meta.camera}"
        )

    def dark_temperature_coefficient(self) -> float | None:
        value = self.raw.primary.get("DRKTCOEF")
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.note("DRKTCOEF: header")
            return float(value)
        known = CAMERA_DARK_COEFFICIENTS.get(self.meta.camera)
        if known is not None:
            self.note(f"DRKTCOEF: default for camera {self.meta.camera}")
        return known

    def header_trim(self) -> Section | None:
        trim = self.raw.sections.trim
        if trim is None and len(self.raw.images) == 1:
            trim = self.raw.images[0].sections.trim
        return trim

    def trim_section(self, amplifiers: list[AmplifierGeometry], mosaic_shape: tuple[int, int]) -> Section:
        whole = Section(1, mosaic_shape[1], 1, mosaic_shape[0])
        if self.trim_fix is not None and whole.contains(self.trim_fix[0]):
            self.note(f"TRIMSEC: {self.trim_fix[0]} from fix {self.trim_fix[1]}")
            return self.trim_fix[0]
        trim = self.header_trim()
        if trim is None:
            self.note("TRIMSEC: unset; the whole mosaic")
            return whole
        if len(amplifiers) == 1:
            # A single amplifier's TRIMSEC is in readout coordinates: shift by the data section.
            origin = amplifiers[0].data_section
            x1, x2 = trim.x_min - origin.x_min + 1, trim.x_max - origin.x_min + 1
            y1, y2 = trim.y_min - origin.y_min + 1, trim.y_max - origin.y_min + 1
            trim = Section(x1, x2, y1, y2) if min(x1, y1) >= 1 else whole
        if not whole.contains(trim):
            self.note(
                f"TRIMSEC: header {trim} does not fit the {mosaic_shape[1]}x{mosaic_shape[0]} mosaic; "
                "the whole mosaic"
            )
            return whole
        self.note("TRIMSEC: header")
        return trim


def camera_for(raw: RawFile) -> Camera:
    """Resolve the `Camera` of a raw file: header first, then the camera's fact, then the family default.

    The camera's facts (`lco_instruments.camera_facts`: crosstalk per camera, saturation per
    camera class, section fixes) are used only where the header has no value (or, for a
    section fix, exactly the known wrong one), and each one used is listed in the camera's
    ``applied_facts`` with its source. Named fixes of file formats (`lco_instruments.legacy`)
    apply only where their condition holds.

    Parameters
    ----------
    raw : RawFile
        A raw file as `~lco_core.io.raw.read_raw` returns it.

    Returns
    -------
    Camera
        With ``provenance`` saying where each fact came from.

    Raises
    ------
    CameraError
        An unknown camera, a forbidden binning, the wrong number of amplifiers, sections that
        do not fit or overlap, no gain, or a multi-amplifier frame without crosstalk
        coefficients (the error names the file).
    """
    resolver = _Resolver(raw)
    readouts, legacy = _readouts(raw)
    if resolver.family is CameraFamily.SINISTRO and not legacy and len(readouts) == 1:
        legacy = readouts[0].sections.detector is None  # one 2-D plane of the 2015 format
    resolver.check_binning(legacy)
    expected = resolver.defaults.amplifiers
    if legacy and len(readouts) < expected:
        resolver.fixes.append(PARTIAL_CUBE_FIX)
        resolver.note(
            f"fix {PARTIAL_CUBE_FIX}: the file holds {len(readouts)} of {expected} amplifier planes, "
            f"taken as amplifiers 1..{len(readouts)}"
        )
    elif len(readouts) != expected:
        raise resolver.error(
            f"{len(readouts)} amplifier readouts, but {resolver.family.value} cameras have {expected}"
        )
    amplifiers = [resolver.amplifier(readout, legacy, len(readouts)) for readout in readouts]
    crosstalk = resolver.crosstalk(len(amplifiers))
    draft = Camera(
        name=raw.meta.camera,
        family=resolver.family,
        binning=raw.meta.binning,
        configuration_mode=raw.meta.configuration_mode,
        amplifiers=tuple(amplifiers),
        crosstalk=crosstalk,
        trim_section=Section(1, 1, 1, 1),
    )
    _check_mosaic(draft, resolver)
    trim = resolver.trim_section(amplifiers, draft.mosaic_shape)
    coefficient = resolver.dark_temperature_coefficient()
    resolver.saturation_fact()
    return attrs.evolve(
        draft,
        trim_section=trim,
        dark_temperature_coefficient=coefficient,
        provenance=resolver.provenance,
        fixes=resolver.fixes,
        applied_facts=resolver.facts,
    )


def _check_mosaic(camera: Camera, resolver: _Resolver) -> None:
    box = camera.detector_box
    binning: Binning = camera.binning
    for amp in camera.amplifiers:
        detector = amp.detector_section
        if (detector.x_min - box.x_min) % binning.x or (detector.y_min - box.y_min) % binning.y:
            raise resolver.error(
                f"amplifier {amp.index}: DETSEC {detector} is not aligned to the {binning} binning grid"
            )
    covered = np.zeros(camera.mosaic_shape, dtype=np.uint8)
    for amp in camera.amplifiers:
        covered[camera.mosaic_section(amp).to_slices()] += 1
    if covered.max() > 1:
        raise resolver.error("amplifier detector sections overlap")


def raw_to_frame(raw: RawFile, camera: Camera) -> Frame:
    """The raw frame as `AmplifierData` (ADU, nothing flagged, zero uncertainty) with its provenance.

    Parameters
    ----------
    raw : RawFile
        The raw file.
    camera : Camera
        Its camera (`camera_for`).

    Returns
    -------
    Frame
        Unassembled: one `AmplifierData` per amplifier, and a ``resolve_camera`` history step.
    """
    readouts, _ = _readouts(raw)
    amplifiers = []
    for readout, geometry in zip(readouts, camera.amplifiers, strict=True):
        pixels = np.asarray(readout.pixels, dtype=np.float32)
        amplifiers.append(
            AmplifierData(
                index=geometry.index,
                data=pixels,
                mask=np.zeros(pixels.shape, dtype=np.uint8),
                uncertainty=np.zeros(pixels.shape, dtype=np.float32),
            )
        )
    step = ProcessingStep(
        "resolve_camera",
        {"camera": camera.name, "family": camera.family.value, "binning": str(camera.binning)},
        {"sources": tuple(camera.provenance), "fixes": tuple(camera.fixes)},
    )
    return Frame(meta=raw.meta, amplifiers=tuple(amplifiers), history=(step,), header=raw.primary)
