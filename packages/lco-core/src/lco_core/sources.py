"""SourceCatalog, SourceFlag and WcsSolution: what the science stages attach to a frame."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from lco_core._arrays import AnyArray, read_only
from lco_core._frozen import FrozenMapping
from lco_core.header import Header


class SourceFlag(enum.IntFlag):
    """Bits of the CAT table's ``flag`` column (one place, documented).

    Bits 1 to 16 are BANZAI's (its documentation: 1 bad pixels, 2 blended, 4 saturated, 8 edge,
    16 cosmic ray), so ``flag & SourceFlag.BAD_PIXELS`` selects the same kind of source in
    either pipeline's catalogue; our own bits start at 32. BANZAI sets its bad-pixel and
    cosmic-ray bits for any such pixel in a source's segment; ours only when those pixels held
    a material share of the light (see the members), the rest of it being restored.

    Parameters
    ----------
    value : int
        The bits.
    """

    #: Bad, uncovered or low-flat pixels held a material share (over 1%, from the frame's PSF) of
    #: the light of the Kron or a fixed aperture. Masked pixels are left out of every flux and
    #: their light restored from the PSF; below that share the restored flux is as good as any.
    BAD_PIXELS = 1
    #: The source was split from a blend by deblending.
    BLENDED = 2
    #: Saturated pixels in the aperture.
    SATURATED = 4
    #: The source or its aperture (Kron or fixed) touches the image edge (truncated).
    EDGE = 8
    #: Cosmic-ray pixels held a material share (over 1%) of the light, as for BAD_PIXELS.
    COSMIC_RAY = 16
    #: Non-linear pixels in the aperture (ours; BANZAI has no such bit).
    NONLINEAR = 32


def _columns(mapping: Mapping[str, npt.ArrayLike]) -> Mapping[str, AnyArray]:
    arrays = {name: read_only(np.asarray(values)) for name, values in mapping.items()}
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) > 1:
        raise ValueError(f"catalog columns differ in length: {sorted(lengths)}")
    return FrozenMapping(arrays)


def _units(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return FrozenMapping(dict(mapping))


@attrs.frozen(eq=False)
class SourceCatalog:
    """Columns of equal length (read-only arrays) with units and descriptions, in order.

    ``catalog['flux']`` is a column, ``len(catalog)`` the number of sources, ``'ra' in
    catalog`` whether a column exists.

    Attributes
    ----------
    columns : mapping of str to ndarray
        The columns, in order.
    units : mapping of str to str
        FITS unit strings per column (e.g. ``'pix'``, ``'electron'``, ``'deg'``; ``''`` for none).
    descriptions : mapping of str to str
        One line per column.

    Raises
    ------
    ValueError
        Columns of different lengths.
    """

    columns: Mapping[str, AnyArray] = attrs.field(factory=dict, converter=_columns)
    units: Mapping[str, str] = attrs.field(factory=dict, converter=_units)
    descriptions: Mapping[str, str] = attrs.field(factory=dict, converter=_units)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def __getitem__(self, name: str) -> AnyArray:
        return self.columns[name]

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    def with_columns(
        self, columns: Mapping[str, npt.ArrayLike], *, units: Mapping[str, str] | None = None,
        descriptions: Mapping[str, str] | None = None,
    ) -> SourceCatalog:  # fmt: skip
        """A new catalog with ``columns`` added (or replaced).

        Parameters
        ----------
        columns : mapping of str to array_like
            New columns, as long as the catalog's.
        units, descriptions : mapping of str to str, optional
            Their units and descriptions.

        Returns
        -------
        SourceCatalog
        """
        return SourceCatalog(
            {**self.columns, **columns},
            {**self.units, **(units or {})},
            {**self.descriptions, **(descriptions or {})},
        )

    def select(self, keep: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> SourceCatalog:
        """The rows selected by a boolean mask or an index array.

        Parameters
        ----------
        keep : ndarray of bool or of int
            Rows to keep.

        Returns
        -------
        SourceCatalog
        """
        return SourceCatalog(
            {name: values[keep] for name, values in self.columns.items()}, self.units, self.descriptions
        )

    def to_table(self) -> Any:
        """An astropy Table copy (for writing): the catalog itself stays immutable.

        Returns
        -------
        astropy.table.Table
            With units and descriptions on the columns; each unit as the FITS format reads its
            string, so a FITS file written from the table carries the string unchanged.
        """
        import astropy.units as u
        from astropy.table import Table

        table = Table({name: np.array(values) for name, values in self.columns.items()})
        for name in table.colnames:
            if self.units.get(name):
                # Parsed as FITS parses it: a unit the FITS standard lacks ('electron') stays an
                # unrecognised unit, which FITS writers keep verbatim rather than drop.
                table[name].unit = u.Unit(self.units[name], format="fits", parse_strict="silent")
            if self.descriptions.get(name):
                table[name].description = self.descriptions[name]
        return table

    @classmethod
    def from_table(cls, table: Any) -> SourceCatalog:
        """A catalog from an astropy Table (e.g. a product's CAT extension).

        Parameters
        ----------
        table : astropy.table.Table
            The table; its column units and descriptions are kept.

        Returns
        -------
        SourceCatalog
        """
        return cls(
            {name: np.asarray(table[name]) for name in table.colnames},
            {name: str(table[name].unit) for name in table.colnames if table[name].unit is not None},
            {name: str(table[name].description) for name in table.colnames if table[name].description},
        )


@attrs.frozen
class WcsSolution:
    """An astrometric solution as header cards (TAN or TAN-SIP) and how good it is.

    Attributes
    ----------
    cards : Header
        The WCS keywords: the fitted TAN or TAN-SIP solution, or, when not solved, the WCS the
        header pointing implies.
    wcserr : int
        WCSERR, as LCO writes it: 0 solved, 4 failed.
    rms_arcsec : float
        WCSRMS: rms of the fit's residuals, arcsec (NaN when not solved).
    n_matched : int
        WCSMATCH: stars in the fit.
    reason : str
        WCSREASN: why it was not solved ('' when solved).
    """

    cards: Header
    wcserr: int
    rms_arcsec: float
    n_matched: int
    reason: str = ""

    @property
    def solved(self) -> bool:
        """WCSERR is 0."""
        return self.wcserr == 0

    def to_wcs(self) -> Any:
        """A fresh astropy WCS built from the cards.

        Returns
        -------
        astropy.wcs.WCS
        """
        from astropy.wcs import WCS

        return WCS({card.keyword: card.value for card in self.cards.cards})
