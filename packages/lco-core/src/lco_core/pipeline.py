"""Stage and pipeline: the one typed wrapper over toolz composition."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias, cast

import toolz

from lco_core.frame import Frame

#: A pure function from a frame to a new frame. Builders bind parameters and masters.
Stage: TypeAlias = Callable[[Frame], Frame]


def pipeline(*stages: Stage) -> Stage:
    """Compose stages left to right: ``pipeline(a, b)(frame) == b(a(frame))``.

    Parameters
    ----------
    *stages : Stage
        Functions ``Frame -> Frame``, in the order they run.

    Returns
    -------
    Stage
        Their composition (the identity when no stage is given).
    """
    if not stages:
        return _identity
    return cast(Stage, toolz.compose_left(*stages))


def _identity(frame: Frame) -> Frame:
    return frame


def stage_name(stage: Stage) -> str:
    """A readable name for a stage (its function name, or its class name for callables).

    Parameters
    ----------
    stage : Stage
        The stage.

    Returns
    -------
    str
    """
    name = getattr(stage, "__qualname__", None) or type(stage).__name__
    return str(name)
