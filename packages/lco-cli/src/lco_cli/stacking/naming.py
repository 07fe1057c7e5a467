"""What a coadd is called: its reduction level, its kind, its file name and its inputs' digest."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from lco_cli.stacking.grouping import StackGroup

#: RLEVEL of a coadd: one above the single frames' 91 (BANZAI's unaligned smart stacks are 45).
COADD_REDUCTION_LEVEL = 92
#: What summary.json and the report call a coadd's kind (its OBSTYPE stays the inputs').
COADD_KIND = "STACK"
# LCO's name of a reduced frame: {prefix}{frame number}-{kind}{level}{suffix}.
_LCO_NAME = re.compile(
    r"^(?P<prefix>.*-)(?P<number>\d+)-(?P<kind>[a-z])(?P<level>\d{2})(?:\.fits(?:\.fz)?)?$"
)


def coadd_name(first: str, last: str, count: int, *, compressed: bool = True) -> str:
    """The coadd's file name: BANZAI's for its smart stacks, with our reduction level 92.

    ``cpt1m010-fa05-20260101-0042-e91.fits.fz`` to ``...-0047-e91.fits.fz`` gives
    ``cpt1m010-fa05-20260101-0042-0047-e92.fits.fz``: the first input's name with the last
    input's frame number after its own. Frame numbers are unique per camera and night, so two
    coadds of one night never share a name. Inputs not named as LCO names them get
    ``{first input's stem}-stack{count}-e92``.

    Parameters
    ----------
    first, last : str
        The names of the first and last inputs (DATE-OBS order).
    count : int
        Number of inputs.
    compressed : bool
        ``.fits.fz`` or plain ``.fits``.

    Returns
    -------
    str
    """
    suffix = ".fits.fz" if compressed else ".fits"
    head, tail = _LCO_NAME.match(Path(first).name), _LCO_NAME.match(Path(last).name)
    if head is not None and tail is not None:
        width = len(head["number"])
        return (
            f"{head['prefix']}{int(head['number']):0{width}d}-{int(tail['number']):0{width}d}-"
            f"{head['kind']}{COADD_REDUCTION_LEVEL}{suffix}"
        )
    stem = Path(first).name
    for ending in (".fz", ".gz", ".fits", ".fit", ".fts"):
        stem = stem.removesuffix(ending)
    return f"{stem}-stack{count}-e{COADD_REDUCTION_LEVEL}{suffix}"


def coadd_path(group: StackGroup, out: Path, *, compressed: bool = True) -> Path:
    """Where a group's coadd is written: `coadd_name` in ``out``.

    Parameters
    ----------
    group : StackGroup
        The frames.
    out : pathlib.Path
        The products folder.
    compressed : bool
        ``.fits.fz`` or ``.fits``.

    Returns
    -------
    pathlib.Path
    """
    first, last = Path(group.paths[0]).name, Path(group.paths[-1]).name
    return out / coadd_name(first, last, len(group.members), compressed=compressed)


def inputs_digest(paths: Sequence[str]) -> str:
    """SHA-256 over the inputs' names and contents: a coadd is done when this is unchanged.

    Parameters
    ----------
    paths : sequence of str
        The products stacked.

    Returns
    -------
    str
        64 hex digits.
    """
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(Path(path).name.encode("utf-8", "surrogateescape") + b"\0")
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
