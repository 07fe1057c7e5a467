"""A service-free astrometric solution: pattern match to a reference catalogue, TAN-SIP fit, checks.

The steps, in order:

1. The header pointing and orientation, at the camera's nominal pixel scale, predict where each
   reference star falls; sources and references are then compared in pixels from the centre.
2. Control points: the brightest sources, and the brightest reference stars over the field plus
   the pointing margin, a few per grid cell at one common density.
3. Triangles of neighbouring control points vote for a similarity (shift, rotation, scale within
   the limits); the best-supported ones are verified against all control points, and the winner
   must pair far more points than a search of that size could pair by chance.
4. All sources and reference stars are then matched one to one and a TAN model fitted, with
   outliers clipped and the match radius shrunk to the residuals, until the matches settle. SIP
   terms of degree 2 and 3 are kept only when enough well-spread stars make them worth their
   parameters (Bayesian information criterion).
5. The result is accepted only if enough stars match, the fitted scale and orientation agree with
   the camera and the search limits, the residuals are small, and the matches remain
   significant; otherwise WCSERR = 4 with the reason.

Steps 2 to 5 run first around a known orientation (its parity, a few degrees), then, if that
finds nothing trustworthy or nothing is known, over every rotation and both parities (the
sources reflected in x are matched too): a plate solver's search, which the prior only speeds
up. Every search made counts towards the trials a match must beat.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import numpy.typing as npt
from astropy.wcs import WCS

from lco_core._arrays import Float64Array, read_only
from lco_core.catalog import ReferenceCatalog
from lco_stages.astrometry._match import mutual_nearest
from lco_stages.astrometry._sky import deproject, position_angle, project, separation
from lco_stages.astrometry.patterns import (
    ComplexArray,
    IntArray,
    PatternMatch,
    false_alarm_probability,
    find_pattern,
    search_trials,
    select_spread,
)
from lco_stages.astrometry.tansip import TanSip, fit_tan_sip, n_terms, residuals_deg

__all__ = ["WCSERR_FAILED", "WCSERR_SOLVED", "AstrometrySolution", "solve_astrometry"]

#: LCO's WCSERR values.
WCSERR_SOLVED = 0
WCSERR_FAILED = 4

#: Control points kept per grid cell (the cell size sets the common density of both lists).
CONTROL_PER_CELL = 2
#: Largest difference of side ratios between triangles taken to be the same.
SHAPE_TOLERANCE = 0.02
#: Triangles smaller than this many match radii are too noisy to vote.
MIN_TRIANGLE_SIDE_RADII = 8.0
#: Extra rotation (deg) and scale allowed to single triangles, whose transforms are noisy; the
#: final solution must still lie within the limits themselves.
TRIANGLE_ROTATION_SLACK_DEG = 1.0
TRIANGLE_SCALE_SLACK = 0.02
#: Residuals beyond this many sigma (robust, per axis) are clipped and set the next match radius.
CLIP_SIGMA = 5.0
#: The match radius never shrinks below this (px): faint stars' centroids scatter more than
#: the median star's, and losing them would only cost the fit its corners.
MIN_MATCH_RADIUS_PX = 0.5
#: Rounds of match, fit and clip before giving up on the matches settling.
REFINE_ROUNDS = 12
CLIP_ROUNDS = 5
#: A SIP term needs this many matched stars per coefficient and axis to be worth fitting ...
SIP_STARS_PER_TERM = 5
#: ... and each image quadrant must hold at least this fraction of the stars, so that the
#: polynomial is never extrapolated into an empty corner.
SIP_MIN_QUADRANT_FRACTION = 0.05


def _indices(values: npt.ArrayLike) -> IntArray:
    array: IntArray = np.asarray(values, dtype=np.int64).reshape(-1)
    return read_only(array)


@attrs.frozen(eq=False)
class AstrometrySolution:
    """The astrometric solution of one image.

    Attributes
    ----------
    wcs : astropy.wcs.WCS or None
        Celestial WCS (TAN, or TAN-SIP with forward and inverse polynomials), FITS 1-based pixel
        convention when written to a header; None when not solved.
    wcserr : int
        0 solved, 4 failed (LCO's WCSERR).
    reason : str
        "" when solved; otherwise one line saying why not.
    n_matched : int
        Stars used in the final fit (when the fit was made but rejected, the stars it used).
    rms_arcsec : float
        Root mean square of the fit's sky residuals (total, both axes), arcsec; NaN if unsolved.
    sip_order : int
        SIP polynomial order, 0 for pure TAN.
    matched_source_index, matched_reference_index : ndarray of int64
        Indices of the matched stars into the input source arrays and the reference catalogue,
        pairwise.
    """

    wcs: WCS | None
    wcserr: int
    reason: str
    n_matched: int
    rms_arcsec: float
    sip_order: int
    matched_source_index: IntArray = attrs.field(converter=_indices)
    matched_reference_index: IntArray = attrs.field(converter=_indices)

    @property
    def solved(self) -> bool:
        """WCSERR is 0."""
        return self.wcserr == WCSERR_SOLVED


def _failed(reason: str, source: npt.ArrayLike = (), reference: npt.ArrayLike = ()) -> AstrometrySolution:
    n = int(np.size(source))
    return AstrometrySolution(None, WCSERR_FAILED, reason, n, math.nan, 0, source, reference)


@attrs.frozen(eq=False)
class _Pointing:
    """The header's view: image centre (1-based px), its sky position (deg), CD at the nominal scale."""

    centre: tuple[float, float]
    sky: tuple[float, float]
    cd: Float64Array

    def offsets(self, ra: Float64Array, dec: Float64Array) -> ComplexArray:
        """Where the header predicts sky positions: px from the image centre (NaN if far)."""
        xi, eta = project(ra, dec, *self.sky)
        dx, dy = np.linalg.solve(self.cd, np.vstack([xi, eta]))
        result: ComplexArray = dx + 1j * dy
        return result

    def up_angle(self, ra_dec: tuple[float, float], model: TanSip | None = None) -> float:
        """Position angle (deg) of the image's +y axis at the centre, by the model or the header."""
        x, y = self.centre
        if model is None:
            (dx, dy) = self.cd @ np.array([0.0, 10.0])
            ra2, dec2 = deproject(dx, dy, *self.sky)
        else:
            ra2, dec2 = model.pixel_to_sky(x, y + 10.0)
        return float(position_angle(ra_dec[0], ra_dec[1], ra2, dec2))


def _pointing(guess: WCS, shape: tuple[int, int], pixel_scale_arcsec: float) -> _Pointing:
    """The header's pointing at the image centre, and its orientation there at the nominal scale.

    The orientation is the derivative of the header's pixel-to-sky map at the centre, in
    standard coordinates about the centre: unlike its CD matrix, this holds when CRPIX is far
    from the centre or the header has distortion terms.
    """
    celestial = guess.celestial
    if not celestial.has_celestial:
        raise ValueError("the guess WCS has no celestial axes")
    ny, nx = shape
    centre = ((nx + 1) / 2.0, (ny + 1) / 2.0)
    step = 0.05 * min(nx, ny) + 1.0
    px = centre[0] + np.array([0.0, step, -step, 0.0, 0.0])
    py = centre[1] + np.array([0.0, 0.0, 0.0, step, -step])
    world = celestial.all_pix2world(px, py, 1)
    # wcslib's own record of which world axis is longitude: headers may list Dec first.
    ra = np.asarray(world[celestial.wcs.lng], dtype=np.float64)
    dec = np.asarray(world[celestial.wcs.lat], dtype=np.float64)
    sky = (float(ra[0]), float(dec[0]))
    xi, eta = project(ra, dec, *sky)
    cd = np.array([[xi[1] - xi[2], xi[3] - xi[4]], [eta[1] - eta[2], eta[3] - eta[4]]]) / (2.0 * step)
    determinant = float(np.linalg.det(cd)) if np.all(np.isfinite(cd)) else 0.0
    if determinant == 0.0:
        raise ValueError("the guess WCS has a singular or undefined pixel-to-sky map at the image centre")
    # Orientation and parity from the header, scale from the camera.
    nominal = cd / math.sqrt(abs(determinant)) * (pixel_scale_arcsec / 3600.0)
    return _Pointing(centre, sky, read_only(nominal))


def _brightness_of_references(reference: ReferenceCatalog, band: str | None) -> Float64Array:
    """Larger is brighter: minus the magnitude; -inf where unknown; zeros without magnitudes."""
    if band is None:
        if not reference.magnitudes:
            return np.zeros(len(reference))
        band = next(iter(reference.magnitudes))
    if band not in reference.magnitudes:
        raise ValueError(f"reference catalog has no band {band!r} (it has {sorted(reference.magnitudes)})")
    magnitude = reference.magnitudes[band]
    return np.where(np.isfinite(magnitude), -magnitude, -np.inf)


@attrs.frozen(eq=False)
class _Fit:
    """A converged fit: the model, its pairs (indices into the fitted lists), residuals (px)."""

    model: TanSip
    source: IntArray
    reference: IntArray
    residual_px: Float64Array
    radius_px: float

    @property
    def rss(self) -> float:
        return float(np.sum(self.residual_px**2))


@attrs.frozen(eq=False)
class _Stars:
    """The sources on the image and the reference stars of the search area, fitted together."""

    x: Float64Array
    y: Float64Array
    ra: Float64Array
    dec: Float64Array
    centre: tuple[float, float]
    scale_deg: float

    def residuals_px(self, model: TanSip, i: IntArray, j: IntArray) -> Float64Array:
        d_xi, d_eta = residuals_deg(model, self.x[i], self.y[i], self.ra[j], self.dec[j])
        result: Float64Array = np.hypot(d_xi, d_eta) / self.scale_deg
        return result

    def fit(self, degree: int, i: IntArray, j: IntArray, crval: tuple[float, float]) -> TanSip | None:
        try:
            return fit_tan_sip(
                self.x[i], self.y[i], self.ra[j], self.dec[j], degree=degree, crpix=self.centre, crval=crval
            )
        except ValueError:
            return None

    def match(self, model: TanSip, radius_px: float) -> tuple[IntArray, IntArray]:
        xi_s, eta_s = model.intermediate(self.x, self.y)
        xi_r, eta_r = project(self.ra, self.dec, *model.crval)
        finite = np.flatnonzero(np.isfinite(xi_r) & np.isfinite(eta_r))
        i, j = mutual_nearest(
            np.column_stack([xi_s, eta_s]) / self.scale_deg,
            np.column_stack([xi_r[finite], eta_r[finite]]) / self.scale_deg,
            radius_px,
        )
        return i, finite[j].astype(np.int64)


def _robust_sigma(residual_px: Float64Array) -> float:
    """Per-axis sigma of 2-D residual lengths: for a circular Gaussian, median(r**2) = 2 ln 2 sigma**2."""
    return math.sqrt(float(np.median(residual_px**2)) / (2.0 * math.log(2.0)))


def _fit_clipped(
    stars: _Stars,
    degree: int,
    i: IntArray,
    j: IntArray,
    crval: tuple[float, float],
    *,
    max_radius: float,
    min_stars: int,
) -> _Fit | None:
    """Fit, clip beyond CLIP_SIGMA (never beyond ``max_radius``), refit until nothing is clipped.

    After CLIP_ROUNDS rounds the survivors stand, refitted once more: faint stars' centroids
    scatter more than the median star's, so a cut set by the median can keep shaving the tail
    of a perfectly good fit (a matched field of 92 stars with 0.2 px residuals lost its
    solution that way). None only when too few stars remain or the fit is degenerate.
    """
    rounds = 0
    while True:
        if i.size < min_stars:
            return None
        model = stars.fit(degree, i, j, crval)
        if model is None:
            return None
        residual = stars.residuals_px(model, i, j)
        if rounds == CLIP_ROUNDS:
            return _Fit(model, i, j, residual, max(float(residual.max()), MIN_MATCH_RADIUS_PX))
        limit = min(max_radius, max(CLIP_SIGMA * _robust_sigma(residual), MIN_MATCH_RADIUS_PX))
        keep = residual <= limit
        if keep.all():
            return _Fit(model, i, j, residual, limit)
        i, j, crval = i[keep], j[keep], model.crval
        rounds += 1


def _refine(stars: _Stars, start: TanSip, degree: int, *, max_radius: float, min_stars: int) -> _Fit | None:
    """Match all stars under the current model, fit, clip, shrink the radius; until the pairs settle."""
    model, radius = start, max_radius
    previous: _Fit | None = None
    for _ in range(REFINE_ROUNDS):
        i, j = stars.match(model, radius)
        fit = _fit_clipped(stars, degree, i, j, model.crval, max_radius=max_radius, min_stars=min_stars)
        if fit is None:
            return previous
        if (
            previous is not None
            and np.array_equal(previous.source, fit.source)
            and np.array_equal(previous.reference, fit.reference)
        ):
            return fit
        model, radius, previous = fit.model, fit.radius_px, fit
    return previous


def _bic(rss_px2: float, n_pairs: int, degree: int) -> float:
    """Bayesian information criterion of a fit with Gaussian residuals (two coordinates a star)."""
    n_obs = 2 * n_pairs
    # A floor of a micro-pixel keeps noiseless simulations finite.
    return n_obs * math.log(max(rss_px2, n_obs * 1e-12) / n_obs) + 2 * n_terms(degree) * math.log(n_obs)


def _spread_over_quadrants(stars: _Stars, i: IntArray, fraction: float) -> bool:
    x, y = stars.x[i], stars.y[i]
    cx, cy = stars.centre
    quadrants = [(x < cx) & (y < cy), (x >= cx) & (y < cy), (x < cx) & (y >= cy), (x >= cx) & (y >= cy)]
    return min(int(q.sum()) for q in quadrants) >= fraction * i.size


def _choose_degree(stars: _Stars, tan: _Fit, *, max_degree: int, max_radius: float, min_matches: int) -> _Fit:
    """Add SIP degrees while they pay for their parameters on a common set of stars."""
    best = tan
    for degree in range(2, max_degree + 1):
        needed = max(min_matches, SIP_STARS_PER_TERM * n_terms(degree))
        if best.source.size < needed:
            break
        candidate = _refine(
            stars, best.model.with_degree(degree), degree, max_radius=max_radius, min_stars=needed
        )
        if candidate is None or not _spread_over_quadrants(
            stars, candidate.source, SIP_MIN_QUADRANT_FRACTION
        ):
            continue
        # The lower degree refitted on the candidate's stars: the comparison is like for like
        # (a TAN fit of a distorted field has already clipped the corners it cannot fit).
        lower = stars.fit(best.model.degree, candidate.source, candidate.reference, candidate.model.crval)
        if lower is None:
            continue
        lower_rss = float(np.sum(stars.residuals_px(lower, candidate.source, candidate.reference) ** 2))
        n = candidate.source.size
        if _bic(candidate.rss, n, degree) < _bic(lower_rss, n, best.model.degree):
            best = candidate
    return best


def _needed_for_significance(expected_random: float, trials: float, max_false_alarm: float, cap: int) -> int:
    for n in range(1, cap + 1):
        if false_alarm_probability(n, expected_random, trials) <= max_false_alarm:
            return n
    return cap + 1


@attrs.frozen
class _Pass:
    """One pattern search: how far the orientation may turn from the guess, and which parities.

    Attributes
    ----------
    max_rotation_rad : float
        Largest rotation from the guess's orientation searched, rad (pi: any).
    parities : tuple of bool
        False: the guess's parity; True: its mirror image.
    """

    max_rotation_rad: float
    parities: tuple[bool, ...]

    @property
    def label(self) -> str:
        rotation = math.degrees(self.max_rotation_rad)
        turn = "any rotation" if rotation >= 180.0 else f"{rotation:g} deg"
        if len(self.parities) > 1:
            return f"{turn}, either parity"
        parity = "mirrored" if self.parities[0] else "the guess's parity"
        return f"{turn}, {parity}"


def _half_extent(a: float, b: float, max_rotation: float) -> float:
    """Largest half-width of an a x b half-size rectangle turned by any angle up to ``max_rotation``.

    The half-width ``a |cos t| + b |sin t|`` grows until ``t = atan(b / a)`` (the diagonal),
    where it reaches ``hypot(a, b)``.
    """
    if max_rotation >= math.atan2(b, a):
        return math.hypot(a, b)
    return a * math.cos(max_rotation) + b * math.sin(max_rotation)


def solve_astrometry(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    flux: npt.ArrayLike,
    reference: ReferenceCatalog,
    *,
    shape: tuple[int, int],
    guess: WCS,
    pixel_scale_arcsec: float,
    max_offset_arcmin: float = 10.0,
    max_rotation_deg: float = 180.0,
    allow_mirror: bool = True,
    orientation_known: bool = True,
    prior_rotation_deg: float = 5.0,
    band: str | None = None,
    match_radius_px: float = 3.0,
    min_matches: int = 6,
    max_sip_order: int = 3,
    max_rms_arcsec: float = 1.0,
    scale_tolerance: float = 0.05,
    max_control: int = 300,
    min_match_fraction: float = 0.1,
    max_false_alarm: float = 1e-3,
) -> AstrometrySolution:
    """Solve an image's astrometry from its detected sources and a reference catalogue.

    Like a plate solver, it finds any rotation and either parity (mirror image) by default. The
    guess's orientation, when known, is only a prior: it is searched first, within
    ``prior_rotation_deg`` and with its own parity, and only when that finds no trustworthy
    solution is every allowed rotation and parity searched. Each search that is made counts
    towards the number of trials a match must beat to be significant.

    Parameters
    ----------
    x, y : array_like of float
        Detected source positions, FITS 1-based px (LCO's catalogue convention). Sources with
        non-finite positions or off the image are ignored.
    flux : array_like of float
        Source fluxes, any unit; only their order matters (brightest first). NaN is faintest.
    reference : ReferenceCatalog
        Reference stars around the pointing, covering the field plus ``max_offset_arcmin``.
    shape : (int, int)
        Image shape (ny, nx), px.
    guess : astropy.wcs.WCS
        The starting WCS: its pointing (the sky position of the image centre) and, when
        ``orientation_known``, its orientation and parity are used; never its scale.
    pixel_scale_arcsec : float
        The camera's nominal pixel scale, arcsec per px.
    max_offset_arcmin : float
        Largest pointing error searched, arcmin (the offset of the image centre).
    max_rotation_deg : float
        Largest rotation from the guess's orientation accepted, deg (180: any).
    allow_mirror : bool
        Also search the mirror image of the guess's orientation.
    orientation_known : bool
        Whether the guess's orientation is a real prior (from a header or the camera's known
        mounting) worth searching first; False skips straight to the full search.
    prior_rotation_deg : float
        How far from a known orientation the first, narrow search looks, deg.
    band : str or None
        Reference magnitude band used to rank stars; None for the catalogue's first band.
    match_radius_px : float
        Largest distance of a source from its reference star, px.
    min_matches : int
        Fewest matched stars accepted.
    max_sip_order : int
        Highest SIP order tried (0 or 1: pure TAN only).
    max_rms_arcsec : float
        Largest accepted rms residual, arcsec.
    scale_tolerance : float
        Largest accepted relative difference of the fitted pixel scale from the nominal one.
    max_control : int
        Most sources used for the pattern match (the reference stars are taken at the same
        density over the larger search area).
    min_match_fraction : float
        Fewest matches accepted, as a fraction of the smaller of the number of sources on the
        image and the number of reference stars on it.
    max_false_alarm : float
        Largest accepted chance that the searches made find as many pairs by accident.

    Returns
    -------
    AstrometrySolution
        ``wcserr`` 0 with the WCS, or 4 with ``reason`` when no trustworthy solution exists.

    Raises
    ------
    ValueError
        Inconsistent inputs (array lengths, shape, scale, limits, an unknown band, a guess
        without a celestial WCS): a caller's mistake, not a property of the field.
    """
    xs, ys, fluxes = (np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in (x, y, flux))
    if not xs.shape == ys.shape == fluxes.shape or xs.ndim != 1:
        raise ValueError(
            f"x, y and flux must be 1-D of one length, got {xs.shape}, {ys.shape}, {fluxes.shape}"
        )
    ny, nx = (int(n) for n in shape)
    if ny < 1 or nx < 1:
        raise ValueError(f"shape must be two positive sizes (ny, nx), got {shape}")
    if not pixel_scale_arcsec > 0:
        raise ValueError(f"pixel_scale_arcsec must be > 0, got {pixel_scale_arcsec}")
    if not (match_radius_px > 0 and min_matches >= 3 and max_offset_arcmin >= 0 and max_rotation_deg >= 0):
        raise ValueError("match_radius_px must be > 0, min_matches >= 3, the search limits >= 0")
    if not (prior_rotation_deg >= 0 and 0 <= scale_tolerance < 1):
        raise ValueError("prior_rotation_deg must be >= 0 and scale_tolerance in [0, 1)")
    reference_brightness = _brightness_of_references(reference, band)
    pointing = _pointing(guess, (ny, nx), pixel_scale_arcsec)

    on_image = np.flatnonzero(
        np.isfinite(xs) & np.isfinite(ys) & (xs >= 0.5) & (xs <= nx + 0.5) & (ys >= 0.5) & (ys <= ny + 0.5)
    )
    if on_image.size < min_matches:
        return _failed(f"only {on_image.size} sources on the image (need {min_matches})")

    full = _Pass(math.radians(min(max_rotation_deg, 180.0)), (False, True) if allow_mirror else (False,))
    passes = [full]
    if orientation_known:
        narrow = _Pass(math.radians(min(prior_rotation_deg, max_rotation_deg, 180.0)), (False,))
        passes = [narrow] if narrow == full else [narrow, full]
    field = _Field(
        xs, ys, fluxes, on_image, reference, reference_brightness, pointing,
        pointing.offsets(reference.ra, reference.dec), (ny, nx), pixel_scale_arcsec,
        max_offset_arcmin, match_radius_px, min_matches, scale_tolerance, max_control, max_false_alarm,
    )  # fmt: skip
    # Every reference star any pass could reach (the widest area) is fitted against.
    in_area = field.area(math.pi)
    stars = _Stars(
        xs[on_image], ys[on_image], reference.ra[in_area], reference.dec[in_area], pointing.centre,
        pixel_scale_arcsec / 3600.0,
    )  # fmt: skip
    trials_so_far = 0.0
    result = _failed("no search was made")
    for search in passes:
        trials_so_far += field.trials(search)
        found = field.pattern_pass(search, trials_so_far, stars)
        if isinstance(found, AstrometrySolution):
            result = found
            continue
        fit = found
        if max_sip_order >= 2:
            fit = _choose_degree(
                stars, fit, max_degree=max_sip_order, max_radius=match_radius_px, min_matches=min_matches
            )
        result = _checked(
            fit,
            stars,
            pointing,
            on_image=on_image,
            in_area=in_area,
            shape=(ny, nx),
            pixel_scale_arcsec=pixel_scale_arcsec,
            max_offset_arcmin=max_offset_arcmin,
            max_rotation_deg=math.degrees(search.max_rotation_rad),
            mirror_allowed=True in search.parities,
            min_matches=min_matches,
            max_rms_arcsec=max_rms_arcsec,
            scale_tolerance=scale_tolerance,
            min_match_fraction=min_match_fraction,
            max_false_alarm=max_false_alarm,
            trials=trials_so_far,
        )
        if result.solved:
            return result
    return result


@attrs.frozen(eq=False)
class _Field:
    """The sources and reference stars of one solve, and the searches made over them."""

    xs: Float64Array
    ys: Float64Array
    fluxes: Float64Array
    on_image: IntArray
    reference: ReferenceCatalog
    reference_brightness: Float64Array
    pointing: _Pointing
    predicted: ComplexArray  # where the guess puts each reference star: px from the image centre
    shape: tuple[int, int]
    pixel_scale_arcsec: float
    max_offset_arcmin: float
    match_radius_px: float
    min_matches: int
    scale_tolerance: float
    max_control: int
    max_false_alarm: float

    @property
    def lever(self) -> float:
        ny, nx = self.shape
        return math.hypot(nx, ny) / 2.0

    @property
    def max_shift(self) -> float:
        return self.max_offset_arcmin * 60.0 / self.pixel_scale_arcsec

    def max_rotation(self, search: _Pass) -> float:
        """The pass's rotation limit, plus the turn of north a pointing error near a pole causes.

        Rotations are measured in the guess's tangent plane, where a pointing error near a pole
        also turns north (by the change in RA times sin Dec): the search allows for that turn,
        the final check compares true position angles.
        """
        turn = math.radians(self.max_offset_arcmin / 60.0) * abs(math.tan(math.radians(self.pointing.sky[1])))
        return min(math.pi, search.max_rotation_rad + turn)

    def trials(self, search: _Pass) -> float:
        return len(search.parities) * search_trials(
            max_shift=self.max_shift,
            max_rotation_rad=self.max_rotation(search),
            scale_tolerance=self.scale_tolerance,
            lever=self.lever,
            radius=self.match_radius_px,
        )

    def _half_sizes(self, max_rotation: float) -> tuple[float, float]:
        """Half sizes (px) of the box around the guess's centre that the image may cover."""
        ny, nx = self.shape
        grow = 1.0 + self.scale_tolerance
        pad = self.max_shift + self.match_radius_px
        return (
            _half_extent(nx / 2.0, ny / 2.0, max_rotation) * grow + pad,
            _half_extent(ny / 2.0, nx / 2.0, max_rotation) * grow + pad,
        )

    def area(self, max_rotation: float) -> IntArray:
        """Indices of the reference stars the image could cover when turned up to ``max_rotation``."""
        hx, hy = self._half_sizes(max_rotation)
        predicted = self.predicted
        inside: IntArray = np.flatnonzero(
            np.isfinite(predicted) & (np.abs(predicted.real) <= hx) & (np.abs(predicted.imag) <= hy)
        ).astype(np.int64)
        return inside

    def pattern_pass(self, search: _Pass, trials: float, stars: _Stars) -> _Fit | AstrometrySolution:
        """Pattern match within one pass's limits, then the TAN fit of all stars; or a failure."""
        ny, nx = self.shape
        cx, cy = self.pointing.centre
        radius = self.match_radius_px
        max_rotation = self.max_rotation(search)
        hx, hy = self._half_sizes(max_rotation)
        in_area = self.area(max_rotation)
        limits = f"{self.max_offset_arcmin:g} arcmin of the pointing, {search.label}"
        if in_area.size < self.min_matches:
            return _failed(
                f"only {in_area.size} reference stars within {self.max_offset_arcmin:g} arcmin of the field "
                f"(need {self.min_matches})"
            )
        zr = self.predicted[in_area]
        xs, ys = self.xs[self.on_image], self.ys[self.on_image]
        zs = (xs - cx) + 1j * (ys - cy)
        source_brightness = np.where(
            np.isfinite(self.fluxes[self.on_image]), self.fluxes[self.on_image], -np.inf
        )

        # One control density for both lists, that of the sparser one (capped), so that a
        # triangle of bright sources has its counterpart among the bright reference stars.
        area = float(nx * ny)
        in_footprint = int(np.sum((np.abs(zr.real) <= nx / 2.0) & (np.abs(zr.imag) <= ny / 2.0)))
        search_area = 4.0 * hx * hy
        reference_density = max(in_footprint / area, in_area.size / search_area)
        density = min(zs.size / area, reference_density, self.max_control / area)
        cell = math.sqrt(CONTROL_PER_CELL / density)
        half = complex(nx / 2.0, ny / 2.0)
        grown = complex(hx, hy)
        # The sparser list sets the density and is kept whole (a grid would drop stars of the
        # cells that happen to hold more than their share); the denser one is thinned to match.
        if density < zs.size / area:
            source_control = select_spread(
                zs, source_brightness, lower=-half, upper=half, cell=cell, per_cell=CONTROL_PER_CELL
            )
        else:
            source_control = np.arange(zs.size, dtype=np.int64)
        if density < reference_density:
            reference_control = select_spread(
                zr, self.reference_brightness[in_area], lower=-grown, upper=grown, cell=cell,
                per_cell=CONTROL_PER_CELL,
            )  # fmt: skip
        else:
            reference_control = np.arange(in_area.size, dtype=np.int64)

        best: PatternMatch | None = None
        best_mirrored = False
        for mirrored in search.parities:
            # A mirror image is searched as the sources reflected in the x axis: triangles match
            # their reflections only under a similarity with a reflection, which the votes exclude.
            z_from = np.conj(zs) if mirrored else zs
            match = find_pattern(
                z_from[source_control],
                zr[reference_control],
                radius=radius,
                scale_tolerance=self.scale_tolerance + TRIANGLE_SCALE_SLACK,
                max_rotation_rad=min(math.pi, max_rotation + math.radians(TRIANGLE_ROTATION_SLACK_DEG)),
                # Single triangles' shifts scatter by their rotation and scale errors times their lever arm.
                max_shift=self.max_shift + TRIANGLE_SCALE_SLACK * self.lever + radius,
                lever=self.lever,
                shape_tolerance=SHAPE_TOLERANCE,
                min_side=MIN_TRIANGLE_SIDE_RADII * radius,
            )
            if match is not None and (best is None or match.n_matched > best.n_matched):
                best, best_mirrored = match, mirrored
        # The reference control points' density: kept whole, what was measured (the larger of
        # the two estimates); thinned, at most CONTROL_PER_CELL a cell, an upper bound.
        control_density = (
            reference_density if reference_control.size == in_area.size else CONTROL_PER_CELL / cell**2
        )
        chance = source_control.size * control_density * math.pi * radius**2
        n_pattern = 0 if best is None else best.n_matched
        needed = max(
            self.min_matches,
            _needed_for_significance(chance, trials, self.max_false_alarm, source_control.size),
        )
        if best is None or n_pattern < needed:
            return _failed(
                f"no pattern of the {source_control.size} brightest sources matches the reference catalog "
                f"within {limits} (best: {n_pattern} stars, {needed} needed)"
            )
        start = _initial_model(self.pointing, best, mirrored=best_mirrored)
        fit = _refine(stars, start, 1, max_radius=radius, min_stars=self.min_matches)
        if fit is None:
            return _failed(f"the pattern match of {n_pattern} stars does not extend to the rest of the field")
        return fit


def _initial_model(pointing: _Pointing, match: PatternMatch, *, mirrored: bool) -> TanSip:
    """TAN model of the pattern match: the guess's CD turned (and reflected) and scaled, CRPIX shifted.

    The match maps source positions ``z`` (reflected, ``conj(z)``, for a mirror image) onto
    the positions the guess predicts: ``z_ref = a z + t``. The tangent point stays where the
    match was measured; moving it instead would turn the standard coordinates (by the change of
    RA times sin Dec, degrees near the pole) under a CD matrix that does not follow. The fit
    moves it afterwards, refitting CD as it goes.
    """
    a, t = match.similarity.a, match.similarity.t
    cx, cy = pointing.centre
    origin = -t / a  # where the guess's centre falls, in (reflected) source coordinates
    if mirrored:
        origin = origin.conjugate()
    turn = np.array([[a.real, -a.imag], [a.imag, a.real]])
    reflect = np.diag([1.0, -1.0]) if mirrored else np.eye(2)
    zeros = np.zeros((2, 2))
    return TanSip(
        pointing.sky, (cx + origin.real, cy + origin.imag), pointing.cd @ turn @ reflect, zeros, zeros
    )


def _checked(
    fit: _Fit,
    stars: _Stars,
    pointing: _Pointing,
    *,
    on_image: IntArray,
    in_area: IntArray,
    shape: tuple[int, int],
    pixel_scale_arcsec: float,
    max_offset_arcmin: float,
    max_rotation_deg: float,
    mirror_allowed: bool,
    min_matches: int,
    max_rms_arcsec: float,
    scale_tolerance: float,
    min_match_fraction: float,
    max_false_alarm: float,
    trials: float,
) -> AstrometrySolution:
    """The fit as a solution if it passes every check, else a failure naming the first it fails."""
    ny, nx = shape
    model = fit.model
    source, reference = on_image[fit.source], in_area[fit.reference]
    n = fit.source.size
    d_xi, d_eta = residuals_deg(
        model, stars.x[fit.source], stars.y[fit.source], stars.ra[fit.reference], stars.dec[fit.reference]
    )
    rms = math.sqrt(float(np.mean(d_xi**2 + d_eta**2))) * 3600.0

    def failed(reason: str) -> AstrometrySolution:
        return _failed(reason, source, reference)

    if n < min_matches:
        return failed(f"only {n} sources match the reference catalog (need {min_matches})")
    scale_ratio = model.pixel_scale_arcsec / pixel_scale_arcsec
    if abs(scale_ratio - 1.0) > scale_tolerance:
        return failed(
            f"fitted pixel scale {model.pixel_scale_arcsec:.4f} arcsec/px differs from the nominal "
            f"{pixel_scale_arcsec:g} by {abs(scale_ratio - 1.0):.1%} (limit {scale_tolerance:.0%})"
        )
    if not mirror_allowed and np.sign(np.linalg.det(model.cd)) != np.sign(np.linalg.det(pointing.cd)):
        return failed("the fitted solution is mirrored relative to the starting orientation")
    if rms > max_rms_arcsec:
        return failed(f"rms residual {rms:.2f} arcsec of {n} stars exceeds {max_rms_arcsec:g} arcsec")
    centre = model.pixel_to_sky(*pointing.centre)
    centre_sky = (float(centre[0]), float(centre[1]))
    offset = float(separation(*pointing.sky, *centre_sky)) * 60.0
    if offset > max_offset_arcmin:
        return failed(
            f"solution is {offset:.1f} arcmin from the header pointing (limit {max_offset_arcmin:g})"
        )
    turn = (pointing.up_angle(centre_sky, model) - pointing.up_angle(pointing.sky) + 180.0) % 360.0 - 180.0
    if abs(turn) > max_rotation_deg:
        return failed(
            f"solution is rotated {turn:.1f} deg from the starting orientation (limit {max_rotation_deg:g})"
        )
    # Reference stars on the image under the solution (its linear part suffices for a count).
    xi, eta = project(stars.ra, stars.dec, *model.crval)
    px, py = np.linalg.solve(model.cd, np.vstack([xi, eta]))
    references_on_image = int(np.sum((np.abs(px) <= nx / 2.0) & (np.abs(py) <= ny / 2.0)))
    possible = min(stars.x.size, references_on_image)
    if n < min_match_fraction * possible:
        return failed(
            f"only {n} of {possible} possible stars match the reference catalog "
            f"(need {min_match_fraction:.0%})"
        )
    chance = stars.x.size * references_on_image / float(nx * ny) * math.pi * fit.radius_px**2
    if false_alarm_probability(n, chance, trials) > max_false_alarm:
        return failed(
            f"{n} matches within {fit.radius_px:.2f} px are not significant ({chance:.1f} expected by chance)"
        )
    return AstrometrySolution(
        model.to_wcs(shape), WCSERR_SOLVED, "", n, rms, model.sip_order, source, reference
    )
