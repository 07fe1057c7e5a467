"""`make bench`: coadds of 10 and 50 products of 4096 x 4096 pixels, time and peak memory.

Synthetic products (`write_products`: sky, a few hundred stars, Poisson-like noise, a solved TAN
WCS dithered by up to 30 arcsec and turned by up to 0.5 degree, L1ZP within 0.02 mag of 23.5,
tile-compressed as `lco-reduce run` writes them) are stacked, each way in a fresh process of its
own so its peak resident memory (VmHWM, `bench/memory.py`) is its own:

* ``lco-reduce``: `lco_cli.stacking.product.build_coadd` through `lco_core.io.product_source.ProductSource`
  (row bands read from the files, resampled onto the common grid, scaled, weighted, clipped);
* ``lco-reduce + science``: `lco_cli.stacking.product.make_coadd`, the whole coadd product (the above,
  then sources, astrometry without reference stars, depth, the compressed write);
* ``ccdproc``: ``ccdproc.combine`` of the SCI planes, sigma-clipped average with its own
  ``mem_limit`` of 2.5 GB, **no alignment** (BANZAI's kind of stack): a lower bound of the work;
* ``reproject``: ``reproject.mosaicking.reproject_and_coadd`` with bilinear ``reproject_interp``
  onto the same grid, a plain mean (no weights, no clipping, no ERR or BPM).

Run: ``.venv/bin/python bench/stack.py`` (``--sizes 10`` for a quick look; ``--keep DIR`` keeps
the products). The machine's cores are all used (2 on the reference machine).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from memory import peak_bytes, reset_peak  # noqa: E402

SIZE = 4096
SCALE_ARCSEC = 0.389
CENTRE = (150.25, -30.4)
GIB = 1024**3
WAYS = ("lco-reduce", "lco-reduce + science", "ccdproc", "reproject")


def _header(number: int, start_minutes: float) -> Any:
    import datetime as dt

    from lco_core.header import Header, HeaderCard

    start = dt.datetime(2026, 1, 1, 22, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=start_minutes)
    return Header(
        (
            HeaderCard("INSTRUME", "fa99"), HeaderCard("OBSTYPE", "EXPOSE"), HeaderCard("SITEID", "cpt"),
            HeaderCard("TELESCOP", "1m0-10"), HeaderCard("DATE-OBS", start.strftime("%Y-%m-%dT%H:%M:%S.000")),
            HeaderCard("DAY-OBS", "20260101"), HeaderCard("EXPTIME", 60.0), HeaderCard("CCDSUM", "1 1"),
            HeaderCard("FILTER", "rp"), HeaderCard("PIXSCALE", SCALE_ARCSEC), HeaderCard("FRAMENUM", number),
            HeaderCard("SATURATE", 300000.0), HeaderCard("RDNOISE", 10.0), HeaderCard("GAIN", 1.0),
        )
    )  # fmt: skip


def _wcs_cards(dx: float, dy: float, turn_deg: float) -> Any:
    from lco_core.header import Header, HeaderCard

    scale = SCALE_ARCSEC / 3600.0
    angle = math.radians(turn_deg)
    ra = CENTRE[0] + dx / 3600.0 / math.cos(math.radians(CENTRE[1]))
    dec = CENTRE[1] + dy / 3600.0
    return Header(
        (
            HeaderCard("CTYPE1", "RA---TAN"), HeaderCard("CTYPE2", "DEC--TAN"),
            HeaderCard("CRPIX1", (SIZE + 1) / 2), HeaderCard("CRPIX2", (SIZE + 1) / 2),
            HeaderCard("CRVAL1", ra), HeaderCard("CRVAL2", dec),
            HeaderCard("CD1_1", -scale * math.cos(angle)), HeaderCard("CD1_2", scale * math.sin(angle)),
            HeaderCard("CD2_1", scale * math.sin(angle)), HeaderCard("CD2_2", scale * math.cos(angle)),
        )
    )  # fmt: skip


def write_products(folder: Path, count: int, *, seed: int = 16) -> list[Path]:
    """``count`` synthetic products of SIZE x SIZE in ``folder`` (made once, reused if present)."""
    from astropy.wcs import WCS

    from lco_core.frame import Frame
    from lco_core.header import HeaderCard
    from lco_core.io import parse_frame_meta, write_product
    from lco_core.sources import WcsSolution

    rng = np.random.default_rng(seed)
    half = SIZE * SCALE_ARCSEC / 3600.0 / 2
    n_stars = 400
    star_ra = CENTRE[0] + rng.uniform(-half, half, n_stars) / math.cos(math.radians(CENTRE[1]))
    star_dec = CENTRE[1] + rng.uniform(-half, half, n_stars)
    star_flux = 10 ** rng.uniform(3.0, 5.5, n_stars)
    yy, xx = np.mgrid[-8:9, -8:9]
    paths = []
    for number in range(1, count + 1):
        path = folder / f"cpt1m010-fa99-20260101-{number:04d}-e91.fits.fz"
        paths.append(path)
        if path.exists():
            continue
        cards = _wcs_cards(rng.uniform(-30, 30), rng.uniform(-30, 30), rng.uniform(-0.5, 0.5))
        wcs = WCS({card.keyword: card.value for card in cards.cards})
        sky = 500.0
        data = rng.standard_normal((SIZE, SIZE), dtype=np.float32)
        data *= np.float32(math.sqrt(sky + 100.0))
        data += np.float32(sky)
        x, y = wcs.all_world2pix(star_ra, star_dec, 0)
        sigma = 2.0 * (1.0 + 0.1 * rng.standard_normal())
        for xs, ys, flux in zip(x, y, star_flux, strict=True):
            ix, iy = round(float(xs)), round(float(ys))
            if not (8 <= ix < SIZE - 8 and 8 <= iy < SIZE - 8):
                continue
            stamp = np.exp(-((xx - (xs - ix)) ** 2 + (yy - (ys - iy)) ** 2) / (2 * sigma**2))
            data[iy - 8 : iy + 9, ix - 8 : ix + 9] += (flux * stamp / stamp.sum()).astype(np.float32)
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[:, int(rng.integers(0, SIZE))] = 1
        header = _header(number, 1.5 * number)
        frame = Frame(
            meta=parse_frame_meta(header, path=path.name, hdu="SCI"),
            data=data,
            mask=mask,
            uncertainty=np.sqrt(np.maximum(data, 0.0) + 100.0).astype(np.float32),
            header=header,
            wcs=WcsSolution(cards, 0, 0.1, 100),
        )
        zero_point = 23.5 + 0.02 * rng.standard_normal()
        keywords = (HeaderCard("WCSERR", 0), HeaderCard("L1ZP", zero_point), HeaderCard("L1STATZP", 1))
        write_product(path, frame, keywords=keywords)
        del data, mask, frame
    return paths


def _child(way: str, paths: list[str], out: str) -> dict[str, Any]:
    """One way of stacking, measured in this process."""
    reset_peak()
    clock = time.perf_counter()
    if way == "lco-reduce":
        import contextlib

        from lco_cli.stacking import build_coadd
        from lco_core.io.product_source import ProductSource

        with contextlib.ExitStack() as files:
            sources = [files.enter_context(ProductSource(p)) for p in paths]
            frame = build_coadd(sources, name="bench-e92.fits.fz")
        shape = frame.shape
    elif way == "lco-reduce + science":
        from lco_cli.stacking import CoaddTask, make_coadd

        result = make_coadd(CoaddTask(str(Path(out) / "bench-e92.fits.fz"), tuple(paths), None))
        if result.status == "failed":
            raise RuntimeError(result.reason)
        shape = (0, 0)
    elif way == "ccdproc":
        import warnings

        import ccdproc
        from astropy.utils.exceptions import AstropyWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)
            combined = ccdproc.combine(
                paths, hdu="SCI", unit="electron", method="average", sigma_clip=True,
                sigma_clip_low_thresh=3, sigma_clip_high_thresh=3, mem_limit=2.5e9, dtype=np.float32,
            )  # fmt: skip
        shape = combined.data.shape
    elif way == "reproject":
        import contextlib

        from reproject import reproject_interp
        from reproject.mosaicking import reproject_and_coadd

        from lco_core.io.product_source import ProductSource
        from lco_stages.coadd import common_grid

        with contextlib.ExitStack() as files:
            sources = [files.enter_context(ProductSource(p)) for p in paths]
            grid, shape = common_grid(sources)
            inputs = [(s.read_rows(0, s.shape[0])[0], s.wcs) for s in sources]  # reproject takes arrays
            array, _ = reproject_and_coadd(
                inputs, grid, shape_out=shape, reproject_function=reproject_interp, combine_function="mean"
            )
        del inputs, array
    else:
        raise ValueError(way)
    seconds = time.perf_counter() - clock
    return {"way": way, "seconds": seconds, "peak_gib": peak_bytes() / GIB, "shape": list(shape)}


def _measure(way: str, paths: list[Path], out: Path) -> dict[str, Any]:
    listing = out / "inputs.txt"
    listing.write_text("\n".join(str(p) for p in paths))
    completed = subprocess.run(
        [sys.executable, __file__, "--child", way, "--inputs", str(listing), "--out", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        lines = (completed.stderr.strip() or completed.stdout.strip() or "no output").splitlines()
        return {"way": way, "error": lines[-1][:120]}
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10,50", help="numbers of inputs (default 10,50)")
    parser.add_argument("--ways", default=",".join(WAYS), help="which ways to measure")
    parser.add_argument("--keep", type=Path, help="write (and keep) the products here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.inputs.read_text().split("\n"), str(args.out))))
        return
    sizes = [int(n) for n in args.sizes.split(",")]
    ways = [w for w in args.ways.split(",") if w]
    with tempfile.TemporaryDirectory(prefix="lco-bench-stack-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        clock = time.perf_counter()
        paths = write_products(folder, max(sizes))
        made = time.perf_counter() - clock
        print(f"## Coadds of {SIZE} x {SIZE} products ({len(paths)} written in {made:.0f} s)")
        print(f"cores: {os.cpu_count()}; each way in a fresh process; peak = its VmHWM\n")
        print(f"{'inputs':>6} {'way':>22} {'wall s':>8} {'peak GiB':>9} {'output':>12}")
        for size in sizes:
            for way in ways:
                out = Path(scratch) / f"{way.replace(' ', '_').replace('+', '')}-{size}"
                out.mkdir(parents=True, exist_ok=True)
                figures = _measure(way, paths[:size], out)
                if "error" in figures:
                    print(f"{size:>6} {way:>22}   failed: {figures['error']}")
                    continue
                shape = "x".join(str(v) for v in figures["shape"]) if any(figures["shape"]) else "-"
                print(
                    f"{size:>6} {way:>22} {figures['seconds']:>8.1f} {figures['peak_gib']:>9.2f} {shape:>12}"
                )
        print("\nlco-reduce: aligned (bilinear), flux-scaled, inverse-variance weighted, 3-sigma clipped,")
        print("ERR and BPM propagated; ccdproc: clipped average of the SCI planes as they lie, no alignment;")
        print("reproject: aligned (bilinear) plain mean, no weights, clipping, ERR or BPM.")


if __name__ == "__main__":
    main()
