"""The mask bits every plane of the pipeline uses, documented in one place."""

from __future__ import annotations

import enum


class MaskBit(enum.IntFlag):
    """Bit flags of the ``mask`` plane (uint8), written as the BPM extension of products.

    The first four values are LCO's own (BANZAI writes the same bits), so products stay
    readable by tools built for LCO data; higher bits are this pipeline's additions. Stages
    only ever add bits (``mask | bit``); a pixel may carry several.

    Parameters
    ----------
    value : int
        The bits (``MaskBit(10)`` is ``SATURATED | COSMIC``).
    """

    #: Known bad pixel (bad pixel mask: hot, dead, low-response pixel or bad column).
    BAD = 1
    #: At or above the saturation level of its amplifier.
    SATURATED = 2
    #: Flat-field response below the LOW_FLAT threshold; the flat was set to 1 there.
    LOW_FLAT = 4
    #: Cosmic-ray hit.
    COSMIC = 8
    #: No good input value: every frame of a stack was masked or rejected at this pixel
    #: (the value is the plain mean of all inputs), or no amplifier covered it.
    NO_DATA = 16
    #: Above the non-linearity level (MAXLIN) of its amplifier but below saturation.
    NONLINEAR = 32
