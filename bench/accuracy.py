"""Accuracy of the reduction against the simulator's truth: prints the figures the issues ask for.

.venv/bin/python bench/accuracy.py [--amp-size 256]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import load, masters_of, trimmed

from lco_core import ObsType
from lco_instruments.simulate import simulate_night, sinistro
from lco_stages.bpm import make_bad_pixel_mask
from lco_stages.recipes import recipe_for


def calibration_figures(amp_size: int, seed: int) -> None:
    n_bias, n_dark, n_flat = 7, 5, 5
    with tempfile.TemporaryDirectory() as folder:
        night = simulate_night(
            Path(folder),
            sinistro(amp_size=amp_size),
            n_bias=n_bias,
            n_dark=n_dark,
            n_flat=n_flat,
            n_science=2,
            seed=seed,
        )
        camera = night.sim.camera
        cal = masters_of(night)
        assert cal.bias is not None
        assert cal.dark is not None
        assert cal.flat is not None
        read_noise = camera.amplifiers[0].read_noise
        bias_truth = trimmed(night.signatures.bias, camera)
        residual = cal.bias.frame.data - bias_truth
        residual -= np.median(residual)
        print(
            f"master bias: rms error {np.std(residual):.3f} e- ;"
            f" ideal rn/sqrt(N) {read_noise / np.sqrt(n_bias):.3f} e-"
            f" ; ratio {np.std(residual) / (read_noise / np.sqrt(n_bias)):.3f} (target <= 1.2)"
        )
        dark_truth = trimmed(night.signatures.dark.rate, camera)
        good = cal.dark.frame.mask == 0
        pulls = ((cal.dark.frame.data - dark_truth) / cal.dark.frame.uncertainty)[good]
        bpm = make_bad_pixel_mask(dark=cal.dark, flat=cal.flat, filename="bpm")
        hot = trimmed(night.signatures.dark.hot, camera)
        print(
            f"master dark: pull mean {np.mean(pulls):+.3f}, pull width {np.std(pulls):.3f} ;"
            f" hot pixels {hot.sum()},"
            f" recall {(bpm.mask[hot] > 0).mean():.3f} (target >= 0.95), BPM pixels {int(bpm.mask.sum())}"
        )
        true_flat = trimmed(night.signatures.flat.response, camera).astype(np.float64)
        good = cal.flat.frame.mask == 0
        ratio = cal.flat.frame.data / true_flat
        ratio /= np.median(ratio[good])
        ideal = np.sqrt(25000 * true_flat + read_noise**2) / (25000 * true_flat) / np.sqrt(n_flat)
        rms, ideal_rms = np.sqrt(np.mean((ratio[good] - 1) ** 2)), np.sqrt(np.mean(ideal[good] ** 2))
        columns = night.signatures.flat.bad_columns
        low = trimmed(night.signatures.flat.low_response, camera)
        print(
            f"master flat: rms(master/true - 1) {rms:.5f} ; photon-noise ideal {ideal_rms:.5f} ;"
            f" ratio {rms / ideal_rms:.3f}"
            f" (target <= 1.2) ;"
            f" bad-column pixels in BPM {(bpm.mask[low] > 0).mean():.3f}"
            f" of {int(low.sum())} ({len(columns)} columns)"
        )
        for path in night.paths_of(ObsType.EXPOSE):
            frame, _ = load(path)
            calibrated = recipe_for(ObsType.EXPOSE, camera, cal)(frame)
            truth = night.truth_for(path.name)
            sig = night.signatures
            light = trimmed(
                (truth.expected - sig.bias - sig.dark.rate * truth.exptime) / sig.flat.response, camera
            )
            scale = np.median(cal.flat.frame.data / trimmed(sig.flat.response, camera))
            cosmic = trimmed(truth.cosmic.mask, camera)
            near = (
                cosmic
                | np.roll(cosmic, 1, 0)
                | np.roll(cosmic, -1, 0)
                | np.roll(cosmic, 1, 1)
                | np.roll(cosmic, -1, 1)
            )
            good = (calibrated.mask == 0) & ~near
            pulls = ((calibrated.data - light / scale) / calibrated.uncertainty)[good]
            print(
                f"science {path.name}: pull mean {np.mean(pulls):+.3f}, "
                f"width {np.std(pulls):.3f} (target 1 +- 0.05)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--amp-size", type=int, default=256, help="Sinistro amplifier side, unbinned pixels")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    print(f"simulated Sinistro, 4 amplifiers of {args.amp_size}x{args.amp_size}, seed {args.seed}")
    calibration_figures(args.amp_size, args.seed)


if __name__ == "__main__":
    main()
