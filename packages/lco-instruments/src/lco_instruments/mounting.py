"""Camera mountings: how each camera's pixel grid lies on the sky, as typed data.

LCO's cameras are not all mounted north up, east left. Each entry is the orientation of the CD
matrix in that camera's own raw headers (shared/data/real), the prior the astrometric solver
starts from when a frame's header carries no WCS of its own. The solver does not depend on it:
it finds any rotation and either parity; a right prior only makes it faster.
"""

from __future__ import annotations

from lco_core.orientation import Orientation

_MIRRORED_SOUTH_UP = Orientation(((-1.0, 0.0), (0.0, -1.0)))  # diag(-s, -s): north down, east left
_NORTH_UP_EAST_LEFT = Orientation(((-1.0, 0.0), (0.0, 1.0)))  # diag(-s, +s)
_TURNED_180 = Orientation(((1.0, 0.0), (0.0, -1.0)))  # diag(+s, -s): north down, east right

#: INSTRUME -> mounting, each from that camera's raw header CD matrix.
MOUNTINGS: dict[str, Orientation] = {
    "kb05": _MIRRORED_SOUTH_UP,  # coj1m011-kb05-20150219-0125-e90 (fitted: 0.35 deg from this)
    "kb70": _MIRRORED_SOUTH_UP,  # cpt1m010-kb70-20151219-0073-e10, -0075-s10, kb70 masters
    "kb76": _MIRRORED_SOUTH_UP,  # neoexchange test_header and example_lco_proc_hdr (fitted)
    "kb78": _MIRRORED_SOUTH_UP,  # lsc1m005-kb78-20151109-0179-e90
    "kb35": _TURNED_180,  # sqa0m801-kb35-20151216-0966-g00
    "kb29": Orientation(((0.0, 1.0), (-1.0, 0.0))),  # tfn0m414-kb29-20151216-0380-t00: turned and mirrored
    "fl08": _NORTH_UP_EAST_LEFT,  # coj1m011-fl08-20151216-0048-x00 and its bias and dark
    "fl10": _NORTH_UP_EAST_LEFT,  # cpt1m012-fl10-20151216-0073-e00, -0075-s00, -0044-f00
    "fa05": _NORTH_UP_EAST_LEFT,  # neoexchange mef_raw_test_frame.fits
}


def mounting_for(camera: str) -> Orientation | None:
    """The mounting of a camera (INSTRUME, any case), or None when it is not known.

    Parameters
    ----------
    camera : str
        INSTRUME, e.g. 'kb70'.

    Returns
    -------
    Orientation or None
    """
    return MOUNTINGS.get(camera.strip().lower())
