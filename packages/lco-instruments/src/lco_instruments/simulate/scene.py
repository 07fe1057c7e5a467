"""The simulated sky: a star catalogue, its TAN WCS, Moffat point sources and a uniform background.

Images are in detector-plane coordinates: shape (ny, nx), row = y, column = x; pixel positions are
0-based array positions with pixel centres at integer values (FITS 1-based = 0-based + 1).
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from astropy import units as u
from astropy.table import Table
from astropy.wcs import WCS

from lco_core._arrays import Float64Array, FloatImage, read_only
from lco_instruments.simulate.mounting import tan_wcs_with_cd

__all__ = [
    "StarCatalog",
    "StarField",
    "moffat_alpha",
    "moffat_psf_image",
    "project_stars",
    "sky_background",
    "star_catalog",
    "tan_wcs",
]

BoolArray = npt.NDArray[np.bool_]

#: Slope of the star counts, d log10 N / d mag: about 0.3 for field stars at these magnitudes.
COUNT_SLOPE = 0.3
#: Oversampled profile values evaluated per batch of stars (bounds memory at ~32 MB of float64).
PROFILE_BATCH = 1 << 22


def _float64_vector(array: npt.ArrayLike) -> Float64Array:
    converted: Float64Array = np.atleast_1d(np.asarray(array, dtype=np.float64))
    return read_only(converted)


def _bool_vector(array: npt.ArrayLike) -> BoolArray:
    converted: BoolArray = np.atleast_1d(np.asarray(array, dtype=np.bool_))
    return read_only(converted)


def _same_lengths(instance: Any, attribute: object, value: object) -> None:
    lengths = {field.name: len(getattr(instance, field.name)) for field in attrs.fields(type(instance))}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{type(instance).__name__} columns must share a length, got {lengths}")


def _checked_shape(shape: tuple[int, int]) -> tuple[int, int]:
    ny, nx = (int(n) for n in shape)
    if ny < 1 or nx < 1:
        raise ValueError(f"image shape must be two positive sizes (ny, nx), got {tuple(shape)}")
    return ny, nx


@attrs.frozen(eq=False)
class StarCatalog:
    """True stars, sorted brightest first.

    Attributes
    ----------
    ra, dec : ndarray of float64
        ICRS position, degrees.
    mag : ndarray of float64
        Magnitude.

    Raises
    ------
    ValueError
        Columns of different lengths.
    """

    ra: Float64Array = attrs.field(converter=_float64_vector)
    dec: Float64Array = attrs.field(converter=_float64_vector)
    mag: Float64Array = attrs.field(converter=_float64_vector, validator=_same_lengths)

    def __len__(self) -> int:
        return len(self.ra)

    def to_table(self) -> Table:
        """Columns ra, dec (deg) and mag (mag), as a reference catalogue file holds them.

        Returns
        -------
        astropy.table.Table
        """
        return Table(
            {"ra": self.ra, "dec": self.dec, "mag": self.mag},
            units={"ra": u.deg, "dec": u.deg, "mag": u.mag},
        )


def _offset_by(
    ra: float, dec: float, position_angle: Float64Array, separation: Float64Array
) -> tuple[Float64Array, Float64Array]:
    """Points at ``separation`` (rad) and ``position_angle`` (rad, north through east) from (ra, dec)."""
    dec0, ra0 = math.radians(dec), math.radians(ra)
    sin_dec = math.sin(dec0) * np.cos(separation) + math.cos(dec0) * np.sin(separation) * np.cos(
        position_angle
    )
    new_dec = np.arcsin(np.clip(sin_dec, -1.0, 1.0))
    new_ra = ra0 + np.arctan2(
        np.sin(position_angle) * np.sin(separation) * math.cos(dec0),
        np.cos(separation) - math.sin(dec0) * sin_dec,
    )
    return np.degrees(new_ra) % 360.0, np.degrees(new_dec)


def star_catalog(
    center_ra: float,
    center_dec: float,
    *,
    radius_deg: float,
    n_stars: int,
    rng: np.random.Generator | int,
    mag_range: tuple[float, float] = (12.0, 20.0),
    count_slope: float = COUNT_SLOPE,
) -> StarCatalog:
    """Random stars spread uniformly on the sphere within ``radius_deg`` of a centre.

    Magnitudes follow a power-law number count, ``dN/dmag`` proportional to
    ``10**(count_slope x mag)``, so faint stars outnumber bright ones.

    Parameters
    ----------
    center_ra, center_dec : float
        Centre of the field, deg (ICRS).
    radius_deg : float
        Radius of the field, deg, in (0, 180].
    n_stars : int
        Number of stars.
    rng : numpy.random.Generator or int
        Random generator, or a seed for one.
    mag_range : (float, float)
        Brightest and faintest magnitude, mag.
    count_slope : float
        d log10 N / d mag of the counts; 0 gives a uniform magnitude distribution.

    Returns
    -------
    StarCatalog
        Sorted by magnitude, brightest first.
    """
    if not 0.0 < radius_deg <= 180.0:
        raise ValueError(f"radius_deg must be in (0, 180], got {radius_deg}")
    if n_stars < 0:
        raise ValueError(f"n_stars must be >= 0, got {n_stars}")
    bright, faint = mag_range
    if not bright < faint:
        raise ValueError(f"mag_range must be (brightest, faintest), got {mag_range}")
    generator = np.random.default_rng(rng)
    # Uniform on the sphere: the cosine of the separation is uniform over the cap.
    cos_separation = generator.uniform(math.cos(math.radians(radius_deg)), 1.0, size=n_stars)
    position_angle = generator.uniform(0.0, 2.0 * math.pi, size=n_stars)
    ra, dec = _offset_by(center_ra, center_dec, position_angle, np.arccos(cos_separation))
    mag = _draw_magnitudes(generator, n_stars, bright, faint, count_slope)
    order = np.argsort(mag, kind="stable")
    return StarCatalog(ra=ra[order], dec=dec[order], mag=mag[order])


def _draw_magnitudes(
    generator: np.random.Generator, count: int, bright: float, faint: float, slope: float
) -> Float64Array:
    """Inverse-CDF draw from dN/dm proportional to 10**(slope m) on [bright, faint]."""
    uniform = generator.uniform(0.0, 1.0, size=count)
    if slope == 0.0:
        return bright + (faint - bright) * uniform
    # Work relative to the faint end so 10**(slope m) never overflows.
    low = 10.0 ** (slope * (bright - faint))
    mags: Float64Array = faint + np.log10(low + uniform * (1.0 - low)) / slope
    return mags


def tan_wcs(
    center_ra: float,
    center_dec: float,
    *,
    shape: tuple[int, int],
    pixel_scale_arcsec: float,
    rotation_deg: float = 0.0,
    flip_x: bool = True,
) -> WCS:
    """A gnomonic (TAN) WCS centred on the image.

    CRPIX is the image centre, ((nx + 1) / 2, (ny + 1) / 2) in the FITS 1-based convention, and
    CRVAL the field centre. With ``rotation_deg = 0`` north is up (+y); east is left (-x, RA
    increasing to the left, CD1_1 < 0, as on LCO's cameras) when ``flip_x``, right otherwise.
    A positive ``rotation_deg`` turns the sky's north counter-clockwise on the image as
    displayed with x right and y up (for ``flip_x`` this is the FITS CROTA2 convention).

    Parameters
    ----------
    center_ra, center_dec : float
        Field centre, deg (ICRS).
    shape : (int, int)
        Image shape (ny, nx).
    pixel_scale_arcsec : float
        Pixel scale, arcsec per pixel.
    rotation_deg : float
        Angle from the image +y axis to north, counter-clockwise, deg.
    flip_x : bool
        East to the left (a parity flip), as on the sky seen through a telescope.

    Returns
    -------
    astropy.wcs.WCS
        With ``pixel_shape`` (nx, ny) set.
    """
    ny, nx = _checked_shape(shape)
    if not pixel_scale_arcsec > 0:
        raise ValueError(f"pixel_scale_arcsec must be > 0, got {pixel_scale_arcsec}")
    scale = pixel_scale_arcsec / 3600.0
    angle = math.radians(rotation_deg)
    north = (-math.sin(angle), math.cos(angle))
    # East is north turned a quarter counter-clockwise (flipped: east left) or clockwise.
    east = (-north[1], north[0]) if flip_x else (north[1], -north[0])
    # Columns: the pixel steps of one unit east and north; CD maps pixel steps back to the sky.
    sky_to_pixel = np.array([[east[0], north[0]], [east[1], north[1]]])
    return tan_wcs_with_cd(center_ra, center_dec, shape=(ny, nx), cd=scale * np.linalg.inv(sky_to_pixel))


def moffat_alpha(fwhm_px: float, beta: float) -> float:
    """Moffat core width alpha (px) giving a full width at half maximum ``fwhm_px`` (px).

    Parameters
    ----------
    fwhm_px : float
        FWHM, pixels.
    beta : float
        Moffat power index.

    Returns
    -------
    float
        ``fwhm / (2 sqrt(2**(1/beta) - 1))``, pixels.
    """
    return fwhm_px / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))


def moffat_psf_image(
    shape: tuple[int, int],
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    flux: npt.ArrayLike,
    *,
    fwhm_px: float,
    beta: float = 3.0,
    oversample: int = 5,
    stamp_radius_fwhm: float = 8.0,
) -> FloatImage:
    """Render point sources with a circular Moffat profile, integrated over each pixel.

    The profile is ``(1 + r**2 / alpha**2)**-beta`` with alpha set by ``fwhm_px``. Each star is
    rendered on a square stamp of half-size ``ceil(stamp_radius_fwhm x fwhm_px)`` px,
    averaging ``oversample x oversample`` sub-pixel samples per pixel; the stamp is then scaled
    to sum to the star's flux, so a star whose stamp lies inside the image adds exactly
    ``flux`` (the light of the truncated wings, < 0.1 % for beta = 3, goes to the stamp).
    Parts of a stamp beyond the image edge are lost, as for a real star near the edge.

    Parameters
    ----------
    shape : (int, int)
        Image shape (ny, nx).
    x, y : array_like of float
        0-based star centres, px (a pixel's centre is at its integer index); finite.
    flux : array_like of float
        Total flux of each star, e- (broadcast against x and y).
    fwhm_px : float
        Full width at half maximum of the profile, px.
    beta : float
        Moffat power index, > 1.
    oversample : int
        Sub-pixel samples per pixel along each axis.
    stamp_radius_fwhm : float
        Stamp half-size in units of ``fwhm_px``.

    Returns
    -------
    ndarray of float32, shape (ny, nx)
        The rendered stars, e-.
    """
    ny, nx = _checked_shape(shape)
    if not fwhm_px > 0:
        raise ValueError(f"fwhm_px must be > 0, got {fwhm_px}")
    if not beta > 1:
        raise ValueError(f"beta must be > 1 for a finite total flux, got {beta}")
    if oversample < 1:
        raise ValueError(f"oversample must be >= 1, got {oversample}")
    xs, ys, fluxes = (np.ravel(a) for a in np.broadcast_arrays(*(np.asarray(v, float) for v in (x, y, flux))))
    if not (np.isfinite(xs).all() and np.isfinite(ys).all() and np.isfinite(fluxes).all()):
        raise ValueError("star positions and fluxes must be finite")
    half = math.ceil(stamp_radius_fwhm * fwhm_px)
    image = np.zeros((ny, nx), dtype=np.float32)
    cx, cy = np.rint(xs).astype(np.int64), np.rint(ys).astype(np.int64)
    touches = (cx + half >= 0) & (cx - half < nx) & (cy + half >= 0) & (cy - half < ny) & (fluxes != 0)
    stars = np.flatnonzero(touches)
    side = 2 * half + 1
    sub = (np.arange(oversample) + 0.5) / oversample - 0.5
    fine = (np.arange(-half, half + 1)[:, np.newaxis] + sub[np.newaxis, :]).ravel()
    alpha2 = moffat_alpha(fwhm_px, beta) ** 2
    batch = max(1, PROFILE_BATCH // fine.size**2)
    for start in range(0, stars.size, batch):
        chosen = stars[start : start + batch]
        stamps = _render_stamps(fine, cx[chosen] - xs[chosen], cy[chosen] - ys[chosen], alpha2, beta)
        pixels = stamps.reshape(chosen.size, side, oversample, side, oversample).sum(axis=(2, 4))
        pixels *= (fluxes[chosen] / pixels.sum(axis=(1, 2), dtype=np.float64))[:, np.newaxis, np.newaxis]
        for star, stamp in zip(chosen, pixels, strict=True):
            _add_stamp(image, stamp, int(cx[star]) - half, int(cy[star]) - half)
    return image


def _render_stamps(
    fine: Float64Array, shift_x: Float64Array, shift_y: Float64Array, alpha2: float, beta: float
) -> FloatImage:
    """Unnormalised Moffat values on each star's oversampled grid, shape (stars, fine, fine).

    float32 on purpose: its power function is several times faster than float64's, and its
    1e-7 relative precision is far below what a pixel's flux needs.
    """
    dx2 = ((fine[np.newaxis, :] + shift_x[:, np.newaxis]) ** 2 / alpha2).astype(np.float32)
    dy2 = ((fine[np.newaxis, :] + shift_y[:, np.newaxis]) ** 2 / alpha2).astype(np.float32)
    values: FloatImage = 1.0 + dx2[:, np.newaxis, :] + dy2[:, :, np.newaxis]
    values **= np.float32(-beta)
    return values


def _add_stamp(image: FloatImage, stamp: FloatImage, x0: int, y0: int) -> None:
    """Add ``stamp`` into ``image`` with its [0, 0] at column x0, row y0; clip at the edges."""
    ny, nx = image.shape
    sy, sx = stamp.shape
    ya, yb, xa, xb = max(y0, 0), min(y0 + sy, ny), max(x0, 0), min(x0 + sx, nx)
    image[ya:yb, xa:xb] += stamp[ya - y0 : yb - y0, xa - x0 : xb - x0]


@attrs.frozen(eq=False)
class StarField:
    """Stars of a catalogue on one image.

    Attributes
    ----------
    x, y : ndarray of float64
        0-based pixel positions (a pixel's centre at its integer index).
    flux : ndarray of float64
        Electrons in the exposure.
    mag : ndarray of float64
        Catalogue magnitude.
    ra, dec : ndarray of float64
        Catalogue position, degrees.
    inside : ndarray of bool
        The star's centre falls on the image.
    """

    x: Float64Array = attrs.field(converter=_float64_vector)
    y: Float64Array = attrs.field(converter=_float64_vector)
    flux: Float64Array = attrs.field(converter=_float64_vector)
    mag: Float64Array = attrs.field(converter=_float64_vector)
    ra: Float64Array = attrs.field(converter=_float64_vector)
    dec: Float64Array = attrs.field(converter=_float64_vector)
    inside: BoolArray = attrs.field(converter=_bool_vector, validator=_same_lengths)

    def __len__(self) -> int:
        return len(self.x)

    def keep_inside(self) -> StarField:
        """Only the stars whose centre falls on the image.

        Returns
        -------
        StarField
        """
        keep = self.inside
        return StarField(
            x=self.x[keep],
            y=self.y[keep],
            flux=self.flux[keep],
            mag=self.mag[keep],
            ra=self.ra[keep],
            dec=self.dec[keep],
            inside=self.inside[keep],
        )


def project_stars(
    catalog: StarCatalog, wcs: WCS, shape: tuple[int, int], *, zero_point: float, exptime: float
) -> StarField:
    """Place a catalogue's stars on an image through its WCS and give them fluxes.

    ``flux = 10**(-0.4 x (mag - zero_point)) x exptime``. Stars that project to no finite
    position (more than 90 deg from a TAN centre) are dropped; all others are kept, so the
    wings of stars just beyond the edge can still be rendered, and ``inside`` marks those
    whose centre lies within the image (-0.5 <= x < nx - 0.5, likewise y).

    Parameters
    ----------
    catalog : StarCatalog
        The true stars.
    wcs : astropy.wcs.WCS
        The image's celestial WCS.
    shape : (int, int)
        Image shape (ny, nx).
    zero_point : float
        Magnitude of a star giving 1 e-/s, mag.
    exptime : float
        Exposure time, s (>= 0).

    Returns
    -------
    StarField
    """
    ny, nx = _checked_shape(shape)
    if exptime < 0:
        raise ValueError(f"exptime must be >= 0 s, got {exptime}")
    x, y = (np.asarray(a, dtype=np.float64) for a in wcs.world_to_pixel_values(catalog.ra, catalog.dec))
    x, y = np.atleast_1d(x), np.atleast_1d(y)
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    mag = catalog.mag[finite]
    inside = (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
    return StarField(
        x=x,
        y=y,
        flux=10.0 ** (-0.4 * (mag - zero_point)) * exptime,
        mag=mag,
        ra=catalog.ra[finite],
        dec=catalog.dec[finite],
        inside=inside,
    )


def sky_background(shape: tuple[int, int], level: float) -> FloatImage:
    """A uniform sky of ``level`` e- per pixel (>= 0), float32, shape (ny, nx).

    Parameters
    ----------
    shape : (int, int)
        Image shape (ny, nx).
    level : float
        Electrons per pixel, >= 0.

    Returns
    -------
    ndarray of float32

    Raises
    ------
    ValueError
        A negative level or an empty shape.
    """
    ny, nx = _checked_shape(shape)
    if level < 0:
        raise ValueError(f"sky level must be >= 0 e-, got {level}")
    return np.full((ny, nx), level, dtype=np.float32)
