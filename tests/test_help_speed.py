"""Issue 13: `lco-reduce --help` answers at once, because building the command line imports no pipeline.

A wall-clock limit would be flaky on a shared machine; what makes help slow is importing numpy,
astropy, SQLAlchemy, dask... so the test runs the help of every command in a fresh interpreter
and lists what it imported. (Measured: `lco-reduce --help` 0.06 s against 2.6 s before; see
docs/command-line.rst.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from lco_cli.main import cli

#: Packages whose import takes from tens of milliseconds to seconds, and the pipeline's own.
HEAVY = (
    "numpy", "astropy", "scipy", "sep", "astroscrappy", "matplotlib", "dask", "distributed",
    "sqlalchemy", "psycopg", "numba", "astroquery", "pandas", "rich", "toolz", "attrs",
    "lco_core", "lco_instruments", "lco_stages",
)  # fmt: skip

#: The lco_cli modules the command line is built from.
LIGHT = {"lco_cli", "lco_cli.main", "lco_cli.errors", "lco_cli.commands"}


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


COMMANDS = _commands(cli)

SCRIPT = """
import contextlib, io, json, sys
from lco_cli.main import main
codes = []
for command in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()) as text:
        codes.append(main([*command, "--help"]))
    assert text.getvalue().startswith("Usage: lco-reduce"), text.getvalue()
with contextlib.redirect_stdout(io.StringIO()):
    codes.append(main(["--version"]))
print(json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
"""


def test_every_commands_help_covers_the_command_line() -> None:
    # The list the subprocess walks is the real command tree, so a new command is checked too.
    assert {"run", "demo", "info", "calibrations"} <= {c[0] for c in COMMANDS if c}
    assert ("calibrations", "list") in COMMANDS


def test_help_imports_no_heavy_module() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(COMMANDS)], capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout)
    assert report["codes"] == [0] * (len(COMMANDS) + 1)
    modules = set(report["modules"])
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"--help imported {heavy[:20]}"
    ours = {m for m in modules if m.split(".")[0] == "lco_cli"}
    assert ours - LIGHT <= {f"lco_cli.commands.{c[0]}" for c in COMMANDS if c}, ours - LIGHT


@pytest.mark.parametrize("arguments", [["--help"], ["run", "--help"]])
def test_the_installed_entry_point_answers(arguments: list[str]) -> None:
    # The same through `python -m lco_cli.main`, as a person's shell runs it.
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lco_cli.main", *arguments],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("Usage: lco-reduce")
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] in HEAVY}
