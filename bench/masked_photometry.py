"""Masked pixels in aperture photometry: lco-reduce's PSF-restored fluxes against sep's, side by side.

    .venv/bin/python bench/masked_photometry.py

Frames built by the tests' own simulator (tests/test_masked_photometry.py): 144 isolated Moffat
stars of known flux (FWHM 4 px, beta 3, 3e4-3e6 e-) on a flat sky with Poisson and read noise,
and a bad pixel mask of about 1% of the pixels (hot pixels, three bad columns, 3 x 3 clusters)
whose pixels read 0, 3e4 or 6e4 e-. Truth comes from the injected profile, never from the
pipeline. Every figure is measured on the same frames in this one run: lco-reduce's catalogue
(masked pixels left out, their light restored from the fitted PSF), sep.sum_circle with the
mask (sep leaves masked pixels out and scales the sum by the aperture's area over its unmasked
area, as if the source were flat: its aperture code, ``totarea / (totarea - maskarea)``), and
sep.sum_circle with no mask at all (a user who forgot the BPM).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np
import numpy.typing as npt
import sep

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_masked_photometry import (  # noqa: E402  (tests/ is importable only after the line above)
    PIXEL_SCALE,
    READ_NOISE,
    SKY,
    ZERO_POINT,
    Field,
    _matches,
    _solved,
    make_field,
    true_share,
)

from lco_core import Frame, MaskBit  # noqa: E402
from lco_core.sources import SourceCatalog, SourceFlag  # noqa: E402
from lco_stages.masked_flux import Apertures, MoffatPsf, masked_shares  # noqa: E402
from lco_stages.sources import APERTURE_DIAMETERS, MATERIAL_SHARE, detect_sources  # noqa: E402
from lco_stages.zeropoint import calibrate_photometry  # noqa: E402

Array = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp]

SEEDS = (5, 6, 7)
#: Injected S/N in the 4" aperture above which a star counts as bright.
BRIGHT_SNR = 100.0
#: detect_sources runs per frame; the median is reported (the first run pays for warm caches).
REPEATS = 3
#: Mask bits of the BAD_PIXELS flag, old rule and new (bad, uncovered, low flat).
BAD_BITS = int(MaskBit.BAD | MaskBit.NO_DATA | MaskBit.LOW_FLAT)
#: The groups detect_sources measures shares for: every excluded bit, the bad ones, cosmic rays.
SHARE_GROUPS = (
    int(MaskBit.BAD | MaskBit.NO_DATA | MaskBit.LOW_FLAT | MaskBit.COSMIC | MaskBit.SATURATED),
    BAD_BITS,
    int(MaskBit.COSMIC),
)
#: Fixed apertures compared: the zero point's (diameter closest to 2 FWHM) and the next one up.
FIXED = (3, 4)
#: Share classes: no masked pixel, a share up to the flag's threshold, above it.
CLASSES = ("no masked pixel", f"share <= {MATERIAL_SHARE:.0%}", f"share > {MATERIAL_SHARE:.0%}")


@attrs.frozen(eq=False)
class Detection:
    """One detect_sources run: the frame it returned and its median wall time (s)."""

    frame: Frame
    seconds: float
    warnings: tuple[str, ...]

    @property
    def catalog(self) -> SourceCatalog:
        """The CAT table."""
        assert self.frame.sources is not None
        return self.frame.sources

    def diagnostic(self, name: str) -> float:
        """A numeric diagnostic of the detect_sources step."""
        value = self.frame.steps("detect_sources")[-1].diagnostics[name]
        assert isinstance(value, int | float)
        return float(value)


@attrs.frozen(eq=False)
class Seed:
    """Everything measured on one seed's frame."""

    errors: dict[str, list[Array]]  # method -> |F/F_true - 1| of bright stars, one array per class
    flags: tuple[int, int, int, int]  # matched stars; flagged by old rule, new rule, injected truth
    zero_points: list[tuple[str, float, str, str]]  # label, ZP - injected (mag), stars, how
    timings: list[tuple[str, float, int, float]]  # label, seconds, sources, PSF FWHM (px)
    shares_seconds: float
    notes: list[str]
    masked_fraction: float


