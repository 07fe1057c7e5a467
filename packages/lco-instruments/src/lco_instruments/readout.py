"""Split an assembled image back into amplifier readouts: the inverse of the mosaic.

Tests use it to check that the mosaic stage puts every pixel back where it came from. The
simulator does not: it writes raw frames from its own table of LCO's section strings
(`lco_instruments.simulate.layout`), so that a mistake shared by this module and the mosaic
stage cannot hide in the simulated truth.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lco_instruments.geometry import Camera


def split_into_amplifiers(
    image: npt.NDArray[np.floating], camera: Camera, *, fill: float = 0.0
) -> tuple[npt.NDArray[np.float32], ...]:
    """Readout arrays (one per amplifier) whose data sections hold ``image``'s pixels.

    Parameters
    ----------
    image : ndarray of float
        An image of the camera's mosaic shape.
    camera : Camera
        The camera.
    fill : float
        Value of the pixels outside the data sections (overscan, unused columns and rows).

    Returns
    -------
    tuple of ndarray of float32
        One readout per amplifier, of its ``readout_shape``, in readout orientation.

    Raises
    ------
    ValueError
        ``image`` does not have the mosaic shape.
    """
    if image.shape != camera.mosaic_shape:
        raise ValueError(f"image is {image.shape}, the camera's mosaic is {camera.mosaic_shape}")
    readouts = []
    for geometry in camera.amplifiers:
        readout = np.full(geometry.readout_shape, fill, dtype=np.float32)
        source = camera.mosaic_section(geometry).to_slices()
        target = geometry.data_section.oriented(
            x_flipped=geometry.detector_section.x_flipped != geometry.data_section.x_flipped,
            y_flipped=geometry.detector_section.y_flipped != geometry.data_section.y_flipped,
        ).to_oriented_slices()
        readout[target] = image[source]
        readouts.append(readout)
    return tuple(readouts)
