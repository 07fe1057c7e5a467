"""The raw-frame simulator: LCO cameras, a sky, and a forward model with the truth kept beside it."""

from lco_instruments.simulate.cameras import SimCamera, sbig, sinistro, spectral
from lco_instruments.simulate.frames import (
    Exposure,
    Field,
    FrameTruth,
    Signatures,
    SimulatedFrame,
    camera_signatures,
    simulate_frame,
)
from lco_instruments.simulate.night import Night, make_field, simulate_night, write_frame

__all__ = [
    "Exposure",
    "Field",
    "FrameTruth",
    "Night",
    "Signatures",
    "SimCamera",
    "SimulatedFrame",
    "camera_signatures",
    "make_field",
    "sbig",
    "simulate_frame",
    "simulate_night",
    "sinistro",
    "spectral",
    "write_frame",
]
