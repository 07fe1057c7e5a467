"""One-to-one nearest-neighbour matching of two point lists within a radius."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

IntArray = npt.NDArray[np.int64]


def mutual_nearest(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], radius: float
) -> tuple[IntArray, IntArray]:
    """Pairs (i, j) where b[j] is a[i]'s nearest point within ``radius`` and a[i] is b[j]'s closest.

    Each point of ``b`` keeps only the nearest of the points of ``a`` that chose it, so the pairs
    are one to one; a point of ``a`` whose nearest neighbour went to a closer point is left
    unmatched rather than given its second choice (in a crowded field that choice is a guess).

    Parameters
    ----------
    a, b : ndarray of float64, shape (n, 2) and (m, 2)
        Finite positions, any common unit.
    radius : float
        Largest accepted distance, same unit.

    Returns
    -------
    i, j : ndarray of int64
        Indices into ``a`` and ``b``, sorted by ``i``.
    """
    empty = np.zeros(0, dtype=np.int64)
    if len(a) == 0 or len(b) == 0 or not radius > 0:
        return empty, empty
    found_distance, found_index = cKDTree(b).query(a, k=1, distance_upper_bound=radius)
    distance = np.asarray(found_distance, dtype=np.float64)
    nearest = np.asarray(found_index, dtype=np.int64)
    found = np.flatnonzero(np.isfinite(distance))
    if found.size == 0:
        return empty, empty
    chosen = nearest[found]
    # Closest first (index breaks ties, so the result never depends on the sort's whims).
    order = np.lexsort((found, distance[found]))
    _, first = np.unique(chosen[order], return_index=True)
    keep = order[first]
    i, j = found[keep].astype(np.int64), chosen[keep]
    by_i = np.argsort(i, kind="stable")
    return i[by_i], j[by_i]
