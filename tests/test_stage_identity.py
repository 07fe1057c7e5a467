"""Stages are known by their own declared names, never by strings written elsewhere (issue 14)."""

from __future__ import annotations

import importlib
import pkgutil

import lco_stages
from lco_stages.keywords import CARDS_BY_STAGE


def _declared_stage_names() -> set[str]:
    """Every ``STAGE``/``*_STAGE`` string the stage modules declare."""
    names: set[str] = set()
    for module_info in pkgutil.walk_packages(lco_stages.__path__, "lco_stages."):
        module = importlib.import_module(module_info.name)
        for attribute, value in vars(module).items():
            if (attribute == "STAGE" or attribute.endswith("_STAGE")) and isinstance(value, str):
                names.add(value)
    return names


def test_header_cards_are_keyed_by_declared_stage_names() -> None:
    """A stage renamed in its module keeps its cards; a key no stage declares would never match."""
    declared = _declared_stage_names()
    assert len(CARDS_BY_STAGE) >= 10
    assert set(CARDS_BY_STAGE) <= declared, set(CARDS_BY_STAGE) - declared
