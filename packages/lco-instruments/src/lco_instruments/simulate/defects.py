"""Bad pixels at realistic densities: warm columns and hot or dead clusters, with their truth.

Isolated hot pixels come from `~lco_instruments.simulate.detector.dark_current` (its
``hot_fraction``); this module adds the other kinds real darks and flats show, up to about 1 %
of all pixels, and keeps a boolean map of each kind. Images are on the mosaic grid, shape
(ny, nx), 0-based.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import numpy.typing as npt

from lco_core._arrays import read_only
from lco_core.stats import sigma_clipped_mean
from lco_instruments.simulate.detector import LOW_RESPONSE, NORM_MAXITERS, NORM_NSIGMA, DarkCurrent, FlatField
from lco_instruments.simulate.detector import central_half as _central_half

__all__ = ["BadPixelDensity", "BadPixels", "draw_bad_pixels"]

BoolImage = npt.NDArray[np.bool_]

#: Extra dark current of a warm column, e-/s per pixel (log-uniform): 25-250 x an ordinary pixel.
WARM_COLUMN_RATE_RANGE = (0.05, 0.5)
#: Fraction of a column's rows a warm segment covers, from one end (uniform).
WARM_COLUMN_LENGTH_RANGE = (0.5, 1.0)
#: Pixels per cluster (uniform integers, inclusive).
CLUSTER_SIZE_RANGE = (3, 12)
#: Dark current of a hot cluster pixel, e-/s (log-uniform), as an isolated hot pixel.
HOT_CLUSTER_RATE_RANGE = (0.5, 20.0)
#: Relative response of a dead cluster pixel (uniform).
DEAD_RESPONSE_RANGE = (0.0, 0.2)


def _fraction(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 0.2:
        raise ValueError(f"{attribute.name} must be a fraction of pixels in [0, 0.2], got {value}")


@attrs.frozen
class BadPixelDensity:
    """How many defective pixels of each kind a camera has, as fractions of all its pixels.

    The default is the simulator's historical one: isolated hot pixels only (5e-4).

    Attributes
    ----------
    hot : float
        Isolated hot pixels.
    warm_columns : float
        Pixels in warm column segments.
    clusters : float
        Pixels in small clusters, half hot and half dead.
    """

    hot: float = attrs.field(default=5e-4, validator=_fraction)
    warm_columns: float = attrs.field(default=0.0, validator=_fraction)
    clusters: float = attrs.field(default=0.0, validator=_fraction)

    @classmethod
    def realistic(cls, total: float = 0.01) -> BadPixelDensity:
        """A mix like a real dark's: 40 % isolated hot pixels, 30 % warm columns, 30 % clusters.

        Parameters
        ----------
        total : float
            Fraction of all pixels that are defective (before kinds overlap), e.g. 0.01.

        Returns
        -------
        BadPixelDensity
        """
        return cls(hot=0.4 * total, warm_columns=0.3 * total, clusters=0.3 * total)

    @property
    def total(self) -> float:
        """Sum of the three fractions (the union is slightly less where kinds overlap)."""
        return self.hot + self.warm_columns + self.clusters


@attrs.frozen(eq=False)
class BadPixels:
    """Every defective pixel of a camera, by kind (mosaic grid, read-only boolean maps).

    Attributes
    ----------
    hot : ndarray of bool
        Isolated hot pixels (the dark current's ``hot``).
    warm_columns : ndarray of bool
        Pixels of the warm column segments.
    hot_clusters, dead_clusters : ndarray of bool
        Pixels of the hot and of the dead clusters.
    low_response : ndarray of bool
        Flat response below 0.5 (the flat's bad columns and the dead clusters).
    warm_column_indices : tuple of int
        0-based mosaic columns holding a warm segment.
    """

    hot: BoolImage = attrs.field(converter=read_only)
    warm_columns: BoolImage = attrs.field(converter=read_only)
    hot_clusters: BoolImage = attrs.field(converter=read_only)
    dead_clusters: BoolImage = attrs.field(converter=read_only)
    low_response: BoolImage = attrs.field(converter=read_only)
    warm_column_indices: tuple[int, ...] = ()

    @property
    def any(self) -> BoolImage:
        """Every defective pixel, of whatever kind."""
        union: BoolImage = (
            self.hot | self.warm_columns | self.hot_clusters | self.dead_clusters | self.low_response
        )
        return union


def _warm_columns(
    shape: tuple[int, int], fraction: float, generator: np.random.Generator
) -> tuple[BoolImage, npt.NDArray[np.float64], tuple[int, ...]]:
    """Warm segments covering about ``fraction`` of the pixels: map, extra rate (e-/s), columns."""
    ny, nx = shape
    mean_length = 0.5 * sum(WARM_COLUMN_LENGTH_RANGE) * ny
    count = min(nx, round(fraction * ny * nx / mean_length))
    warm = np.zeros(shape, dtype=np.bool_)
    extra = np.zeros(shape, dtype=np.float64)
    columns = np.sort(generator.choice(nx, size=count, replace=False))
    low, high = WARM_COLUMN_RATE_RANGE
    for column in columns:
        length = max(1, round(generator.uniform(*WARM_COLUMN_LENGTH_RANGE) * ny))
        # Charge generated at a defect is clocked past every pixel between it and the register,
        # so a warm column runs from the defect to one end.
        rows = slice(0, length) if generator.random() < 0.5 else slice(ny - length, ny)
        warm[rows, column] = True
        extra[rows, column] = math.exp(generator.uniform(math.log(low), math.log(high)))
    return warm, extra, tuple(int(c) for c in columns)


def _clusters(
    shape: tuple[int, int], fraction: float, generator: np.random.Generator
) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
    """Blobs of 3-12 connected pixels covering about ``fraction`` of the pixels: (rows, columns) each."""
    ny, nx = shape
    low, high = CLUSTER_SIZE_RANGE
    count = round(fraction * ny * nx / (0.5 * (low + high)))
    steps = ((0, 1), (0, -1), (1, 0), (-1, 0))
    blobs = []
    for _ in range(count):
        size = int(generator.integers(low, high + 1))
        members = [(int(generator.integers(ny)), int(generator.integers(nx)))]
        # Grow from a random member towards a random neighbour until the blob has its size
        # (or gives up, in a corner of a tiny image).
        for _attempt in range(20 * size):
            if len(members) == size:
                break
            y, x = members[int(generator.integers(len(members)))]
            dy, dx = steps[int(generator.integers(4))]
            candidate = (y + dy, x + dx)
            if 0 <= candidate[0] < ny and 0 <= candidate[1] < nx and candidate not in members:
                members.append(candidate)
        rows, columns = np.array(members, dtype=np.intp).T
        blobs.append((rows, columns))
    return blobs


def draw_bad_pixels(
    dark: DarkCurrent, flat: FlatField, density: BadPixelDensity, *, rng: np.random.Generator | int
) -> tuple[DarkCurrent, FlatField, BadPixels]:
    """Add warm columns and clusters to a camera's dark current and flat field.

    Warm column pixels get 0.05-0.5 e-/s on top of their rate; hot cluster pixels a rate of
    0.5-20 e-/s; dead cluster pixels a response of 0-0.2, after which the flat is normalised
    again on its central half (its dead pixels are clipped from that mean) and ``low_response``
    recomputed. With no warm columns or clusters requested, ``dark`` and ``flat`` come back
    unchanged.

    Parameters
    ----------
    dark : DarkCurrent
        The dark current with its isolated hot pixels, e-/s.
    flat : FlatField
        The flat field.
    density : BadPixelDensity
        What to add (its ``hot`` was already used to draw ``dark``).
    rng : numpy.random.Generator or int
        Random generator, or a seed for one.

    Returns
    -------
    dark : DarkCurrent
    flat : FlatField
    bad_pixels : BadPixels
    """
    shape = dark.rate.shape
    if flat.response.shape != shape:
        raise ValueError(f"dark {shape} and flat {flat.response.shape} differ in shape")
    generator = np.random.default_rng(rng)
    warm, extra, columns = _warm_columns(shape, density.warm_columns, generator)
    blobs = _clusters(shape, density.clusters, generator)
    hot_clusters = np.zeros(shape, dtype=np.bool_)
    dead_clusters = np.zeros(shape, dtype=np.bool_)
    rate = dark.rate.astype(np.float64) + extra
    response = flat.response.astype(np.float64)
    for blob in blobs:
        n = blob[0].size
        if generator.random() < 0.5:
            hot_clusters[blob] = True
            low, high = HOT_CLUSTER_RATE_RANGE
            rate[blob] = np.exp(generator.uniform(math.log(low), math.log(high), size=n))
        else:
            dead_clusters[blob] = True
            response[blob] = generator.uniform(*DEAD_RESPONSE_RANGE, size=n)
    if warm.any() or hot_clusters.any():
        dark = DarkCurrent(rate=rate, hot=dark.hot)
    if dead_clusters.any():
        response /= sigma_clipped_mean(_central_half(response), NORM_NSIGMA, maxiters=NORM_MAXITERS)
        normalised = response.astype(np.float32)
        flat = attrs.evolve(flat, response=normalised, low_response=normalised < LOW_RESPONSE)
    bad = BadPixels(
        hot=dark.hot,
        warm_columns=warm,
        hot_clusters=hot_clusters,
        dead_clusters=dead_clusters,
        low_response=flat.low_response,
        warm_column_indices=columns,
    )
    return dark, flat, bad
