"""Hypothesis strategies for cameras: random amplifier layouts, flips, binnings and overscans."""

from __future__ import annotations

from hypothesis import strategies as st

from lco_core.section import Binning, Section
from lco_instruments.families import CameraFamily
from lco_instruments.geometry import AmplifierGeometry, Camera


@st.composite
def cameras(draw: st.DrawFn, *, max_side: int = 9, with_overscan: bool | None = None) -> Camera:
    """A camera of 1, 2 or 4 amplifiers tiling a detector, each read out from a random corner.

    Readouts may carry prescan columns, serial-overscan columns and parallel-overscan rows
    around their data sections; the binning is 1 to 3 on each axis.

    Parameters
    ----------
    draw : callable
        Hypothesis's draw function (supplied by ``st.composite``; call ``cameras()``).
    max_side : int
        Largest amplifier side, binned pixels.
    with_overscan : bool or None
        Every amplifier has an overscan (True), none has (False), or each may (None).

    Returns
    -------
    Camera
    """
    binning = Binning(draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    columns, rows = draw(st.sampled_from([(1, 1), (2, 1), (1, 2), (2, 2)]))
    width = draw(st.integers(1, max_side))
    height = draw(st.integers(1, max_side))
    origin_x = draw(st.integers(0, 3)) * binning.x + 1
    origin_y = draw(st.integers(0, 3)) * binning.y + 1
    amplifiers = []
    for number in range(columns * rows):
        column, row = number % columns, number // columns
        prescan = draw(st.integers(0, 2))
        overscan = (
            draw(st.integers(1, 4)) if with_overscan or (with_overscan is None and draw(st.booleans())) else 0
        )
        parallel = draw(st.integers(0, 2))
        x0 = origin_x + column * width * binning.x
        y0 = origin_y + row * height * binning.y
        detector = Section(x0, x0 + width * binning.x - 1, y0, y0 + height * binning.y - 1).oriented(
            x_flipped=draw(st.booleans()), y_flipped=draw(st.booleans())
        )
        amplifiers.append(
            AmplifierGeometry(
                index=number + 1,
                readout_shape=(height + parallel, prescan + width + overscan),
                data_section=Section(prescan + 1, prescan + width, 1, height),
                bias_section=Section(prescan + width + 1, prescan + width + overscan, 1, height)
                if overscan
                else None,
                detector_section=detector,
                gain=draw(st.floats(0.5, 8.0)),
                read_noise=draw(st.floats(1.0, 20.0)),
                saturation=draw(st.floats(1e3, 6e4)),
                nonlinearity=draw(st.floats(1e3, 6e4)),
            )
        )
    ny, nx = height * rows, width * columns
    trim = Section(draw(st.integers(1, nx)), nx, draw(st.integers(1, ny)), ny)
    return Camera(
        name="zz99",
        family=CameraFamily.SINISTRO if len(amplifiers) > 1 else CameraFamily.SBIG,
        binning=binning,
        configuration_mode="full_frame",
        amplifiers=tuple(amplifiers),
        crosstalk=tuple(tuple(0.0 for _ in amplifiers) for _ in amplifiers),
        trim_section=trim,
    )
