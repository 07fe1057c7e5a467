"""``lco-reduce stack``: products read and grouped, and a coadd made of each group large enough."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np

from lco_cli.results import FrameResult
from lco_cli.stacking.grouping import (
    StackCandidate,
    StackGroup,
    candidate_from_source,
    group_candidates,
    separation_arcsec,
)
from lco_cli.stacking.naming import COADD_REDUCTION_LEVEL, coadd_path
from lco_cli.stacking.product import CoaddTask, failed_coadd, make_coadd
from lco_core.io.product_source import ProductSource
from lco_core.parameters import Settings
from lco_stages.settings import DEFAULT_SETTINGS


def field_of(sources: Sequence[ProductSource]) -> tuple[tuple[float, float], float]:
    """The centre of a group's frames and the radius (deg) that holds them all: for its reference stars.

    Parameters
    ----------
    sources : sequence of ProductSource
        The group.

    Returns
    -------
    centre : (float, float)
        RA and Dec, degrees: the first frame's centre.
    radius : float
        Degrees from it to the farthest corner of any frame.
    """
    centres = [candidate_from_source(source).centre for source in sources]
    centre = centres[0]
    radius = 0.0
    for source in sources:
        ny, nx = source.shape
        ra, dec = source.wcs.all_pix2world(
            np.array([-0.5, nx - 0.5, -0.5, nx - 0.5]), np.array([-0.5, -0.5, ny - 0.5, ny - 0.5]), 0
        )
        for corner in zip(ra, dec, strict=True):
            radius = max(radius, separation_arcsec(centre, (float(corner[0]), float(corner[1]))) / 3600.0)
    return centre, radius


def group_products(
    paths: Sequence[str], *, settings: Settings = DEFAULT_SETTINGS, one_group: bool = False
) -> tuple[tuple[StackGroup, ...], tuple[tuple[str, str], ...]]:
    """Products read (headers only) and grouped for coadds (`.group_candidates`, ``coadd.*``).

    Parameters
    ----------
    paths : sequence of str
        Reduced science products.
    settings : Settings
        ``coadd.max_separation_arcsec`` and ``coadd.max_gap_minutes``.
    one_group : bool
        Every usable product in one group, whatever their headers say (``stack --one-group``);
        `~lco_cli.stacking.product.build_coadd` still refuses different cameras, binnings or filters.

    Returns
    -------
    groups : tuple of StackGroup
        Groups of one included (the caller decides what ``coadd.min_frames`` allows).
    left_out : tuple of (str, str)
        Products that cannot go into any coadd, with the one-line reason (not a science
        product, a coadd, no astrometric solution, no zero point, unreadable).
    """
    from lco_cli.plan import describe_error
    from lco_stages.coadd import CoaddSettings

    chosen = settings.of(CoaddSettings)
    candidates: list[StackCandidate] = []
    left_out: list[tuple[str, str]] = []
    for path in paths:
        try:
            with ProductSource(path) as source:
                combined = source.header.get("NCOMBINE")
                several = isinstance(combined, int) and not isinstance(combined, bool) and combined > 1
                if source.header.get("RLEVEL") == COADD_REDUCTION_LEVEL or several:
                    left_out.append(
                        (path, f"{path}: a coadd (of {combined} frames): stack its inputs instead")
                    )
                    continue
                if source.zero_point is None:
                    left_out.append((path, f"{path}: no zero point (L1ZP): its flux scale is unknown"))
                    continue
                candidates.append(candidate_from_source(source))
        except Exception as error:  # one file's problem, said in one line
            left_out.append((path, describe_error(error, where=path)))
    if one_group:
        ordered = tuple(sorted(candidates, key=lambda c: (c.date_obs, c.path)))
        return ((StackGroup(ordered),) if ordered else ()), tuple(left_out)
    groups = group_candidates(
        candidates, max_separation_arcsec=chosen.max_separation_arcsec, max_gap_minutes=chosen.max_gap_minutes
    )
    return groups, tuple(left_out)


@attrs.frozen
class StackRun:
    """What ``lco-reduce stack`` did with the products it was given.

    Attributes
    ----------
    coadds : tuple of FrameResult
        One per group of ``coadd.min_frames`` or more: made (ok, degraded) or failed.
    refused : tuple of (str, str)
        Files that cannot go into a coadd, with the one-line reason.
    alone : tuple of StackGroup
        Groups too small to stack.
    """

    coadds: tuple[FrameResult, ...]
    refused: tuple[tuple[str, str], ...]
    alone: tuple[StackGroup, ...]


def stack_products(
    paths: Sequence[str],
    *,
    out: Path,
    catalog: Path | None = None,
    offline: bool = False,
    settings: Settings = DEFAULT_SETTINGS,
    one_group: bool = False,
    compress: bool = True,
    thumbnails: bool = True,
) -> StackRun:
    """Group products and make a coadd of each group of ``coadd.min_frames`` or more (``lco-reduce stack``).

    Each group is its own unit: a group that fails is a record with its one-line reason, and
    the next group is still made. Reference stars come from ``catalog``, else Gaia DR3 (cached
    in ``OUT/catalog-cache``; ``offline``: the cache only), around each group's frames.

    Parameters
    ----------
    paths : sequence of str
        Reduced science products (e91, as ``lco-reduce run`` writes them, or BANZAI's).
    out : pathlib.Path
        Where the coadds (and their thumbnails, in ``thumbnails/``) are written.
    catalog : pathlib.Path, optional
        Reference catalogue file.
    offline : bool
        Never query Gaia.
    settings : Settings
        ``coadd.*`` and the science stages' settings.
    one_group : bool
        Stack every usable product together, whatever the grouping would say.
    compress : bool
        ``.fits.fz`` (True) or ``.fits``.
    thumbnails : bool
        Write a thumbnail of each coadd.

    Returns
    -------
    StackRun
    """
    from lco_cli.catalogs import CatalogError, catalog_source
    from lco_cli.plan import describe_error
    from lco_stages.coadd import CoaddSettings
    from lco_stages.wcs import AstrometrySearch

    groups, refused = group_products(paths, settings=settings, one_group=one_group)
    minimum = settings.of(CoaddSettings).min_frames
    search = settings.of(AstrometrySearch)
    now = dt.datetime.now(dt.UTC)
    folder = out / "thumbnails" if thumbnails else None
    coadds: list[FrameResult] = []
    source = None
    for group in groups:
        if len(group.members) < minimum:
            continue
        target = coadd_path(group, out, compressed=compress)
        task = CoaddTask(str(target), group.paths, None, settings=settings, now=now)
        try:
            with contextlib.ExitStack() as files:
                (ra, dec), radius = field_of([files.enter_context(ProductSource(p)) for p in group.paths])
            if source is None:
                source = catalog_source(
                    catalog_file=catalog, cache_dir=out / "catalog-cache", offline=offline
                )
            stars = source.stars_around(ra, dec, radius + search.radius_arcmin / 60.0)
            reference, problem = (
                (stars, "") if len(stars) else (None, f"no reference star within {radius:.3f} deg")
            )
        except CatalogError as error:
            reference, problem = None, error.problem
        except Exception as error:  # this group's own failure
            coadds.append(failed_coadd(task, describe_error(error, where=str(target))))
            continue
        if folder is not None:
            with contextlib.suppress(OSError):  # then its thumbnail says it was not written
                folder.mkdir(parents=True, exist_ok=True)
        task = attrs.evolve(
            task, reference=reference, reference_problem=problem,
            thumbnail_dir=str(folder) if folder is not None else None,
        )  # fmt: skip
        coadds.append(make_coadd(task))
    alone = tuple(group for group in groups if len(group.members) < minimum)
    return StackRun(tuple(coadds), refused, alone)
