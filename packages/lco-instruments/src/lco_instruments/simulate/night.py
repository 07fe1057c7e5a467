"""A simulated night: biases, darks, sky flats and science frames of one camera, written to disk."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import attrs
import numpy as np

from lco_core.io import write_raw
from lco_core.meta import ObsType
from lco_instruments.simulate.cameras import SimCamera
from lco_instruments.simulate.frames import (
    Exposure,
    Field,
    FrameTruth,
    Signatures,
    SimulatedFrame,
    camera_signatures,
    simulate_frame,
)
from lco_instruments.simulate.scene import star_catalog

#: Magnitude giving 1 e-/s on a 1 m telescope, per LCO filter (roughly LCO's measured values).
ZERO_POINTS = {
    "up": 21.0,
    "gp": 23.6,
    "rp": 23.5,
    "ip": 23.2,
    "zs": 22.3,
    "B": 23.0,
    "V": 23.3,
    "R": 23.4,
    "I": 22.9,
    "w": 24.2,
}


@attrs.frozen(eq=False)
class Night:
    """What `simulate_night` wrote, and the truth behind it.

    Attributes
    ----------
    folder : pathlib.Path
        Where the files are.
    sim : SimCamera
        The camera.
    signatures : Signatures
        Its bias, dark and flat.
    field : Field
        The sky.
    paths : tuple of pathlib.Path
        The raw files, in observing order.
    truths : tuple of FrameTruth
        What went into each, same order.
    catalog_path : pathlib.Path
        The reference catalogue (``refcat.ecsv``: ra, dec, mag).
    """

    folder: Path
    sim: SimCamera
    signatures: Signatures
    field: Field
    paths: tuple[Path, ...]
    truths: tuple[FrameTruth, ...]
    catalog_path: Path

    def truth_for(self, name: str) -> FrameTruth:
        """The truth of the frame with file name ``name``.

        Parameters
        ----------
        name : str
            A raw file's name.

        Returns
        -------
        FrameTruth

        Raises
        ------
        KeyError
            No such frame.
        """
        for truth in self.truths:
            if truth.filename == name:
                return truth
        raise KeyError(name)

    def paths_of(self, obstype: ObsType) -> tuple[Path, ...]:
        """The raw files of one OBSTYPE, in observing order.

        Parameters
        ----------
        obstype : ObsType
            E.g. ``ObsType.BIAS``.

        Returns
        -------
        tuple of pathlib.Path
        """
        return tuple(p for p, t in zip(self.paths, self.truths, strict=True) if t.obstype is obstype)


def make_field(
    sim: SimCamera,
    *,
    seed: int,
    stars_per_square_degree: float = 4000.0,
    center: tuple[float, float] = (150.25, -30.4),
    mag_range: tuple[float, float] = (12.0, 20.0),
    seeing_arcsec: float = 2.0,
) -> Field:
    """A star field covering the camera's view plus a margin for dithers and pointing errors.

    Parameters
    ----------
    sim : SimCamera
        The camera (its field of view).
    seed : int
        Random seed.
    stars_per_square_degree : float
        Star density.
    center : (float, float)
        Field centre (RA, Dec), degrees.
    mag_range : (float, float)
        Brightest and faintest magnitude.
    seeing_arcsec : float
        Seeing FWHM, arcsec.

    Returns
    -------
    Field
        With `ZERO_POINTS` as its zero points; at least 5 stars, over the field's radius plus
        5 arcmin.
    """
    ny, nx = sim.mosaic_shape
    half_diagonal = 0.5 * np.hypot(nx, ny) * sim.pixel_scale / 3600.0
    radius = half_diagonal + 5.0 / 60.0
    area = np.pi * radius**2
    n_stars = max(5, round(stars_per_square_degree * area))
    catalog = star_catalog(
        center[0],
        center[1],
        radius_deg=radius,
        n_stars=n_stars,
        rng=np.random.default_rng([seed, 3]),
        mag_range=mag_range,
    )
    return Field(catalog, center[0], center[1], dict(ZERO_POINTS), seeing_arcsec)


def night_plan(
    *,
    n_bias: int,
    n_dark: int,
    n_flat: int,
    n_science: int,
    filter: str,
    dark_exptime: float,
    flat_exptime: float,
    science_exptime: float,
    start: dt.datetime,
    seed: int,
    header_gain_factor: float = 1.0,
    pointing_error_range: tuple[float, float] = (0.0, 10.0),
) -> list[Exposure]:
    """The exposures of a night in observing order, with dithers and pointing errors drawn.

    Parameters
    ----------
    n_bias, n_dark, n_flat, n_science : int
        Frames of each OBSTYPE (in that order).
    filter : str
        FILTER of the flats and science frames.
    dark_exptime, flat_exptime, science_exptime : float
        Exposure times, seconds.
    start : datetime.datetime
        Start of the first exposure, UTC; each next one starts 30 s after the previous ends.
    seed : int
        Random seed.
    header_gain_factor : float
        Every frame's GAIN cards are the true gain times this (an Exposure's ``header_gain_factor``).
    pointing_error_range : (float, float)
        Smallest and largest header pointing error of a science frame, arcsec (direction at
        random). The default, up to 10 arcsec, is LCO's real pointing (BANZAI's PointingTest:
        "typical pointing is within 5 arcsec"); tests of the astrometry's search pass larger.

    Returns
    -------
    list of Exposure
        Sky flats dithered by up to 60 arcsec; science frames by up to 10 arcsec with header
        pointing errors drawn uniformly in ``pointing_error_range``.
    """
    rng = np.random.default_rng([seed, 4])
    base = Exposure(
        obstype=ObsType.BIAS,
        exptime=0.0,
        start=start,
        number=0,
        filter=filter,
        header_gain_factor=header_gain_factor,
    )
    drafts = [base] * n_bias
    drafts += [attrs.evolve(base, obstype=ObsType.DARK, exptime=dark_exptime)] * n_dark
    drafts += [
        attrs.evolve(
            base,
            obstype=ObsType.SKYFLAT,
            exptime=flat_exptime,
            dither_arcsec=(float(rng.uniform(-60, 60)), float(rng.uniform(-60, 60))),
            cosmic_rays=False,
        )
        for _ in range(n_flat)
    ]
    for _ in range(n_science):
        direction, error = rng.uniform(0, 2 * np.pi), rng.uniform(*pointing_error_range)
        drafts.append(
            attrs.evolve(
                base,
                obstype=ObsType.EXPOSE,
                exptime=science_exptime,
                dither_arcsec=(float(rng.uniform(-10, 10)), float(rng.uniform(-10, 10))),
                pointing_error_arcsec=(float(error * np.cos(direction)), float(error * np.sin(direction))),
            )
        )
    plan = []
    moment = start
    for number, draft in enumerate(drafts, start=1):
        plan.append(attrs.evolve(draft, start=moment, number=number))
        moment += dt.timedelta(seconds=draft.exptime + 30)
    return plan


def simulate_night(
    folder: str | Path,
    sim: SimCamera,
    *,
    seed: int = 0,
    n_bias: int = 5,
    n_dark: int = 5,
    n_flat: int = 5,
    n_science: int = 3,
    filter: str = "rp",
    dark_exptime: float = 300.0,
    flat_exptime: float = 5.0,
    science_exptime: float = 60.0,
    start: dt.datetime = dt.datetime(2026, 1, 1, 22, 0, tzinfo=dt.UTC),
    field: Field | None = None,
    compress: bool = True,
    header_gain_factor: float = 1.0,
    pointing_error_range: tuple[float, float] = (0.0, 10.0),
) -> Night:
    """Simulate and write a night of raw frames (plus ``refcat.ecsv`` and ``truth.json``).

    Parameters
    ----------
    folder : str or pathlib.Path
        Where to write (created).
    sim : SimCamera
        The camera.
    seed : int
        Random seed: the same seed gives the same night.
    n_bias, n_dark, n_flat, n_science : int
        Frames of each OBSTYPE.
    filter : str
        FILTER of the flats and science frames.
    dark_exptime, flat_exptime, science_exptime : float
        Exposure times, seconds.
    start : datetime.datetime
        Start of the night, UTC.
    field : Field, optional
        The sky; by default `make_field`.
    compress : bool
        Write ``.fits.fz`` (RICE tile compression) as LCO's archive serves frames.
    header_gain_factor : float
        Write GAIN cards of the true gain times this on every frame (a wrong header gain; the
        pixels keep the true gain).
    pointing_error_range : (float, float)
        Header pointing errors of the science frames, arcsec (`night_plan`): by default LCO's
        real few arcsec; e.g. ``(60, 180)`` to exercise the astrometry's search.

    Returns
    -------
    Night
    """
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    signatures = camera_signatures(sim, seed=seed)
    field = field or make_field(sim, seed=seed)
    plan = night_plan(
        n_bias=n_bias, n_dark=n_dark, n_flat=n_flat, n_science=n_science, filter=filter,
        dark_exptime=dark_exptime, flat_exptime=flat_exptime, science_exptime=science_exptime,
        start=start, seed=seed, header_gain_factor=header_gain_factor,
        pointing_error_range=pointing_error_range,
    )  # fmt: skip
    paths, truths = [], []
    for exposure in plan:
        frame = simulate_frame(sim, signatures, field, exposure, seed=seed)
        paths.append(write_frame(target, frame, compress=compress))
        truths.append(frame.truth)
    catalog_path = target / "refcat.ecsv"
    field.catalog.to_table().write(catalog_path, format="ascii.ecsv", overwrite=True)
    night = Night(target, sim, signatures, field, tuple(paths), tuple(truths), catalog_path)
    (target / "truth.json").write_text(json.dumps(truth_summary(night), indent=1))
    return night


def write_frame(folder: Path, frame: SimulatedFrame, *, compress: bool = True) -> Path:
    """Write a simulated frame in LCO's raw format (`~lco_core.io.raw_writer.write_raw`).

    Parameters
    ----------
    folder : pathlib.Path
        Target folder.
    frame : SimulatedFrame
        The frame.
    compress : bool
        ``.fits.fz`` (True) or plain ``.fits``.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    name = frame.filename if compress else frame.filename.removesuffix(".fz")
    images = [
        ("SCI", readout, header)
        for readout, header in zip(frame.readouts, frame.extension_headers, strict=True)
    ]
    return write_raw(folder / name, frame.primary, images, compress=compress)


