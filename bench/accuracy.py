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
    science_figures(args.seed + 10)


def science_figures(seed: int) -> None:
    """Cosmic rays, sources, astrometry and zero points on a simulated field against the truth."""
    from lco_cli.catalogs import read_reference_file
    from lco_core import MaskBit
    from lco_instruments.simulate import make_field
    from lco_stages.photometry import cross_match
    from lco_stages.recipes import science_recipe

    sim = sinistro(amp_size=512)
    field = make_field(sim, seed=seed, stars_per_square_degree=20000)
    with tempfile.TemporaryDirectory() as folder:
        night = simulate_night(Path(folder), sim, n_science=3, seed=seed, science_exptime=300.0, field=field)
        camera = sim.camera
        cal = masters_of(night)
        bpm = make_bad_pixel_mask(dark=cal.dark, flat=cal.flat, filename="bpm")
        cal = type(cal)(bias=cal.bias, dark=cal.dark, flat=cal.flat, bpm=bpm)
        reference = read_reference_file(night.catalog_path)
        ox, oy = camera.trim_section.x_min - 1, camera.trim_section.y_min - 1
        found = total = false_pixels = flagged_pixels = 0
        dx: list[float] = []
        dy: list[float] = []
        flux_ratio: list[float] = []
        fwhm: list[float] = []
        for path in night.paths_of(ObsType.EXPOSE):
            frame, _ = load(path)
            reduced = science_recipe(camera, cal, reference=reference, pixel_scale=sim.pixel_scale)(frame)
            truth = night.truth_for(path.name)
            flagged = (reduced.mask & MaskBit.COSMIC) > 0
            true_mask = trimmed(truth.cosmic.mask, camera)
            near = true_mask | np.roll(true_mask, 1, 0) | np.roll(true_mask, -1, 0)
            near |= np.roll(true_mask, 1, 1) | np.roll(true_mask, -1, 1)
            for track in truth.cosmic.tracks:
                n = max(2, int(track.length * 4))
                xs = np.round(np.linspace(track.x0, track.x1, n) - ox).astype(int)
                ys = np.round(np.linspace(track.y0, track.y1, n) - oy).astype(int)
                on = (xs >= 0) & (ys >= 0) & (xs < flagged.shape[1]) & (ys < flagged.shape[0])
                if on.any():
                    total += 1
                    found += bool(flagged[ys[on], xs[on]].mean() >= 0.5)
            flagged_pixels += int(flagged.sum())
            false_pixels += int((flagged & ~near).sum())
            stars = truth.stars.keep_inside()
            catalog = reduced.sources
            assert catalog is not None
            assert reduced.wcs is not None
            assert reduced.wcs.solved
            tx, ty = stars.x - ox + 1, stars.y - oy + 1
            ra, dec = reduced.wcs.to_wcs().all_pix2world(tx, ty, 1)
            offsets = np.hypot((ra - stars.ra) * np.cos(np.radians(stars.dec)), dec - stars.dec) * 3600
            step = reduced.steps("calibrate_photometry")[-1].diagnostics
            zp = step["L1ZP"]
            print(
                f"science {path.name}: astrometric rms vs true positions"
                f" {np.sqrt(np.mean(offsets**2)):.4f} arcsec over {len(stars)} stars"
                f" ({reduced.wcs.n_matched} matched, fit rms {reduced.wcs.rms_arcsec:.3f});"
                f" L1ZP {zp:.4f} +- {step['L1ZPERR']:.4f} (injected {field.zero_points['rp']:.4f})"
            )
            source, star, _ = cross_match(
                catalog["ra"], catalog["dec"], stars.ra, stars.dec, radius_arcsec=1.0
            )
            separation = np.hypot(tx[:, None] - tx[None, :], ty[:, None] - ty[None, :])
            np.fill_diagonal(separation, np.inf)
            isolated = np.array(
                [not np.any(stars.flux[separation[k] < 25] > 3e-3 * stars.flux[k]) for k in range(len(tx))]
            )
            snr = catalog["flux"][source] / catalog["fluxerr"][source]
            bright = (catalog["flag"][source] == 0) & (snr > 50) & isolated[star]
            dx += list(catalog["xwin"][source][bright] - tx[star][bright])
            dy += list(catalog["ywin"][source][bright] - ty[star][bright])
            flux_ratio += list(catalog["flux"][source][bright] / stars.flux[star][bright])
            fwhm += list(catalog["fwhm"][source][bright])
        print(
            f"cosmic rays: track recall {found / total:.3f} ({found}/{total}; target >= 0.95),"
            f" false-discovery rate {false_pixels / flagged_pixels:.3f} of {flagged_pixels} pixels"
            " (target <= 0.05)"
        )
        print(
            f"bright isolated stars ({len(dx)}): position rms x {np.sqrt(np.mean(np.square(dx))):.4f}"
            f" y {np.sqrt(np.mean(np.square(dy))):.4f} px (target <= 0.05);"
            f" median flux / truth {np.median(flux_ratio):.4f} (target 1 +- 0.01);"
            f" median FWHM {np.median(fwhm):.3f} px vs injected {night.truths[-1].fwhm_px:.3f} (target 5%)"
        )


if __name__ == "__main__":
    main()
