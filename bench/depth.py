"""L1DEPTH against artificial stars: the 50%-completeness magnitude minus the card, per sky and seeing.

    .venv/bin/python bench/depth.py [--quick]

Stars are injected through the simulator (tests/test_depth.py, `inject_and_recover`): added to
the field's catalogue, rendered by the simulator's own Moffat code at its own seeing with every
noise and defect, written as raw files and reduced by the science recipe with masters made as
the pipeline makes them; their magnitudes are on the simulator's true zero point. A star is
recovered when a catalogue source lies within max(1 pixel, FWHM/2) of it with S/N >= 5 in the
card's aperture. Per condition it prints the card (mean over frames), the 50% magnitude of a logistic
fitted to recovery (and to detection alone), their difference, the zero point's error against
the truth, and the pull of the bright injected stars' fluxes, ``(flux - true) / error`` in the
card's photometry: its median says whether the aperture correction and zero point put them
on the true scale, its robust spread whether the ERR plane's noise is the real one. A last run
injects stars as close as 5 FWHM to real ones, where sep's CLEAN removes faint detections.
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

from test_depth import (  # noqa: E402  (tests/ is importable only after the line above)
    BRIGHT_SKY,
    DARK_SKY,
    Conditions,
    Trial,
    calibrations,
    half_completeness,
    inject_and_recover,
)

from lco_core.stats import robust_std  # noqa: E402
from lco_instruments.simulate import sbig  # noqa: E402

CONDITIONS: tuple[tuple[Conditions, int], ...] = (
    (BRIGHT_SKY, 12),
    (DARK_SKY, 60),
    (Conditions("grey sky, 2.0 arcsec seeing", seeing_arcsec=2.0, sky_rate=8.0), 24),
    (Conditions("dark sky, 2.0 arcsec seeing, 300 s", seeing_arcsec=2.0, sky_rate=2.0, exptime=300.0), 24),
    (Conditions("dark sky, 3.0 arcsec seeing", 3.0, 2.0, stars_per_square_degree=3000.0), 80),
)


def summarise(name: str, trials: list[Trial], elapsed: float) -> float:
    """Print one condition's figures; returns the 50% magnitude minus the card."""
    carded = [t for t in trials if not t.reason]
    magnitudes = np.concatenate([t.magnitudes for t in carded])
    recovered = np.concatenate([t.recovered for t in carded])
    detected = np.concatenate([t.detected for t in carded])
    card = float(np.mean([t.depth for t in carded]))
    spread = float(np.std([t.depth for t in carded]))
    m50, width = half_completeness(magnitudes, recovered)
    d50, _ = half_completeness(magnitudes, detected)
    zero_point_error = float(np.mean([t.zero_point - t.true_zero_point for t in carded]))
    bright = magnitudes < card - 0.5
    true_flux = np.concatenate(
        [10 ** (-0.4 * (t.magnitudes - t.true_zero_point)) * t.exptime for t in carded]
    )
    flux = np.concatenate([t.flux for t in carded])
    error = np.concatenate([t.flux_error for t in carded])
    pull = ((flux - true_flux) / error)[bright & np.isfinite(flux)]
    near = np.abs(magnitudes - card) < 0.6
    print(
        f"{name:<38} frames {len(carded):3d}/{len(trials):<3d} stars {magnitudes.size:4d} "
        f"L1DEPTH {card:6.3f} (sd {spread:.3f})  50% {m50:6.3f} (width {width:.2f})  "
        f"diff {m50 - card:+.3f}  detected 50% {d50:6.3f}  ZP-truth {zero_point_error:+.3f}  "
        f"pull median {np.median(pull):+.2f} rstd {robust_std(pull):.2f}  "
        f"bright recovered {recovered[bright].mean():.3f}  ({near.sum()} within 0.6 mag; {elapsed:.0f} s)"
    )
    if len(carded) < len(trials):
        print("    frames without a card:", sorted({t.reason for t in trials if t.reason}))
    return m50 - card


def run(
    conditions: Conditions, frames: int, folder: Path, *, seed: int, clearance: float | None = None
) -> list[Trial]:
    night, cal = calibrations(folder / f"masters-{seed}", sbig(size=1024), seed=seed)
    options = {} if clearance is None else {"clearance_fwhm": clearance}
    return [
        inject_and_recover(night, cal, conditions, index, folder=folder, seed=seed, **options)
        for index in range(frames)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a third of the frames")
    args = parser.parse_args()
    share = 3 if args.quick else 1
    differences = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for seed in (101, 202):
            print(f"-- seed {seed}")
            for conditions, frames in CONDITIONS:
                start = time.perf_counter()
                trials = run(conditions, max(frames // share, 4), folder, seed=seed)
                differences.append(summarise(conditions.name, trials, time.perf_counter() - start))
        largest = max(abs(d) for d in differences)
        print(f"largest |50% - L1DEPTH| over {len(differences)} runs: {largest:.3f} mag")
        print("-- crowding: injected stars 5 FWHM from real ones (the test keeps them 14 FWHM away)")
        crowded = attrs.evolve(BRIGHT_SKY, name="bright sky, 1.5 arcsec, 5 FWHM clearance")
        start = time.perf_counter()
        trials = run(crowded, max(12 // share, 4), folder, seed=303, clearance=5.0)
        summarise(crowded.name, trials, time.perf_counter() - start)


if __name__ == "__main__":
    main()
