"""Fixed detector signatures of the simulator: bias structure, dark current and flat-field response.

Every image is in detector-plane coordinates: shape (ny, nx), row = y, column = x, 0-based indices.
"""

from __future__ import annotations

import math
from typing import TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from lco_core._arrays import FloatImage, read_only, read_only_float32
from lco_core.stats import sigma_clipped_mean

__all__ = [
    "DarkCurrent",
    "Donut",
    "FlatField",
    "bias_structure",
    "central_half",
    "dark_current",
    "flat_field",
]

BoolImage = npt.NDArray[np.bool_]
ScalarT = TypeVar("ScalarT", bound=np.generic)

#: Fixed column pattern and pixel noise of the bias, as fractions of its gradient ``amplitude``.
BIAS_COLUMN_RMS = 0.1
BIAS_PIXEL_RMS = 0.05
#: Half range of the smooth dark-current variation (an amplifier glow) and its pixel-to-pixel rms.
DARK_GLOW = 0.1
DARK_PIXEL_RMS = 0.05
#: Dust donut ring radii (px) on a large detector, and the image side per pixel of largest radius.
DONUT_RADIUS_RANGE = (5.0, 30.0)
DONUT_SIDE_PER_RADIUS = 6.0
DONUT_DEPTH_RANGE = (0.02, 0.08)
#: Bad columns: relative response, and the fraction of the rows they cover.
BAD_COLUMN_RESPONSE_RANGE = (0.05, 0.15)
BAD_COLUMN_LENGTH_RANGE = (0.6, 1.0)
#: Pixels whose response falls below this are flagged ``low_response``.
LOW_RESPONSE = 0.5
#: Sigma-clipping of the flat normalisation (threshold in robust sigma, passes).
NORM_NSIGMA = 3.0
NORM_MAXITERS = 5


def _read_only_bool(array: npt.ArrayLike) -> BoolImage:
    converted: BoolImage = np.asarray(array, dtype=np.bool_)
    return read_only(converted)


def _checked_shape(shape: tuple[int, int]) -> tuple[int, int]:
    ny, nx = (int(n) for n in shape)
    if ny < 1 or nx < 1:
        raise ValueError(f"image shape must be two positive sizes (ny, nx), got {tuple(shape)}")
    return ny, nx


