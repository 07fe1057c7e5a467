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
    # Half the cameras read every amplifier out alike (prescan, overscan, parallel rows), as
    # real multi-amplifier cameras do; the others draw each readout on its own.
    alike = draw(st.booleans())
    readout = _readout(draw, with_overscan)
    amplifiers = []
    for number in range(columns * rows):
        column, row = number % columns, number // columns
        prescan, overscan, parallel = readout if alike else _readout(draw, with_overscan)
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
        # Crosstalk mixes readouts pixel for pixel, so a camera has it only where every
        # readout has the same shape (as every Sinistro's does).
        crosstalk=draw(_crosstalk(len(amplifiers)))
        if len({amp.readout_shape for amp in amplifiers}) == 1
        else tuple(tuple(0.0 for _ in amplifiers) for _ in amplifiers),
        trim_section=trim,
    )


def _crosstalk(n_amplifiers: int) -> st.SearchStrategy[tuple[tuple[float, ...], ...]]:
    """Crosstalk matrices: zero on the diagonal, each other coefficient zero or up to 2e-3 (real
    Sinistro CRSTLKij are 5e-4 to 7e-4)."""
    coefficient = st.one_of(st.just(0.0), st.floats(1e-6, 2e-3))
    return st.tuples(
        *(
            st.tuples(*(st.just(0.0) if i == j else coefficient for j in range(n_amplifiers)))
            for i in range(n_amplifiers)
        )
    )


def _readout(draw: st.DrawFn, with_overscan: bool | None) -> tuple[int, int, int]:
    """Prescan columns, overscan columns and parallel-overscan rows of one readout."""
    prescan = draw(st.integers(0, 2))
    has_overscan = with_overscan or (with_overscan is None and draw(st.booleans()))
    overscan = draw(st.integers(1, 4)) if has_overscan else 0
    return prescan, overscan, draw(st.integers(0, 2))
