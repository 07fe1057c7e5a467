"""Shared helpers for tests that reduce simulated nights (reading files, building masters)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from lco_core import Frame, ObsType
from lco_core.io import read_raw
from lco_core.pipeline import Stage
from lco_instruments.describe import camera_for, raw_to_frame
from lco_instruments.geometry import Camera
from lco_instruments.simulate import Night
from lco_stages.masters import StackSettings, make_master_bias, make_master_dark, make_master_flat
from lco_stages.recipes import Calibrations, bias_recipe, dark_recipe, flat_recipe

RecipeFor = Callable[[Camera], Stage]


def load(path: Path) -> tuple[Frame, Camera]:
    raw = read_raw(path)
    camera = camera_for(raw)
    return raw_to_frame(raw, camera), camera


def reduce(paths: Sequence[Path], recipe: RecipeFor) -> list[Frame]:
    """Each file through the recipe built for its own camera."""
    frames = []
    for path in paths:
        frame, camera = load(path)
        frames.append(recipe(camera)(frame))
    return frames


def masters_of(night: Night, *, min_frames: int = 5) -> Calibrations:
    """Master bias, dark and flat of a simulated night, built the way the pipeline builds them."""
    stack = StackSettings(min_frames=min_frames)
    bias = make_master_bias(reduce(night.paths_of(ObsType.BIAS), bias_recipe), settings=stack).master
    with_bias = Calibrations(bias=bias)
    darks = reduce(night.paths_of(ObsType.DARK), lambda camera: dark_recipe(camera, with_bias))
    coefficient = night.sim.camera.dark_temperature_coefficient
    dark = make_master_dark(darks, temperature_coefficient=coefficient, settings=stack, bias=bias).master
    with_dark = Calibrations(bias=bias, dark=dark)
    flats = reduce(night.paths_of(ObsType.SKYFLAT), lambda camera: flat_recipe(camera, with_dark))
    flat = make_master_flat(flats, settings=stack, bias=bias, dark=dark).master
    return Calibrations(bias=bias, dark=dark, flat=flat)


Pixel = TypeVar("Pixel", bound=np.generic)


def trimmed(image: npt.NDArray[Pixel], camera: Camera) -> npt.NDArray[Pixel]:
    """An image on the mosaic grid cut to the camera's trimmed product grid."""
    return image[camera.trim_section.to_slices()]
