"""ReferenceCatalog: stars with known sky positions and magnitudes (astrometry, photometry)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import numpy as np
import numpy.typing as npt

from lco_core._arrays import Float64Array, read_only
from lco_core._frozen import FrozenMapping


def _vector(values: npt.ArrayLike) -> Float64Array:
    array: Float64Array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    return read_only(array)


def _bands(mapping: Mapping[str, npt.ArrayLike]) -> Mapping[str, Float64Array]:
    return FrozenMapping({name: _vector(values) for name, values in mapping.items()})


def _same_length(instance: ReferenceCatalog, attribute: object, value: object) -> None:
    n = len(instance.ra)
    lengths = {len(instance.dec), *(len(v) for v in instance.magnitudes.values())}
    lengths |= {len(v) for v in instance.magnitude_errors.values()}
    if lengths - {n}:
        raise ValueError(f"reference catalog columns differ in length: ra has {n}, others {sorted(lengths)}")


@attrs.frozen(eq=False)
class ReferenceCatalog:
    """Reference stars.

    Attributes
    ----------
    ra, dec : float64 arrays
        ICRS position at the catalogue epoch, degrees.
    magnitudes : mapping band -> float64 array
        Magnitudes per band (e.g. 'g', 'r', 'i', 'V', or 'mag' for a file with one magnitude
        column); NaN where a star has none.
    magnitude_errors : mapping band -> float64 array
        1-sigma magnitude errors where known.
    source : str
        Where the catalogue came from ('gaia-dr3', 'file:/path/refcat.ecsv').

    Raises
    ------
    ValueError
        Columns of different lengths.
    """

    ra: Float64Array = attrs.field(converter=_vector)
    dec: Float64Array = attrs.field(converter=_vector)
    magnitudes: Mapping[str, Float64Array] = attrs.field(factory=dict, converter=_bands)
    magnitude_errors: Mapping[str, Float64Array] = attrs.field(
        factory=dict, converter=_bands, validator=_same_length
    )
    source: str = ""

    def __len__(self) -> int:
        return len(self.ra)

    def select(self, keep: npt.NDArray[np.bool_]) -> ReferenceCatalog:
        """The stars where ``keep`` is true.

        Parameters
        ----------
        keep : ndarray of bool
            One value per star.

        Returns
        -------
        ReferenceCatalog
        """
        return ReferenceCatalog(
            self.ra[keep],
            self.dec[keep],
            {band: values[keep] for band, values in self.magnitudes.items()},
            {band: values[keep] for band, values in self.magnitude_errors.items()},
            self.source,
        )
