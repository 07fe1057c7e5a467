"""One stacking implementation at one size, in its own process: prints a JSON line of figures.

Run by bench/run.py; each implementation gets a fresh interpreter so peak memory is its own.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import peak_bytes, reset_peak, resident_bytes

Cube = npt.NDArray[np.float32]
NSIGMA = 3.0


def make_cube(n: int, ny: int, nx: int, seed: int = 42) -> Cube:
    """Seeded Gaussian noise around 1000 with 0.5% large outliers, filled frame by frame."""
    rng = np.random.default_rng(seed)
    cube = np.empty((n, ny, nx), dtype=np.float32)
    for index in range(n):
        rng.standard_normal(out=cube[index], dtype=np.float32)
        cube[index] *= 10.0
        cube[index] += 1000.0
        hits = rng.random((ny, nx), dtype=np.float32) < 0.005
        cube[index][hits] += 5e4
    return cube


def ours(cube: Cube) -> npt.NDArray[np.float32]:
    from lco_core.stats import stack

    return stack(cube, nsigma=NSIGMA).data


def ours_with_planes(cube: Cube, masks: npt.NDArray[np.uint8], sigmas: Cube) -> npt.NDArray[np.float32]:
    from lco_core.stats import stack

    return stack(cube, nsigma=NSIGMA, masks=masks, uncertainties=sigmas).data


def astropy_sigma_clip(cube: Cube) -> npt.NDArray[np.float32]:
    from astropy.stats import sigma_clip

    clipped = sigma_clip(cube, sigma=NSIGMA, axis=0, cenfunc="median", stdfunc="mad_std", maxiters=1)
    return np.asarray(clipped.mean(axis=0).filled(np.nan), dtype=np.float32)


def ccdproc_combiner(cube: Cube) -> npt.NDArray[np.float32]:
    from astropy.nddata import CCDData
    from astropy.stats import mad_std
    from ccdproc import Combiner

    combiner = Combiner([CCDData(plane, unit="adu") for plane in cube], dtype=np.float32)
    combiner.sigma_clipping(low_thresh=NSIGMA, high_thresh=NSIGMA, func=np.ma.median, dev_func=mad_std)
    return np.asarray(combiner.average_combine().data, dtype=np.float32)


def plain_numpy(cube: Cube) -> npt.NDArray[np.float32]:
    center = np.median(cube, axis=0)
    deviation = np.abs(cube - center)
    limit = NSIGMA * 1.4826 * np.median(deviation, axis=0)
    keep = deviation <= limit
    return np.asarray(np.where(keep, cube, 0).sum(axis=0) / keep.sum(axis=0), dtype=np.float32)


def floor(cube: Cube) -> npt.NDArray[np.float32]:
    return np.asarray(np.add.reduce(cube, axis=0), dtype=np.float32)


def reference(cube: Cube) -> npt.NDArray[np.float32]:
    """float64 numpy reference (lco_core.stats.sigma_clipped_mean), in row bands."""
    from lco_core.stats import sigma_clipped_mean

    out = np.empty(cube.shape[1:], dtype=np.float32)
    rows = max(1, 2**24 // (cube.shape[0] * cube.shape[2]))
    for start in range(0, cube.shape[1], rows):
        band = cube[:, start : start + rows].astype(np.float64)
        out[start : start + rows] = sigma_clipped_mean(band, NSIGMA, axis=0)
    return out


IMPLEMENTATIONS: dict[str, Callable[[Cube], npt.NDArray[np.float32]]] = {
    "ours": ours,
    "astropy": astropy_sigma_clip,
    "ccdproc": ccdproc_combiner,
    "numpy": plain_numpy,
    "floor": floor,
    "reference": reference,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("implementation", choices=[*IMPLEMENTATIONS, "ours+planes"])
    parser.add_argument("shape", help="N,H,W")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, required=True, help="where to save the result (.npy)")
    args = parser.parse_args()
    n, ny, nx = (int(part) for part in args.shape.split(","))

    if args.implementation.startswith("ours"):
        ours(make_cube(3, 4, 4))  # load the compiled kernel from numba's cache before measuring
    baseline = resident_bytes()
    cube = make_cube(n, ny, nx)
    inputs_bytes = cube.nbytes
    run: Callable[[Cube], npt.NDArray[np.float32]]
    if args.implementation == "ours+planes":
        masks = np.zeros(cube.shape, dtype=np.uint8)
        sigmas = np.full(cube.shape, 10.0, dtype=np.float32)
        inputs_bytes += masks.nbytes + sigmas.nbytes
        run = functools.partial(ours_with_planes, masks=masks, sigmas=sigmas)
    else:
        run = IMPLEMENTATIONS[args.implementation]

    repeats = 1 if args.implementation == "reference" else args.repeats
    times, peaks = [], []
    for _ in range(repeats):
        reset_peak()
        start = time.perf_counter()
        result = run(cube)
        times.append(time.perf_counter() - start)
        peaks.append(peak_bytes())
        np.save(args.output, result)
        del result
    print(
        json.dumps(
            {
                "implementation": args.implementation,
                "shape": [n, ny, nx],
                "wall": statistics.median(times),
                "peak_rss": max(peaks),
                "baseline_rss": baseline,
                "input_bytes": inputs_bytes,
            }
        )
    )


if __name__ == "__main__":
    main()