def _detect(frame: Frame) -> Detection:
    stage = detect_sources(pixel_scale=PIXEL_SCALE)
    seconds: list[float] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(REPEATS):
            start = time.perf_counter()
            result = stage(frame)
            seconds.append(time.perf_counter() - start)
    messages = tuple(sorted({f"{w.category.__name__}: {w.message}" for w in caught}))
    return Detection(result, float(np.median(seconds)), messages)


def _repaired(field: Field, seed: int) -> Frame:
    """The same frame with good pixels where the bad ones were, and no mask: the clean case."""
    rng = np.random.default_rng(seed + 1000)
    bad = field.frame.mask != 0
    light = field.stars[bad] + SKY
    data = np.array(field.frame.data)
    data[bad] = rng.poisson(light) + rng.normal(0.0, READ_NOISE, light.size) - SKY
    return Frame(
        meta=field.frame.meta,
        data=data,
        mask=np.zeros_like(field.frame.mask),
        uncertainty=field.frame.uncertainty,
    )


def _sum_circle(
    image: Array, x: Array, y: Array, r: Array, mask: npt.NDArray[np.bool_] | None = None
) -> Array:
    """sep.sum_circle's sums as float64 (sep's default 5 x 5 sub-pixel sampling, as the pipeline's)."""
    total, _, _ = sep.sum_circle(image, x, y, r, mask=mask, subpix=5)
    return np.asarray(total, dtype=np.float64)


def _one_per_star(catalog: SourceCatalog, field: Field) -> tuple[Index, Index]:
    """(row, star) matches, the brightest row of each star (the catalogue is sorted brightest first)."""
    rows, stars = _matches(catalog, field)
    _, first = np.unique(stars, return_index=True)
    return rows[first], stars[first]


def _kron_circle(catalog: SourceCatalog, rows: Index, seeing: float) -> Array:
    """The Kron aperture as a circle: 2.5 Kron radii, at least 3.5 FWHM (pixels)."""
    size = np.sqrt(catalog["a"][rows] * catalog["b"][rows])
    radius: Array = np.maximum(2.5 * catalog["kronrad"][rows] * size, 3.5 * seeing)
    return radius


def _classes(share: Array) -> list[npt.NDArray[np.bool_]]:
    return [share == 0, (share > 0) & (share <= MATERIAL_SHARE), share > MATERIAL_SHARE]


@attrs.frozen(eq=False)
class Stars:
    """The injected stars lco-reduce found on a frame, and the apertures they are measured in."""

    field: Field
    rows: Index  # catalogue rows of the BPM run
    stars: Index  # the injected star of each row
    kron: Array  # the Kron aperture as a circle, pixels
    radii: dict[int, Array]  # the fixed apertures by diameter (arcsec), pixels
    bpm: npt.NDArray[np.bool_]

    def bright(self) -> npt.NDArray[np.bool_]:
        """Injected S/N in the 4" aperture (sky and read noise) above `BRIGHT_SNR`."""
        light = _sum_circle(
            self.field.stars, self.field.x[self.stars], self.field.y[self.stars], self.radii[4]
        )
        noise = np.sqrt(light + np.pi * self.radii[4] ** 2 * (SKY + READ_NOISE**2))
        bright: npt.NDArray[np.bool_] = light / noise > BRIGHT_SNR
        return bright

    def shares(self, radius: Array) -> Array:
        """Masked share of each star's injected light in a circle around its true centre."""
        field = self.field
        return np.array(
            [true_share(field, s, field.x[s], field.y[s], r) for s, r in zip(self.stars, radius, strict=True)]
        )


