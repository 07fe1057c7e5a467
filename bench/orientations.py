"""Astrometry and zero points in every camera mounting, with 1 % bad pixels (simulated truth).

    .venv/bin/python bench/orientations.py [--amp-size 1024] [--seed 21]

A Sinistro-like camera (4 amplifiers, 2048 x 2048 px by default) is mounted in each of the 8
signed axis permutations, each turned by a small rotation its raw header does not state, with
1 % of its pixels broken (hot pixels, warm columns, clusters). One night of biases, darks and
sky flats gives the masters and the bad pixel mask; one science frame per mounting is reduced
with the science stages. Printed per mounting: whether it solved, the WCS rms against every
true star on the frame, the stars in the fit, L1ZP minus the injected zero point and its star
count, and the seconds of the astrometric solve and of the whole science reduction.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import attrs
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    from helpers import load
    from test_mountings_end_to_end import ROTATIONS, SCIENCE_START, calibration_night

    from lco_core import Frame, ObsType
    from lco_instruments.simulate import (
        BadPixelDensity,
        Exposure,
        all_mountings,
        make_field,
        simulate_frame,
        sinistro,
        write_frame,
    )
    from lco_instruments.simulate.layout import parse_section
    from lco_stages.recipes import science_stages

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amp-size", type=int, default=1024, help="amplifier side, unbinned px")
    parser.add_argument("--seed", type=int, default=21)
    options = parser.parse_args()

    sim = sinistro(amp_size=options.amp_size, bad_pixels=BadPixelDensity.realistic(0.01))
    field = make_field(sim, seed=options.seed, stars_per_square_degree=12000)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        base = calibration_night(Path(folder) / "calibrations", sim, seed=options.seed, field=field)
        bad = float(np.mean(base.night.signatures.bad_pixels.any))
        print(
            f"{sim.camera.mosaic_shape[1]} x {sim.camera.mosaic_shape[0]} px, {bad:.2%} bad pixels; "
            f"masters and BPM from 15 frames in {time.perf_counter() - start:.0f} s"
        )
        print(
            f"{'north':>6} {'east':>6} {'turn':>6} {'solved':>7} {'rms':>7} {'stars':>6} "
            f"{'dZP':>8} {'ZP stars':>9} {'solve s':>8} {'total s':>8}"
        )
        for index, mounting in enumerate(all_mountings()):
            mounting = attrs.evolve(mounting, rotation_deg=ROTATIONS[index])
            mounted = attrs.evolve(sim, mounting=mounting)
            exposure = Exposure(
                obstype=ObsType.EXPOSE, exptime=120.0, start=SCIENCE_START, number=200 + index,
                dither_arcsec=(4.0, -3.0), pointing_error_arcsec=(95.0, -70.0),
            )  # fmt: skip
            simulated = simulate_frame(mounted, base.night.signatures, field, exposure, seed=200 + index)
            path = write_frame(Path(folder), simulated)
            frame, camera = load(path)
            stages = science_stages(
                camera, base.calibrations, reference=base.reference, pixel_scale=sim.pixel_scale
            )
            clock = time.perf_counter()
            solve_seconds = 0.0
            reduced: Frame = frame
            for stage in stages:
                before = time.perf_counter()
                reduced = stage(reduced)
                if reduced.history and reduced.history[-1].stage == "solve_wcs":
                    solve_seconds = time.perf_counter() - before
            total = time.perf_counter() - clock
            assert reduced.wcs is not None
            stars = simulated.truth.stars.keep_inside()
            x1, _, y1, _ = parse_section(sim.layout.trimsec)
            rms = float("nan")
            if reduced.wcs.solved:
                ra, dec = reduced.wcs.to_wcs().all_pix2world(
                    stars.x - (x1 - 1) + 1, stars.y - (y1 - 1) + 1, 1
                )
                offset = np.hypot((ra - stars.ra) * np.cos(np.radians(stars.dec)), dec - stars.dec) * 3600.0
                rms = float(np.sqrt(np.mean(offset**2)))
            (step,) = reduced.steps("calibrate_photometry")
            zero_point = float(step.diagnostics["L1ZP"])  # type: ignore[arg-type]
            error = zero_point - field.zero_points[exposure.filter]
            n_stars = step.diagnostics.get("L1ZPNSTR", 0)
            print(
                f"{mounting.north:>6} {mounting.east:>6} {mounting.rotation_deg:>+6.1f} "
                f'{"yes" if reduced.wcs.solved else "NO":>7} {rms:>6.3f}" {reduced.wcs.n_matched:>6d} '
                f"{error:>+8.4f} {n_stars!s:>9} {solve_seconds:>8.2f} {total:>8.2f}"
            )


if __name__ == "__main__":
    main()
