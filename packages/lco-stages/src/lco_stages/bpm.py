"""Bad pixel masks: built from the masters in robust sigmas, and applied as the BAD bit.

Thresholds (robust sigma = 1.4826 x MAD of the master's own pixels; the ``bpm.*`` settings,
`BadPixelSettings`):

* hot: master dark rate above median + ``hot_sigma`` (default 8) robust sigmas and above
  ``hot_minimum`` electrons/s (default 0.05, so a very clean dark's noise is never "hot");
* dead / low response: master flat below median - ``low_sigma`` (default 8) robust sigmas, or
  below ``low_response`` (default 0.5) of the median response;
* bad column: a column whose median flat response is ``column_sigma`` (default 8) robust sigmas
  (of all column medians) below the median, or whose median dark rate is that far above.
  A bad column is flagged where its own pixels deviate (``column_pixel_sigma``, default 3 robust
  sigmas), so a column that is bad over part of its length is not masked where it is fine.
"""

from __future__ import annotations

from typing import ClassVar

import attrs
import numpy as np
import numpy.typing as npt

from lco_core.frame import Frame
from lco_core.masks import MaskBit
from lco_core.master import BadPixelMask, Master, MasterKind
from lco_core.parameters import StageSettings, documented, parameter
from lco_core.pipeline import Stage
from lco_core.provenance import ProcessingStep
from lco_core.stats import median, robust_std
from lco_stages._match import require_kind, require_mask_match

STAGE = "apply_bad_pixel_mask"
Bool = npt.NDArray[np.bool_]


@documented
@attrs.frozen
class BadPixelSettings(StageSettings):
    """make_bad_pixel_mask: hot, dead and low-response pixels and bad columns from the masters."""

    section: ClassVar[str] = "bpm"
    stage: ClassVar[str] = "make_bad_pixel_mask"

    hot_sigma: float = parameter(
        8.0, "a master dark pixel above median + this many robust sigmas is hot", unit="sigma", above=0.0
    )
    hot_minimum: float = parameter(
        0.05, "a hot pixel's dark rate must also exceed this", unit="electron/s", minimum=0.0
    )
    low_sigma: float = parameter(
        8.0, "a master flat pixel below median - this many robust sigmas is low", unit="sigma", above=0.0
    )
    low_response: float = parameter(
        0.5, "so is a flat pixel below this fraction of the median response", minimum=0.0, maximum=1.0
    )
    column_sigma: float = parameter(
        8.0, "a column whose median is this many robust sigmas (of all column medians) off is bad",
        unit="sigma", above=0.0,
    )  # fmt: skip
    column_pixel_sigma: float = parameter(
        3.0, "a bad column's pixels are masked where they deviate by this many robust sigmas",
        unit="sigma", above=0.0,
    )  # fmt: skip


#: Every bad-pixel-mask setting at its default.
BPM_DEFAULTS = BadPixelSettings()


def _spread(values: npt.NDArray[np.float32], good: Bool) -> tuple[float, float]:
    center = median(values, mask=~good)
    return center, max(robust_std(values, mask=~good), 1e-12)


def hot_pixels(
    dark: Master, *, hot_sigma: float = BPM_DEFAULTS.hot_sigma, hot_minimum: float = BPM_DEFAULTS.hot_minimum
) -> Bool:
    """Pixels of a master dark above median + ``hot_sigma`` robust sigmas and above ``hot_minimum``.

    Parameters
    ----------
    dark : Master
        A master dark, electrons per second (its masked pixels do not set the median or sigma).
    hot_sigma : float
        Threshold, robust standard deviations (1.4826 x MAD) above the median.
    hot_minimum : float
        Electrons per second a hot pixel must also exceed.

    Returns
    -------
    ndarray of bool
    """
    data = dark.frame.data
    good = dark.frame.mask == 0
    center, sigma = _spread(data, good)
    return np.asarray((data > center + hot_sigma * sigma) & (data > hot_minimum))


def low_response_pixels(
    flat: Master,
    *,
    low_sigma: float = BPM_DEFAULTS.low_sigma,
    low_response: float = BPM_DEFAULTS.low_response,
) -> Bool:
    """Dead and low-response pixels of a master flat.

    Parameters
    ----------
    flat : Master
        A master flat (relative response).
    low_sigma : float
        Pixels below median - ``low_sigma`` robust standard deviations are low.
    low_response : float
        So are pixels below this fraction of the median response.

    Returns
    -------
    ndarray of bool
        Also true wherever the flat carries LOW_FLAT.
    """
    data = flat.frame.data
    good = (flat.frame.mask & (MaskBit.NO_DATA | MaskBit.LOW_FLAT)) == 0
    center, sigma = _spread(data, good)
    low = (data < center - low_sigma * sigma) | (data < low_response * center)
    return np.asarray(low | ((flat.frame.mask & MaskBit.LOW_FLAT) > 0))


