"""Issue 15: each night's gain and read noise measured by photon transfer, against the simulator's truth.

The simulator draws each amplifier's Poisson noise in electrons and divides by its true gain
(`lco_instruments.simulate.Electronics`), then adds Gaussian read noise of its true read noise; a
``header_gain_factor`` writes GAIN cards that lie while the pixels keep the truth. Expected
statistical errors are derived here from the pixel count alone (a normal variance of ``n`` values
has relative error ``sqrt(2 / (n - 1))``), never taken from the code under test.

No real data: the real raw calibration frames in ``shared/data/real/ingester`` are one bias
(fl08-0049-b00), one dark (fl08-0083-d00) and one flat of another camera (fl10-0044-f00), no pair
of anything, and the kb70 bias/dark/flat files there are masters: photon transfer needs two raw
biases and two raw flats of one camera.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

from lco_cli.main import main
from lco_core.frame import Frame
from lco_core.io import read_raw
from lco_core.meta import ObsType
from lco_instruments.describe import camera_for, raw_to_frame
from lco_instruments.geometry import Camera
from lco_instruments.simulate import (
    Exposure,
    Night,
    SimCamera,
    camera_signatures,
    make_field,
    sbig,
    simulate_frame,
    simulate_night,
    sinistro,
    write_frame,
)
from lco_stages.photon_transfer import (
    FlatCandidate,
    MeasuredElectronics,
    PhotonTransfer,
    PhotonTransferError,
    PhotonTransferSettings,
    choose_flat_pair,
    clipped_variance,
    measure_photon_transfer,
    with_measured,
)

#: A measured value is within this many of its expected statistical errors of the truth.
TOLERANCE_SIGMA = 4.0


def _pairs(
    sim: SimCamera, folder: Path, *, seed: int, factor: float = 1.0, flat_level: float = 25000.0
) -> tuple[tuple[Frame, Frame], tuple[Frame, Frame], Camera]:
    """Two biases and two dithered sky flats (levels 4% apart) as the pipeline reads them from files."""
    signatures = camera_signatures(sim, seed=seed)
    field = make_field(sim, seed=seed)
    start = dt.datetime(2026, 1, 1, 22, tzinfo=dt.UTC)
    bias = Exposure(ObsType.BIAS, 0.0, start, 1, header_gain_factor=factor)
    flat = attrs.evolve(bias, obstype=ObsType.SKYFLAT, exptime=5.0, cosmic_rays=False, flat_level=flat_level)
    exposures = (
        bias,
        attrs.evolve(bias, number=2),
        attrs.evolve(flat, number=3, dither_arcsec=(20.0, -10.0)),
        attrs.evolve(flat, number=4, dither_arcsec=(-30.0, 15.0), flat_level=0.96 * flat_level),
    )
    frames = []
    camera = None
    for exposure in exposures:
        path = write_frame(
            folder, simulate_frame(sim, signatures, field, exposure, seed=seed), compress=False
        )
        raw = read_raw(path)
        camera = camera_for(raw)
        frames.append(raw_to_frame(raw, camera))
    assert camera is not None
    return (frames[0], frames[1]), (frames[2], frames[3]), camera


def _expected_gain_error(gain: float, read_noise: float, signal: float, pixels: int) -> float:
    """1-sigma relative error of the pair gain from the truth and the pixel count: the variances of
    the flats' and the biases' differences (ADU**2) each known to sqrt(2 / (n - 1))."""
    read = 2.0 * (read_noise / gain) ** 2
    flats = 2.0 * signal / gain + read
    return math.sqrt(2.0 / (pixels - 1)) * math.hypot(flats, read) / (flats - read)


def _check_against_truth(transfer: PhotonTransfer, sim: SimCamera) -> None:
    assert len(transfer.amplifiers) == len(sim.electronics)
    for amp, truth in zip(transfer.amplifiers, sim.electronics, strict=True):
        expected = _expected_gain_error(truth.gain, truth.read_noise, amp.signal, amp.pixels)
        # The error the code states is the one the pixel count implies (within 10%).
        assert amp.gain_error / amp.gain == pytest.approx(expected, rel=0.1)
        assert abs(amp.gain / truth.gain - 1) < TOLERANCE_SIGMA * expected, (amp.amplifier, amp.gain)
        noise_expected = math.hypot(expected, math.sqrt(1.0 / (2.0 * (amp.pixels - 1))))
        # Plus the converter's rounding (1/12 ADU**2 per frame), which any real read noise holds too.
        rounding = math.sqrt(1.0 + (truth.gain / truth.read_noise) ** 2 / 12.0) - 1.0
        assert abs(amp.read_noise / truth.read_noise - 1 - rounding) < TOLERANCE_SIGMA * noise_expected


def test_clipped_variance_is_unbiased_for_normal_values() -> None:
    """The clipped variance of normal values averages to their variance, with the plain variance's
    precision sqrt(2 / (n - 1)), and 1% of wild values do not move it."""
    rng = np.random.default_rng(7)
    n, trials, sigma = 20000, 200, 3.0
    ratios = np.array([clipped_variance(rng.normal(5.0, sigma, n))[0] / sigma**2 for _ in range(trials)])
    precision = math.sqrt(2.0 / (n - 1))
    assert abs(ratios.mean() - 1.0) < 4 * precision / math.sqrt(trials)
    assert ratios.std() == pytest.approx(precision, rel=0.15)
    values = rng.normal(0.0, sigma, n)
    values[: n // 100] = 1e4
    variance, kept = clipped_variance(values)
    assert kept < n - n // 100 + 10
    assert abs(variance / sigma**2 - 1.0) < 4 * precision


@pytest.mark.parametrize("seed", [1, 2])
def test_sbig_pair_recovers_the_true_gain_and_read_noise(tmp_path: Path, seed: int) -> None:
    """One amplifier, no overscan (the bias level is the pairs' own): within 4 sigma of the truth,
    sigma = 0.35% for the gain at 168 000 pixels."""
    sim = sbig(size=1024)
    biases, flats, camera = _pairs(sim, tmp_path, seed=seed)
    transfer = measure_photon_transfer(biases, flats, camera)
    _check_against_truth(transfer, sim)
    assert transfer.amplifiers[0].pixels > 160_000
    assert transfer.warnings == ()


def test_sinistro_pair_recovers_every_amplifier(tmp_path: Path) -> None:
    """Four amplifiers with overscans and gains 2-4% apart: each measured as its own (the
    differences between amplifiers are ten times the error), within 4 sigma."""
    sim = sinistro(amp_size=512)
    biases, flats, camera = _pairs(sim, tmp_path, seed=3)
    transfer = measure_photon_transfer(biases, flats, camera)
    _check_against_truth(transfer, sim)
    assert [a.amplifier for a in transfer.amplifiers] == [1, 2, 3, 4]
    assert transfer.warnings == ()


def test_a_wrong_header_gain_is_a_warning_naming_the_amplifier(tmp_path: Path) -> None:
    """GAIN cards 10% above the truth: one warning per amplifier, naming it and about 10%; the read
    noise (RDNOISE, electrons, right) is no warning."""
    sim = sinistro(amp_size=512)
    biases, flats, camera = _pairs(sim, tmp_path, seed=4, factor=1.1)
    transfer = measure_photon_transfer(biases, flats, camera)
    warnings = transfer.warnings
    assert len(warnings) == 4
    named = set()
    for line in warnings:
        found = re.search(r"amplifier (\d): the header's gain [\d.]+ e-/ADU is ([\d.]+)% above", line)
        assert found is not None, line
        named.add(int(found.group(1)))
        assert 9.0 < float(found.group(2)) < 11.0
    assert named == {1, 2, 3, 4}
    for amp, truth in zip(transfer.amplifiers, sim.electronics, strict=True):
        assert amp.header_gain == pytest.approx(1.1 * truth.gain)
        assert abs(amp.gain / truth.gain - 1) < 0.02


def test_the_limit_is_a_setting(tmp_path: Path) -> None:
    """A 10% header error is no warning under a 12% limit, and is one under the default 5%."""
    sim = sbig(size=512)
    biases, flats, camera = _pairs(sim, tmp_path, seed=5, factor=1.1)
    loose = measure_photon_transfer(biases, flats, camera, PhotonTransferSettings(max_difference=0.12))
    assert loose.warnings == ()
    assert len(measure_photon_transfer(biases, flats, camera).warnings) == 1


def test_flats_near_maxlin_are_refused(tmp_path: Path) -> None:
    """Flats at 0.93 of MAXLIN (raw) are beyond the default 70%: no gain from them, a one-line reason."""
    sim = sbig(size=256)
    biases, flats, camera = _pairs(sim, tmp_path, seed=6, flat_level=60000.0)
    with pytest.raises(PhotonTransferError, match=r"above 70% of MAXLIN") as caught:
        measure_photon_transfer(biases, flats, camera)
    assert "\n" not in str(caught.value)


def test_the_pair_is_the_two_flats_of_one_filter_closest_in_level() -> None:
    """Known answers of the pair choice: levels above a 500 ADU bias, MAXLIN 10 000 ADU."""
    camera = sbig(size=64).camera
    camera = attrs.evolve(camera, amplifiers=(attrs.evolve(camera.amplifiers[0], nonlinearity=10000.0),))
    flats = [
        FlatCandidate("a", "rp", (4500.0,)),  # 4000 above bias
        FlatCandidate("b", "rp", (3300.0,)),  # 2800: 35% from a
        FlatCandidate("c", "V", (4400.0,)),  # 3900: 2.5% from a, but another filter
        FlatCandidate("d", "rp", (4300.0,)),  # 3800: 5.1% from a
        FlatCandidate("e", "rp", (9000.0,)),  # above 70% of MAXLIN
        FlatCandidate("f", "rp", (8900.0,)),  # above 70% too, though 1% from e
    ]
    assert choose_flat_pair(flats, (500.0,), camera) == (0, 3)
    with pytest.raises(PhotonTransferError, match="differ by 35"):
        choose_flat_pair(flats[:3], (500.0,), camera)
    with pytest.raises(PhotonTransferError, match="no pair"):
        choose_flat_pair(flats[4:], (500.0,), camera)


def test_measured_values_replace_the_header_s_with_provenance() -> None:
    """with_measured: the camera's gains and read noises are the measured ones, and it says so."""
    camera = sinistro(amp_size=64).camera
    measured = MeasuredElectronics((1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0, 8.0), "photon transfer of x")
    changed = with_measured(camera, measured)
    assert [a.gain for a in changed.amplifiers] == [1.0, 2.0, 3.0, 4.0]
    assert [a.read_noise for a in changed.amplifiers] == [5.0, 6.0, 7.0, 8.0]
    assert sum("photon transfer of x" in line for line in changed.provenance) == 4
    assert with_measured(camera, None) is camera
    with pytest.raises(PhotonTransferError, match="2 measured gains for 4 amplifiers"):
        with_measured(camera, MeasuredElectronics((1.0, 2.0), (3.0, 4.0), "y"))


# -- a night end to end ---------------------------------------------------------------------


def _night(folder: Path, factor: float) -> Night:
    return simulate_night(
        folder, sbig(size=256), n_bias=3, n_dark=3, n_flat=3, n_science=2, seed=21, compress=False,
        header_gain_factor=factor,
    )  # fmt: skip


def _run(night: Night, out: Path, *extra: str) -> dict[str, Any]:
    code = main(
        ["run", str(night.folder), "--out", str(out), "--min-frames", "3", "--workers", "1", "--quiet",
         "--catalog", str(night.catalog_path), "--offline", *extra]
    )  # fmt: skip
    assert code == 0
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary


def _sky_ratios(summary: dict[str, Any], night: Night) -> list[float]:
    """Each science product's background (L1MEDIAN, electrons) over the true sky (electrons)."""
    frames = summary["frames"]
    assert isinstance(frames, list)
    # The truth names the compressed file LCO's archive serves; the night was written uncompressed.
    sky = {truth.filename.removesuffix(".fz"): truth.sky for truth in night.truths}
    ratios = []
    for frame in frames:
        if frame["obstype"] == "EXPOSE":
            ratios.append(frame["figures"]["L1MEDIAN"] / sky[Path(frame["file"]).name])
    assert len(ratios) == 2
    return ratios


@pytest.fixture(scope="module")
def wrong_gain_night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    """A small SBIG night whose GAIN cards are 10% above the true 1.4 e-/ADU."""
    return _night(tmp_path_factory.mktemp("raw") / "kb99", 1.1)


def test_a_night_reports_its_gain_and_uses_it_when_asked(wrong_gain_night: Night, tmp_path: Path) -> None:
    """summary.json and report.html show the measured gain (within 4 sigma = 6% of the true 1.4 at
    10 816 pixels) and the warning; the masters carry it; with use_measured the products' sky is
    the true sky in electrons (within 4%), without it 10% too bright, as the header's gain makes it."""
    night = wrong_gain_night
    summary = _run(night, tmp_path / "header")
    records = summary["photon_transfer"]
    assert isinstance(records, list)
    assert len(records) == 1
    record = records[0]
    assert (record["camera"], record["amplifier"], record["used"]) == ("kb99", 1, False)
    expected = _expected_gain_error(1.4, 13.5, record["flat_signal_adu"], record["pixels"])
    assert abs(record["gain"] / 1.4 - 1) < TOLERANCE_SIGMA * expected
    assert record["header_gain"] == pytest.approx(1.54)
    assert record["warning"] is True
    assert "amplifier 1: the header's gain 1.540 e-/ADU is" in record["warnings"][0]
    report = (tmp_path / "header" / "report.html").read_text()
    assert "Gain and read noise (photon transfer)" in report
    assert "header&#x27;s gain 1.540" in report
    masters = {m["kind"]: m["figures"] for m in summary["masters"]}
    for kind in ("bias", "skyflat"):
        assert masters[kind]["gain_amp1"] == pytest.approx(record["gain"])
        assert masters[kind]["header_gain_amp1"] == pytest.approx(1.54)
    assert (
        "WARNING photon transfer: kb99 2x2 amplifier 1"
        in (tmp_path / "header" / "lco-reduce.log").read_text()
    )

    header_sky = _sky_ratios(summary, night)
    measured = _run(night, tmp_path / "measured", "-p", "photon_transfer.use_measured=true")
    assert measured["photon_transfer"][0]["used"] is True
    measured_sky = _sky_ratios(measured, night)
    for with_header, with_measured_gain in zip(header_sky, measured_sky, strict=True):
        assert with_header == pytest.approx(1.1, abs=0.03)
        assert with_measured_gain == pytest.approx(1.0, abs=0.04)
        assert abs(with_measured_gain - 1) < abs(with_header - 1)


def test_a_night_with_a_right_header_has_no_warning(tmp_path: Path) -> None:
    """The same night with true GAIN cards: measured, no warning."""
    night = _night(tmp_path / "raw", 1.0)
    summary = _run(night, tmp_path / "out")
    (record,) = summary["photon_transfer"]
    assert record["warning"] is False
    assert record["warnings"] == []
    assert record["header_gain"] == pytest.approx(1.4)


def test_a_night_without_pairs_says_so(tmp_path: Path) -> None:
    """One bias: no measurement, a one-line note in its place, and the night is reduced."""
    night = simulate_night(
        tmp_path / "raw", sbig(size=256), n_bias=1, n_dark=0, n_flat=2, n_science=0, seed=3, compress=False
    )
    code = main(
        ["run", str(night.folder), "--out", str(tmp_path / "out"), "--min-frames", "1", "--workers", "1",
         "--quiet", "--offline"]
    )  # fmt: skip
    assert code in (0, 1)
    (record,) = json.loads((tmp_path / "out" / "summary.json").read_text())["photon_transfer"]
    assert record["note"] == "not measured: 1 bias and 2 sky flat frames (a pair of each is needed)"
