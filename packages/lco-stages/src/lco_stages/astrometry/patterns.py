"""Pattern matching of detected sources to reference stars: control points, triangles, votes, checks.

Positions here are complex numbers ``x + iy`` in pixels from the image centre: the sources as
detected, the reference stars as the header pointing predicts them. The two differ by a
similarity ``z_ref = a z + t`` (``|a|`` close to 1, ``arg(a)`` the rotation error, ``t`` the pointing error),
which the triangles of neighbouring stars reveal whatever the offset.
"""

from __future__ import annotations

import math
from itertools import combinations

import attrs
import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree
from scipy.special import gammainc

from lco_core._arrays import Float64Array, read_only
from lco_stages.astrometry._match import mutual_nearest

__all__ = [
    "PatternMatch",
    "Similarity",
    "Triangles",
    "build_triangles",
    "false_alarm_probability",
    "find_pattern",
    "search_trials",
    "select_spread",
]

ComplexArray = npt.NDArray[np.complex128]
IntArray = npt.NDArray[np.int64]

#: Each point forms triangles with pairs of this many nearest neighbours (15 triangles a point):
#: enough that a good share survives the stars one list has and the other lacks.
TRIANGLE_NEIGHBOURS = 6
#: A triangle's shortest side must be at least this fraction of its longest: slivers have
#: unstable shape ratios and an ill-defined vertex order.
MIN_SIDE_RATIO = 0.1
#: Hypotheses (clusters of triangle votes) verified against all control points, best first.
MAX_HYPOTHESES = 30
#: Verification radii, in units of the match radius: a triangle's transform can be off by a few
#: pixels at the far side of the field, so the first round is wide and the later ones tight.
VERIFY_RADII = (3.0, 2.0, 1.0, 1.0)


def _complex(values: npt.ArrayLike) -> ComplexArray:
    array: ComplexArray = np.asarray(values, dtype=np.complex128)
    return array


def _points(z: ComplexArray) -> Float64Array:
    """(n, 2) float array of complex positions, as cKDTree wants them."""
    return np.column_stack([z.real, z.imag])


@attrs.frozen
class Similarity:
    """``z_ref = a z + t``: ``|a|`` the scale ratio, ``arg(a)`` the rotation (rad), ``t`` the shift (px).

    Attributes
    ----------
    a : complex
        Scale and rotation.
    t : complex
        Shift, pixels.
    """

    a: complex
    t: complex

    @property
    def scale(self) -> float:
        """The scale ratio ``|a|``."""
        return abs(self.a)

    @property
    def rotation_rad(self) -> float:
        """The rotation ``arg(a)``, radians."""
        return math.atan2(self.a.imag, self.a.real)

    def apply(self, z: ComplexArray) -> ComplexArray:
        """Map positions: ``a z + t``.

        Parameters
        ----------
        z : ndarray of complex
            Positions ``x + iy``, pixels.

        Returns
        -------
        ndarray of complex
        """
        return _complex(self.a * z + self.t)


def fit_similarity(z_from: ComplexArray, z_to: ComplexArray) -> Similarity:
    """Least-squares similarity (no reflection) mapping ``z_from`` onto ``z_to``."""
    mean_from, mean_to = z_from.mean(), z_to.mean()
    d_from, d_to = z_from - mean_from, z_to - mean_to
    norm = float(np.sum(np.abs(d_from) ** 2))
    a = complex(np.sum(d_to * np.conj(d_from)) / norm) if norm > 0 else 1.0 + 0.0j
    return Similarity(a, complex(mean_to - a * mean_from))


