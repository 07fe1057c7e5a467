"""Under CI=true a skipped test fails the run (issue 14): CI has every resource a test may skip for."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SKIPPING = """
import pytest


def test_needs_something_absent():
    pytest.skip("real LCO data not found")


def test_runs():
    assert 1 + 1 == 2
"""


@pytest.mark.parametrize(("ci", "expected"), [("true", 1), ("", 0)])
def test_a_skip_fails_only_under_ci(tmp_path: Path, ci: str, expected: int) -> None:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_example.py").write_text(SKIPPING)
    environment = {**os.environ, "CI": ci}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=environment, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == expected, completed.stdout
    if expected:
        assert "CI=true and skipped: test_example.py::test_needs_something_absent" in completed.stdout
