"""Figures on the real LCO files in ../shared/data/real (skipped when the folder is absent).

    .venv/bin/python bench/real_data.py

Astrometry of the real neoexchange field from perturbed pointings, the zero points of the two
real BANZAI catalogues, and the overscan levels of the real raw frames.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
REAL = Path(os.environ.get("LCO_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))


def astrometry() -> None:
    import time

    from astropy.io.fits.verify import VerifyWarning
    from astropy.wcs import FITSFixedWarning
    from test_astrometry import _perturbed, _read_real_field, _rms, _separation_arcsec
    from test_astrometry_orientation import (
        _banzai,
        _matched_rms_arcsec,
        _neoexchange,
        _pipeline_guess,
        _without_wcs,
    )

    from lco_stages.astrometry import solve_astrometry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VerifyWarning)
        warnings.simplefilter("ignore", FITSFixedWarning)
        field = _read_real_field(REAL / "neoexchange")
        catalogue = _neoexchange(REAL)
    for offset, angle, rotation in ((5.0, 30.0, 2.0), (7.0, 210.0, -2.0), (9.0, 120.0, 4.5)):
        guess = _perturbed(
            field.original, offset_arcmin=offset, position_angle_deg=angle, rotation_deg=rotation
        )
        solution = solve_astrometry(
            field.x, field.y, field.flux, field.reference, shape=field.shape, guess=guess,
            pixel_scale_arcsec=field.pixel_scale,
        )  # fmt: skip
        assert solution.wcs is not None
        ra, dec = solution.wcs.all_pix2world(field.x, field.y, 1)
        recorded = _separation_arcsec(ra, dec, field.ra, field.dec)
        ox, oy = field.original.all_pix2world(field.x, field.y, 1)
        print(
            f"real field, pointing off {offset:g}' and {rotation:+g} deg: WCSERR {solution.wcserr}, "
            f'{solution.n_matched} Gaia stars matched, fit rms {solution.rms_arcsec:.3f}", '
            f'matched vs recorded positions rms {_rms(recorded[solution.matched_source_index]):.3f}", '
            f'vs the original solution rms {_rms(_separation_arcsec(ra, dec, ox, oy)):.3f}"'
        )
    assert catalogue.header is not None
    original, n_original = _matched_rms_arcsec(catalogue, catalogue.original)
    print(
        f'real kb76 field, the header\'s own solution: {n_original} Gaia stars within 1", rms {original:.3f}"'
    )
    north_up = catalogue.header.copy()
    north_up["CD1_1"], north_up["CD1_2"], north_up["CD2_1"], north_up["CD2_2"] = -1.3e-4, 0.0, 0.0, 1.3e-4
    starts = {
        "the header's WCS": catalogue.header,
        "the kb76 mounting (header WCS removed)": _without_wcs(catalogue.header, "kb76"),
        "no prior (unknown camera, no WCS)": _without_wcs(catalogue.header, "kb00"),
        "a wrong prior (north up, east left)": north_up,
    }
    for label, header in starts.items():
        guess, known = _pipeline_guess(catalogue, header)
        start = time.perf_counter()
        solution = solve_astrometry(
            catalogue.x, catalogue.y, catalogue.flux, catalogue.reference, shape=catalogue.shape, guess=guess,
            pixel_scale_arcsec=catalogue.pixel_scale, orientation_known=known,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        assert solution.wcs is not None, solution.reason
        ours, n_ours = _matched_rms_arcsec(catalogue, solution.wcs)
        print(
            f"real kb76 field from {label}: WCSERR {solution.wcserr}, {solution.n_matched} stars in the fit, "
            f'{n_ours} Gaia stars within 1", rms {ours:.3f}" (header {original:.3f}"), {seconds:.2f} s'
        )
    for name, shape, scale in (
        ("cpt1m012-fa06-20200113-0102-matched-cat.fits", (4096, 4096), 0.389),
        ("ogg2m001-ep04-20201006-0097-matched-cat.fits", (2048, 2048), 0.27),
    ):
        from test_astrometry_orientation import _north_up_at

        real = _banzai(REAL, name, shape, scale)
        guess = _north_up_at(real, offset_arcmin=4.0, position_angle_deg=130.0)
        start = time.perf_counter()
        solution = solve_astrometry(
            real.x, real.y, real.flux, real.reference, shape=shape, guess=guess, pixel_scale_arcsec=scale,
            orientation_known=False,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        assert solution.wcs is not None, solution.reason
        ours, n_ours = _matched_rms_arcsec(real, solution.wcs)
        theirs, _ = _matched_rms_arcsec(real, real.original)
        print(
            f"{name} with no orientation prior, 4' off: {n_ours} of {len(real.x)} stars, rms {ours:.3f}\" "
            f'(astropy TAN-SIP fit of the pairs {theirs:.3f}"), {seconds:.2f} s'
        )


def zero_points() -> None:
    from test_photometry import EP04, FA06, _fit_real

    for name, colour in ((FA06, ("g", "i")), (EP04, ("g", "i"))):
        plain = _fit_real(REAL, name)
        coloured = _fit_real(REAL, name, colour)
        print(
            f"{Path(name).name}: L1ZP {plain.zero_point:.4f} +- {plain.error:.4f} ({plain.n_stars} stars, "
            f"scatter {plain.scatter:.3f}); with a g-i term {coloured.colour_term:+.4f}: "
            f"zp {coloured.zero_point:.4f}"
        )


def overscans() -> None:
    from lco_core.io import read_raw
    from lco_instruments.describe import camera_for, raw_to_frame
    from lco_stages.recipes import amplifier_recipe

    for path in sorted(
        [*REAL.glob("ingester/*-fl*-*.fits.fz"), REAL / "neoexchange/mef_raw_test_frame.fits"]
    ):
        raw = read_raw(path)
        camera = camera_for(raw)
        frame = amplifier_recipe(camera)(raw_to_frame(raw, camera))
        levels = frame.steps("subtract_overscan")[0].diagnostics.values()
        print(f"{path.name}: overscan " + " ".join(f"{float(v):.1f}" for v in levels) + " ADU")  # type: ignore[arg-type]


def main() -> None:
    if not REAL.is_dir():
        print(f"no real data at {REAL}")
        return
    np.set_printoptions(precision=3)
    astrometry()
    zero_points()
    overscans()


if __name__ == "__main__":
    main()
