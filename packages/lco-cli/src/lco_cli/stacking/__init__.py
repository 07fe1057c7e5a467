"""Coadds of a night's repeated science exposures: which frames go together, and the product made of them.

Grouping (`group_candidates`) works on reduced science products, from their headers alone:

* frames of one **camera set-up and filter**: site, telescope, camera, binning and FILTER equal;
* of one **observation**, when the headers say so: the same MOLUID (LCO's molecule, the unit of one
  instrument configuration of a request: one filter, one exposure time, its repeated exposures;
  the key BANZAI's own smart stacks group by), else the same REQNUM (the request); frames
  with neither (placeholders such as ``N/A`` count as absent) are grouped by place and time alone;
* at **one place**: each frame's centre (its solved WCS at the middle pixel) within
  ``coadd.max_separation_arcsec`` of the group's first frame, so a mosaic pattern's tiles stay
  apart even inside one request;
* **in one sitting**: each frame starting within ``coadd.max_gap_minutes`` of the end of the
  group's previous frame (frames in DATE-OBS order).

OBJECT is not used: it is free text (one field under two names, or one name for a pattern of
fields), and the pointing says where the frames are. GROUPID and TRACKNUM name a user's whole
set of requests, BLKUID a scheduled block: any of them can hold several targets and filters.

A group of ``coadd.min_frames`` or more is stacked (`make_coadd`): its products are read in row
bands (`lco_core.io.product_source.ProductSource`) and combined by `lco_stages.coadd.coadd` onto
a common TAN grid, then the science stages run again on the coadd (sources, astrometry, the
pointing and saturation tests, photometric zero point, depth) and it is written as a product,
``{site}{telescope}-{camera}-{DAY-OBS}-{first frame}-{last frame}-e92.fits.fz`` (`coadd_name`,
BANZAI's naming of its smart stacks with our own reduction level 92), with a thumbnail.
"""

from lco_cli.stacking.grouping import (
    OBSERVATION_KEYS,
    StackCandidate,
    StackGroup,
    candidate_from_source,
    candidate_of,
    group_candidates,
    observation_of,
    separation_arcsec,
)
from lco_cli.stacking.header import coadd_header
from lco_cli.stacking.naming import COADD_KIND, COADD_REDUCTION_LEVEL, coadd_name, coadd_path, inputs_digest
from lco_cli.stacking.product import (
    CoaddTask,
    StackingError,
    build_coadd,
    coadd_figures,
    failed_coadd,
    make_coadd,
    reduce_coadd,
)
from lco_cli.stacking.run import StackRun, field_of, group_products, stack_products

__all__ = [
    "COADD_KIND",
    "COADD_REDUCTION_LEVEL",
    "OBSERVATION_KEYS",
    "CoaddTask",
    "StackCandidate",
    "StackGroup",
    "StackRun",
    "StackingError",
    "build_coadd",
    "candidate_from_source",
    "candidate_of",
    "coadd_figures",
    "coadd_header",
    "coadd_name",
    "coadd_path",
    "failed_coadd",
    "field_of",
    "group_candidates",
    "group_products",
    "inputs_digest",
    "make_coadd",
    "observation_of",
    "reduce_coadd",
    "separation_arcsec",
    "stack_products",
]
