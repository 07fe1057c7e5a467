"""`make bench`: stacking speed and memory against the libraries users would otherwise use.

Every implementation runs in its own subprocess (fresh interpreter, its own peak RSS), at each
size, in one run; the table compares them side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
SHAPES = [(16, 1024, 1024), (64, 1024, 1024), (16, 4096, 4096)]
IMPLEMENTATIONS = ["floor", "ours", "ours+planes", "numpy", "astropy", "ccdproc"]
GIB = 1024**3
MIB = 1024**2


def _run(script: str, *args: str) -> dict[str, Any]:
    """Run a worker script; its last line of output is a JSON object of figures."""
    completed = subprocess.run(
        [sys.executable, str(HERE / script), *args], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def stacking_table(shapes: list[tuple[int, int, int]], implementations: list[str], repeats: int) -> None:
    print("\n## Stacking: per-pixel 3-sigma clipped mean (median + MAD), maxiters=1")
    print(f"wall = median of {repeats} runs; peak/input = (peak RSS - interpreter RSS) / input bytes\n")
    header = f"{'shape':>14} {'implementation':>14} {'wall s':>9} {'x floor':>8} {'x astropy':>9} "
    header += f"{'peak RSS MiB':>12} {'peak/input':>10} {'max |diff|':>11}"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="lco-bench-") as folder:
        for shape in shapes:
            text = ",".join(str(value) for value in shape)
            rows = {}
            reference_path = Path(folder) / "reference.npy"
            _run("stack_worker.py", "reference", text, "--output", str(reference_path))
            reference = np.load(reference_path)
            for name in implementations:
                output = Path(folder) / f"{name}.npy"
                figures = _run(
                    "stack_worker.py", name, text, "--repeats", str(repeats), "--output", str(output)
                )
                figures["diff"] = float(np.nanmax(np.abs(np.load(output).astype(np.float64) - reference)))
                rows[name] = figures
            floor = float(rows["floor"]["wall"]) if "floor" in rows else float("nan")
            astropy = float(rows["astropy"]["wall"]) if "astropy" in rows else float("nan")
            for name, figures in rows.items():
                wall = float(figures["wall"])
                peak = int(figures["peak_rss"])
                extra = peak - int(figures["baseline_rss"])
                inputs = int(figures["input_bytes"])
                diff = "-" if name == "floor" else f"{figures['diff']:.2e}"
                print(
                    f"{'x'.join(map(str, shape)):>14} {name:>14} {wall:9.3f} {wall / floor:8.1f} "
                    f"{wall / astropy:9.3f} {peak / MIB:12.0f} {extra / inputs:10.2f} {diff:>11}"
                )
            print()


def files_table(shape: tuple[int, int, int], scratch: Path | None) -> None:
    print(
        f"\n## Stacking {shape[0]} frames of {shape[1]}x{shape[2]} from FITS files (SCI+BPM+ERR) in row bands"
    )
    figures = _run(
        "files_worker.py", ",".join(map(str, shape)), *(["--scratch", str(scratch)] if scratch else [])
    )
    peak = int(figures["peak_rss"])
    print(
        f"wall {float(figures['wall']):.1f} s, peak RSS {peak / GIB:.2f} GiB "
        f"(target < 2 GiB), files {int(figures['file_bytes']) / GIB:.1f} GiB on disk"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes only, for a smoke test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-files", action="store_true", help="skip the 64-frame stack from files")
    parser.add_argument("--scratch", type=Path, default=None, help="folder for the temporary FITS files")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; numpy {np.__version__}")
    shapes = [(8, 256, 256)] if args.quick else SHAPES
    stacking_table(shapes, IMPLEMENTATIONS, 1 if args.quick else args.repeats)
    if not args.skip_files:
        files_table((8, 512, 512) if args.quick else (64, 4096, 4096), args.scratch)


if __name__ == "__main__":
    main()
