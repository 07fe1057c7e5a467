"""The simulated night behind the documentation's figures, made and reduced once per build.

Every figure of the stage pages starts from here: a Sinistro with 4 amplifiers of 256 x 256
pixels (a 512 x 512 mosaic) observing a dense star field, with 5 biases, 5 darks, 5 sky flats and
2 science frames written as real raw files by `lco_instruments.simulate`, read back with
`lco_core.io.read_raw`, and reduced with the pipeline's own functions. The truth the simulator
used is kept beside the files, so a figure can show what a stage should have recovered.

The functions are cached: the first figure that needs the masters builds them, the others reuse
them. The folder is removed when the build's Python process ends.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from astropy.visualization import ZScaleInterval

from lco_cli.catalogs import read_reference_file
from lco_core import Frame, ObsType
from lco_core.catalog import ReferenceCatalog
from lco_core.io import read_raw
from lco_core.pipeline import Stage, pipeline
from lco_instruments.describe import camera_for, raw_to_frame
from lco_instruments.geometry import Camera
from lco_instruments.simulate import Night, make_field, simulate_night, sinistro
from lco_stages.bpm import make_bad_pixel_mask
from lco_stages.masters import make_master_bias, make_master_dark, make_master_flat
from lco_stages.recipes import (
    Calibrations,
    bias_recipe,
    calibration_stages,
    dark_recipe,
    flat_recipe,
)

__all__ = [
    "calibrated",
    "calibrations",
    "display",
    "load",
    "night",
    "reference",
    "science_path",
]


@functools.cache
def _folder() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="lco-docs-night-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


@functools.cache
def night() -> Night:
    """The simulated night (raw ``.fits.fz`` files, reference catalogue and truth)."""
    sim = sinistro(amp_size=256)
    field = make_field(sim, seed=5, stars_per_square_degree=20000)
    return simulate_night(_folder() / "raw", sim, seed=5, n_science=2, field=field, science_exptime=300.0)


def load(path: Path) -> tuple[Frame, Camera]:
    """A raw file as the pipeline sees it: its unassembled frame (ADU) and its camera."""
    raw = read_raw(path)
    camera = camera_for(raw)
    return raw_to_frame(raw, camera), camera


def science_path(number: int = 0) -> Path:
    """The raw file of one of the night's science frames."""
    return night().paths_of(ObsType.EXPOSE)[number]


@functools.cache
def calibrations() -> Calibrations:
    """Master bias, dark and flat and the bad pixel mask, made the way ``lco-reduce run`` does."""
    paths = night().paths_of

    def prepared(obstype: ObsType, recipe: Callable[[Camera], Stage]) -> list[Frame]:
        frames = []
        for path in paths(obstype):
            frame, camera = load(path)
            frames.append(recipe(camera)(frame))
        return frames

    bias = make_master_bias(prepared(ObsType.BIAS, bias_recipe)).master
    darks = prepared(ObsType.DARK, lambda camera: dark_recipe(camera, Calibrations(bias=bias)))
    dark = make_master_dark(darks, bias=bias).master
    flats = prepared(ObsType.SKYFLAT, lambda camera: flat_recipe(camera, Calibrations(bias=bias, dark=dark)))
    flat = make_master_flat(flats, bias=bias, dark=dark).master
    bpm = make_bad_pixel_mask(dark=dark, flat=flat, filename="bpm.fits")
    return Calibrations(bias=bias, dark=dark, flat=flat, bpm=bpm)


@functools.cache
def reference() -> ReferenceCatalog:
    """The night's reference catalogue (``refcat.ecsv``: ra, dec, mag)."""
    return read_reference_file(night().catalog_path)


def display(image: npt.ArrayLike) -> dict[str, float]:
    """``vmin``/``vmax`` of a zscale stretch, for ``imshow(image, **display(image))``."""
    values = np.asarray(image, dtype=np.float64)
    low, high = ZScaleInterval().get_limits(values[np.isfinite(values)])
    return {"vmin": float(low), "vmax": float(high)}


@functools.cache
def calibrated(number: int = 0) -> Frame:
    """A science frame through `~lco_stages.recipes.calibration_stages` (BPM, bias, dark, flat)."""
    frame, camera = load(science_path(number))
    return pipeline(*calibration_stages(camera, calibrations()))(frame)