def measure(seed: int) -> Seed:
    """Every figure of one seed's frame."""
    field = make_field(seed)
    masked = _detect(field.frame)
    zeroed = _detect(attrs.evolve(field.frame, mask=np.zeros_like(field.frame.mask)))
    clean = _detect(_repaired(field, seed))
    rows, stars = _one_per_star(masked.catalog, field)
    seeing = masked.diagnostic("L1FWHM") / PIXEL_SCALE
    stars_at = Stars(
        field=field,
        rows=rows,
        stars=stars,
        kron=_kron_circle(masked.catalog, rows, seeing),
        radii={d: np.full(rows.size, d / 2.0 / PIXEL_SCALE) for d in APERTURE_DIAMETERS},
        bpm=(field.frame.mask & np.uint8(BAD_BITS)) != 0,
    )
    timings = [
        (f"detect_sources, {label}", run.seconds, len(run.catalog), run.diagnostic("psf_fwhm"))
        for label, run in (
            ("1% masked (BPM)", masked),
            ("same frame, mask zeroed", zeroed),
            ("bad pixels repaired, no mask", clean),
        )
    ]
    # Warnings raised inside the pipeline are reported, not hidden: they point at what to fix.
    runs = {"BPM": masked, "mask zeroed": zeroed, "repaired": clean}
    notes = [f"seed {seed}, {label}: {message}" for label, run in runs.items() for message in run.warnings]
    errors, shares = _flux_errors(stars_at, masked, zeroed, seeing)
    return Seed(
        errors=errors,
        flags=_flag_counts(stars_at, masked, shares),
        zero_points=_zero_points(stars_at, masked, zeroed, clean),
        timings=timings,
        shares_seconds=_time_shares(masked, stars_at),
        notes=notes,
        masked_fraction=float(np.mean(field.frame.mask != 0)),
    )


def _flux_errors(
    at: Stars, masked: Detection, zeroed: Detection, seeing: float
) -> tuple[dict[str, list[Array]], dict[str, Array]]:
    """|F/F_true - 1| of the bright stars per method and share class; the masked shares per column."""
    field, catalog = at.field, masked.catalog
    # sep measures at lco-reduce's centroids on the frame with its true sky removed: only the
    # handling of masked pixels differs, not the centre or the background.
    xc, yc = catalog["xwin"][at.rows] - 1.0, catalog["ywin"][at.rows] - 1.0
    data = np.ascontiguousarray(field.frame.data, dtype=np.float64)
    bright = at.bright()
    z_rows, z_stars = _one_per_star(zeroed.catalog, field)
    z_row = {int(s): int(r) for r, s in zip(z_rows, z_stars, strict=True)}
    found = np.array([int(s) in z_row for s in at.stars])
    apertures = [(f"fluxaper{d}", f'{d}" aperture, r = {at.radii[d][0]:.1f} px', at.radii[d]) for d in FIXED]
    apertures.append(("flux", f"Kron, r >= {3.5 * seeing:.1f} px", at.kron))
    errors: dict[str, list[Array]] = {}
    shares: dict[str, Array] = {}
    for column, label, radius in apertures:
        truth = _sum_circle(field.stars, field.x[at.stars], field.y[at.stars], radius)
        shares[column] = at.shares(radius)
        unmasked = np.array([zeroed.catalog[column][z_row.get(int(s), 0)] for s in at.stars])
        measured = {
            f"lco-reduce {column} ({label})": catalog[column][at.rows],
            "  sep.sum_circle, BPM as its mask": _sum_circle(data, xc, yc, radius, at.bpm),
            "  sep.sum_circle, no mask": _sum_circle(data, xc, yc, radius),
            "  lco-reduce, mask zeroed": np.where(found, unmasked, np.nan),
        }
        for method, flux in measured.items():
            deviation = np.abs(flux / truth - 1.0)
            errors[f"{column}|{method}"] = [deviation[bright & c] for c in _classes(shares[column])]
    return errors, shares


