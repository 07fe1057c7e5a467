"""Photon transfer: the error of the measured gain and read noise against the simulator's truth.

    .venv/bin/python bench/photon_transfer.py [--seeds N]

For each camera (an SBIG of 512 x 512 binned pixels, a Sinistro of four 512 x 512 amplifiers, a
Spectral of 512 x 512 with its overscan) and each seed: two biases and two dithered sky flats
(levels 4% apart, with the field's stars on them) written as raw files, read back by the
pipeline and measured by `lco_stages.photon_transfer.measure_photon_transfer` with its default
settings. The truth is each amplifier's `~lco_instruments.simulate.Electronics` gain and read
noise, from which the simulator draws the noise; the expected statistical error of the gain is
derived from the pixel count alone (each difference's variance known to sqrt(2 / (n - 1))).
Printed per camera: the mean and standard deviation over seeds and amplifiers of the relative
gain and read-noise errors, the expected 1-sigma, and the largest error in sigma. The measured
read noise holds the converter's rounding (1/12 ADU**2 per frame, as every real frame does), which
the simulator's analog truth does not: its share is printed ("rounding") and taken off before the
read noise's error is counted in sigma. A header gain
10% too high (``header_gain_factor=1.1``) is then measured once per camera: every amplifier must
warn, and no amplifier may warn with the right header.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import tempfile
from pathlib import Path

import attrs
import numpy as np

from lco_core.frame import Frame
from lco_core.io import read_raw
from lco_core.meta import ObsType
from lco_instruments.describe import camera_for, raw_to_frame
from lco_instruments.geometry import Camera
from lco_instruments.simulate import (
    Exposure,
    SimCamera,
    camera_signatures,
    make_field,
    sbig,
    simulate_frame,
    sinistro,
    spectral,
    write_frame,
)
from lco_stages.photon_transfer import PhotonTransfer, measure_photon_transfer

CAMERAS = {
    "SBIG 512x512": sbig(size=1024),
    "Sinistro 4 x 512x512": sinistro(amp_size=512),
    "Spectral 512x512": spectral(size=1024),
}


def _pairs(sim: SimCamera, folder: Path, seed: int, factor: float) -> tuple[list[Frame], Camera]:
    signatures = camera_signatures(sim, seed=seed)
    field = make_field(sim, seed=seed)
    start = dt.datetime(2026, 1, 1, 22, tzinfo=dt.UTC)
    bias = Exposure(ObsType.BIAS, 0.0, start, 1, header_gain_factor=factor)
    flat = attrs.evolve(bias, obstype=ObsType.SKYFLAT, exptime=5.0, cosmic_rays=False)
    exposures = (
        bias,
        attrs.evolve(bias, number=2),
        attrs.evolve(flat, number=3, dither_arcsec=(20.0, -10.0)),
        attrs.evolve(flat, number=4, dither_arcsec=(-30.0, 15.0), flat_level=24000.0),
    )
    frames: list[Frame] = []
    camera = None
    for exposure in exposures:
        path = write_frame(
            folder, simulate_frame(sim, signatures, field, exposure, seed=seed), compress=False
        )
        raw = read_raw(path)
        camera = camera_for(raw)
        frames.append(raw_to_frame(raw, camera))
    assert camera is not None
    return frames, camera


def _measure(sim: SimCamera, seed: int, factor: float = 1.0) -> PhotonTransfer:
    with tempfile.TemporaryDirectory() as folder:
        frames, camera = _pairs(sim, Path(folder), seed, factor)
        return measure_photon_transfer((frames[0], frames[1]), (frames[2], frames[3]), camera)


def _expected(gain: float, read_noise: float, signal: float, pixels: int) -> float:
    read = 2.0 * (read_noise / gain) ** 2
    flats = 2.0 * signal / gain + read
    return math.sqrt(2.0 / (pixels - 1)) * math.hypot(flats, read) / (flats - read)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    seeds = range(parser.parse_args().seeds)
    print(f"photon transfer vs the simulator's truth, {len(seeds)} seeds per camera, default settings")
    print(
        f"{'camera':22s} {'n':>3s} {'gain err mean':>13s} {'std':>7s} {'expected':>8s} {'max |sigma|':>11s}"
        f" {'rn err mean':>11s} {'std':>7s} {'rounding':>9s} {'max |sigma|':>11s}"
    )
    for name, sim in CAMERAS.items():
        gains, noises, gain_sigmas, noise_sigmas, expected, rounding = [], [], [], [], [], []
        for seed in seeds:
            transfer = _measure(sim, seed)
            for amp, truth in zip(transfer.amplifiers, sim.electronics, strict=True):
                sigma = _expected(truth.gain, truth.read_noise, amp.signal, amp.pixels)
                gains.append(amp.gain / truth.gain - 1)
                gain_sigmas.append(abs(gains[-1]) / sigma)
                noises.append(amp.read_noise / truth.read_noise - 1)
                # The converter's rounding adds 1/12 ADU**2 to each frame's read variance.
                rounding.append(math.sqrt(1.0 + truth.gain**2 / 12.0 / truth.read_noise**2) - 1.0)
                beyond = abs(noises[-1] - rounding[-1])
                noise_sigmas.append(beyond / math.hypot(sigma, math.sqrt(0.5 / (amp.pixels - 1))))
                expected.append(sigma)
        print(
            f"{name:22s} {len(gains):3d} {np.mean(gains):+13.3%} {np.std(gains):7.3%} "
            f"{np.mean(expected):8.3%} {max(gain_sigmas):11.1f} {np.mean(noises):+11.3%} "
            f"{np.std(noises):7.3%} {np.mean(rounding):+9.3%} {max(noise_sigmas):11.1f}"
        )
    print("\na header gain 10% too high (seed 100) and the right one (seed 101): warnings per amplifier")
    for name, sim in CAMERAS.items():
        wrong = _measure(sim, 100, factor=1.1)
        right = _measure(sim, 101)
        differences = ", ".join(f"{a.gain_difference:+.1%}" for a in wrong.amplifiers)
        print(
            f"{name:22s} wrong header: {len(wrong.warnings)}/{len(wrong.amplifiers)} warn "
            f"(header - measured: {differences}); right header: {len(right.warnings)} warn"
        )


if __name__ == "__main__":
    main()
