"""Thumbnails: a zscale PNG of a frame with its detected sources circled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from astropy.visualization import ZScaleInterval
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from lco_core.atomic import atomic_output
from lco_core.frame import Frame
from lco_core.masks import MaskBit

THUMBNAIL_PIXELS = 512


def _binned(image: npt.NDArray[np.float32], factor: int) -> npt.NDArray[np.float32]:
    # Never more than the shorter side, so a long thin image keeps one row of blocks.
    factor = max(1, min(factor, *image.shape))
    ny, nx = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    if factor == 1:
        return image
    blocks = image[:ny, :nx].reshape(ny // factor, factor, nx // factor, factor)
    return np.asarray(blocks.mean(axis=(1, 3)), dtype=np.float32)


def render_png(
    image: npt.NDArray[np.floating],
    target: Path,
    *,
    circles: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None,
    title: str = "",
) -> Path:
    """Write a zscale greyscale PNG of ``image`` (block-averaged to ~512 px), atomically.

    Parameters
    ----------
    image : ndarray
        The image.
    target : pathlib.Path
        The PNG file.
    circles : (ndarray, ndarray), optional
        1-based x and y of sources to circle.
    title : str
        Title above the image.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        ``image`` is not 2-D or has no pixels.
    """
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim != 2 or pixels.size == 0:
        raise ValueError(f"{target.name}: no pixels to draw (image of shape {pixels.shape})")
    finite = np.isfinite(pixels)
    # NaN and inf shown at the median: as 0 or float32's largest they would set the grey scale.
    fill = np.float32(np.median(pixels[finite])) if finite.any() else np.float32(0)
    factor = max(1, int(np.ceil(max(pixels.shape) / THUMBNAIL_PIXELS)))
    small = _binned(np.where(finite, pixels, fill), factor)
    low, high = ZScaleInterval().get_limits(small)
    # A Figure of its own, not pyplot's: no global state shared by threads or left open on failure.
    # At least 32 pixels high: a strip of a few rows would otherwise make a PNG of height 0.
    figure = Figure(figsize=(5.12, max(0.32, 5.12 * small.shape[0] / small.shape[1])), dpi=100)
    axes = figure.subplots()
    axes.imshow(small, origin="lower", cmap="gray", vmin=low, vmax=high, interpolation="nearest")
    if circles is not None:
        x, y = circles
        for cx, cy in zip(x[:300], y[:300], strict=False):
            axes.add_patch(
                Circle(((cx - 1) / factor, (cy - 1) / factor), 6, fill=False, color="#2b8cbe", linewidth=0.6)
            )
    axes.set_axis_off()
    if title:
        axes.set_title(title, fontsize=8)
    figure.subplots_adjust(0, 0, 1, 0.95 if title else 1)
    with atomic_output(target) as temporary:
        figure.savefig(temporary, format="png")
    return target


def write_thumbnail(frame: Frame, target: Path) -> Path:
    """The frame's thumbnail with up to 300 of its brightest sources circled.

    Parameters
    ----------
    frame : Frame
        A processed frame.
    target : pathlib.Path
        The PNG file.

    Returns
    -------
    pathlib.Path
    """
    circles = None
    if frame.sources is not None and len(frame.sources):
        circles = (
            np.asarray(frame.sources["xwin"], dtype=np.float64),
            np.asarray(frame.sources["ywin"], dtype=np.float64),
        )
    # Bad columns and uncovered pixels would dominate the picture: show them at the median.
    unusable = (frame.mask & np.uint8(MaskBit.BAD | MaskBit.LOW_FLAT | MaskBit.NO_DATA)) != 0
    image = np.where(
        unusable, np.float32(np.median(frame.data[~unusable])) if (~unusable).any() else 0, frame.data
    )
    return render_png(image, target, circles=circles)
