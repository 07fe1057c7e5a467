"""The quality tests on LCO's real raw frames (shared/data/real/SOURCES.md): none of them is faulty.

The 2015 Sinistros fl08 (bias, dark, an experimental frame) and fl10 (sky flat, science,
standard) and the current-format fa05 science frame go through the amplifier stages and the
tests a recipe runs on them; the single-value, saturation and bias-level tests must pass. The
bias level windows of lco_instruments.bias_levels must hold each file's own overscan level,
measured here from the raw pixels with a plain median (a second method), and the real kb70
bias's pixel level (an SBIG has no overscan: the frame is its level).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from helpers import load

from lco_core import ObsType
from lco_core.pipeline import pipeline
from lco_instruments.bias_levels import BIAS_LEVEL_WINDOWS
from lco_instruments.families import CameraFamily
from lco_stages.bias import subtract_bias_level
from lco_stages.quality import Verdict, check_bias_level, check_pattern_noise, quality_results
from lco_stages.recipes import amplifier_stages

RAW_FRAMES = [
    "ingester/coj1m011-fl08-20151216-0048-x00.fits.fz",
    "ingester/coj1m011-fl08-20151216-0049-b00.fits.fz",
    "ingester/coj1m011-fl08-20151216-0083-d00.fits.fz",
    "ingester/cpt1m012-fl10-20151216-0044-f00.fits.fz",
    "ingester/cpt1m012-fl10-20151216-0073-e00.fits.fz",
    "ingester/cpt1m012-fl10-20151216-0075-s00.fits.fz",
    "neoexchange/mef_raw_test_frame.fits",
]
MUST_PASS = {"single_value", "saturation", "bias_level"}


@pytest.mark.parametrize("name", RAW_FRAMES)
def test_real_raw_frames_pass_single_value_saturation_and_bias_level(real_data: Path, name: str) -> None:
    frame, camera = load(real_data / name)
    stages = [*amplifier_stages(camera), check_bias_level()]
    if frame.meta.obstype in (ObsType.BIAS, ObsType.DARK, ObsType.EXPOSE):
        stages.append(check_pattern_noise())
    if frame.meta.obstype is ObsType.BIAS:
        stages += [subtract_bias_level(), check_bias_level()]
    results = {r.test: r for r in quality_results(pipeline(*stages)(frame))}
    assert set(results) >= MUST_PASS
    for test in MUST_PASS:
        assert results[test].verdict is Verdict.PASS, results[test].reason
    assert results["bias_level"].value is not None  # every Sinistro has an overscan to test
    # Nothing in a real frame is stuck at 1000 ADU; the fraction is a measured figure, not a guess.
    single = results["single_value"].value
    assert single is not None
    assert single < 0.01


@pytest.mark.parametrize("name", RAW_FRAMES)
def test_each_real_overscan_level_lies_in_its_family_window(real_data: Path, name: str) -> None:
    window = BIAS_LEVEL_WINDOWS[CameraFamily.SINISTRO]
    _, camera = load(real_data / name)
    with fits.open(real_data / name) as hdul:
        planes = [h.data for h in hdul if h.is_image and h.data is not None and h.data.size]
    planes = [np.asarray(p, dtype=np.float64).reshape(-1, *p.shape[-2:])[0] for p in planes]
    for amp, plane in zip(camera.amplifiers, planes, strict=True):
        assert amp.bias_section is not None
        level = float(np.median(plane[amp.bias_section.to_slices()]))
        assert window.contains(level), (name, amp.index, level)


def test_the_real_sbig_bias_level_lies_in_the_sbig_window(real_data: Path) -> None:
    # Cut to one row by its authors (no longer a readout the stages take), but its pixels are a
    # kb70 bias's level, in ADU.
    with fits.open(real_data / "ingester/bias_kb70_20151221_bin2x2.fits.fz") as hdul:
        assert hdul[1].header["INSTRUME"] == "kb70"
        assert hdul[1].header["OBSTYPE"] == "BIAS"
        level = float(np.median(hdul[1].data))
    assert BIAS_LEVEL_WINDOWS[CameraFamily.SBIG].contains(level)
