"""``exec-code``: run a page's Python blocks at build time and show what they print.

Every block of a page runs in one namespace, in order, inside a temporary working folder made for
that page (removed when the build ends), so a tutorial's code is exercised on every build and
cannot go stale. A block that raises makes a build warning (an error under ``-W``) that names the
page, the line and the exception.

Options: ``:hide-code:`` shows only the output; ``:hide-output:`` runs the block but shows only
the code; ``:output-language:`` sets the highlighting of the output (default ``none``), and
``:output-language: rst`` parses the output as reStructuredText (a table made by the code).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import traceback
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

_FOLDERS: list[str] = []


class ExecCode(SphinxDirective):
    """Run the content as Python; show it and its captured output."""

    has_content = True
    option_spec: ClassVar[dict[str, Any]] = {
        "hide-code": directives.flag,
        "hide-output": directives.flag,
        "output-language": directives.unchanged,
    }

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] | None = self.env.temp_data.get("exec_code")
        if state is None:
            folder = tempfile.mkdtemp(prefix="lco-docs-")
            _FOLDERS.append(folder)
            state = {"namespace": {"__name__": "__docs__"}, "folder": folder}
            self.env.temp_data["exec_code"] = state
        return state

    def run(self) -> list[nodes.Node]:
        code = "\n".join(self.content)
        state = self._state()
        output = io.StringIO()
        previous = os.getcwd()
        environment = {"COLUMNS": os.environ.get("COLUMNS"), "TERM": os.environ.get("TERM")}
        os.environ["COLUMNS"] = "120"  # rich tables: wide enough to stay on one line each
        os.environ["TERM"] = "dumb"
        try:
            os.chdir(state["folder"])
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                exec(compile(code, f"<{self.env.docname}:{self.lineno}>", "exec"), state["namespace"])
        except Exception:
            logger.warning(
                "exec-code block failed:\n%s",
                traceback.format_exc(),
                location=(self.env.docname, self.lineno),
            )
        finally:
            os.chdir(previous)
            for name, value in environment.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        result: list[nodes.Node] = []
        if "hide-code" not in self.options:
            block = nodes.literal_block(code, code)
            block["language"] = "python"
            result.append(block)
        text = output.getvalue().rstrip()
        if text and "hide-output" not in self.options and self.options.get("output-language") == "rst":
            result.extend(self.parse_text_to_nodes(text))
        elif text and "hide-output" not in self.options:
            shown = nodes.literal_block(text, text)
            shown["language"] = self.options.get("output-language", "none")
            shown["classes"].append("exec-code-output")
            result.append(shown)
        return result


def _remove_folders(app: Sphinx, exception: BaseException | None) -> None:
    for folder in _FOLDERS:
        shutil.rmtree(folder, ignore_errors=True)
    _FOLDERS.clear()


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("exec-code", ExecCode)
    app.connect("build-finished", _remove_folders)
    return {"version": "1", "parallel_read_safe": False, "parallel_write_safe": True}