def truth_summary(night: Night) -> dict[str, object]:
    """Scalars of the truth a person (or the demo) compares products with.

    Parameters
    ----------
    night : Night
        A simulated night.

    Returns
    -------
    dict
        Gains, read noise, crosstalk, mounting, bias rms, median dark rate, bad pixels by
        kind, bad columns, zero points and, per frame, overscan levels, sky, stars, cosmic-ray
        tracks, FWHM, the true and header pointing and the true and header CD matrices (what
        ``truth.json`` holds).
    """
    sim = night.sim
    bad = night.signatures.bad_pixels
    return {
        "camera": sim.name,
        "gain": [a.gain for a in sim.electronics],
        "read_noise": [a.read_noise for a in sim.electronics],
        "crosstalk": [list(row) for row in sim.crosstalk],
        "mounting": {
            "north": sim.mounting.north,
            "east": sim.mounting.east,
            "rotation_deg": sim.mounting.rotation_deg,
        },
        "bias_structure_rms_e": float(np.std(night.signatures.bias)),
        "dark_rate_median_e_per_s": float(np.median(night.signatures.dark.rate)),
        "hot_pixels": int(night.signatures.dark.hot.sum()),
        "bad_pixels": {
            "hot": int(bad.hot.sum()),
            "warm_columns": int(bad.warm_columns.sum()),
            "hot_clusters": int(bad.hot_clusters.sum()),
            "dead_clusters": int(bad.dead_clusters.sum()),
            "low_response": int(bad.low_response.sum()),
            "any": int(bad.any.sum()),
        },
        "flat_bad_columns": list(night.signatures.flat.bad_columns),
        "field_center": [night.field.center_ra, night.field.center_dec],
        "zero_points": night.field.zero_points,
        "frames": [
            {
                "file": t.filename,
                "obstype": t.obstype.value,
                "exptime": t.exptime,
                "filter": t.filter,
                "overscan_adu": list(t.overscan),
                "sky_e": t.sky,
                "stars_inside": int(t.stars.inside.sum()),
                "cosmic_ray_tracks": len(t.cosmic.tracks),
                "fwhm_px": t.fwhm_px,
                "true_crval": [float(v) for v in t.wcs.wcs.crval],
                "header_crval": [float(v) for v in t.header_wcs.wcs.crval],
                "true_cd": t.wcs.wcs.cd.tolist(),
                "header_cd": t.header_wcs.wcs.cd.tolist(),
            }
            for t in night.truths
        ],
    }
