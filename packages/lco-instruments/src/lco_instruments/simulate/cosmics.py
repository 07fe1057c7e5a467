"""Cosmic-ray hits: Poisson-distributed, sharp line tracks deposited on the detector.

Images are in detector-plane coordinates: shape (ny, nx), row = y, column = x, 0-based positions.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import numpy.typing as npt

from lco_core._arrays import FloatImage, read_only, read_only_float32

__all__ = ["CosmicRays", "Track", "cosmic_rays"]

BoolImage = npt.NDArray[np.bool_]

#: Muon flux through a horizontal detector at an observatory's altitude (1-2 per cm2 per minute at
#: sea level, rising with altitude), per cm2 per s.
RATE_PER_CM2_S = 0.02
#: Projected track lengths, px: log-uniform, so short (steep) tracks are the commonest.
LENGTH_RANGE = (2.0, 40.0)
#: Deposit per pixel of projected track length, e-/px: a most probable value plus an exponential
#: tail standing in for the Landau tail of ionisation losses. A minimum-ionising muon frees about
#: 80 e- per micron of silicon, so about 1000 e- per 15 micron pixel of path: most probable 600.
DEPOSIT_PER_PX = 600.0
DEPOSIT_TAIL = 0.5
#: Relative rms of the deposit fluctuation from one sample point to the next along a track.
DEPOSIT_FLUCTUATION = 0.25
#: Sample points per pixel of track length; each spreads its charge bilinearly over 4 pixels.
SAMPLES_PER_PX = 4
#: Default threshold of the hit mask, e-.
MASK_THRESHOLD = 5.0


@attrs.frozen
class Track:
    """One cosmic-ray track.

    Attributes
    ----------
    x0, y0, x1, y1 : float
        Start and end, 0-based pixels.
    electrons : float
        The charge of the whole track, including any part beyond the image edge, electrons.
    """

    x0: float
    y0: float
    x1: float
    y1: float
    electrons: float

    @property
    def length(self) -> float:
        """Projected length on the detector, px."""
        return math.hypot(self.x1 - self.x0, self.y1 - self.y0)


def _read_only_bool(array: npt.ArrayLike) -> BoolImage:
    converted: BoolImage = np.asarray(array, dtype=np.bool_)
    return read_only(converted)


def _track_tuple(tracks: tuple[Track, ...] | list[Track]) -> tuple[Track, ...]:
    return tuple(tracks)


@attrs.frozen(eq=False)
class CosmicRays:
    """Charge deposited by cosmic rays during one exposure.

    Attributes
    ----------
    image : ndarray of float32
        Electrons per pixel.
    mask : ndarray of bool
        Pixels with a deposit above the threshold the record was made with.
    tracks : tuple of Track
        The true tracks, one per hit.
    """

    image: FloatImage = attrs.field(converter=read_only_float32)
    mask: BoolImage = attrs.field(converter=_read_only_bool)
    tracks: tuple[Track, ...] = attrs.field(default=(), converter=_track_tuple)

    @property
    def n_tracks(self) -> int:
        """Number of cosmic rays that hit the detector."""
        return len(self.tracks)


def _checked_shape(shape: tuple[int, int]) -> tuple[int, int]:
    ny, nx = (int(n) for n in shape)
    if ny < 1 or nx < 1:
        raise ValueError(f"image shape must be two positive sizes (ny, nx), got {tuple(shape)}")
    return ny, nx


def _draw_tracks(ny: int, nx: int, count: int, generator: np.random.Generator) -> tuple[Track, ...]:
    """Tracks starting anywhere on the image, in a random direction, with a Landau-like deposit."""
    x0 = generator.uniform(-0.5, nx - 0.5, size=count)
    y0 = generator.uniform(-0.5, ny - 0.5, size=count)
    low, high = LENGTH_RANGE
    length = np.exp(generator.uniform(math.log(low), math.log(high), size=count))
    angle = generator.uniform(0.0, 2.0 * math.pi, size=count)
    per_px = DEPOSIT_PER_PX * (1.0 + generator.exponential(DEPOSIT_TAIL, size=count))
    x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
    return tuple(
        Track(float(x0[i]), float(y0[i]), float(x1[i]), float(y1[i]), float(per_px[i] * length[i]))
        for i in range(count)
    )


def _deposit(shape: tuple[int, int], tracks: tuple[Track, ...], generator: np.random.Generator) -> FloatImage:
    """Charge of every track, sampled along it and spread bilinearly: a 1-2 px wide sharp line."""
    ny, nx = shape
    if not tracks:
        return np.zeros((ny, nx), dtype=np.float32)
    counts = np.array([max(2, math.ceil(SAMPLES_PER_PX * track.length) + 1) for track in tracks])
    owner = np.repeat(np.arange(len(tracks)), counts)
    t = np.concatenate([np.linspace(0.0, 1.0, n) for n in counts])
    start_x, start_y, end_x, end_y, electrons = (
        np.array([getattr(track, name) for track in tracks])[owner]
        for name in ("x0", "y0", "x1", "y1", "electrons")
    )
    x, y = start_x + t * (end_x - start_x), start_y + t * (end_y - start_y)
    # Gamma fluctuations vary the deposit along a track; rescaling each track to its own sum
    # keeps its recorded total exact.
    shape_k = DEPOSIT_FLUCTUATION**-2
    share = generator.gamma(shape_k, 1.0 / shape_k, size=t.size)
    charge = electrons * share / np.bincount(owner, weights=share)[owner]
    ix, iy = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    fx, fy = x - ix, y - iy
    total = np.zeros(ny * nx, dtype=np.float64)
    for dx, dy, weight in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        px, py = ix + dx, iy + dy
        on_image = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
        total += np.bincount((py * nx + px)[on_image], weights=(charge * weight)[on_image], minlength=ny * nx)
    image: FloatImage = total.reshape(ny, nx).astype(np.float32)
    return image


def cosmic_rays(
    shape: tuple[int, int],
    *,
    exptime: float,
    rng: np.random.Generator | int,
    rate_per_cm2_s: float = RATE_PER_CM2_S,
    pixel_size_um: float = 15.0,
    mask_threshold: float = MASK_THRESHOLD,
) -> CosmicRays:
    """Cosmic-ray tracks hitting the detector during an exposure.

    The number of tracks is Poisson with mean ``rate_per_cm2_s x area x exptime``, the area being
    ``ny x nx`` pixels of ``pixel_size_um``. Each track starts at a uniform position on the
    image, runs in a uniform direction for a log-uniform 2-40 px, and deposits
    ``DEPOSIT_PER_PX`` (600) e- per px of length times one plus an exponential tail of mean
    ``DEPOSIT_TAIL`` (a most probable value with a Landau-like tail: about a thousand to some
    tens of thousands of e- per track), fluctuating along it; the charge is spread bilinearly,
    making a sharp line 1-2 px wide. Charge beyond the image edge is lost.

    Parameters
    ----------
    shape : (int, int)
        Image shape (ny, nx).
    exptime : float
        Exposure time, s (>= 0; no track at 0).
    rng : numpy.random.Generator or int
        Random generator, or a seed for one.
    rate_per_cm2_s : float
        Cosmic-ray flux, per cm2 per s.
    pixel_size_um : float
        Pixel pitch, micrometres.
    mask_threshold : float
        Pixels with a deposit above this many e- are set in ``mask``.

    Returns
    -------
    CosmicRays
    """
    ny, nx = _checked_shape(shape)
    if exptime < 0:
        raise ValueError(f"exptime must be >= 0 s, got {exptime}")
    if rate_per_cm2_s < 0 or pixel_size_um <= 0:
        raise ValueError(
            f"need rate_per_cm2_s >= 0 and pixel_size_um > 0, got {rate_per_cm2_s} and {pixel_size_um}"
        )
    generator = np.random.default_rng(rng)
    area_cm2 = ny * nx * (pixel_size_um * 1e-4) ** 2
    count = int(generator.poisson(rate_per_cm2_s * area_cm2 * exptime))
    tracks = _draw_tracks(ny, nx, count, generator)
    image = _deposit((ny, nx), tracks, generator)
    return CosmicRays(image=image, mask=image > mask_threshold, tracks=tracks)
