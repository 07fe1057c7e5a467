"""Issue 13: the README's library example runs as written, and its pip command installs the packages.

The Python blocks are taken from README.md verbatim and run, in order, in a folder holding a
small demo night; what they compute is compared with the simulator's truth. The install
instruction is run in a new environment (offline: the packages are built from the checkout, and
their third-party dependencies are the project's own environment's), and the command it
installs is run from there.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import site
import subprocess
import sys
from pathlib import Path

import pytest
from astropy.io import fits

from lco_cli.demo import simulate_demo

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PACKAGES = ("lco-core", "lco-instruments", "lco-stages", "lco-cli")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", README, re.S | re.M)


def test_the_library_example_computes_the_truth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _blocks("python")
    assert len(code) == 2  # the library walk-through and the custom recipe
    simulate_demo(tmp_path / "demo-night" / "raw", size=256)  # what `make demo` leaves, smaller
    truth = json.loads((tmp_path / "demo-night" / "raw" / "kb99" / "truth.json").read_text())
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "readme"}
    for block in code:
        exec(compile(block, "README.md", "exec"), namespace)
    # The first bias frame's level, in electrons: the simulator's bias level times its gain,
    # within a few read noises over the frame's pixel count (its mean is far better known).
    bias_frame = truth["frames"][0]
    assert bias_frame["obstype"] == "BIAS"
    expected_level = bias_frame["overscan_adu"][0] * truth["gain"][0]
    assert abs(float(namespace["level"]) - expected_level) < 1.0  # type: ignore[arg-type]
    # Each science frame's sky after bias, dark and flat: the injected sky, in electrons.
    science = {f["file"]: f for f in truth["frames"] if f["obstype"] == "EXPOSE"}
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == len(science) == 3
    for line in printed:
        match = re.fullmatch(r"(\S+): sky (\d+) e-, (\d+) sources", line)
        assert match is not None, line
        name, sky, sources = match.group(1), float(match.group(2)), int(match.group(3))
        assert abs(sky - science[name]["sky_e"]) < 0.02 * science[name]["sky_e"]
        assert sources >= science[name]["stars_inside"] - 2  # the field's stars are found
        # The product the example wrote: the four extensions LCO's products have.
        with fits.open(tmp_path / name.replace("-e00", "-e91")) as product:
            names = [hdu.name for hdu in product]
        assert {"SCI", "CAT", "BPM", "ERR"} <= set(names), names


def _pip_command() -> list[str]:
    """The README's install command, as a person would paste it."""
    commands = [
        line for block in _blocks("console") for line in block.splitlines() if "pip install" in line
    ]  # fmt: skip
    assert len(commands) == 1, commands
    words = shlex.split(commands[0])
    assert words[:4] == ["python", "-m", "pip", "install"]
    assert words[4:] == [f"./packages/{name}" for name in PACKAGES]
    return words


def test_the_pip_instruction_installs_a_working_lco_reduce(tmp_path: Path) -> None:
    words = _pip_command()
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    venv = tmp_path / "venv"
    # A new environment. Its third-party packages are this one's (one line in a .pth file), so
    # nothing is downloaded; the editable lco packages here are not seen there, as the .pth
    # files of an added folder are not read.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, env=environment)
    python = venv / "bin" / "python"
    target = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"],
        check=True, capture_output=True, text=True, env=environment,
    ).stdout.strip()  # fmt: skip
    (Path(target) / "_project_dependencies.pth").write_text(site.getsitepackages()[0] + "\n")
    # The README's command, run by this environment's pip for the new one, offline.
    install = [
        sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
        "--no-deps", "--no-build-isolation", "--no-index", *words[4:],
    ]  # fmt: skip
    subprocess.run(install, check=True, cwd=ROOT, env=environment, capture_output=True)
    where = subprocess.run(
        [python, "-c", "import lco_core, lco_instruments, lco_stages, lco_cli; "
         "print(*(m.__file__ for m in (lco_core, lco_instruments, lco_stages, lco_cli)))"],
        check=True, capture_output=True, text=True, env=environment,
    ).stdout.split()  # fmt: skip
    # Installed copies (not the checkout's sources): a wheel missing a module would show here.
    assert all(Path(file).is_relative_to(venv) for file in where), where
    assert all("site-packages" in file for file in where)
    help_text = subprocess.run(
        [venv / "bin" / "lco-reduce", "--help"], check=True, capture_output=True, text=True, env=environment
    ).stdout
    assert help_text.startswith("Usage: lco-reduce [OPTIONS] COMMAND [ARGS]...")
    assert all(command in help_text for command in ("run", "demo", "info", "calibrations"))
    # The installed pipeline reads a frame (the whole import chain, not only --help).
    frame = tmp_path / "raw" / "kb99"
    simulate = (
        "from pathlib import Path; from lco_instruments.simulate import sbig, simulate_night; "
        f"simulate_night(Path({str(frame)!r}), sbig(size=256), n_bias=1, n_dark=0, n_flat=0, n_science=0)"
    )
    subprocess.run([python, "-c", simulate], check=True, env=environment)
    bias = next(frame.glob("*-b00.fits*"))
    info = subprocess.run(
        [venv / "bin" / "lco-reduce", "info", str(bias)], check=True, capture_output=True, text=True,
        env=environment, cwd=tmp_path,
    ).stdout  # fmt: skip
    assert info.startswith(f"{bias.name}: BIAS 0 s")
