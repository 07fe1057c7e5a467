"""The night benchmark: a simulated night of full-size Sinistro frames reduced end to end.

    .venv/bin/python bench/night.py [--size 4096] [--bias 10 --dark 5 --flat 5 --science 10]

Prints seconds per stage for one 4096x4096 science frame, then the whole night with 1 and 2
workers (each run a fresh `lco-reduce run` process): wall time, frames per minute, peak memory
of the main process and of the largest worker (RSS sampled every 0.2 s), and the 2-worker
speed-up and efficiency.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

GIB = 1024**3


def simulate(folder: Path, size: int, counts: dict[str, int]) -> Path:
    marker = (
        folder / f"complete-{size}-{counts['bias']}-{counts['dark']}-{counts['flat']}-{counts['science']}"
    )
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    from lco_instruments.simulate import make_field, simulate_night, sinistro

    sim = sinistro(amp_size=size // 2)
    field = make_field(sim, seed=7, stars_per_square_degree=4000)
    start = time.perf_counter()
    simulate_night(
        folder / "raw", sim, seed=7, n_bias=counts["bias"], n_dark=counts["dark"], n_flat=counts["flat"],
        n_science=counts["science"], science_exptime=120.0, field=field,
    )  # fmt: skip
    print(f"simulated {sum(counts.values())} frames of {size}x{size} in {time.perf_counter() - start:.0f} s")
    marker.touch()
    return folder


def run_night(folder: Path, out: Path, workers: int) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable, "-m", "lco_cli.main", "run", str(folder / "raw"), "--out", str(out),
        "--catalog", str(folder / "raw" / "refcat.ecsv"), "--offline", "--workers", str(workers), "--quiet",
    ]  # fmt: skip
    start = time.perf_counter()
    process = psutil.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    main_peak, worker_peak = 0, 0
    while process.poll() is None:
        try:
            main_peak = max(main_peak, process.memory_info().rss)
            for child in process.children(recursive=True):
                try:
                    worker_peak = max(worker_peak, child.memory_info().rss)
                except psutil.Error:
                    continue
        except psutil.Error:
            pass
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        detail = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"lco-reduce run failed ({process.returncode}): {detail}")
    import json

    phases = json.loads((out / "summary.json").read_text()).get("phases_seconds", {})
    return {"wall": wall, "main_peak": main_peak, "worker_peak": worker_peak or main_peak, **phases}


def stage_seconds(folder: Path, out: Path) -> list[tuple[str, float]]:
    from lco_cli.catalogs import read_reference_file
    from lco_core.io import read_bad_pixel_mask, read_master, read_raw
    from lco_instruments.describe import camera_for, raw_to_frame
    from lco_stages.recipes import Calibrations, science_stages

    science = sorted((folder / "raw").glob("*-e00.fits.fz"))[0]
    masters = out / "masters"
    cal = Calibrations(
        bias=read_master(next(masters.glob("*-bias-*.fits"))),
        dark=read_master(next(masters.glob("*-dark-*.fits"))),
        flat=read_master(next(masters.glob("*-skyflat-*.fits"))),
        bpm=read_bad_pixel_mask(next(masters.glob("*-bpm-*.fits"))),
    )
    reference = read_reference_file(folder / "raw" / "refcat.ecsv")
    timings = []
    start = time.perf_counter()
    raw = read_raw(science)
    camera = camera_for(raw)
    frame = raw_to_frame(raw, camera)
    timings.append(("read raw + camera", time.perf_counter() - start))
    assert raw.meta.pixel_scale is not None
    for stage in science_stages(camera, cal, reference=reference, pixel_scale=raw.meta.pixel_scale):
        start = time.perf_counter()
        frame = stage(frame)
        timings.append((frame.history[-1].stage, time.perf_counter() - start))
    import datetime as dt

    from lco_core.io import write_product
    from lco_stages.keywords import product_keywords

    start = time.perf_counter()
    write_product(
        out / "bench-e91.fits", frame, keywords=product_keywords(frame, now=dt.datetime.now(dt.UTC))
    )
    timings.append(("write product", time.perf_counter() - start))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--bias", type=int, default=10)
    parser.add_argument("--dark", type=int, default=5)
    parser.add_argument("--flat", type=int, default=5)
    parser.add_argument("--science", type=int, default=10)
    parser.add_argument("--scratch", type=Path, default=Path("bench-output"))
    args = parser.parse_args()
    counts = {"bias": args.bias, "dark": args.dark, "flat": args.flat, "science": args.science}
    folder = simulate(args.scratch / f"night-{args.size}", args.size, counts)
    frames = sum(counts.values())
    runs = {}
    for workers in (1, 2):
        runs[workers] = run_night(folder, args.scratch / f"reduced-{workers}", workers)
    print(f"\n## Seconds per stage, one {args.size}x{args.size} Sinistro science frame (one process)\n")
    timings = stage_seconds(folder, args.scratch / "reduced-1")
    for name, seconds in timings:
        print(f"{name:28s} {seconds:7.2f}")
    total = sum(seconds for _, seconds in timings)
    print(f"{'total':28s} {total:7.2f}   (target <= 20 s)")
    print(f"\n## The night: {frames} frames ({counts}) of {args.size}x{args.size}\n")
    print(f"{'workers':>7} {'wall s':>8} {'frames/min':>10} {'main peak GiB':>13} {'worker peak GiB':>15}")
    for workers, figures in runs.items():
        print(
            f"{workers:7d} {figures['wall']:8.1f} {frames / figures['wall'] * 60:10.1f} "
            f"{figures['main_peak'] / GIB:13.2f} {figures['worker_peak'] / GIB:15.2f}"
        )
    phases = [key for key in runs[1] if key not in ("wall", "main_peak", "worker_peak")]
    print(f"\nphases (wall s): {'phase':18s} {'1 worker':>9} {'2 workers':>9}")
    for phase in phases:
        print(f"                 {phase:18s} {runs[1][phase]:9.1f} {runs[2].get(phase, 0.0):9.1f}")
    speedup = runs[1]["wall"] / runs[2]["wall"]
    print(f"\nspeed-up 1 -> 2 workers: {speedup:.2f}x, efficiency {speedup / 2:.0%} (target >= 80%); "
          f"memory per worker target < 3 GiB")  # fmt: skip


if __name__ == "__main__":
    main()
