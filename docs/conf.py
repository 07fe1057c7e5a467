"""Sphinx configuration of the lco-reduce documentation (``make docs``)."""

from __future__ import annotations

import datetime as dt
import os
import sys
from importlib.metadata import version as package_version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

# Figures are drawn without a display; numba and the pipeline's banded stages use every core.
os.environ.setdefault("MPLBACKEND", "Agg")

project = "lco-reduce"
author = "the lco-reduce developers"
copyright = f"{dt.date.today().year}, {author}"
release = package_version("lco-stages")
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_automodapi.automodapi",
    "sphinx_automodapi.smart_resolver",
    "matplotlib.sphinxext.plot_directive",
    "exec_code",
    "lco_api",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"

# Single backquotes are cross-references (numpydoc and astropy's convention), and every one of
# them must resolve: the build runs with -n (nitpicky) and -W.
default_role = "obj"
nitpicky = True

# -- API reference -------------------------------------------------------------------------------
automodapi_inheritance_diagram = False  # needs graphviz; the class pages list their bases
automodapi_toctreedirnm = "api"
automodsumm_inherited_members = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
autodoc_typehints = "none"  # the numpydoc sections give types with units
autodoc_member_order = "bysource"
autoclass_content = "class"
autodoc_inherit_docstrings = False  # SQLAlchemy's base-class docstrings are not ours to document

# Every documented public function, method and class has a docstring, and a function documents
# all of its parameters: a new undocumented one fails the build.
numpydoc_validation_checks = {"GL08", "PR01", "PR02"}
numpydoc_validation_exclude = {
    r"\.__init__$",
    r"\.__call__$",
    # Hypothesis composites: the draw argument is supplied by hypothesis, and their source is
    # not inspectable through the decorator.
    r"\.testing\.strategies\.",
}
numpydoc_validation_overrides = {
    # Records (attrs classes) document their fields as Attributes; enums take one value.
    "PR01": [r"Attributes\n\s*-{3,}", r"Parameters\n\s*-{3,}\n\s*value : "],
}

# External types named in docstrings: no intersphinx (CI reaches no documentation sites), so
# these are plain text rather than links. Only other projects' names are listed here; a broken
# reference to an lco_* name is always fixed in its docstring.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|numpy\.typing|npt|numba)(\..*)?"),
    (r"py:.*", r"(astropy|sqlalchemy|attrs|attr|click|rich|toolz|dask|hypothesis|sep|astroscrappy)(\..*)?"),
    (r"py:.*", r"(scipy|matplotlib|psutil|astroquery|psycopg)(\..*)?"),
    (r"py:.*", r"(datetime|pathlib|os|enum|typing|collections\.abc|concurrent\.futures)(\..*)?"),
    # Python's own exceptions and types, named in prose.
    (r"py:.*", r"(ValueError|KeyError|TypeError|OSError|FileNotFoundError|MemoryError|Exception)"),
    (r"py:.*", r"(BaseException|bool|int|float|str|dict|list|tuple|object|callable|type|binary file)"),
    # SQLAlchemy's own docstrings, inherited by the calibration library's table classes.
    (r"py:.*", r"_?(schema|orm|engine|types|sql|sa)\..*"),
    (r"py:class", r"(TypeDecorator|Dialect|Function|ExternalType|Engine|Connection)"),
]

# -- figures from the simulator -------------------------------------------------------------------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {"figure.dpi": 110, "savefig.bbox": "tight", "font.size": 9, "image.origin": "lower"}
plot_pre_code = "import numpy as np\nimport matplotlib.pyplot as plt\n"
plot_apply_rcparams = True

# -- output ---------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"lco-reduce {release}"
html_theme_options = {
    "navigation_depth": 3,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path: list[str] = []
html_show_sourcelink = False
