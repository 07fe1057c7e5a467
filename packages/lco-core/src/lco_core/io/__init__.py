"""FITS input and output: the only package that touches astropy.io.fits."""

from lco_core.io.bands import BandReader, open_bands, stack_files
from lco_core.io.masters import read_bad_pixel_mask, read_master, write_bad_pixel_mask, write_master
from lco_core.io.meta import parse_frame_meta
from lco_core.io.products import Product, read_product, write_product
from lco_core.io.raw import read_headers, read_meta, read_raw
from lco_core.io.raw_writer import write_raw

__all__ = [
    "BandReader",
    "Product",
    "open_bands",
    "parse_frame_meta",
    "read_bad_pixel_mask",
    "read_headers",
    "read_master",
    "read_meta",
    "read_product",
    "read_raw",
    "stack_files",
    "write_bad_pixel_mask",
    "write_master",
    "write_product",
    "write_raw",
]
