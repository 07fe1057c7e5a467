"""Product size on disk: a full-size (4096x4096) Sinistro product, ours against what users get otherwise.

    .venv/bin/python bench/product_size.py [--size 4096] [--scratch DIR]

Reduces one simulated Sinistro night (3 biases, 3 darks, 3 flats, 1 science frame) twice, with
and without compression, and prints for the science product and each master: bytes per pixel,
|packed - plain| / ERR over the good pixels (largest and 99.9th percentile), and whether cfitsio's
funpack reads every pixel as astropy does. "ours" is the plain file packed by our writer (the
compression's own error); "compressed run" is the file the compressed night wrote, which was
also calibrated with compressed masters (their rounding can flip a sigma-clipping decision, so
single pixels may differ by more). Beside them, the plain product packed the ways a user would
otherwise pack it: fpack's defaults (RICE, q = 4 of each tile's noise), astropy's CompImageHDU
defaults (q = 16) and gzip of the whole file (lossless, what LCO's .fits.gz archives did).
"""

from __future__ import annotations

import argparse
import gzip
import io
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from night import simulate  # noqa: E402  # the night benchmark's cached simulation

from lco_core.io.products import write_atomically  # noqa: E402

COUNTS = {"bias": 3, "dark": 3, "flat": 3, "science": 1}


def reduce(folder: Path, out: Path, *extra: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable, "-m", "lco_cli.main", "run", str(folder / "raw"), "--out", str(out),
        "--min-frames", "3", "--catalog", str(folder / "raw" / "refcat.ecsv"), "--offline",
        "--workers", "1", "--quiet", *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def errors(packed: fits.HDUList, plain: fits.HDUList) -> tuple[float, float]:
    """|packed - plain| / ERR over SCI's good pixels: the largest and the 99.9th percentile."""
    if "ERR" not in plain or "BPM" not in plain:
        return 0.0, 0.0
    error = np.asarray(plain["ERR"].data, dtype=np.float64)
    good = (np.asarray(plain["BPM"].data) == 0) & (error > 0)
    difference = np.abs(np.asarray(packed["SCI"].data, dtype=np.float64) - plain["SCI"].data)
    ratio = difference[good] / error[good]
    return float(np.nanmax(ratio)), float(np.nanpercentile(ratio, 99.9))


def funpack_agrees(path: Path) -> str:
    funpack = shutil.which("funpack")
    if funpack is None:
        return "no funpack"
    unpacked = fits.open(io.BytesIO(subprocess.run([funpack, "-S", str(path)], capture_output=True).stdout))
    with unpacked, fits.open(path) as packed:
        for hdu in packed[1:]:
            if hdu.is_image and not np.array_equal(unpacked[hdu.name].data, hdu.data, equal_nan=True):
                return f"differs in {hdu.name}"
    return "same"


def packed_otherwise(plain_path: Path, scratch: Path) -> dict[str, tuple[int, tuple[float, float]]]:
    """The plain product packed as users would otherwise: (bytes, |error| / ERR figures)."""
    results: dict[str, tuple[int, tuple[float, float]]] = {}
    with fits.open(plain_path) as plain:
        for label, level in (("fpack q=4", 4.0), ("astropy q=16", 16.0)):
            target = scratch / f"{label.replace(' ', '_')}.fits.fz"
            hdus = [fits.PrimaryHDU()]
            for hdu in plain[1:]:
                if hdu.is_image:
                    options = {} if hdu.data.dtype.kind in "iu" else {"quantize_level": level}
                    hdus.append(
                        fits.CompImageHDU(hdu.data, name=hdu.name, compression_type="RICE_1", **options)
                    )
                else:
                    hdus.append(hdu.copy())
            fits.HDUList(hdus).writeto(target, overwrite=True)
            with fits.open(target) as packed:
                results[label] = (target.stat().st_size, errors(packed, plain))
    zipped = scratch / "plain.fits.gz"
    with open(plain_path, "rb") as source, gzip.open(zipped, "wb", compresslevel=6) as sink:
        shutil.copyfileobj(source, sink)
    results["gzip -6 (lossless)"] = (zipped.stat().st_size, (0.0, 0.0))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "lco-bench-size")
    arguments = parser.parse_args()
    folder = simulate(arguments.scratch / "night", arguments.size, COUNTS)
    packed_run, plain_run = arguments.scratch / "fz", arguments.scratch / "plain"
    packed_seconds = reduce(folder, packed_run)
    plain_seconds = reduce(folder, plain_run, "--no-compress")
    print(f"\n## Product size: {arguments.size}x{arguments.size} Sinistro (simulated), one frame")
    print(f"run wall: compressed {packed_seconds:.0f} s, plain {plain_seconds:.0f} s\n")
    header = f"{'file':>44} {'form':>20} {'MB':>7} {'bytes/pix':>9} {'x plain':>7} "
    header += f"{'max|d|/ERR':>10} {'p99.9':>7} {'funpack':>8}"
    print(header)
    print("-" * len(header))
    files = sorted(packed_run.glob("*-e91.fits.fz")) + sorted((packed_run / "masters").glob("*.fits.fz"))
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        for packed_path in files:
            plain_path = plain_run / packed_path.relative_to(packed_run).with_suffix("")
            with fits.open(plain_path) as plain:
                pixels = plain[1].data.size
                ours = scratch / packed_path.name
                write_atomically(fits.HDUList([hdu.copy() for hdu in plain]), ours)
                with fits.open(ours) as packed:
                    rows = {"plain": (plain_path.stat().st_size, (0.0, 0.0))}
                    rows["ours (1% of ERR)"] = (ours.stat().st_size, errors(packed, plain))
                with fits.open(packed_path) as packed:
                    rows["compressed run"] = (packed_path.stat().st_size, errors(packed, plain))
            if packed_path.name.endswith("-e91.fits.fz"):
                rows |= packed_otherwise(plain_path, scratch)
            agreement = funpack_agrees(packed_path)
            for form, (size, (worst, p999)) in rows.items():
                print(
                    f"{packed_path.name[-44:]:>44} {form:>20} {size / 1e6:7.1f} {size / pixels:9.2f} "
                    f"{size / rows['plain'][0]:7.2f} {worst:10.4f} {p999:7.4f} "
                    f"{agreement if form == 'compressed run' else '':>8}"
                )


if __name__ == "__main__":
    main()
