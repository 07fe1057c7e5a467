"""Frame and AmplifierData: immutable pixel records that flow through the stages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import numpy as np

from lco_core._arrays import FloatImage, MaskImage, read_only_float32, read_only_mask
from lco_core.errors import ShapeMismatchError
from lco_core.header import Header
from lco_core.meta import FrameMeta
from lco_core.provenance import ProcessingStep
from lco_core.sources import SourceCatalog, WcsSolution


def _empty_float() -> FloatImage:
    return read_only_float32(np.empty((0, 0), dtype=np.float32))


def _empty_mask() -> MaskImage:
    return read_only_mask(np.empty((0, 0), dtype=np.uint8))


def _amplifier_tuple(amplifiers: Iterable[AmplifierData]) -> tuple[AmplifierData, ...]:
    return tuple(amplifiers)


def _step_tuple(steps: Iterable[ProcessingStep]) -> tuple[ProcessingStep, ...]:
    return tuple(steps)


def _check_planes(instance: Frame | AmplifierData, attribute: object, value: object) -> None:
    shapes = {instance.data.shape, instance.mask.shape, instance.uncertainty.shape}
    if len(shapes) != 1:
        raise ShapeMismatchError(
            f"data {instance.data.shape}, mask {instance.mask.shape} and uncertainty "
            f"{instance.uncertainty.shape} must share a shape"
        )


@attrs.frozen(eq=False)
class AmplifierData:
    """The pixels read out by one amplifier, before the mosaic stage.

    The arrays are the whole readout of that amplifier (light-sensitive and overscan regions);
    the camera geometry (`lco_instruments.geometry.AmplifierGeometry`) says which section is
    which. Every array is read-only.

    Attributes
    ----------
    index : int
        1-based amplifier number (Q1..Q4 on a Sinistro).
    data : ndarray of float32, shape readout
        Pixel values: ADU until the gain stage, electrons after it.
    mask : ndarray of uint8
        `~lco_core.masks.MaskBit` flags, same shape.
    uncertainty : ndarray of float32
        1-sigma uncertainty, in the units of ``data``, same shape.

    Raises
    ------
    ShapeMismatchError
        The three planes differ in shape.
    """

    index: int
    data: FloatImage = attrs.field(converter=read_only_float32)
    mask: MaskImage = attrs.field(converter=read_only_mask)
    uncertainty: FloatImage = attrs.field(converter=read_only_float32, validator=_check_planes)

    def evolve(self, **changes: Any) -> AmplifierData:
        """A copy with ``changes`` (field name -> new value) applied.

        Parameters
        ----------
        **changes
            New values of ``data``, ``mask``, ``uncertainty`` or ``index``.

        Returns
        -------
        AmplifierData
        """
        return attrs.evolve(self, **changes)


@attrs.frozen(eq=False)
class Frame:
    """One frame: float32 pixels in electrons (after the gain stage), mask bits, 1-sigma uncertainty.

    A raw frame holds its pixels in ``amplifiers`` and empty (0 x 0) planes; the mosaic stage
    moves them into ``data``/``mask``/``uncertainty``. Every array is read-only: stages build
    new arrays and return ``frame.with_step(step, data=...)``. A frame owns its arrays
    (``lco_core._arrays.read_only``): an array of the caller's that owns its memory is frozen in
    place, anything else writeable is copied, so no later write by the caller changes a frame.
    ``header`` is the raw header, kept only to pass through to products; stages read ``meta``,
    never the header. The science stages attach ``sources`` (the CAT table) and ``wcs`` (the
    astrometric solution).

    Attributes
    ----------
    meta : FrameMeta
        Typed facts parsed once from the header.
    data : ndarray of float32, shape (ny, nx)
        Pixel values: electrons once the gain stage has run (electrons per second for a master
        dark, relative response for a master flat). Empty (0 x 0) before the mosaic stage.
    mask : ndarray of uint8
        `~lco_core.masks.MaskBit` flags, same shape; stages only ever add bits.
    uncertainty : ndarray of float32
        1-sigma uncertainty in the units of ``data``, same shape, never negative.
    amplifiers : tuple of AmplifierData
        The readouts of a raw frame; empty once assembled.
    history : tuple of ProcessingStep
        What was done to the frame, oldest first.
    header : Header
        The raw primary header (pass-through only).
    sources : SourceCatalog or None
        The CAT table, once `~lco_stages.sources.detect_sources` has run.
    wcs : WcsSolution or None
        The astrometric solution, once `~lco_stages.wcs.solve_wcs` has run.

    Raises
    ------
    ShapeMismatchError
        ``data``, ``mask`` and ``uncertainty`` differ in shape.
    """

    meta: FrameMeta
    data: FloatImage = attrs.field(factory=_empty_float, converter=read_only_float32)
    mask: MaskImage = attrs.field(factory=_empty_mask, converter=read_only_mask)
    uncertainty: FloatImage = attrs.field(
        factory=_empty_float, converter=read_only_float32, validator=_check_planes
    )
    amplifiers: tuple[AmplifierData, ...] = attrs.field(default=(), converter=_amplifier_tuple)
    history: tuple[ProcessingStep, ...] = attrs.field(default=(), converter=_step_tuple)
    header: Header = attrs.field(factory=Header)
    sources: SourceCatalog | None = None
    wcs: WcsSolution | None = None

    @property
    def assembled(self) -> bool:
        """True once the amplifiers have been mosaicked into ``data``."""
        return not self.amplifiers and self.data.size > 0

    @property
    def shape(self) -> tuple[int, int]:
        """Numpy shape ``(ny, nx)`` of the assembled planes."""
        ny, nx = self.data.shape
        return (ny, nx)

    def with_step(self, step: ProcessingStep, **changes: Any) -> Frame:
        """A new frame with ``step`` appended to the history and ``changes`` applied.

        Parameters
        ----------
        step : ProcessingStep
            What the stage did.
        **changes
            New values of fields, e.g. ``data=...``, ``mask=...``.

        Returns
        -------
        Frame
        """
        return attrs.evolve(self, history=(*self.history, step), **changes)

    def steps(self, stage: str) -> tuple[ProcessingStep, ...]:
        """The history entries of one stage, oldest first.

        Parameters
        ----------
        stage : str
            A stage name, e.g. ``'subtract_overscan'``.

        Returns
        -------
        tuple of ProcessingStep
        """
        return tuple(step for step in self.history if step.stage == stage)
