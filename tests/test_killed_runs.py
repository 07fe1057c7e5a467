"""A run killed at any chosen point of writing a file recovers on the next run (issue 14).

The kill is injected (`lco_core.atomic.FAULT_VARIABLE`): SIGKILL of the whole run right before
or right after a chosen file is renamed into place, so each point of the write is proved, not
left to the timing of an outside kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from lco_core.atomic import FAULT_VARIABLE
from lco_instruments.simulate import Night, sbig, simulate_night

#: (where, which file): a master in the parent, a prepared frame, a product in a worker, the summary.
FAULTS = [
    ("before-rename", "*-bias-*"),
    ("after-rename", "*-dark-*"),
    ("before-rename", "*.prepared.fits"),
    ("before-rename", "*-e91.fits.fz"),
    ("after-rename", "*-e91.fits.fz"),
    ("before-rename", "summary.json"),
]


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    folder = tmp_path_factory.mktemp("raw") / "kb99"
    return simulate_night(folder, sbig(size=256), n_bias=3, n_dark=3, n_flat=3, n_science=2, seed=41)


def _run(night: Night, out: Path, fault: str | None = None) -> int:
    command = [
        sys.executable, "-m", "lco_cli.main", "run", str(night.folder), "--out", str(out),
        "--min-frames", "3", "--workers", "1", "--quiet", "--catalog", str(night.catalog_path), "--offline",
    ]  # fmt: skip
    environment = {key: value for key, value in os.environ.items() if key != FAULT_VARIABLE}
    if fault is not None:
        environment[FAULT_VARIABLE] = fault
    # A session of its own: the injected kill takes the run's process group, never pytest.
    completed = subprocess.run(
        command, env=environment, start_new_session=True, capture_output=True, text=True, check=False
    )
    return completed.returncode


@pytest.fixture(scope="module")
def reference(night: Night, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    assert _run(night, out) == 0
    return out


def _whole_files(out: Path) -> list[Path]:
    """Every FITS file under its final name: each must open and verify whole."""
    files = [p for p in out.rglob("*") if p.name.endswith((".fits", ".fits.fz"))]
    for path in files:
        with fits.open(path) as hdul:
            hdul.verify("exception")
            for hdu in hdul:
                _ = hdu.data  # every byte of every extension is there
    return files


@pytest.mark.parametrize(("where", "which"), FAULTS)
def test_a_run_killed_while_writing_recovers(
    night: Night, reference: Path, tmp_path: Path, where: str, which: str
) -> None:
    out = tmp_path / "out"
    assert _run(night, out, f"{where}:{which}") == -signal.SIGKILL  # the kill landed where chosen
    _whole_files(out)
    assert not (out / "summary.json").exists() or which != "summary.json"
    assert _run(night, out) == 0
    assert not list(out.rglob(".*.tmp"))
    assert not (out / ".work").exists()
    for kind in ("bias", "dark", "skyflat"):
        assert len(list((out / "masters").glob(f"*-{kind}-*.fits.fz"))) == 1, kind
    products = sorted(p.name for p in out.glob("*-e91.fits.fz"))
    assert products == sorted(p.name for p in reference.glob("*-e91.fits.fz"))
    assert len(products) == 2
    for name in products:  # the same products as a run never killed
        with fits.open(out / name) as recovered, fits.open(reference / name) as clean:
            np.testing.assert_array_equal(recovered["SCI"].data, clean["SCI"].data)
            np.testing.assert_array_equal(recovered["BPM"].data, clean["BPM"].data)
