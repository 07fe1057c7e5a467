"""Detection and false-alarm rates of the per-frame quality tests (simulated truth, issue 15).

    .venv/bin/python bench/quality_rates.py [--defects 200] [--clean 300] [--sweep 60] [--seed 1]

For each quality test, ``--defects`` frames with its fault injected by the simulator at the
amplitudes a user cares about, and ``--clean`` fault-free frames (biases, darks, sky flats,
science frames with LCO's real pointing errors of 0-10 arcsec) of an SBIG (256 x 256 binned
pixels) and a Sinistro (512 x 512, four amplifiers); the trials are those of
tests/quality_trials.py (its docstring lists the amplitudes). Each frame goes through the
amplifier stages and the quality tests in memory; the pointing test gets a solution built from
the true WCS with a 0.3 arcsec error (no solver run). Printed per test: frames detected at the
expected verdict of N, and clean frames flagged of the N the test ran on; the pattern-noise
detection rate at smaller amplitudes (0.1-0.3 read noise, ``--sweep`` frames each); then each miss
and false alarm. Targets: detection >= 95%, false alarms <= 1%.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

#: Pattern-noise amplitudes of the sensitivity sweep, read noises.
SWEEP = (0.1, 0.15, 0.2, 0.3)


def main() -> None:
    from quality_trials import TESTS, clean_trials, defect_trials, rates

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--defects", type=int, default=200, help="defect frames per test")
    parser.add_argument("--clean", type=int, default=300, help="clean frames (shared by the tests)")
    parser.add_argument("--sweep", type=int, default=60, help="frames per amplitude of the pattern sweep")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        clean = list(clean_trials(options.clean, folder, seed=options.seed))
        found = {
            test: rates(test, list(defect_trials(test, options.defects, folder, seed=options.seed)), clean)
            for test in TESTS
        }
        sweep = {
            scale: rates(
                "pattern_noise",
                list(
                    defect_trials(
                        "pattern_noise", options.sweep, folder, seed=options.seed + 1, scales=(scale,)
                    )
                ),
                clean,
            )
            for scale in SWEEP
        }
    print(f"{'test':<15}{'detected':>14}{'rate':>9}{'false alarms':>16}{'rate':>9}")
    for test, r in found.items():
        print(
            f"{test:<15}{r.detected:>8d} / {r.n_defect:<4d}{r.detection_rate:>8.1%}"
            f"{r.alarms:>10d} / {r.n_clean:<4d}{r.false_alarm_rate:>8.1%}"
        )
    print("pattern noise against amplitude (bias, dark, science; both cameras; 0.05-0.45 cycles/px):")
    for scale, r in sweep.items():
        print(f"  {scale:4.2f} x read noise: {r.detected:>4d} / {r.n_defect:<4d}{r.detection_rate:>8.1%}")
    for test, r in found.items():
        for what in r.missed:
            print(f"  {test} missed: {what}")
        for what in r.false:
            print(f"  {test} false alarm: {what}")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
