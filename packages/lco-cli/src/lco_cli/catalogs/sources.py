"""Where reference stars come from: one protocol, a local file, or Gaia DR3 (cached); and the choice."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from lco_cli.catalogs._sky import in_cone
from lco_cli.catalogs.files import read_reference_file
from lco_cli.catalogs.gaia import GaiaCatalog
from lco_core.catalog import ReferenceCatalog

__all__ = ["CatalogSource", "LocalCatalog", "catalog_source"]


@runtime_checkable
class CatalogSource(Protocol):
    """Anything that returns the reference stars of a cone on the sky."""

    def stars_around(self, ra: float, dec: float, radius_deg: float) -> ReferenceCatalog:
        """Reference stars within ``radius_deg`` of (``ra``, ``dec``); all angles in deg (ICRS).

        Parameters
        ----------
        ra, dec : float
            Cone centre, degrees.
        radius_deg : float
            Cone radius, degrees.

        Returns
        -------
        ReferenceCatalog
        """
        ...


class LocalCatalog:
    """A reference catalogue file (FITS/LDAC, ECSV or CSV), read once when constructed.

    Positions are used as the file holds them (its own epoch; no proper-motion propagation).

    Parameters
    ----------
    path : str or pathlib.Path
        The file (see `~lco_cli.catalogs.files.read_reference_file`).

    Raises
    ------
    CatalogError
        When the file cannot be read as a catalogue (see ``read_reference_file``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.catalog = read_reference_file(self.path)

    def stars_around(self, ra: float, dec: float, radius_deg: float) -> ReferenceCatalog:
        """The file's stars within ``radius_deg`` (inclusive) of (``ra``, ``dec``), all in deg.

        Parameters
        ----------
        ra, dec : float
            Cone centre, degrees.
        radius_deg : float
            Cone radius, degrees.

        Returns
        -------
        ReferenceCatalog
        """
        return self.catalog.select(in_cone(self.catalog.ra, self.catalog.dec, ra, dec, radius_deg))


def catalog_source(
    *, catalog_file: Path | None, cache_dir: Path, offline: bool, epoch: float | None = None
) -> CatalogSource:
    """The reference catalogue a run uses: ``--catalog FILE`` when given, else Gaia DR3 (cached).

    Parameters
    ----------
    catalog_file : Path or None
        A local catalogue; wins over Gaia, and needs no network.
    cache_dir : Path
        Folder of the Gaia cache.
    offline : bool
        ``--offline``: Gaia answers only from the cache.
    epoch : float, optional
        Julian year to propagate Gaia positions to (see `GaiaCatalog`).

    Returns
    -------
    CatalogSource
        A `LocalCatalog` or a `GaiaCatalog`.

    Raises
    ------
    CatalogError
        The catalogue file cannot be read.
    """
    if catalog_file is not None:
        return LocalCatalog(catalog_file)
    return GaiaCatalog(cache_dir, offline=offline, epoch=epoch)
