"""Stack N frames of H x W read from FITS files in row bands; print peak RSS as JSON.

Writes the frames (SCI, BPM, ERR products) to a scratch folder first, frame by frame, so the
frames never sit in memory together; then resets the peak and stacks from the files.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import peak_bytes, reset_peak, resident_bytes


def write_frames(folder: Path, n: int, ny: int, nx: int) -> list[Path]:
    from astropy.io import fits

    rng = np.random.default_rng(7)
    paths = []
    mask = np.zeros((ny, nx), dtype=np.uint8)
    sigma = np.full((ny, nx), 10.0, dtype=np.float32)
    for index in range(n):
        data = rng.standard_normal((ny, nx), dtype=np.float32) * 10 + 1000
        path = folder / f"frame{index:03d}.fits"
        fits.HDUList(
            [
                fits.PrimaryHDU(),
                fits.ImageHDU(data, name="SCI"),
                fits.ImageHDU(mask, name="BPM"),
                fits.ImageHDU(sigma, name="ERR"),
            ]
        ).writeto(path)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("shape", help="N,H,W")
    parser.add_argument("--scratch", type=Path, default=None)
    args = parser.parse_args()
    n, ny, nx = (int(part) for part in args.shape.split(","))
    from lco_core.io import stack_files

    with tempfile.TemporaryDirectory(dir=args.scratch, prefix="lco-bench-") as folder:
        paths = write_frames(Path(folder), n, ny, nx)
        baseline = resident_bytes()
        reset_peak()
        start = time.perf_counter()
        result = stack_files(paths)
        wall = time.perf_counter() - start
        peak = peak_bytes()
        file_bytes = sum(path.stat().st_size for path in paths)
    print(
        json.dumps(
            {
                "shape": [n, ny, nx],
                "wall": wall,
                "peak_rss": peak,
                "baseline_rss": baseline,
                "file_bytes": file_bytes,
                "mean": float(result.data.mean()),
            }
        )
    )


if __name__ == "__main__":
    main()
