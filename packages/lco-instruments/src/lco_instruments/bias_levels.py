"""The usual bias (overscan) level of each camera family: the window a sane readout lies in.

A raw frame's electronic offset drifts by tens of ADU from night to night and differs between
cameras of one family (the 2015 Sinistros fl08/fl10 sat near 800-900 ADU, the current fa
Sinistros near 2500 ADU), but a level far outside its family's range means a broken readout (a
bias with such a level must stay out of the master). Each window is wide enough for every real
frame we have of the family and for the simulator's camera of that family, and is stated with
where its numbers come from. A family without a window here is not tested.
"""

from __future__ import annotations

import attrs

from lco_instruments.families import CameraFamily


@attrs.frozen
class BiasLevelWindow:
    """The range of raw bias levels a camera family's readouts usually have.

    Attributes
    ----------
    family : CameraFamily
        The family.
    low, high : float
        Inclusive bounds, ADU (raw converter counts, before the gain).
    source : str
        Where the bounds come from.
    """

    family: CameraFamily
    low: float  # ADU
    high: float  # ADU
    source: str

    def contains(self, level: float) -> bool:
        """Whether ``level`` (ADU) lies in the window.

        Parameters
        ----------
        level : float
            ADU.

        Returns
        -------
        bool
        """
        return self.low <= level <= self.high


#: The usual bias level window of each family that has one (ADU).
BIAS_LEVEL_WINDOWS: dict[CameraFamily, BiasLevelWindow] = {
    CameraFamily.SINISTRO: BiasLevelWindow(
        CameraFamily.SINISTRO,
        500.0,
        3500.0,
        "real overscans in shared/data/real: fl08 (coj, 2015) ~818 ADU, fl10 (cpt, 2015) ~900 ADU, "
        "fa05 (elp, MEF) 2520-2580 ADU; the simulator's Sinistro 2522-2582 ADU",
    ),
    CameraFamily.SBIG: BiasLevelWindow(
        CameraFamily.SBIG,
        300.0,
        2000.0,
        "SBIGs have no overscan: the level is a bias frame's own; real kb70 bias (2015, "
        "shared/data/real) ~1117 ADU, 0.4 m kb35/kb29 frames' floor ~690-820 ADU; the "
        "simulator's pedestal 520 ADU",
    ),
}


def bias_level_window(family: CameraFamily) -> BiasLevelWindow | None:
    """The usual bias level window of a camera family.

    Parameters
    ----------
    family : CameraFamily
        The family.

    Returns
    -------
    BiasLevelWindow or None
        None where no window is known (Spectral, QHY600, MuSCAT3: no real raw frames to set one).
    """
    return BIAS_LEVEL_WINDOWS.get(family)