def _flag_counts(at: Stars, masked: Detection, shares: dict[str, Array]) -> tuple[int, int, int, int]:
    """Matched stars, and how many BAD_PIXELS flags under the old rule, the new one and the truth."""
    catalog = masked.catalog
    # The old rule, as the old code computed it: any bad pixel within the Kron circle (at least
    # 3 px) around the windowed centroid, summed on the mask plane.
    plane = at.bpm.astype(np.float32)
    xc, yc = catalog["xwin"][at.rows] - 1.0, catalog["ywin"][at.rows] - 1.0
    touched, _, _ = sep.sum_circle(plane, xc, yc, np.maximum(at.kron, 3.0), subpix=1)
    old = np.asarray(touched) > 0
    new = (catalog["flag"][at.rows] & int(SourceFlag.BAD_PIXELS)) != 0
    every = [shares["flux"], *(at.shares(at.radii[d]) for d in APERTURE_DIAMETERS)]
    truly = np.max(np.column_stack(every), axis=1) > MATERIAL_SHARE
    return at.rows.size, int(old.sum()), int(new.sum()), int(truly.sum())


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _zero_points(
    at: Stars, masked: Detection, zeroed: Detection, clean: Detection
) -> list[tuple[str, float, str, str]]:
    """(label, L1ZP - injected, stars used, how) for each run, and for sep's fluxes."""
    field = at.field
    rows: list[tuple[str, float, str, str]] = []
    correction, column = math.nan, ""
    for label, run in (
        ("lco-reduce, BPM", masked),
        ("lco-reduce, mask zeroed", zeroed),
        ("lco-reduce, clean", clean),
    ):
        solved, reference = _solved(run.frame, field)
        step = calibrate_photometry(reference)(solved).steps("calibrate_photometry")[-1]
        p = step.parameters
        how = f"{p.get('flux')} x {_number(p.get('aperture_correction')):.4f}, {p.get('calibrators')}"
        offset = _number(step.diagnostics["L1ZP"]) - ZERO_POINT
        rows.append((label, offset, str(step.diagnostics["L1ZPNSTR"]), how))
        if run is masked:
            correction = _number(p.get("aperture_correction"))
            column = str(p.get("flux"))
    # A sep user with the same aperture and aperture correction: the median over the bright
    # stars of each star's own zero point, ZP + 2.5 log10(corrected flux / injected flux).
    diameter = int(column.removeprefix("fluxaper")) if column.startswith("fluxaper") else 3
    catalog = masked.catalog
    xc, yc = catalog["xwin"][at.rows] - 1.0, catalog["ywin"][at.rows] - 1.0
    data = np.ascontiguousarray(field.frame.data, dtype=np.float64)
    bright = at.bright()
    for label, mask in (("sep.sum_circle, BPM as its mask", at.bpm), ("sep.sum_circle, no mask", None)):
        flux = _sum_circle(data, xc, yc, at.radii[diameter], mask)
        ratio = flux[bright] * correction / field.flux[at.stars][bright]
        offset = 2.5 * math.log10(float(np.median(ratio)))
        how = f"fluxaper{diameter} x {correction:.4f} (the BPM run's), median over bright stars"
        rows.append((label, offset, str(int(bright.sum())), how))
    return rows


def _time_shares(run: Detection, at: Stars) -> float:
    """Seconds of masked_shares alone over every source (a Kron circle and the six fixed apertures)."""
    catalog = run.catalog
    psf = MoffatPsf.of_fwhm(
        run.diagnostic("psf_fwhm"), run.diagnostic("psf_beta"), int(run.diagnostic("psf_stars"))
    )
    x, y = catalog["xwin"] - 1.0, catalog["ywin"] - 1.0
    semi = np.column_stack(
        [
            np.full(len(catalog), float(np.median(at.kron))),
            *(np.full(len(catalog), at.radii[d][0]) for d in APERTURE_DIAMETERS),
        ]
    )
    apertures = Apertures(x[:, None], y[:, None], semi, semi, np.zeros_like(semi))
    return _median_seconds(lambda: masked_shares(psf, run.frame.mask, SHARE_GROUPS, x, y, apertures))


def _median_seconds(work: Callable[[], object]) -> float:
    seconds = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


