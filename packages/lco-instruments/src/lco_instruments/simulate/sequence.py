"""A simulated observing sequence: repeated exposures of one field, dithered, rotated, in varying seeing.

The truth of the coadd tests (issue 16): one night's calibration frames (`simulate_night`) and
``n_frames`` science exposures of the same field, each with its own true pointing offset (up to
``max_dither_arcsec`` per axis), field rotation (up to ``max_rotation_deg``), seeing, and cosmic
rays, through the same forward model (`simulate_frame`) as every other simulated frame.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np

from lco_core.meta import ObsType
from lco_instruments.simulate.cameras import SimCamera
from lco_instruments.simulate.frames import Exposure, Field, simulate_frame
from lco_instruments.simulate.night import Night, make_field, simulate_night, truth_summary, write_frame

__all__ = ["sequence_plan", "simulate_sequence"]


def sequence_plan(
    n_frames: int,
    *,
    start: dt.datetime,
    first_number: int,
    exptime: float,
    seed: int,
    filter: str = "rp",
    max_dither_arcsec: float = 30.0,
    max_rotation_deg: float = 0.5,
    seeing_arcsec: Sequence[float | None] = (),
    pointing_error_arcsec: float = 5.0,
    cosmic_rays: bool = True,
    object_name: str = "simulated sequence",
) -> tuple[Exposure, ...]:
    """The exposures of one sequence, in time order, with their dithers and rotations drawn.

    Parameters
    ----------
    n_frames : int
        Exposures.
    start : datetime.datetime
        Start of the first, UTC; each next one starts ``exptime + 30`` s later.
    first_number : int
        FRAMENUM of the first.
    exptime : float
        Seconds, each.
    seed : int
        Random seed of the dithers, rotations and header pointing errors.
    filter : str
        FILTER.
    max_dither_arcsec : float
        True pointing offsets are drawn uniformly in ``[-max, max]`` per axis (east, north).
    max_rotation_deg : float
        Field rotations are drawn uniformly in ``[-max, max]``.
    seeing_arcsec : sequence of float or None
        Seeing FWHM per exposure (None or missing: the field's).
    pointing_error_arcsec : float
        Header pointing error (header minus truth), drawn up to this, any direction.
    cosmic_rays : bool
        Deposit cosmic rays.
    object_name : str
        OBJECT.

    Returns
    -------
    tuple of Exposure
    """
    rng = np.random.default_rng([seed, 16])
    exposures = []
    for index in range(n_frames):
        dither = rng.uniform(-max_dither_arcsec, max_dither_arcsec, size=2)
        rotation = float(rng.uniform(-max_rotation_deg, max_rotation_deg))
        direction, error = rng.uniform(0, 2 * np.pi), rng.uniform(0, pointing_error_arcsec)
        exposures.append(
            Exposure(
                ObsType.EXPOSE,
                exptime,
                start + dt.timedelta(seconds=index * (exptime + 30.0)),
                first_number + index,
                filter=filter,
                dither_arcsec=(float(dither[0]), float(dither[1])),
                pointing_error_arcsec=(float(error * np.cos(direction)), float(error * np.sin(direction))),
                cosmic_rays=cosmic_rays,
                object_name=object_name,
                rotation_deg=rotation,
                seeing_arcsec=seeing_arcsec[index] if index < len(seeing_arcsec) else None,
            )
        )
    return tuple(exposures)


def simulate_sequence(
    folder: str | Path,
    sim: SimCamera,
    *,
    n_frames: int = 5,
    seed: int = 0,
    exptime: float = 60.0,
    filter: str = "rp",
    field: Field | None = None,
    n_bias: int = 3,
    n_dark: int = 3,
    n_flat: int = 3,
    max_dither_arcsec: float = 30.0,
    max_rotation_deg: float = 0.5,
    seeing_arcsec: Sequence[float | None] = (),
    cosmic_rays: bool = True,
    compress: bool = False,
) -> Night:
    """A night's calibrations and one sequence of ``n_frames`` science exposures, written to ``folder``.

    Parameters
    ----------
    folder : str or pathlib.Path
        Where to write (created).
    sim : SimCamera
        The camera.
    n_frames : int
        Science exposures in the sequence.
    seed : int
        Random seed: the same seed gives the same files.
    exptime : float
        Science exposure time, seconds.
    filter : str
        FILTER of the flats and the sequence.
    field : Field, optional
        The sky; by default `make_field`.
    n_bias, n_dark, n_flat : int
        Calibration frames.
    max_dither_arcsec, max_rotation_deg : float
        Largest true pointing offset per axis and field rotation (`sequence_plan`).
    seeing_arcsec : sequence of float or None
        Seeing per exposure (missing: the field's).
    cosmic_rays : bool
        Deposit cosmic rays in the science exposures.
    compress : bool
        Write ``.fits.fz``.

    Returns
    -------
    Night
        The calibrations first, then the sequence in time order; ``truth.json`` rewritten.
    """
    target = Path(folder)
    field = field or make_field(sim, seed=seed)
    night = simulate_night(
        target, sim, seed=seed, n_bias=n_bias, n_dark=n_dark, n_flat=n_flat, n_science=0, filter=filter,
        field=field, compress=compress,
    )  # fmt: skip
    start = dt.datetime(2026, 1, 2, 1, 0, tzinfo=dt.UTC)
    plan = sequence_plan(
        n_frames, start=start, first_number=len(night.paths) + 1, exptime=exptime, seed=seed,
        filter=filter, max_dither_arcsec=max_dither_arcsec, max_rotation_deg=max_rotation_deg,
        seeing_arcsec=seeing_arcsec, cosmic_rays=cosmic_rays,
    )  # fmt: skip
    paths, truths = list(night.paths), list(night.truths)
    for exposure in plan:
        frame = simulate_frame(sim, night.signatures, field, exposure, seed=seed)
        paths.append(write_frame(target, frame, compress=compress))
        truths.append(frame.truth)
    sequence = attrs.evolve(night, paths=tuple(paths), truths=tuple(truths))
    (target / "truth.json").write_text(json.dumps(truth_summary(sequence), indent=1))
    return sequence
