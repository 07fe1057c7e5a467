"""The demo night: simulate SBIG and Sinistro frames with known truth, reduce them, compare."""

from __future__ import annotations

from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt
from rich.console import Console
from rich.table import Table

from lco_cli.night import NightResult
from lco_core.io import read_master, read_product
from lco_core.masks import MaskBit
from lco_core.master import MasterKind
from lco_instruments.simulate import FrameTruth, Night, make_field, sbig, simulate_night, sinistro


@attrs.frozen
class DemoNight:
    """The demo's simulated nights.

    Attributes
    ----------
    nights : tuple of Night
        One per camera (a Sinistro 'fa99', an SBIG 'kb99').
    catalog : pathlib.Path
        The reference catalogue of the shared field.
    """

    nights: tuple[Night, ...]
    catalog: Path


def simulate_demo(folder: Path, *, seed: int = 2026, size: int = 1024) -> DemoNight:
    """A small night: a Sinistro and an SBIG, each 5 biases, 5 darks, 5 sky flats, 3 science frames.

    Parameters
    ----------
    folder : pathlib.Path
        Where to write (``folder/fa99`` and ``folder/kb99``).
    seed : int
        Random seed.
    size : int
        Image side, pixels (the Sinistro's amplifiers are ``size / 2``; the SBIG is binned 2x2
        from ``2 x size``).

    Returns
    -------
    DemoNight
    """
    sinistro_camera = sinistro(amp_size=size // 2)
    field = make_field(sinistro_camera, seed=seed, stars_per_square_degree=15000)
    nights = (
        simulate_night(
            folder / "fa99", sinistro_camera, seed=seed, n_science=3, field=field, science_exptime=120.0
        ),
        simulate_night(
            folder / "kb99",
            sbig(size=2 * size),
            seed=seed + 1,
            n_science=3,
            field=field,
            science_exptime=120.0,
        ),
    )
    return DemoNight(nights, nights[0].catalog_path)


def _master_path(result: NightResult, camera: str, kind: MasterKind) -> str | None:
    for master in result.masters:
        if master.camera == camera and master.kind == kind.value:
            return master.path
    return None


def compare_with_truth(demo: DemoNight, result: NightResult, console: Console) -> dict[str, float]:
    """Print how the products compare with the injected truth; returns the worst figures.

    Parameters
    ----------
    demo : DemoNight
        The simulated nights.
    result : NightResult
        What ``run`` made of them.
    console : rich.console.Console
        Where the tables go.

    Returns
    -------
    dict of str to float
        ``bias_ratio`` (master bias rms error over rn / sqrt(N)), ``astrometry_arcsec``,
        ``zero_point_mag`` and ``fwhm_fraction``, the worst over frames.
    """
    worst = {"bias_ratio": 0.0, "astrometry_arcsec": 0.0, "zero_point_mag": 0.0, "fwhm_fraction": 0.0}
    masters = Table(title="masters against the truth")
    for column in ("camera", "master", "figure", "measured", "ideal / truth"):
        masters.add_column(column)
    science = Table(title="science frames against the truth")
    for column in (
        "frame",
        "astrometry rms",
        "zero point",
        "injected",
        "FWHM",
        "injected ",
        "CR tracks found",
    ):
        science.add_column(column)
    for night in demo.nights:
        camera = night.sim.camera
        trim = camera.trim_section.to_slices()
        read_noise = camera.amplifiers[0].read_noise
        bias_path = _master_path(result, camera.name, MasterKind.BIAS)
        if bias_path:
            bias = read_master(bias_path)
            residual = bias.frame.data - night.signatures.bias[trim]
            rms = float(np.std(residual - np.median(residual)))
            ideal = read_noise / np.sqrt(len(bias.inputs))
            worst["bias_ratio"] = max(worst["bias_ratio"], rms / ideal)
            masters.add_row(camera.name, "bias", "rms error (e-)", f"{rms:.2f}", f"{ideal:.2f} (rn/sqrt(N))")
        dark_path = _master_path(result, camera.name, MasterKind.DARK)
        if dark_path:
            dark = read_master(dark_path)
            good = dark.frame.mask == 0
            pulls = ((dark.frame.data - night.signatures.dark.rate[trim]) / dark.frame.uncertainty)[good]
            masters.add_row(camera.name, "dark", "pull width", f"{np.std(pulls):.3f}", "1")
        flat_path = _master_path(result, camera.name, MasterKind.SKYFLAT)
        if flat_path:
            flat = read_master(flat_path)
            good = flat.frame.mask == 0
            ratio = flat.frame.data / night.signatures.flat.response[trim]
            ratio = ratio / np.median(ratio[good])
            masters.add_row(
                camera.name, "flat", "rms(master/true - 1)", f"{np.std(ratio[good]):.4f}", "photon noise"
            )
        for truth in night.truths:
            frame_result = next((f for f in result.frames if Path(f.path).name == truth.filename), None)
            if frame_result is None or not frame_result.products or truth.obstype.value != "EXPOSE":
                continue
            product = read_product(frame_result.products[0]).frame
            stars = truth.stars.keep_inside()
            x = stars.x - (camera.trim_section.x_min - 1) + 1
            y = stars.y - (camera.trim_section.y_min - 1) + 1
            astrometry = "not solved"
            if product.wcs is not None and product.wcs.solved:
                ra, dec = product.wcs.to_wcs().all_pix2world(x, y, 1)
                offsets = np.hypot((ra - stars.ra) * np.cos(np.radians(stars.dec)), dec - stars.dec) * 3600
                rms = float(np.sqrt(np.mean(offsets**2)))
                worst["astrometry_arcsec"] = max(worst["astrometry_arcsec"], rms)
                astrometry = f'{rms:.3f}"'
            zp = frame_result.figures.get("L1ZP")
            injected = night.field.zero_points[truth.filter]
            zp_text = "-"
            if isinstance(zp, float) and zp == zp:
                worst["zero_point_mag"] = max(worst["zero_point_mag"], abs(zp - injected))
                zp_text = f"{zp:.3f}"
            fwhm = frame_result.figures.get("L1FWHM")
            fwhm_text = "-"
            if isinstance(fwhm, float) and fwhm == fwhm:
                worst["fwhm_fraction"] = max(
                    worst["fwhm_fraction"], abs(fwhm / night.field.seeing_arcsec - 1)
                )
                fwhm_text = f'{fwhm:.2f}"'
            found = _tracks_found(
                product.mask, truth, camera.trim_section.x_min - 1, camera.trim_section.y_min - 1
            )
            science.add_row(
                truth.filename,
                astrometry,
                zp_text,
                f"{injected:.3f}",
                fwhm_text,
                f'{night.field.seeing_arcsec:.2f}"',
                found,
            )
    console.print(masters)
    console.print(science)
    return worst


def _tracks_found(mask: npt.NDArray[np.uint8], truth: FrameTruth, ox: int, oy: int) -> str:
    """'found/total' cosmic-ray tracks of the truth that the mask covers for the most part."""
    flagged = (mask & MaskBit.COSMIC) > 0
    found = total = 0
    for track in truth.cosmic.tracks:
        n = max(2, int(track.length * 4))
        xs = np.round(np.linspace(track.x0, track.x1, n) - ox).astype(int)
        ys = np.round(np.linspace(track.y0, track.y1, n) - oy).astype(int)
        on = (xs >= 0) & (ys >= 0) & (xs < mask.shape[1]) & (ys < mask.shape[0])
        if on.any():
            total += 1
            found += bool(flagged[ys[on], xs[on]].mean() >= 0.5)
    return f"{found}/{total}"