def _cell(values: Array) -> str:
    """'n  median  p95' of |F/F_true - 1| in per cent."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return f"{values.size:>4} {'-':>8} {'-':>8}"
    median, p95 = np.percentile(100.0 * finite, [50, 95])
    lost = "" if finite.size == values.size else "*"
    return f"{values.size:>4} {median:>8.2f} {p95:>8.2f}{lost}"


def main() -> None:
    start = time.perf_counter()
    runs = [measure(seed) for seed in SEEDS]
    masked_share = np.mean([run.masked_fraction for run in runs])
    print(
        f"# Masked pixels in aperture photometry: {len(SEEDS)} seeds x 144 injected Moffat stars "
        f"(FWHM 4 px, beta 3), 600 x 600 px, {masked_share:.2%} of pixels masked"
    )

    print(
        f"\n## Flux: |F_measured / F_true - 1| in %, bright stars (injected S/N > {BRIGHT_SNR:g} in the "
        '4" aperture), by masked share of the injected light in that aperture; n, median, p95'
    )
    n_bright = sum(p.size for run in runs for p in run.errors[next(iter(run.errors))])
    n_all = sum(run.flags[0] for run in runs)
    print(
        f"({n_bright} of {n_all} matched stars); F_true = injected light in the same circle around the true "
        "centre (Kron: a circle of 2.5 Kron radii, at least 3.5 FWHM);\nsep sums the frame with its true sky "
        "removed at lco-reduce's centroids; * = some stars not detected in that run"
    )
    header = f"{'method':<50}" + "".join(f" | {c:^22}" for c in CLASSES)
    print(header)
    print(f"{'':<50}" + " | ".join(["", *[f"{'n':>4} {'median':>8} {'p95':>8}"] * 3]))
    print("-" * len(header))
    pooled: dict[str, list[list[Array]]] = defaultdict(lambda: [[], [], []])
    for run in runs:
        for key, parts in run.errors.items():
            for i, part in enumerate(parts):
                pooled[key][i].append(part)
    for key, by_class in pooled.items():
        method = key.split("|", 1)[1]
        print(f"{method:<50}" + "".join(f" | {_cell(np.concatenate(p)):<22}" for p in by_class))

    print(
        f"\n## BAD_PIXELS: share of matched stars flagged; old rule = any masked pixel in the Kron circle "
        f"(sep.sum_circle on the mask plane), new = lco-reduce's flag (masked light > {MATERIAL_SHARE:.0%}), "
        'truth = injected share > 1% in the Kron circle or a 1-6" aperture'
    )
    print(f"{'seed':>6} {'stars':>6} {'old rule':>10} {'new rule':>10} {'truth':>10}")
    totals = np.zeros(4, dtype=np.int64)
    for seed, run in zip(SEEDS, runs, strict=True):
        n, old, new, truly = run.flags
        totals += run.flags
        print(f"{seed:>6} {n:>6} {old / n:>10.1%} {new / n:>10.1%} {truly / n:>10.1%}")
    n, old, new, truly = (int(v) for v in totals)
    print(f"{'all':>6} {n:>6} {old / n:>10.1%} {new / n:>10.1%} {truly / n:>10.1%}")

    print(
        f"\n## Zero point: L1ZP - injected ({ZERO_POINT}) in mag and stars used "
        "(calibrate_photometry against the injected catalogue, header WCS)"
    )
    print(f"{'seed':>6} {'zero point from':<36} {'dZP mag':>9} {'stars':>6}  how")
    for seed, run in zip(SEEDS, runs, strict=True):
        for label, offset, n_stars, how in run.zero_points:
            print(f"{seed:>6} {label:<36} {offset:>+9.4f} {n_stars:>6}  {how}")

    print(
        f"\n## Cost: detect_sources wall time (median of {REPEATS}) on the same frame with and without "
        "masked pixels; masked_shares = the share integrals alone"
    )
    print(f"{'seed':>6} {'run':<46} {'seconds':>8} {'sources':>8} {'PSF FWHM px':>12} {'x clean':>8}")
    for seed, run in zip(SEEDS, runs, strict=True):
        clean = run.timings[-1][1]
        for label, seconds, n_sources, fwhm in run.timings:
            print(
                f"{seed:>6} {label:<46} {seconds:>8.3f} {n_sources:>8} {fwhm:>12.2f} {seconds / clean:>8.2f}"
            )
        print(f"{seed:>6} {'masked_shares alone, BPM frame':<46} {run.shares_seconds:>8.3f}")
    for note in sorted({note for run in runs for note in run.notes}):
        print(f"note: {note}")
    print(f"\n(whole run {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
