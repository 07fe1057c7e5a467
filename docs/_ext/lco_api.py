"""API-reference helpers: which module variables are documented, and names in scope as links.

* ``automodapi :include-all-objects:`` lists every public module-level name. Only the variables
  a module documents with a ``#:`` comment (its constants: thresholds, defaults, bit values) are
  part of its API; type aliases, imported helpers and ``__future__`` features are left out.
* A docstring may name anything its module has in scope, as the code does: ```Frame``` in
  ``lco_stages.bias`` is `lco_core.frame.Frame`, and ```lco_cli.library.MasterEntry``` (a
  re-export) is `lco_cli.library.records.MasterEntry`. Such a reference is resolved to the place
  the object is documented (its defining module); one that names nothing stays a warning.
* numpydoc's build-time validation (``numpydoc_validation_checks``) judges the docstrings of
  functions, methods, properties and classes. Module and class variables are documented by
  ``#:`` comments, which it cannot see, so they are not judged; nor are the ``*args`` and
  ``**kwargs`` of constructors a class inherits (protocols, SQLAlchemy's declarative base).
* A class attribute that our source does not document (SQLAlchemy's ``metadata`` and
  ``registry`` on the declarative base) is listed without the other project's docstring, whose
  cross-references point into that project's own documentation.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import types
from typing import Any

from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import PycodeError
from sphinx.pycode import ModuleAnalyzer


@functools.cache
def _documented_variables(modname: str) -> frozenset[str]:
    try:
        analyzer = ModuleAnalyzer.for_module(modname)
        return frozenset(name for (scope, name) in analyzer.find_attr_docs() if scope == "")
    except PycodeError:
        return frozenset()


def _filtered(find_mod_objs: Any) -> Any:
    @functools.wraps(find_mod_objs)
    def find(modname: str, onlylocals: Any = False, sort: bool = False) -> Any:
        # The automodsumm directive asks for every name (onlylocals=False) while the stub pages
        # are generated for local ones only; both must see the same list: the module's own.
        localnames, fqnames, objs = find_mod_objs(modname, onlylocals=onlylocals or True, sort=sort)
        documented = _documented_variables(modname)
        keep = [
            inspect.isclass(obj) or inspect.isroutine(obj) or local in documented
            for local, obj in zip(localnames, objs, strict=True)
        ]
        return tuple(
            [item for item, kept in zip(items, keep, strict=True) if kept]
            for items in (localnames, fqnames, objs)
        )

    return find


def _canonical(target: str, modname: str | None, classname: str | None) -> str | None:
    """The documented (defining) name of ``target`` as seen from ``modname``/``classname``."""
    parts = target.lstrip("~.").split(".")
    candidates: list[tuple[Any, list[str]]] = []
    if modname:
        try:
            scope: Any = importlib.import_module(modname)
        except ImportError:
            scope = None
        if scope is not None:
            candidates.append((scope, parts))
            if classname and hasattr(scope, classname.split(".")[0]):
                owner = scope
                for piece in classname.split("."):
                    owner = getattr(owner, piece, None)
                if owner is not None:
                    candidates.insert(0, (owner, parts))
    for split in range(len(parts) - 1, 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        candidates.append((module, parts[split:]))
        break
    for scope, rest in candidates:
        head = getattr(scope, rest[0], None)
        if head is None or isinstance(head, types.ModuleType):
            continue
        defined_in = getattr(head, "__module__", None)
        qualname = getattr(head, "__qualname__", None)
        if not (isinstance(defined_in, str) and defined_in.startswith("lco_") and isinstance(qualname, str)):
            continue
        return ".".join([defined_in, qualname, *rest[1:]])
    return None


def _resolve(app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: nodes.Element) -> Any:
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    canonical = _canonical(target, node.get("py:module"), node.get("py:class"))
    if canonical is None or canonical == target:
        return None
    domain = env.get_domain("py")
    for kind in (node["reftype"], "obj"):
        found = domain.resolve_xref(env, node["refdoc"], app.builder, kind, canonical, node, contnode)
        if found is not None:
            return found
    return None


def _judged(validate: Any) -> Any:
    @functools.wraps(validate)
    def judge(doc: Any, *args: Any, **kwargs: Any) -> Any:
        report = validate(doc, *args, **kwargs)
        obj = getattr(doc, "_obj", None)
        if not (inspect.isroutine(obj) or inspect.isclass(obj) or isinstance(obj, property)):
            report["errors"] = []
        report["errors"] = [
            (code, message)
            for code, message in report["errors"]
            if not (code == "PR01" and all(name.startswith("*") for name in _named(message)))
        ]
        return report

    return judge


def _named(message: str) -> list[str]:
    start, stop = message.find("{"), message.rfind("}")
    return [part.strip().strip("'\"") for part in message[start + 1 : stop].split(",")]


def _own_attribute_docs(app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    if what != "attribute" or not name.startswith("lco_"):
        return
    owner_name, _, attribute = name.rpartition(".")
    module_name, _, owner_qualname = owner_name.rpartition(".")
    try:
        analyzer = ModuleAnalyzer.for_module(module_name)
        documented = (owner_qualname, attribute) in analyzer.find_attr_docs()
    except PycodeError:
        return
    if not documented:
        lines[:] = []


def setup(app: Sphinx) -> dict[str, Any]:
    import numpydoc.numpydoc
    from sphinx_automodapi import automodapi, automodsumm

    numpydoc.numpydoc.validate = _judged(numpydoc.numpydoc.validate)

    automodapi.find_mod_objs = _filtered(automodapi.find_mod_objs)
    automodsumm.find_mod_objs = _filtered(automodsumm.find_mod_objs)
    app.connect("missing-reference", _resolve, priority=400)
    app.connect("autodoc-process-docstring", _own_attribute_docs, priority=400)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
