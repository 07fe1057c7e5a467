"""ProcessingStep: what one stage did to a frame, with its parameters and measured diagnostics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

import attrs

from lco_core._frozen import FrozenMapping

Scalar: TypeAlias = str | int | float | bool | None
ParamValue: TypeAlias = Scalar | tuple[Scalar, ...]


def _frozen_mapping(mapping: Mapping[str, ParamValue]) -> Mapping[str, ParamValue]:
    return FrozenMapping(dict(mapping))


@attrs.frozen
class ProcessingStep:
    """One entry of a frame's history.

    Attributes
    ----------
    stage : str
        Name of the stage (``"subtract_overscan"``).
    parameters : Mapping[str, ParamValue]
        The options the stage ran with.
    diagnostics : Mapping[str, ParamValue]
        Figures the stage measured (e.g. ``{"overscan_amp1": 2531.2}``), in the units the key names.
    masters : tuple[str, ...]
        File names of the master calibrations the stage applied.
    """

    stage: str
    parameters: Mapping[str, ParamValue] = attrs.field(factory=dict, converter=_frozen_mapping)
    diagnostics: Mapping[str, ParamValue] = attrs.field(factory=dict, converter=_frozen_mapping)
    masters: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for a FITS HISTORY card or a log: stage, parameters, diagnostics, masters.

        Returns
        -------
        str
            E.g. ``'subtract_overscan method=mean nsigma=3.0 overscan_amp1=2522.31'``.
        """
        parts = [self.stage]
        parts += [f"{key}={value}" for key, value in self.parameters.items()]
        parts += [f"{key}={_short(value)}" for key, value in self.diagnostics.items()]
        parts += [f"master={name}" for name in self.masters]
        return " ".join(parts)


def _short(value: ParamValue) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
