"""Stages are known by their own declared names, never by strings written elsewhere (issue 14).

A stage's name is declared once, as a module-level ``STAGE`` or ``*_STAGE`` string. Everything that
picks a history entry by stage (header cards, the night's figures, shortfalls, a stage reading an
earlier stage's step) imports that constant. The source scan below fails on a stage name written
as a string anywhere else in lco_cli, lco_stages, lco_instruments or lco_core, and on any
comparison of ``.stage`` with a string or ``.steps(...)`` called with one.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import lco_cli
import lco_core
import lco_core.io
import lco_instruments
import lco_stages
from lco_cli.work import FIGURES_BY_STAGE
from lco_core.keyword_table import PRODUCT_KEYWORDS
from lco_stages.keywords import CARDS_BY_STAGE

PACKAGES = (lco_cli, lco_stages, lco_instruments, lco_core)


def _declared_stage_names() -> set[str]:
    """Every ``STAGE``/``*_STAGE`` string the stage modules declare, as imported."""
    names: set[str] = set()
    for module_info in pkgutil.walk_packages(lco_stages.__path__, "lco_stages."):
        module = importlib.import_module(module_info.name)
        for attribute, value in vars(module).items():
            if _is_stage_constant(attribute) and isinstance(value, str):
                names.add(value)
    return names


def _is_stage_constant(name: str) -> bool:
    return name == "STAGE" or name.endswith("_STAGE")


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for package in PACKAGES:
        for path in sorted(Path(package.__path__[0]).rglob("*.py")):
            yield path, ast.parse(path.read_text(), filename=str(path))


def _literal_declarations(tree: ast.Module) -> dict[str, ast.Constant]:
    """Module-level ``STAGE = "name"`` / ``X_STAGE = "name"``: the one place a name is written."""
    found: dict[str, ast.Constant] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and _is_stage_constant(node.targets[0].id)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found[node.value.value] = node.value
    return found


def _exempt_constants(tree: ast.Module) -> set[int]:
    """Strings that equal a stage name without naming one: ``__all__`` (function names), a
    settings declaration's ``stage: ClassVar[str] = ...`` and the keyword table's ``_spec``
    rows, whose ``source`` text is checked against the declared names on its own below."""
    exempt: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            exempt |= {id(c) for c in ast.walk(node.value)}
        elif _is_setting_stage(node) or _is_keyword_row(node):
            exempt |= {id(c) for c in ast.walk(node)}
    return exempt


def _is_setting_stage(node: ast.AST) -> bool:
    return isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "stage"


def _is_keyword_row(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_spec"


def _is_string(node: ast.AST) -> bool:
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_is_string(element) for element in node.elts)
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def stage_strings(tree: ast.Module, names: set[str]) -> list[tuple[int, str]]:
    """Where a module picks a stage by a string rather than by its declared constant.

    Parameters
    ----------
    tree : ast.Module
        A parsed module.
    names : set of str
        The declared stage names.

    Returns
    -------
    list of (int, str)
        Line and what was found: a string equal to a stage name (other than its declaration and
        the exemptions), ``.stage`` compared with a string, ``.steps`` called with a string.
    """
    declarations = {id(c) for c in _literal_declarations(tree).values()}
    exempt = _exempt_constants(tree) | declarations
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in names and id(node) not in exempt:
            found.append((node.lineno, f"the stage name {node.value!r} written as a string"))
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Attribute) and s.attr == "stage" for s in sides) and any(
                _is_string(s) for s in sides
            ):
                found.append((node.lineno, ".stage compared with a string"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "steps"
            and any(_is_string(a) for a in node.args)
        ):
            found.append((node.lineno, ".steps() called with a string"))
    return found


def test_header_cards_are_keyed_by_declared_stage_names() -> None:
    """A stage renamed in its module keeps its cards; a key no stage declares would never match."""
    declared = _declared_stage_names()
    assert len(CARDS_BY_STAGE) >= 10
    assert set(CARDS_BY_STAGE) <= declared, set(CARDS_BY_STAGE) - declared


def test_night_figures_are_keyed_by_declared_stage_names() -> None:
    declared = _declared_stage_names()
    assert len(FIGURES_BY_STAGE) >= 8
    assert set(FIGURES_BY_STAGE) <= declared, set(FIGURES_BY_STAGE) - declared


def test_each_stage_name_is_written_once() -> None:
    """Two modules declaring the same name as two literals could drift apart (lco_core's
    GAIN_STAGE is the gain stage's name; lco_stages.gain takes it from there)."""
    where: dict[str, list[str]] = {}
    for path, tree in _sources():
        for name in _literal_declarations(tree):
            where.setdefault(name, []).append(path.name)
    twice = {name: files for name, files in where.items() if len(files) > 1}
    assert not twice
    assert set(where) == _declared_stage_names()


def test_no_stage_is_picked_by_a_string() -> None:
    names = _declared_stage_names()
    assert len(names) >= 18
    found = [
        f"{path.relative_to(Path(lco_cli.__path__[0]).parents[3])}:{line}: {what}"
        for path, tree in _sources()
        for line, what in stage_strings(tree, names)
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ('if step.stage == "solve_wcs":\n    pass', ["the stage name", ".stage compared"]),
        ('if step.stage in ("resolve_camera", "x"):\n    pass', [".stage compared"]),
        ('steps = frame.steps("anything")', [".steps() called"]),
        ('sources = diagnostics.get("detect_sources")', ["the stage name"]),
        ('STAGE = "solve_wcs"', []),
        ('__all__ = ["trim"]', []),
        ("class S:\n    stage: ClassVar[str] = 'trim'", []),
        ("from lco_stages.wcs import STAGE\nif step.stage == STAGE:\n    pass", []),
    ],
)
def test_the_scan_finds_stage_strings(code: str, expected: list[str]) -> None:
    """The scan is not vacuous: each way of writing a stage name as a string is caught."""
    found = [what for _, what in stage_strings(ast.parse(code), {"solve_wcs", "detect_sources", "trim"})]
    assert len(found) == len(expected), found
    for what, start in zip(sorted(found), sorted(expected), strict=True):
        assert what.startswith(start)


def test_the_keyword_tables_sources_name_declared_stages() -> None:
    """lco_core cannot import the stage modules, so its table names stages in prose; every
    snake_case name there is a declared stage or a writer in lco_core.io."""
    declared = _declared_stage_names()
    named = {word for spec in PRODUCT_KEYWORDS for word in re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", spec.source)}
    assert len(named & declared) >= 12
    unknown = {word for word in named - declared if not callable(getattr(lco_core.io, word, None))}
    assert not unknown
