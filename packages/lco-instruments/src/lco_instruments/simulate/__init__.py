"""The raw-frame simulator: LCO cameras, a sky, and a forward model with the truth kept beside it."""

from lco_instruments.simulate.cameras import Electronics, SimCamera, sbig, sinistro, spectral, spectral_fs01
from lco_instruments.simulate.defects import BadPixelDensity, BadPixels
from lco_instruments.simulate.frames import (
    Exposure,
    Field,
    FrameTruth,
    Signatures,
    SimulatedFrame,
    camera_signatures,
    simulate_frame,
)
from lco_instruments.simulate.layout import AmplifierLayout, DetectorLayout
from lco_instruments.simulate.mounting import Mounting, all_mountings
from lco_instruments.simulate.night import Night, make_field, simulate_night, write_frame

__all__ = [
    "AmplifierLayout",
    "BadPixelDensity",
    "BadPixels",
    "DetectorLayout",
    "Electronics",
    "Exposure",
    "Field",
    "FrameTruth",
    "Mounting",
    "Night",
    "Signatures",
    "SimCamera",
    "SimulatedFrame",
    "all_mountings",
    "camera_signatures",
    "make_field",
    "sbig",
    "simulate_frame",
    "simulate_night",
    "sinistro",
    "spectral",
    "spectral_fs01",
    "write_frame",
]
