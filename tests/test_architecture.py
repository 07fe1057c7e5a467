"""The layer rules of docs/architecture.rst ("Packages and the dependency rule"), enforced on every import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "lco_core": ROOT / "packages/lco-core/src/lco_core",
    "lco_instruments": ROOT / "packages/lco-instruments/src/lco_instruments",
    "lco_stages": ROOT / "packages/lco-stages/src/lco_stages",
    "lco_cli": ROOT / "packages/lco-cli/src/lco_cli",
}
#: core <- instruments <- stages <- cli: each package may import only those before it.
ALLOWED = {
    "lco_core": {"lco_core"},
    "lco_instruments": {"lco_core", "lco_instruments"},
    "lco_stages": {"lco_core", "lco_instruments", "lco_stages"},
    "lco_cli": {"lco_core", "lco_instruments", "lco_stages", "lco_cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules(package: str) -> list[tuple[str, Path]]:
    folder = PACKAGES[package]
    return [
        (".".join(p.relative_to(folder.parent).with_suffix("").parts), p)
        for p in sorted(folder.rglob("*.py"))
    ]


@pytest.mark.parametrize("package", list(PACKAGES))
def test_import_direction(package: str) -> None:
    for module, path in _modules(package):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in PACKAGES:
                assert top in ALLOWED[package], f"{module} imports {name}: {package} may not depend on {top}"


def test_only_lco_core_io_touches_astropy_io_fits() -> None:
    for package in PACKAGES:
        for module, path in _modules(package):
            if module.startswith("lco_core.io"):
                continue
            offending = {
                name for name in _imports(path) if name.startswith("astropy.io.fits") or name == "astropy.io"
            }
            assert not offending, f"{module} imports {sorted(offending)}: FITS access belongs in lco_core.io"


def test_only_the_pipeline_module_wraps_toolz() -> None:
    for package in PACKAGES:
        for module, path in _modules(package):
            if any(name.split(".")[0] == "toolz" for name in _imports(path)):
                assert module == "lco_core.pipeline", (
                    f"{module} imports toolz directly; use lco_core.pipeline"
                )


def test_the_rules_see_the_imports() -> None:
    # A check that cannot fail is no check: the parser must find real imports of this tree.
    assert "lco_core.errors" in _imports(PACKAGES["lco_core"] / "section.py")
    assert any("toolz" in _imports(path) for _, path in _modules("lco_core"))