def select_spread(
    z: ComplexArray, brightness: Float64Array, *, lower: complex, upper: complex, cell: float, per_cell: int
) -> IntArray:
    """The ``per_cell`` brightest points of each square cell over a box, brightest first.

    Taking the brightest per cell rather than overall keeps dense regions (a cluster, the
    Galactic plane on one side) from crowding out the rest of the field and its corners.

    Parameters
    ----------
    z : ndarray of complex
        Positions, px.
    brightness : ndarray of float
        Larger is brighter; -inf for unknown.
    lower, upper : complex
        Corners of the box, px; points outside it are never chosen.
    cell : float
        Cell side, px.
    per_cell : int
        Points kept per cell.

    Returns
    -------
    ndarray of int64
        Indices into ``z``.
    """
    inside = np.flatnonzero(
        (z.real >= lower.real) & (z.real <= upper.real) & (z.imag >= lower.imag) & (z.imag <= upper.imag)
    )
    if inside.size == 0:
        return np.zeros(0, dtype=np.int64)
    columns = max(1, math.ceil((upper.real - lower.real) / cell))
    ix = np.minimum(((z.real[inside] - lower.real) // cell).astype(np.int64), columns - 1)
    iy = ((z.imag[inside] - lower.imag) // cell).astype(np.int64)
    key = iy * columns + ix
    order = np.lexsort((inside, -brightness[inside], key))  # cell, then brightest, then index
    sorted_key = key[order]
    rank = np.arange(order.size) - np.searchsorted(sorted_key, sorted_key, side="left")
    chosen = inside[order[rank < per_cell]].astype(np.int64)
    result: IntArray = chosen[np.lexsort((chosen, -brightness[chosen]))]
    return result


@attrs.frozen(eq=False)
class Triangles:
    """Triangles of a point list.

    Attributes
    ----------
    vertices : ndarray of int64, shape (n, 3)
        Point indices, vertex k opposite the k-th longest side, so that two similar triangles
        list corresponding vertices in the same order.
    keys : ndarray of float64, shape (n, 3)
        The shape (second / longest and shortest / longest side) and the log of the longest
        side (px).
    """

    vertices: IntArray = attrs.field(converter=read_only)
    keys: Float64Array = attrs.field(converter=read_only)

    def __len__(self) -> int:
        return len(self.vertices)


def build_triangles(z: ComplexArray, *, neighbours: int = TRIANGLE_NEIGHBOURS, min_side: float) -> Triangles:
    """Triangles of each point with pairs of its nearest neighbours.

    Parameters
    ----------
    z : ndarray of complex
        Positions, px.
    neighbours : int
        Neighbours per point.
    min_side : float
        Smallest longest side kept, px: small triangles' shapes are dominated by centroid noise.

    Returns
    -------
    Triangles
    """
    n = len(z)
    if n < 3:
        return Triangles(np.zeros((0, 3), dtype=np.int64), np.zeros((0, 3)))
    k = min(neighbours, n - 1)
    _, nearest = cKDTree(_points(z)).query(_points(z), k=k + 1)
    nearest = np.asarray(nearest, dtype=np.int64)[:, 1:]
    first, second = np.array(list(combinations(range(k), 2)), dtype=np.int64).T
    corners = np.column_stack(
        [
            np.repeat(np.arange(n, dtype=np.int64), first.size),
            nearest[:, first].ravel(),
            nearest[:, second].ravel(),
        ]
    )
    corners = np.sort(corners, axis=1)
    corners = np.unique(corners[(corners[:, 0] != corners[:, 1]) & (corners[:, 1] != corners[:, 2])], axis=0)
    zc = z[corners]
    # Side k is the one opposite vertex k.
    opposite = np.abs(zc[:, [1, 2, 0]] - zc[:, [2, 0, 1]])
    order = np.argsort(-opposite, axis=1, kind="stable")
    sides = np.take_along_axis(opposite, order, axis=1)
    vertices = np.take_along_axis(corners, order, axis=1)
    good = (sides[:, 0] >= min_side) & (sides[:, 2] >= MIN_SIDE_RATIO * sides[:, 0])
    sides, vertices = sides[good], vertices[good]
    keys = np.column_stack([sides[:, 1] / sides[:, 0], sides[:, 2] / sides[:, 0], np.log(sides[:, 0])])
    return Triangles(vertices, keys)


def _triangle_transforms(
    source: Triangles,
    zs: ComplexArray,
    reference: Triangles,
    zr: ComplexArray,
    *,
    shape_tolerance: float,
    scale_tolerance: float,
    max_rotation_rad: float,
    max_shift: float,
    vertex_tolerance: float,
) -> tuple[ComplexArray, ComplexArray]:
    """Similarities (a, t) of source triangles onto reference triangles of the same shape and size.

    Kept only within the search limits and when the three vertices land within
    ``vertex_tolerance`` px (this also rejects mirror images, which have the same shape keys).
    """
    empty = np.zeros(0, dtype=np.complex128)
    if len(source) == 0 or len(reference) == 0:
        return empty, empty
    # The size axis is scaled so the same Chebyshev radius allows the whole scale tolerance.
    weight = np.array([1.0, 1.0, shape_tolerance / math.log1p(scale_tolerance)])
    pairs = cKDTree(source.keys * weight).sparse_distance_matrix(
        cKDTree(reference.keys * weight), shape_tolerance, p=np.inf, output_type="ndarray"
    )
    if pairs.size == 0:
        return empty, empty
    order = np.lexsort((pairs["j"], pairs["i"]))
    i, j = pairs["i"][order], pairs["j"][order]
    z_from, z_to = zs[source.vertices[i]], zr[reference.vertices[j]]
    mean_from, mean_to = z_from.mean(axis=1), z_to.mean(axis=1)
    d_from, d_to = z_from - mean_from[:, np.newaxis], z_to - mean_to[:, np.newaxis]
    a = np.sum(d_to * np.conj(d_from), axis=1) / np.sum(np.abs(d_from) ** 2, axis=1)
    t = mean_to - a * mean_from
    misfit = np.max(np.abs(a[:, np.newaxis] * z_from + t[:, np.newaxis] - z_to), axis=1)
    keep = (
        (misfit <= vertex_tolerance)
        & (np.abs(np.log(np.abs(a))) <= math.log1p(scale_tolerance))
        & (np.abs(np.angle(a)) <= max_rotation_rad)
        & (np.abs(t) <= max_shift)
    )
    return _complex(a[keep]), _complex(t[keep])


def _vote(a: ComplexArray, t: ComplexArray, *, lever: float, width: float) -> list[tuple[int, Similarity]]:
    """Clusters of triangle transforms, most votes first, as (votes, median transform).

    Transforms are compared by where they send points ``lever`` px from the centre, so a
    rotation counts as much as the shift it causes at the edge of the field.
    """
    if a.size == 0:
        return []
    features = np.column_stack([t.real, t.imag, lever * (a.real - 1.0), lever * a.imag])
    tree = cKDTree(features)
    votes = np.asarray(tree.query_ball_point(features, width, return_length=True), dtype=np.int64)
    taken = np.zeros(a.size, dtype=bool)
    hypotheses: list[tuple[int, Similarity]] = []
    for best in np.lexsort((np.arange(a.size), -votes)):
        if taken[best]:
            continue
        members = np.sort(np.asarray(tree.query_ball_point(features[best], width), dtype=np.int64))
        centre = Similarity(
            complex(np.median(a.real[members]), np.median(a.imag[members])),
            complex(np.median(t.real[members]), np.median(t.imag[members])),
        )
        hypotheses.append((int(votes[best]), centre))
        taken[np.asarray(tree.query_ball_point(features[best], 2.0 * width), dtype=np.int64)] = True
        if len(hypotheses) == MAX_HYPOTHESES:
            break
    return hypotheses


@attrs.frozen(eq=False)
class PatternMatch:
    """The best pattern match: its similarity and the control points it pairs (indices).

    Attributes
    ----------
    similarity : Similarity
        Source positions to predicted reference positions.
    source, reference : ndarray of int64
        Indices of the paired control points, pairwise.
    votes : int
        Triangle votes the hypothesis received.
    """

    similarity: Similarity
    source: IntArray = attrs.field(converter=read_only)
    reference: IntArray = attrs.field(converter=read_only)
    votes: int = 0

    @property
    def n_matched(self) -> int:
        """Pairs found."""
        return len(self.source)


def _verify(
    start: Similarity, zs: ComplexArray, zr: ComplexArray, *, radius: float, votes: int
) -> PatternMatch:
    """Pair all control points under a hypothesis, refit the similarity on the pairs, repeat."""
    reference_points = _points(zr)
    similarity = start
    i = j = np.zeros(0, dtype=np.int64)
    for factor in VERIFY_RADII:
        i, j = mutual_nearest(_points(similarity.apply(zs)), reference_points, factor * radius)
        if i.size < 3:
            return PatternMatch(similarity, i, j, votes)
        similarity = fit_similarity(zs[i], zr[j])
    i, j = mutual_nearest(_points(similarity.apply(zs)), reference_points, radius)
    return PatternMatch(similarity, i, j, votes)


def find_pattern(
    zs: ComplexArray,
    zr: ComplexArray,
    *,
    radius: float,
    scale_tolerance: float,
    max_rotation_rad: float,
    max_shift: float,
    lever: float,
    shape_tolerance: float,
    min_side: float,
) -> PatternMatch | None:
    """The similarity that pairs the most control points, found through triangle votes.

    Parameters
    ----------
    zs, zr : ndarray of complex
        Source and reference control points, px from the image centre (references as the
        header pointing predicts them).
    radius : float
        Match radius, px.
    scale_tolerance : float
        Largest relative scale error searched.
    max_rotation_rad : float
        Largest rotation searched, rad.
    max_shift : float
        Largest shift of the image centre searched, px.
    lever : float
        Distance from the centre (px) at which rotations and scale errors are weighed.
    shape_tolerance : float
        Largest difference in side ratios between matching triangles.
    min_side : float
        Smallest triangle (longest side, px).

    Returns
    -------
    PatternMatch or None
        None when no triangle of sources matches a reference triangle within the limits.
    """
    source, reference = (build_triangles(z, min_side=min_side) for z in (zs, zr))
    a, t = _triangle_transforms(
        source,
        zs,
        reference,
        zr,
        shape_tolerance=shape_tolerance,
        scale_tolerance=scale_tolerance,
        max_rotation_rad=max_rotation_rad,
        max_shift=max_shift,
        vertex_tolerance=radius,
    )
    best: PatternMatch | None = None
    for votes, hypothesis in _vote(a, t, lever=lever, width=2.0 * radius):
        match = _verify(hypothesis, zs, zr, radius=radius, votes=votes)
        if best is None or match.n_matched > best.n_matched:
            best = match
    return best


def search_trials(
    *, max_shift: float, max_rotation_rad: float, scale_tolerance: float, lever: float, radius: float
) -> float:
    """Number of independent transforms a search of these limits tries, at resolution ``radius``.

    Shifts within ``max_shift`` px (area over the match disc), rotations and scales within their
    limits (steps that move a point ``lever`` px from the centre by ``radius``).

    Parameters
    ----------
    max_shift : float
        Largest shift searched, pixels.
    max_rotation_rad : float
        Largest rotation searched, radians.
    scale_tolerance : float
        Largest relative scale error searched.
    lever : float
        Typical distance of a point from the centre, pixels.
    radius : float
        Match radius, pixels.

    Returns
    -------
    float
        At least 1.
    """
    shifts = max(1.0, (max_shift + radius) ** 2 / radius**2)
    rotations = max(1.0, 2.0 * max_rotation_rad * lever / radius)
    scales = max(1.0, 2.0 * scale_tolerance * lever / radius)
    return shifts * rotations * scales


def false_alarm_probability(n_matched: int, expected_random: float, trials: float) -> float:
    """Chance that a search of ``trials`` transforms pairs ``n_matched`` points by accident.

    ``expected_random`` is the mean number of chance pairs under one transform; the counts are
    Poisson, and the trials factor (Bonferroni) makes the bound conservative.

    Parameters
    ----------
    n_matched : int
        Pairs found.
    expected_random : float
        Mean number of chance pairs under one transform.
    trials : float
        Independent transforms tried (`search_trials`).

    Returns
    -------
    float
        ``min(1, trials x P(N >= n_matched))`` with N Poisson.
    """
    if n_matched <= 0:
        return 1.0
    tail = float(gammainc(n_matched, max(expected_random, 1e-300)))  # P(N >= n), N ~ Poisson
    return min(1.0, trials * tail)
