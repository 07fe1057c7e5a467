"""Bad pixel masks: built from the masters in robust sigmas, and applied as the BAD bit.

Thresholds (robust sigma = 1.4826 x MAD of the master's own pixels):

* hot: master dark rate above median + ``hot_sigma`` (default 8) robust sigmas and above
  ``hot_minimum`` electrons/s (default 0.05, so a very clean dark's noise is never "hot");
* dead / low response: master flat below median - ``low_sigma`` (default 8) robust sigmas, or
  below ``low_response`` (default 0.5) of the median response;
* bad column: a column whose median flat response is ``column_sigma`` (default 8) robust sigmas
  (of all column medians) below the median, or whose median dark rate is that far above.
  A bad column is flagged where its own pixels deviate (3 robust sigmas), so a column that is
  bad over part of its length is not masked where it is fine.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lco_core.frame import Frame
from lco_core.masks import MaskBit
from lco_core.master import BadPixelMask, Master, MasterKind
from lco_core.pipeline import Stage
from lco_core.provenance import ProcessingStep
from lco_core.stats import median, robust_std
from lco_stages._match import require_mask_match

STAGE = "apply_bad_pixel_mask"
Bool = npt.NDArray[np.bool_]


def _spread(values: npt.NDArray[np.float32], good: Bool) -> tuple[float, float]:
    center = median(values, mask=~good)
    return center, max(robust_std(values, mask=~good), 1e-12)


def hot_pixels(dark: Master, *, hot_sigma: float = 8.0, hot_minimum: float = 0.05) -> Bool:
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


def low_response_pixels(flat: Master, *, low_sigma: float = 8.0, low_response: float = 0.5) -> Bool:
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


def bad_columns(image: npt.NDArray[np.float32], *, column_sigma: float = 8.0, low: bool) -> Bool:
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

    Returns
    -------
    ndarray of bool
        The pixels of bad columns that deviate by more than 3 robust sigmas themselves.
    """
    columns = np.median(image, axis=0)
    center = float(np.median(columns))
    sigma = max(1.4826 * float(np.median(np.abs(columns - center))), 1e-12)
    deviant = (columns < center - column_sigma * sigma) if low else (columns > center + column_sigma * sigma)
    pixel_sigma = max(1.4826 * float(np.median(np.abs(image - center))), 1e-12)
    pixels = (image < center - 3 * pixel_sigma) if low else (image > center + 3 * pixel_sigma)
    return np.asarray(pixels & deviant[np.newaxis, :])


def make_bad_pixel_mask(
    *,
    dark: Master | None = None,
    flat: Master | None = None,
    filename: str,
    hot_sigma: float = 8.0,
    low_sigma: float = 8.0,
    column_sigma: float = 8.0,
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
    hot_sigma, low_sigma, column_sigma : float
        Thresholds, robust standard deviations.

    Returns
    -------
    BadPixelMask
        For the camera and binning of the masters.

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
        if dark.kind is not MasterKind.DARK:
            raise ValueError(f"{dark.filename} is not a master dark")
        bad |= hot_pixels(dark, hot_sigma=hot_sigma)
        bad |= bad_columns(dark.frame.data, column_sigma=column_sigma, low=False)
    if flat is not None:
        if flat.kind is not MasterKind.SKYFLAT:
            raise ValueError(f"{flat.filename} is not a master flat")
        bad |= low_response_pixels(flat, low_sigma=low_sigma)
        bad |= bad_columns(flat.frame.data, column_sigma=column_sigma, low=True)
    meta = masters[0].frame.meta
    return BadPixelMask(
        mask=bad.astype(np.uint8), filename=filename, camera=meta.camera, binning=meta.binning
    )


def apply_bad_pixel_mask(bpm: BadPixelMask) -> Stage:
    """Set the BAD bit wherever the mask is non-zero (on the trimmed image grid).

    Parameters
    ----------
    bpm : BadPixelMask
        The mask.

    Returns
    -------
    Stage
        Records the number of bad pixels and the mask's file name (L1IDMASK).

    Raises
    ------
    StageError
        When run: the frame is not assembled, or the mask's camera, binning or shape differ.
    """

    def stage(frame: Frame) -> Frame:
        require_mask_match(frame, bpm, STAGE)
        bad = bpm.mask != 0
        step = ProcessingStep(STAGE, {}, {"bad_pixels": int(bad.sum())}, (bpm.filename,))
        return frame.with_step(step, mask=frame.mask | (bad * np.uint8(MaskBit.BAD)).astype(np.uint8))

    return stage