def bad_columns(
    image: npt.NDArray[np.float32],
    *,
    column_sigma: float = BPM_DEFAULTS.column_sigma,
    low: bool,
    pixel_sigma: float = BPM_DEFAULTS.column_pixel_sigma,
) -> Bool:
    """Pixels of columns whose median deviates (down if ``low``, else up) from the others.

    Parameters
    ----------
    image : ndarray of float32
        A master dark or flat.
    column_sigma : float
        A column is bad when its median is this many robust standard deviations (of all column
        medians) from their median.
    low : bool
        Look for low columns (flat) rather than high ones (dark).
    pixel_sigma : float
        A bad column's pixel is flagged when it deviates by more than this many robust
        standard deviations (of the image) itself.

    Returns
    -------
    ndarray of bool
        The pixels of bad columns that deviate by more than ``pixel_sigma`` robust sigmas.
    """
    columns = np.median(image, axis=0)
    center = float(np.median(columns))
    sigma = max(1.4826 * float(np.median(np.abs(columns - center))), 1e-12)
    deviant = (columns < center - column_sigma * sigma) if low else (columns > center + column_sigma * sigma)
    spread = max(1.4826 * float(np.median(np.abs(image - center))), 1e-12)
    pixels = (image < center - pixel_sigma * spread) if low else (image > center + pixel_sigma * spread)
    return np.asarray(pixels & deviant[np.newaxis, :])


def make_bad_pixel_mask(
    *,
    dark: Master | None = None,
    flat: Master | None = None,
    filename: str,
    settings: BadPixelSettings = BPM_DEFAULTS,
) -> BadPixelMask:
    """A BAD mask from a master dark (hot pixels and columns) and a master flat (dead, low and
    bad columns); see the module docstring for the thresholds.

    Parameters
    ----------
    dark : Master, optional
        A master dark.
    flat : Master, optional
        A master flat.
    filename : str
        The mask's file name.
    settings : BadPixelSettings
        The thresholds (the ``bpm.*`` settings).

    Returns
    -------
    BadPixelMask
        For the camera and binning of the masters, with the settings as its ``parameters``.

    Raises
    ------
    ValueError
        Neither master given, masters of different shapes, or a master of the wrong kind.
    """
    masters = [m for m in (dark, flat) if m is not None]
    if not masters:
        raise ValueError("a bad pixel mask needs a master dark, a master flat, or both")
    shapes = {m.frame.shape for m in masters}
    if len(shapes) != 1:
        raise ValueError(f"masters differ in shape: {sorted(shapes)}")
    bad = np.zeros(next(iter(shapes)), dtype=bool)
    if dark is not None:
        require_kind(dark, MasterKind.DARK, "dark")
        bad |= hot_pixels(dark, hot_sigma=settings.hot_sigma, hot_minimum=settings.hot_minimum)
        bad |= bad_columns(
            dark.frame.data,
            column_sigma=settings.column_sigma,
            low=False,
            pixel_sigma=settings.column_pixel_sigma,
        )
    if flat is not None:
        require_kind(flat, MasterKind.SKYFLAT, "flat")
        bad |= low_response_pixels(flat, low_sigma=settings.low_sigma, low_response=settings.low_response)
        bad |= bad_columns(
            flat.frame.data,
            column_sigma=settings.column_sigma,
            low=True,
            pixel_sigma=settings.column_pixel_sigma,
        )
    meta = masters[0].frame.meta
    return BadPixelMask(
        mask=bad.astype(np.uint8), filename=filename, camera=meta.camera, binning=meta.binning,
        parameters=settings.values(),
    )  # fmt: skip


def apply_bad_pixel_mask(bpm: BadPixelMask) -> Stage:
    """Set the BAD bit wherever the mask is non-zero (on the trimmed image grid).

    Parameters
    ----------
    bpm : BadPixelMask
        The mask.

    Returns
    -------
    Stage
        Records the thresholds the mask was made with (its ``parameters``), the number of bad
        pixels and the mask's file name (L1IDMASK).

    Raises
    ------
    StageError
        When run: the frame is not assembled, or the mask's camera, binning or shape differ.
    """

    def stage(frame: Frame) -> Frame:
        require_mask_match(frame, bpm, STAGE)
        bad = bpm.mask != 0
        step = ProcessingStep(STAGE, bpm.parameters, {"bad_pixels": int(bad.sum())}, (bpm.filename,))
        return frame.with_step(step, mask=frame.mask | (bad * np.uint8(MaskBit.BAD)).astype(np.uint8))

    return stage
