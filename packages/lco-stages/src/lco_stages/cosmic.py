"""mask_cosmic_rays: L.A.Cosmic (astroscrappy) on the calibrated frame, setting the COSMIC bit."""

from __future__ import annotations

import astroscrappy
import numpy as np

from lco_core.frame import Frame
from lco_core.masks import MaskBit
from lco_core.pipeline import Stage
from lco_core.provenance import ProcessingStep
from lco_instruments.geometry import Camera
from lco_stages._checks import require_assembled

STAGE = "mask_cosmic_rays"
#: Pixels astroscrappy must not touch: known bad, uncovered, saturated or without a usable flat.
_IGNORED = MaskBit.BAD | MaskBit.NO_DATA | MaskBit.SATURATED | MaskBit.LOW_FLAT


def mask_cosmic_rays(
    camera: Camera, *, sigclip: float = 5.0, sigfrac: float = 0.3, objlim: float = 4.0, niter: int = 2
) -> Stage:
    """Flag cosmic-ray hits with L.A.Cosmic (van Dokkum 2001) as implemented by astroscrappy.

    The frame is in electrons, so the gain passed is 1 and the read noise and saturation are the
    camera's in electrons (the lowest amplifier saturation, divided by the largest flat response
    the frame could have been divided by is not known here, so saturated pixels are passed in the
    input mask instead). ``objlim`` keeps star cores (whose fine structure is smooth on the PSF
    scale) out of the mask. The data are not changed: cosmic rays are masked, not "cleaned".
    """
    read_noise = float(np.mean([amp.read_noise for amp in camera.amplifiers]))
    saturation = float(min(amp.saturation_electrons for amp in camera.amplifiers))

    def stage(frame: Frame) -> Frame:
        require_assembled(frame, STAGE)
        ignored = (frame.mask & _IGNORED) != 0
        found, _ = astroscrappy.detect_cosmics(
            np.ascontiguousarray(frame.data, dtype=np.float32),
            inmask=ignored,
            sigclip=sigclip,
            sigfrac=sigfrac,
            objlim=objlim,
            gain=1.0,
            readnoise=read_noise,
            satlevel=saturation,
            niter=niter,
            sepmed=True,
            cleantype="meanmask",
            fsmode="median",
        )
        cosmic = np.asarray(found, dtype=bool) & ~ignored
        step = ProcessingStep(
            STAGE,
            {
                "sigclip": sigclip,
                "sigfrac": sigfrac,
                "objlim": objlim,
                "niter": niter,
                "read_noise": read_noise,
            },
            {"cosmic_pixels": int(cosmic.sum())},
        )
        return frame.with_step(step, mask=frame.mask | (cosmic * np.uint8(MaskBit.COSMIC)).astype(np.uint8))

    return stage
