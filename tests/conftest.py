"""Shared fixtures: hypothesis profiles and the real LCO data folder (tests skip without it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

#: Real LCO files from third-party GPL-3.0 repositories; read in place, never copied here.
REAL_DATA = Path(
    os.environ.get("LCO_REAL_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "real")
)


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        # A user's fresh clone has no ../shared and still passes; CI has it, so there a missing
        # folder is a broken set-up, never a silent skip.
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"real LCO data not found at {REAL_DATA} (CI=true: real-data tests must run)")
        pytest.skip(f"real LCO data not found at {REAL_DATA}")
    return REAL_DATA


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI=true a skipped test fails the run: CI has the real data, PostgreSQL and funpack,
    so a skip there means a test that proved nothing (issue 14)."""
    if not _in_ci() or exitstatus != pytest.ExitCode.OK:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        for report in skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            print(f"\nCI=true and skipped: {report.nodeid}: {reason}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