def _unit_coordinates(ny: int, nx: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Column vector v (rows) and row vector u (columns), each running from -1 to +1 across the image."""
    u = np.linspace(-1.0, 1.0, nx)[np.newaxis, :] if nx > 1 else np.zeros((1, 1))
    v = np.linspace(-1.0, 1.0, ny)[:, np.newaxis] if ny > 1 else np.zeros((1, 1))
    return v, u


def bias_structure(
    shape: tuple[int, int], *, rng: np.random.Generator | int, amplitude: float = 3.0
) -> FloatImage:
    """Fixed bias pattern left after the overscan level is removed (electrons, mean zero).

    The pattern is a smooth quadratic surface whose half peak-to-peak range is ``amplitude``,
    plus a fixed column pattern (rms ``0.1 x amplitude``) and fixed pixel noise
    (rms ``0.05 x amplitude``). The whole pattern scales linearly with ``amplitude``.

    Parameters
    ----------
    shape : (int, int)
        Image shape (ny, nx).
    rng : numpy.random.Generator or int
        Random generator, or a seed for one; the pattern is a pure function of the seed.
    amplitude : float
        Half the peak-to-peak range of the large-scale gradient, e-.

    Returns
    -------
    ndarray of float32, shape (ny, nx)
        The bias pattern, e-; its mean is zero to float32 rounding.
    """
    ny, nx = _checked_shape(shape)
    generator = np.random.default_rng(rng)
    v, u = _unit_coordinates(ny, nx)
    a = generator.normal(size=5)
    gradient = a[0] * u + a[1] * v + a[2] * u**2 + a[3] * v**2 + a[4] * u * v
    half_range = 0.5 * float(gradient.max() - gradient.min())
    # A flat surface (a 1x1 image) has no range to scale; it contributes nothing.
    gradient = gradient * (amplitude / half_range) if half_range > 0 else np.zeros_like(gradient)
    columns = generator.normal(0.0, BIAS_COLUMN_RMS * amplitude, size=(1, nx))
    pixels = generator.normal(0.0, BIAS_PIXEL_RMS * amplitude, size=(ny, nx))
    pattern = gradient + columns + pixels
    result: FloatImage = (pattern - pattern.mean()).astype(np.float32)
    return result


@attrs.frozen(eq=False)
class DarkCurrent:
    """Dark current per pixel.

    Attributes
    ----------
    rate : ndarray of float32
        Electrons per second.
    hot : ndarray of bool
        The hot pixels.

    Raises
    ------
    ValueError
        The two planes differ in shape.
    """

    rate: FloatImage = attrs.field(converter=read_only_float32)
    hot: BoolImage = attrs.field(converter=_read_only_bool)

    @hot.validator
    def _check_shapes(self, attribute: object, value: BoolImage) -> None:
        if value.shape != self.rate.shape:
            raise ValueError(f"hot mask {value.shape} and rate {self.rate.shape} must share a shape")


def dark_current(
    shape: tuple[int, int],
    *,
    rng: np.random.Generator | int,
    rate: float = 0.002,
    hot_fraction: float = 5e-4,
    hot_rate_range: tuple[float, float] = (0.5, 20.0),
) -> DarkCurrent:
    """Dark-current rate of every pixel, with hot pixels.

    Ordinary pixels have ``rate`` times a smooth glow rising linearly across the detector by
    +/-10 % and a 5 % pixel-to-pixel scatter. Each pixel is hot with probability
    ``hot_fraction``; a hot pixel's rate replaces the ordinary one and is log-uniform in
    ``hot_rate_range``.

    Parameters
    ----------
    shape : (int, int)
        Image shape (ny, nx).
    rng : numpy.random.Generator or int
        Random generator, or a seed for one.
    rate : float
        Mean rate of ordinary pixels, e-/s per pixel.
    hot_fraction : float
        Probability that a pixel is hot, in [0, 1].
    hot_rate_range : (float, float)
        Lowest and highest rate of a hot pixel, e-/s; both positive.

    Returns
    -------
    DarkCurrent
    """
    ny, nx = _checked_shape(shape)
    low, high = hot_rate_range
    if rate < 0:
        raise ValueError(f"dark rate must be >= 0 e-/s, got {rate}")
    if not 0.0 <= hot_fraction <= 1.0:
        raise ValueError(f"hot_fraction must be in [0, 1], got {hot_fraction}")
    if not 0.0 < low <= high:
        raise ValueError(f"hot_rate_range must be positive and increasing, got {hot_rate_range}")
    generator = np.random.default_rng(rng)
    v, u = _unit_coordinates(ny, nx)
    # A glow from one random edge direction: warmer near one side, as near a read-out amplifier.
    angle = generator.uniform(0.0, 2.0 * math.pi)
    glow = 1.0 + DARK_GLOW * (math.cos(angle) * u + math.sin(angle) * v) / math.sqrt(2.0)
    scatter = 1.0 + generator.normal(0.0, DARK_PIXEL_RMS, size=(ny, nx))
    rates = np.clip(rate * glow * scatter, 0.0, None)
    n_hot = int(generator.binomial(ny * nx, hot_fraction))
    hot_index = generator.choice(ny * nx, size=n_hot, replace=False)
    hot = np.zeros(ny * nx, dtype=np.bool_)
    hot[hot_index] = True
    flat_rates = rates.reshape(-1)
    flat_rates[hot_index] = np.exp(generator.uniform(math.log(low), math.log(high), size=n_hot))
    return DarkCurrent(rate=flat_rates.reshape(ny, nx), hot=hot.reshape(ny, nx))


@attrs.frozen
class Donut:
    """One dust donut (the out-of-focus shadow of a dust grain).

    Attributes
    ----------
    x, y : float
        Ring centre, 0-based pixels.
    radius, width : float
        Ring radius and Gaussian width, pixels.
    depth : float
        Fractional depth of the dip.
    """

    x: float
    y: float
    radius: float
    width: float
    depth: float


@attrs.frozen(eq=False)
class FlatField:
    """Relative pixel response (dimensionless, float32) with the truth it was built from.

    Attributes
    ----------
    response : ndarray of float32
        Relative response (clipped mean 1 over the central half).
    bad_columns : tuple of int
        0-based column indices of the bad columns.
    low_response : ndarray of bool
        Pixels with response < 0.5.
    donuts : tuple of Donut
        The dust donuts.
    """

    response: FloatImage = attrs.field(converter=read_only_float32)
    bad_columns: tuple[int, ...]
    low_response: BoolImage = attrs.field(converter=_read_only_bool)
    donuts: tuple[Donut, ...] = ()


def _donut_radius_range(ny: int, nx: int) -> tuple[float, float]:
    """Ring radii scaled down so a donut fits a small image (radius <= side / 6)."""
    high = min(DONUT_RADIUS_RANGE[1], min(ny, nx) / DONUT_SIDE_PER_RADIUS)
    low = min(DONUT_RADIUS_RANGE[0], 0.5 * high)
    return low, high


def _draw_donuts(ny: int, nx: int, count: int, generator: np.random.Generator) -> tuple[Donut, ...]:
    low, high = _donut_radius_range(ny, nx)
    x = generator.uniform(-0.5, nx - 0.5, size=count)
    y = generator.uniform(-0.5, ny - 0.5, size=count)
    radius = generator.uniform(low, high, size=count)
    depth = generator.uniform(*DONUT_DEPTH_RANGE, size=count)
    # A ring a quarter of its radius wide, never narrower than a pixel can show.
    width = np.maximum(0.25 * radius, 0.75)
    return tuple(
        Donut(float(x[i]), float(y[i]), float(radius[i]), float(width[i]), float(depth[i]))
        for i in range(count)
    )


def _apply_donut(response: npt.NDArray[np.float64], donut: Donut) -> None:
    """Multiply ``response`` in place by the donut's Gaussian ring dip, inside its own stamp."""
    ny, nx = response.shape
    reach = donut.radius + 4.0 * donut.width
    y0, y1 = max(0, math.floor(donut.y - reach)), min(ny, math.ceil(donut.y + reach) + 1)
    x0, x1 = max(0, math.floor(donut.x - reach)), min(nx, math.ceil(donut.x + reach) + 1)
    if y0 >= y1 or x0 >= x1:
        return
    dy = np.arange(y0, y1)[:, np.newaxis] - donut.y
    dx = np.arange(x0, x1)[np.newaxis, :] - donut.x
    r = np.hypot(dx, dy)
    response[y0:y1, x0:x1] *= 1.0 - donut.depth * np.exp(-0.5 * ((r - donut.radius) / donut.width) ** 2)


def _apply_bad_columns(
    response: npt.NDArray[np.float64], count: int, generator: np.random.Generator
) -> tuple[int, ...]:
    """Multiply runs of ``count`` distinct columns by 0.05-0.15 in place; return the columns."""
    ny, nx = response.shape
    columns = np.sort(generator.choice(nx, size=count, replace=False))
    for column in columns:
        factor = generator.uniform(*BAD_COLUMN_RESPONSE_RANGE)
        length = max(1, round(generator.uniform(*BAD_COLUMN_LENGTH_RANGE) * ny))
        # A charge trap spoils the column from the trap towards one end of the register.
        rows = slice(0, length) if generator.random() < 0.5 else slice(ny - length, ny)
        response[rows, column] *= factor
    return tuple(int(c) for c in columns)


def central_half(image: npt.NDArray[ScalarT]) -> npt.NDArray[ScalarT]:
    """The central half of an image in each axis (the region a flat is normalised on).

    Parameters
    ----------
    image : ndarray
        2-D image.

    Returns
    -------
    ndarray
        A view of rows ``ny//4 : ny - ny//4`` and columns ``nx//4 : nx - nx//4``.
    """
    ny, nx = image.shape
    return image[ny // 4 : ny - ny // 4, nx // 4 : nx - nx // 4]


def flat_field(
    shape: tuple[int, int],
    *,
    rng: np.random.Generator | int,
    vignetting: float = 0.12,
    n_donuts: int = 6,
    n_bad_columns: int = 3,
    pixel_rms: float = 0.01,
) -> FlatField:
    """Relative response of every pixel: vignetting, dust donuts, pixel response, bad columns.

    The response is a product of: radial vignetting ``1 - vignetting x (r / r_corner)**2``
    (r from the image centre, so the corners fall by ``vignetting``); ``n_donuts`` annular
    Gaussian dips 2-8 % deep with ring radii 5-30 px (at most side / 6 on small images);
    Gaussian pixel-to-pixel response of rms ``pixel_rms``; and ``n_bad_columns`` columns
    multiplied by 0.05-0.15 over 60-100 % of their rows, from one end. The result is divided
    by the 3-sigma clipped mean (`lco_core.stats.sigma_clipped_mean`, 5 passes) of its
    `central_half`, which is therefore 1.

    Parameters
    ----------
    shape : (int, int)
        Image shape (ny, nx); 32 x 32 and up.
    rng : numpy.random.Generator or int
        Random generator, or a seed for one.
    vignetting : float
        Fractional fall of the response from the centre to the corners, in [0, 1).
    n_donuts : int
        Number of dust donuts.
    n_bad_columns : int
        Number of bad columns, at most nx.
    pixel_rms : float
        Relative rms of the pixel-to-pixel response.

    Returns
    -------
    FlatField
        Response (dimensionless, float32) with the bad columns, low-response mask and donuts.
    """
    ny, nx = _checked_shape(shape)
    if not 0.0 <= vignetting < 1.0:
        raise ValueError(f"vignetting must be in [0, 1), got {vignetting}")
    if n_donuts < 0:
        raise ValueError(f"n_donuts must be >= 0, got {n_donuts}")
    if not 0 <= n_bad_columns <= nx:
        raise ValueError(f"n_bad_columns must be in [0, {nx}] for {nx} columns, got {n_bad_columns}")
    if pixel_rms < 0:
        raise ValueError(f"pixel_rms must be >= 0, got {pixel_rms}")
    generator = np.random.default_rng(rng)
    v, u = _unit_coordinates(ny, nx)
    # u and v reach +/-1 at the edges, so u**2 + v**2 = 2 at the corners.
    response = 1.0 - vignetting * (u**2 + v**2) / 2.0
    donuts = _draw_donuts(ny, nx, n_donuts, generator)
    for donut in donuts:
        _apply_donut(response, donut)
    response = response * (1.0 + generator.normal(0.0, pixel_rms, size=(ny, nx)))
    bad_columns = _apply_bad_columns(response, n_bad_columns, generator)
    response /= sigma_clipped_mean(central_half(response), NORM_NSIGMA, maxiters=NORM_MAXITERS)
    result = response.astype(np.float32)
    return FlatField(
        response=result, bad_columns=bad_columns, low_response=result < LOW_RESPONSE, donuts=donuts
    )
