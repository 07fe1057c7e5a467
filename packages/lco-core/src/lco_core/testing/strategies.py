"""Hypothesis strategies for arrays, masks, sections, geometries and frames (one shared place)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lco_core.frame import Frame
from lco_core.meta import FrameMeta, ObsType
from lco_core.section import Binning, Section

FloatCube = npt.NDArray[np.float32]


#: The noise amplitudes a stack is drawn with: none (every value tied), small, moderate, large.
NOISE_SCALES = (0.0, 0.5, 3.0, 50.0)


@st.composite
def stacks(
    draw: st.DrawFn,
    *,
    min_frames: int = 1,
    max_frames: int = 12,
    max_side: int = 9,
    scale: float = 1e3,
    non_finite: bool = False,
) -> FloatCube:
    """(N, H, W) float32 stacks: a per-pixel level plus noise, sometimes with repeated values.

    Every value is drawn by hypothesis (`hypothesis.extra.numpy.arrays`), so a failing stack
    shrinks to a small, simple one. Values lie on a grid of 1/8 so ties (which make the MAD
    zero) happen often.

    Parameters
    ----------
    draw : callable
        Hypothesis's draw function (supplied by ``st.composite``; call ``stacks()``).
    min_frames, max_frames : int
        Range of N.
    max_side : int
        Largest H and W.
    scale : float
        Range of the per-pixel levels, +/- ``scale``.
    non_finite : bool
        Also put NaN and infinities among the values.

    Returns
    -------
    ndarray of float32, shape (N, H, W)
    """
    n = draw(st.integers(min_frames, max_frames))
    ny = draw(st.integers(1, max_side))
    nx = draw(st.integers(1, max_side))
    steps = int(8 * scale)
    level = draw(hnp.arrays(np.float64, (1, ny, nx), elements=st.integers(-steps, steps).map(float)))
    noise = draw(hnp.arrays(np.float64, (n, ny, nx), elements=st.floats(-4.0, 4.0, allow_nan=False)))
    cube = np.round(level + noise * draw(st.sampled_from(NOISE_SCALES)) * 8) / 8
    if non_finite:
        special = draw(
            hnp.arrays(np.float64, (n, ny, nx), elements=st.sampled_from([0.0, np.nan, np.inf, -np.inf]))
        )
        cube = np.where(special == 0.0, cube, special)
    return cube.astype(np.float32)


def masks_like(cube: FloatCube) -> st.SearchStrategy[npt.NDArray[np.bool_]]:
    """Boolean masks shaped like ``cube``, every value drawn by hypothesis.

    Parameters
    ----------
    cube : ndarray
        The stack to mask.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
    """
    return hnp.arrays(np.bool_, cube.shape)


def masks_for(cube: FloatCube, *, density: float = 0.2, seed: int = 0) -> npt.NDArray[np.bool_]:
    """A random boolean mask shaped like ``cube``.

    Parameters
    ----------
    cube : ndarray
        The stack to mask.
    density : float
        Fraction of values masked, on average.
    seed : int
        Random seed.

    Returns
    -------
    ndarray of bool
    """
    return np.random.default_rng(seed).random(cube.shape) < density


def images(shape: tuple[int, int], *, low: float = -1e4, high: float = 1e4) -> st.SearchStrategy[FloatCube]:
    """float32 images of ``shape`` with finite values in [low, high].

    Parameters
    ----------
    shape : (int, int)
        Image shape.
    low, high : float
        Value range.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
    """
    return hnp.arrays(np.float32, shape, elements=st.floats(low, high, width=32))


def binnings(max_factor: int = 3) -> st.SearchStrategy[Binning]:
    """Binnings of 1 to ``max_factor`` on each axis.

    Parameters
    ----------
    max_factor : int
        Largest factor.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
    """
    return st.builds(Binning, st.integers(1, max_factor), st.integers(1, max_factor))


@st.composite
def sections(draw: st.DrawFn, *, max_coordinate: int = 64, allow_flips: bool = True) -> Section:
    """Any valid section inside ``[1:max_coordinate, 1:max_coordinate]``, possibly flipped.

    Parameters
    ----------
    draw : callable
        Hypothesis's draw function (supplied by ``st.composite``).
    max_coordinate : int
        Largest bound.
    allow_flips : bool
        Sections may be reversed on either axis.

    Returns
    -------
    Section
    """
    x1, x2 = sorted(draw(st.lists(st.integers(1, max_coordinate), min_size=2, max_size=2)))
    y1, y2 = sorted(draw(st.lists(st.integers(1, max_coordinate), min_size=2, max_size=2)))
    if allow_flips and draw(st.booleans()):
        x1, x2 = x2, x1
    if allow_flips and draw(st.booleans()):
        y1, y2 = y2, y1
    return Section(x1, x2, y1, y2)


@st.composite
def amplifier_geometries(draw: st.DrawFn) -> tuple[Section, Section, Binning]:
    """(data section, detector section, binning) that agree: detector span = data span x bin.

    Parameters
    ----------
    draw : callable
        Hypothesis's draw function (supplied by ``st.composite``).

    Returns
    -------
    (Section, Section, Binning)
    """
    binning = draw(binnings())
    nx = draw(st.integers(1, 12))
    ny = draw(st.integers(1, 12))
    data_x0 = draw(st.integers(1, 5))
    data_y0 = draw(st.integers(1, 5))
    data = Section(data_x0, data_x0 + nx - 1, data_y0, data_y0 + ny - 1)
    det_x0 = draw(st.integers(1, 40))
    det_y0 = draw(st.integers(1, 40))
    detector = Section(det_x0, det_x0 + nx * binning.x - 1, det_y0, det_y0 + ny * binning.y - 1)
    detector = detector.oriented(x_flipped=draw(st.booleans()), y_flipped=draw(st.booleans()))
    return data, detector, binning


def frame_metas(obstype: ObsType | None = None) -> st.SearchStrategy[FrameMeta]:
    """Plausible metadata of an LCO frame.

    Parameters
    ----------
    obstype : ObsType, optional
        Fix the OBSTYPE (any, by default).

    Returns
    -------
    hypothesis.strategies.SearchStrategy
    """
    return st.builds(
        FrameMeta,
        filename=st.from_regex(
            r"\A(cpt|lsc|elp|coj|ogg|tfn)1m0\d\d-(fa|kb)\d\d-2026010\d-00\d\d-[bdfe]00\.fits\Z"
        ),
        obstype=st.just(obstype) if obstype else st.sampled_from(list(ObsType)),
        site=st.sampled_from(["cpt", "lsc", "elp", "coj"]),
        telescope=st.sampled_from(["1m0-10", "1m0-12", "2m0-01"]),
        camera=st.sampled_from(["fa05", "kb70", "fs01"]),
        day_obs=st.dates(dt.date(2014, 1, 1), dt.date(2030, 1, 1)),
        date_obs=st.datetimes(
            dt.datetime(2014, 1, 1), dt.datetime(2030, 1, 1), timezones=st.just(dt.UTC)
        ).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)),
        exptime=st.floats(0, 3600, allow_nan=False).map(lambda value: round(value, 3)),
        binning=binnings(2),
        filter=st.sampled_from([None, "rp", "ip", "V", "w"]),
        gain=st.one_of(st.none(), st.tuples(st.floats(0.5, 8).map(lambda value: round(value, 3)))),
        read_noise=st.one_of(st.none(), st.floats(3, 20).map(lambda value: round(value, 3))),
        saturate=st.one_of(st.none(), st.floats(3e4, 7e4).map(lambda value: round(value, 1))),
        nsubread=st.integers(1, 4),
    )


@st.composite
def frames(draw: st.DrawFn, *, max_side: int = 16) -> Frame:
    """Assembled frames with random pixels, masks and non-negative uncertainties.

    Parameters
    ----------
    draw : callable
        Hypothesis's draw function (supplied by ``st.composite``).
    max_side : int
        Largest side, pixels.

    Returns
    -------
    Frame
    """
    ny = draw(st.integers(1, max_side))
    nx = draw(st.integers(1, max_side))
    data = draw(images((ny, nx)))
    mask = draw(hnp.arrays(np.uint8, (ny, nx), elements=st.integers(0, 63)))
    sigma = np.abs(draw(images((ny, nx), low=0, high=1e3)))
    return Frame(meta=draw(frame_metas()), data=data, mask=mask, uncertainty=sigma)
