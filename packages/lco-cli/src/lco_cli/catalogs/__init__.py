"""Reference catalogues through one interface: local files (FITS/LDAC, ECSV, CSV) and Gaia DR3.

``catalog_source(catalog_file=..., cache_dir=..., offline=...)`` picks the source of a run: the
``--catalog FILE`` when given, else Gaia DR3 with synthetic photometry through astroquery, cached
on disk so that a night on one field queries once (``--offline``: cache only). Every source
answers ``stars_around(ra, dec, radius_deg) -> ReferenceCatalog``. astroquery is optional and
imported only when a query is made; every failure is a one-line ``CatalogError``.
"""

from lco_cli.catalogs.errors import CatalogError
from lco_cli.catalogs.files import read_reference_file
from lco_cli.catalogs.gaia import GAIA_EPOCH, GaiaCatalog, build_adql, launch_gaia_query
from lco_cli.catalogs.sources import CatalogSource, LocalCatalog, catalog_source

__all__ = [
    "GAIA_EPOCH",
    "CatalogError",
    "CatalogSource",
    "GaiaCatalog",
    "LocalCatalog",
    "build_adql",
    "catalog_source",
    "launch_gaia_query",
    "read_reference_file",
]
