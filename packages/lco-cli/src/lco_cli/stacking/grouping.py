"""Which reduced science frames go into one coadd: their grouping facts, and the groups."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

import attrs

from lco_core.header import Header
from lco_core.io.meta import PLACEHOLDERS
from lco_core.io.product_source import ProductSource
from lco_core.meta import FrameMeta

#: The observation keys, in the order they are trusted: LCO's molecule, then its request.
OBSERVATION_KEYS = ("MOLUID", "REQNUM")


@attrs.frozen
class StackCandidate:
    """A reduced science frame as grouping sees it: from its product's header.

    Attributes
    ----------
    path : str
        The product.
    site, telescope, camera : str
        SITEID, TELESCOP, INSTRUME.
    binning : str
        CCDSUM, e.g. ``'1x1'``.
    filter : str
        FILTER ('' when absent).
    date_obs : datetime.datetime
        DATE-OBS (start), UTC.
    exptime : float
        Seconds.
    centre : (float, float)
        RA and Dec of the image's middle pixel, degrees.
    observation : str
        ``'MOLUID 206737835'``, ``'REQNUM 0000578123'``, or '' when the header names none.
    object_name : str
        OBJECT ('' when absent): recorded, not grouped by.
    """

    path: str
    site: str
    telescope: str
    camera: str
    binning: str
    filter: str
    date_obs: dt.datetime
    exptime: float
    centre: tuple[float, float]
    observation: str = ""
    object_name: str = ""

    @property
    def end(self) -> dt.datetime:
        """When the exposure ended (DATE-OBS + EXPTIME)."""
        return self.date_obs + dt.timedelta(seconds=self.exptime)

    @property
    def setup(self) -> tuple[str, ...]:
        """What must be equal for two frames to be stacked: set-up, filter and observation."""
        return (self.site, self.telescope, self.camera, self.binning, self.filter, self.observation)


def observation_of(header: Header) -> str:
    """The observation a header names: ``'MOLUID <id>'``, else ``'REQNUM <id>'``, else ''.

    Parameters
    ----------
    header : Header
        A product's (or raw frame's) header.

    Returns
    -------
    str
        Placeholders (`lco_core.io.meta.PLACEHOLDERS`, and 0) count as absent.
    """
    for keyword in OBSERVATION_KEYS:
        value = header.get(keyword)
        if value is None or isinstance(value, bool):
            continue
        text = str(value).strip()
        if text.upper() in PLACEHOLDERS or text.strip("0") == "":
            continue
        return f"{keyword} {text}"
    return ""


def candidate_of(path: str, meta: FrameMeta, header: Header, centre: tuple[float, float]) -> StackCandidate:
    """A frame's grouping facts from its typed metadata, its header and its centre on the sky.

    Parameters
    ----------
    path : str
        The product.
    meta : FrameMeta
        Its metadata.
    header : Header
        Its header (MOLUID, REQNUM).
    centre : (float, float)
        RA and Dec of its middle pixel, degrees.

    Returns
    -------
    StackCandidate
    """
    return StackCandidate(
        path=path, site=meta.site, telescope=meta.telescope, camera=meta.camera, binning=str(meta.binning),
        filter=meta.filter or "", date_obs=meta.date_obs, exptime=meta.exptime,
        centre=(float(centre[0]), float(centre[1])), observation=observation_of(header),
        object_name=meta.object_name or "",
    )  # fmt: skip


def candidate_from_source(source: ProductSource) -> StackCandidate:
    """`candidate_of` a product opened as a coadd input (its solved WCS gives the centre).

    Parameters
    ----------
    source : ProductSource
        The product.

    Returns
    -------
    StackCandidate
    """
    ny, nx = source.shape
    ra, dec = source.wcs.all_pix2world([(nx - 1) / 2.0], [(ny - 1) / 2.0], 0)
    return candidate_of(source.path, source.meta, source.header, (float(ra[0]), float(dec[0])))


def separation_arcsec(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The angle between two sky positions (RA, Dec in degrees), arcsec (haversine: exact at any angle).

    Parameters
    ----------
    a, b : (float, float)
        RA and Dec, degrees.

    Returns
    -------
    float
    """
    ra1, dec1, ra2, dec2 = (math.radians(v) for v in (*a, *b))
    term = math.sin((dec2 - dec1) / 2) ** 2 + math.cos(dec1) * math.cos(dec2) * math.sin((ra2 - ra1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(term)))) * 3600.0


@attrs.frozen
class StackGroup:
    """Frames that go into one coadd, in DATE-OBS order.

    Attributes
    ----------
    members : tuple of StackCandidate
        The frames.
    """

    members: tuple[StackCandidate, ...]

    @property
    def first(self) -> StackCandidate:
        """The earliest frame."""
        return self.members[0]

    @property
    def paths(self) -> tuple[str, ...]:
        """The products, in DATE-OBS order."""
        return tuple(m.path for m in self.members)

    def describe(self) -> str:
        """One line: camera, filter, how many frames, where, and by what they were grouped."""
        first = self.first
        by = first.observation or "place and time"
        return (
            f"{first.camera} {first.filter or 'no filter'} {len(self.members)} frames at RA "
            f"{first.centre[0]:.4f}, Dec {first.centre[1]:+.4f} ({by})"
        )


def group_candidates(
    candidates: Iterable[StackCandidate], *, max_separation_arcsec: float, max_gap_minutes: float
) -> tuple[StackGroup, ...]:
    """Frames grouped by set-up, filter and observation, then by place and sitting (`lco_cli.stacking`).

    Parameters
    ----------
    candidates : iterable of StackCandidate
        Reduced science frames.
    max_separation_arcsec : float
        Farthest a frame's centre may be from its group's first frame's.
    max_gap_minutes : float
        Longest time from the end of a group's previous frame to the start of the next.

    Returns
    -------
    tuple of StackGroup
        Every frame in exactly one group (groups of one included), groups in order of their
        first frame's DATE-OBS (then path), frames in DATE-OBS order. The result does not depend
        on the order of ``candidates``.
    """
    by_setup: dict[tuple[str, ...], list[StackCandidate]] = {}
    for candidate in sorted(candidates, key=lambda c: (c.date_obs, c.path)):
        by_setup.setdefault(candidate.setup, []).append(candidate)
    gap = dt.timedelta(minutes=max_gap_minutes)
    groups: list[list[StackCandidate]] = []
    for frames in by_setup.values():
        open_groups: list[list[StackCandidate]] = []
        for frame in frames:
            home = next(
                (
                    group
                    for group in open_groups
                    if frame.date_obs - group[-1].end <= gap
                    and separation_arcsec(frame.centre, group[0].centre) <= max_separation_arcsec
                ),
                None,
            )
            if home is None:
                home = []
                open_groups.append(home)
                groups.append(home)
            home.append(frame)
    groups.sort(key=lambda g: (g[0].date_obs, g[0].path))
    return tuple(StackGroup(tuple(group)) for group in groups)
